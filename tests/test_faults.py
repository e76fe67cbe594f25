"""Proof under faults (issue 6): fuzzed input, SIGKILL mid-backfill, a full, read-only or failing disk.

* Fuzzing (hypothesis): real hook payloads and real transcript lines, mutated (keys dropped, types
  changed, values replaced by arbitrary JSON, huge strings, deep nesting, lone surrogates, numbers out
  of every range, truncated bytes, invalid UTF-8), never crash the hook (in process and through the
  real command: exit 0, nothing printed, the raw payload stored) nor backfill (every line is stored or
  recorded as a counted skip; the count is exact).
* SIGKILL: ``python -m ingest backfill`` killed at seeded random moments over a ~30 MB corpus, then run
  again: the database opens, ``integrity_check`` and the FTS indexes' own checks pass, and every
  product table equals an uninterrupted run's, row for row.
* Full disk (a 4 MB tmpfs filled up, and SQLITE_FULL from ``pragma max_page_count``), a commit that
  fails midway through a spool replay, a read-only file system (remounted ``ro``) and an immutable
  database file (``chattr +i``: SQLITE_READONLY even for root): the hook exits 0 quickly, prints
  nothing and spools; the next healthy run replays the spool; nothing is lost or doubled. A lock
  and a file where the database directory should be are covered in test_hook.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import EDGE, FIXTURES, PROJECTS, copy_tree, environ, facts, rows
from ingest import backfill
from ingest.load import hooks as hook_module
from ingest.load import transcripts as incremental
from ingest import store as store_module
from ingest.parse.transcripts import BadLine, FileContext, TranscriptParser

ROOT = Path(__file__).resolve().parent.parent
HOOKS = FIXTURES / "hooks"
FUZZ = settings(deadline=None, database=None, derandomize=True, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])

PRODUCT_TABLES = ["sessions", "api_requests", "messages", "tool_calls", "file_events", "compactions", "subagents",
                  "prompts", "errors", "usage_daily", "usage_15min", "tool_daily", "file_daily"]


def spool_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in tmp_path.rglob("*") if ".spool.jsonl" in p.name or p.name.startswith("spool.jsonl"))


def content_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# =================================================================================================
# Strategies built from the real fixtures
# =================================================================================================
def _real_payloads() -> list[dict]:
    out = []
    for path in sorted(HOOKS.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, list):
            out += data
        elif isinstance(data, dict) and isinstance(data.get("events"), dict):
            out += [p for examples in data["events"].values() for p in examples]
        else:
            out.append(data)
    # The biggest real payloads (files read whole) make every example slow; a few are enough.
    out.sort(key=lambda p: len(json.dumps(p)))
    small = [p for p in out if len(json.dumps(p)) < 20_000]
    return small + out[len(small):][:5]


def _real_transcripts() -> list[tuple[str, list[bytes]]]:
    """(path relative to its fixture root, lines) of every real transcript."""
    out = []
    for root in (PROJECTS, EDGE):
        for path in sorted(root.rglob("*.jsonl")):
            lines = path.read_bytes().splitlines(keepends=True)
            out.append((str(path.relative_to(root)), [ln if ln.endswith(b"\n") else ln + b"\n" for ln in lines]))
    return out


PAYLOADS = _real_payloads()
TRANSCRIPTS = _real_transcripts()

# Replaced at the byte level after serialising (json.dumps cannot write them).
MARK_DEEP, MARK_SURROGATE, MARK_NUMBER = "\x00deep\x00", "\x00surrogate\x00", "\x00number\x00"
ODD_NUMBERS = [b"1e400", b"-1e400", b"99999999999999999999999999", b"18446744073709551615",
               b"-9223372036854775809", b"9223372036854775808", b"1e308", b"-0", b"0.0000001", b"NaN",
               b"Infinity", b"4.5e15", b"253402300800", b"1e11", b"-62135596801"]
INVALID_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00", b"\x80\x80"]
SECRET = "sk-ant-api03-" + "a1B2" * 24
SECRETS = [SECRET, f"export ANTHROPIC_API_KEY={SECRET}", "curl -H 'Authorization: Bearer " + "t0kEn" * 8 + "'",
           "postgres://admin:hunter2hunter2@db.internal/prod"]  # redacted in the stored payload

json_leaves = (st.none() | st.booleans() | st.integers() | st.floats()
               | st.text(max_size=40) | st.sampled_from(["", "2026-01-01T00:00:00.000Z", "Bash", "user",
                                                          "assistant", "system", "progress", "tool_use"]))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def _slots(obj, limit=4000):
    """(container, key) of the values inside ``obj``, by depth (breadth first, at most ``limit``)."""
    levels, level, count = [], [obj], 0
    while level and count < limit:
        here, below = [], []
        for node in level:
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, value in items:
                here.append((node, key))
                if isinstance(value, (dict, list)):
                    below.append(value)
        if here:
            levels.append(here)
            count += len(here)
        level = below
    return levels


@st.composite
def mutated_object(draw, obj):
    """``obj`` (a real payload or transcript line) with 1-4 structural mutations, as bytes."""
    obj = json.loads(json.dumps(obj))  # a private copy
    for _ in range(draw(st.integers(1, 4))):
        levels = _slots(obj)  # a depth first, then a value at that depth: top-level fields get their share
        slots = levels[draw(st.integers(0, len(levels) - 1))] if levels else []
        op = draw(st.sampled_from(["drop", "replace", "retype", "huge", "deep", "surrogate", "number", "secret",
                                   "add"]))
        if not slots or op == "add":
            target = obj if isinstance(obj, dict) else {}
            target[draw(st.sampled_from(["type", "sessionId", "session_id", "hook_event_name", "message",
                                         "tool_input", "timestamp", "x"]))] = draw(json_values)
            continue
        node, key = slots[draw(st.integers(0, len(slots) - 1))]
        value = node[key]
        if op == "drop":
            del node[key]
        elif op == "replace":
            node[key] = draw(json_values)
        elif op == "retype":
            node[key] = draw(st.sampled_from([
                str(value)[:30], [value], {"value": value}, None, 0, -1, True, "", 2 ** 64, 10 ** 30, 1.5e308,
                -(2 ** 63) - 1, 1e16]))
        elif op == "huge":
            node[key] = draw(st.sampled_from(["x", "é", "\U0001f600", "\n", "\\", '"'])) * draw(
                st.sampled_from([10_000, 100_000, 500_000]))
        elif op == "deep":
            node[key] = MARK_DEEP
        elif op == "surrogate":
            node[key] = MARK_SURROGATE
        elif op == "secret":
            node[key] = draw(st.sampled_from(SECRETS))
        else:
            node[key] = MARK_NUMBER
    raw = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    depths = [50, 900, 1100, 5000, 100_000]
    while json.dumps(MARK_DEEP).encode() in raw:
        depth = draw(st.sampled_from(depths))
        opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        raw = raw.replace(json.dumps(MARK_DEEP).encode(), opening * depth + b"1" + closing * depth, 1)
    while json.dumps(MARK_SURROGATE).encode() in raw:
        raw = raw.replace(json.dumps(MARK_SURROGATE).encode(), draw(st.sampled_from(
            [b'"\\ud800"', b'"a\\udfffb"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"', b'"\\u0000"'])), 1)
    while json.dumps(MARK_NUMBER).encode() in raw:
        raw = raw.replace(json.dumps(MARK_NUMBER).encode(), draw(st.sampled_from(ODD_NUMBERS)), 1)
    return raw


@st.composite
def mutated_bytes(draw, raw: bytes):
    """Byte-level damage: truncation, invalid UTF-8, a changed byte."""
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["truncate", "invalid_utf8", "byte"]))
        if op == "truncate":
            raw = raw[:at]
        elif op == "invalid_utf8":
            raw = raw[:at] + draw(st.sampled_from(INVALID_UTF8)) + raw[at:]
        elif raw:
            at = min(at, len(raw) - 1)
            raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    return raw


@st.composite
def hook_payloads(draw):
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "damaged", "arbitrary", "binary"]))
    if kind == "arbitrary":
        return json.dumps(draw(json_values)).encode()
    if kind == "binary":
        return draw(st.binary(max_size=200))
    raw = draw(mutated_object(draw(st.sampled_from(PAYLOADS))))
    return draw(mutated_bytes(raw)) if kind == "damaged" else raw


# =================================================================================================
# 1. Fuzzing the hook
# =================================================================================================
def _expected_event_is_unparseable(raw: bytes) -> bool | None:
    """Whether the payload is not a JSON object with something in it; None for nesting a few hundred
    levels deep, which decodes or not depending on the stack the decoder is called with."""
    if b"[" * 400 in raw or b'{"a":' * 400 in raw:
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return True
    return not (isinstance(payload, dict) and payload)


def _check_stored(db: Path, raw: bytes) -> None:
    (row,) = rows(db, "select size, event, payload, derive_error from hook_events where id = ?", (content_id(raw),))
    assert row["size"] == len(raw)
    unparseable = _expected_event_is_unparseable(raw)
    assert unparseable is None or (row["event"] == "unparseable") == unparseable
    if len(raw) <= hook_module.PAYLOAD_KEEP_BYTES:
        assert row["payload"] == raw.decode("utf-8", "replace") or "[REDACTED:" in row["payload"]
    else:  # a large payload is kept as JSON with its long strings cut (or, too deep to walk, its head)
        assert len(row["payload"]) < len(raw)
        try:
            assert json.loads(row["payload"]).keys() == json.loads(raw).keys()
        except (ValueError, RecursionError):  # not JSON (or too deep for this check): the head of the payload
            assert row["payload"][:1000] == raw.decode("utf-8", "replace")[:1000] or "[REDACTED:" in row["payload"]


def test_fuzzed_payloads_in_process_are_always_stored_raw(tmp_path):
    """handle() never raises on any input; on a healthy database every payload is stored (raw at
    least), exactly once, and nothing is spooled."""
    db = tmp_path / "fuzz.db"
    seen: set[str] = set()

    @settings(FUZZ, max_examples=300)
    @given(raw=hook_payloads())
    def check(raw):
        outcome = hook_module.handle(raw, db)
        assert outcome == ("duplicate" if content_id(raw) in seen else "stored")
        seen.add(content_id(raw))
        _check_stored(db, raw)

    check()
    assert rows(db, "select count(*) n from hook_events")[0]["n"] == len(seen)
    assert spool_files(tmp_path) == []
    assert rows(db, "pragma integrity_check") == [{"integrity_check": "ok"}]


def test_fuzzed_payloads_through_the_real_command(tmp_path):
    """The real ``claude-ingest hook`` (``python -m ingest hook``): exit 0, not a byte on stdout or
    stderr, the raw payload stored, nothing spooled."""
    db = tmp_path / "cmd.db"
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "init"}', db)
    env = environ()
    count = 0

    @settings(FUZZ, max_examples=50)
    @given(raw=hook_payloads())
    def check(raw):
        nonlocal count
        proc = subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=raw,
                              capture_output=True, timeout=60, env=env)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
        _check_stored(db, raw)
        count += 1

    check()
    assert count >= 50
    assert spool_files(tmp_path) == []


# =================================================================================================
# 1. Fuzzing backfill
# =================================================================================================
@st.composite
def transcript_files(draw):
    """(path relative to the projects dir, file bytes): a window of a real transcript's lines, some
    kept, some mutated, damaged, split in two or replaced; maybe cut mid-line at the end."""
    rel, lines = draw(st.sampled_from(TRANSCRIPTS))
    start = draw(st.integers(0, max(0, len(lines) - 1)))
    window = lines[start:start + draw(st.integers(1, 25))]
    out = []
    for line in window:
        op = draw(st.sampled_from(["keep", "keep", "keep", "mutate", "mutate", "damage", "split", "other"]))
        if op == "keep":
            out.append(line)
            continue
        try:
            obj = orjson.loads(line)
        except ValueError:
            obj = None
        if op == "mutate" and obj is not None:
            out.append(draw(mutated_object(obj)).replace(b"\n", b"\\n") + b"\n")
        elif op == "damage":
            out.append(draw(mutated_bytes(line[:-1])).replace(b"\n", b"") + b"\n")
        elif op == "split":  # a newline in the middle of a line: two broken lines
            at = draw(st.integers(1, max(1, len(line) - 2)))
            out += [line[:at] + b"\n", line[at:]]
        else:
            out.append(draw(st.sampled_from([b"\n", b"   \n", b"null\n", b"[]\n", b"{}\n", b'"text"\n', b"{\n",
                                              json.dumps(draw(json_values)).encode() + b"\n"])))
    data = b"".join(out)
    if draw(st.booleans()) and data:  # the file ends mid-line, as while Claude Code writes it
        data = data[:draw(st.integers(max(0, len(data) - 200), len(data)))]
    return rel, data


def _line_is_bad(raw: bytes, ctx: FileContext) -> bool:
    try:
        obj = orjson.loads(raw)
        if not isinstance(obj, dict):
            return True
        TranscriptParser(ctx).feed(obj)
    except (ValueError, BadLine, RecursionError):
        return True
    return False


def _expected_reading(data: bytes, ctx: FileContext):
    """What backfill must do with each line: (offset, raw, bad) of the lines read, and the offset
    reading must stop at (the start of a torn last line that is not whole JSON)."""
    read, offset = [], 0
    for raw in io.BytesIO(data):
        if not raw.endswith(b"\n"):
            try:
                orjson.loads(raw)
            except ValueError:
                return read, offset
        if not raw.isspace():
            # A complete-looking progress line is skipped undecoded (a whole last line is decoded).
            progress = raw.endswith(b"\n") and incremental._is_live_progress(raw)
            read.append((offset, raw, not progress and _line_is_bad(raw, ctx)))
        offset += len(raw)
    return read, offset


def test_fuzzed_transcripts_never_stop_backfill_and_every_line_is_accounted_for(tmp_path):
    """Every line read is either stored or recorded in ingest_skips; ``bad_lines`` counts exactly the
    lines that are not JSON, not objects or not transcript records (nothing else: a skipped JSON
    object carries the parser's BadLine reason, never a crash); a second run reads nothing."""
    n = 0

    @settings(FUZZ, max_examples=150)
    @given(case=transcript_files())
    def check(case):
        nonlocal n
        n += 1
        rel, data = case
        work = tmp_path / f"case{n}"
        path = work / "projects" / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        db = work / "t.db"
        summary = backfill(db, [work / "projects"])  # must not raise

        tf = incremental.classify(path.absolute())
        ctx = FileContext(path=str(tf.path), kind=tf.kind, session_hint=tf.session_hint, agent_id=tf.agent_id)
        read, stop = _expected_reading(data, ctx)
        skips = rows(db, "select offset, reason, run_id from ingest_skips")
        skipped = {r["offset"] for r in skips}
        expected_bad = {off for off, _, bad in read if bad}
        assert summary.bad_lines == len(skips) == len(expected_bad)
        assert skipped == expected_bad
        assert {r["run_id"] for r in skips} <= {summary.run_id}
        assert summary.lines == len(read)
        (f,) = rows(db, "select offset, lines, bad_lines from ingest_files")
        assert (f["offset"], f["lines"], f["bad_lines"]) == (stop, len(read), len(expected_bad))
        # Lines that are JSON objects, skipped: only for a reason the parser gave (not a crash).
        for r in skips:
            raw = next(raw for off, raw, _ in read if off == r["offset"])
            try:
                obj = orjson.loads(raw)
            except ValueError:
                continue
            assert not isinstance(obj, dict) or r["reason"].startswith("BadLine"), r
        # Every chain line read and not skipped is stored.
        stored = {r["uuid"] for r in rows(db, "select uuid from messages")}
        for off, raw, bad in read:
            if bad or (raw.endswith(b"\n") and incremental._is_live_progress(raw)):
                continue
            obj = orjson.loads(raw)
            if obj.get("type") in ("user", "assistant", "system") and isinstance(obj.get("uuid"), str) and obj["uuid"]:
                assert obj["uuid"] in stored
        again = backfill(db, [work / "projects"])
        # (a file ending in a torn line is opened again, to see whether the line was finished)
        assert (again.files_read, again.bytes_read, again.lines) == (int(stop < len(data)), 0, 0)
        assert rows(db, "pragma integrity_check") == [{"integrity_check": "ok"}]
        shutil.rmtree(work)

    check()
    assert n >= 150


def test_payloads_that_broke_the_hook_are_stored_and_do_not_poison_the_spool(tmp_path):
    """Regression: a lone surrogate escape, nesting deeper than the recursion limit or a number past
    64 bits made handle() raise (RecursionError, UnicodeEncodeError, OverflowError). main() then
    spooled the payload, and every later replay raised again: each later hook re-spooled its own
    (already stored) payload and every backfill failed before reading a transcript."""
    db = tmp_path / "t.db"
    poison = [
        b'{"session_id": "s\\ud800", "hook_event_name": "UserPromptSubmit", "prompt": "cut \\ud83d"}',
        b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t1", '
        b'"tool_input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t2", '
        b'"tool_input": {"command": "ls"}, "duration_ms": 18446744073709551616, "tool_response": "ok"}',
        b'{"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t3", '
        b'"tool_input": {"command": "ls"}, "duration_ms": Infinity, "tool_response": "ok"}',
    ]
    for raw in poison:
        assert hook_module.handle(raw, db) == "stored"
    assert rows(db, "select text from prompts") == [{"text": "cut \ufffd"}]
    durations = rows(db, "select tool_use_id, duration_ms from tool_calls where tool_use_id in ('t2', 't3') order by 1")
    assert durations == [{"tool_use_id": "t2", "duration_ms": None}, {"tool_use_id": "t3", "duration_ms": None}]
    # The same payloads spooled (as a fault would have left them), then replayed by backfill.
    db2 = tmp_path / "t2.db"
    for raw in poison + [b'{"session_id": "s", "hook_event_name": "Stop"}']:
        hook_module.spool(db2, raw, "2026-01-01T00:00:00.000Z")
    (tmp_path / "empty").mkdir()
    assert backfill(db2, [tmp_path / "empty"]).spooled == 5
    assert rows(db2, "select count(*) n from hook_events")[0]["n"] == 5
    assert spool_files(tmp_path) == []


def _secret_payload(depth: int) -> bytes:
    nested = b"[" * depth + b"1" + b"]" * depth
    return b'{"session_id": "s", "hook_event_name": "Stop", "x": "%s", "y": %s}' % (SECRET.encode(), nested)


@pytest.mark.parametrize("raw", [
    b'{"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "%s \\ud800"}' % SECRET.encode(),
    _secret_payload(5000),
    _secret_payload(800),  # decodes, but too deep for redaction's walk: redacted as text instead
], ids=["lone-surrogate", "too-deep-to-decode", "deep-enough-to-decode"])
def test_payload_with_a_secret_and_deep_nesting_or_a_lone_surrogate_is_stored(tmp_path, raw):
    """The same poison, through redaction (found by these tests, fixed in redact.py by 6c7378e): the
    raw payload column is redacted as JSON when it holds something secret-looking, and decoding or
    encoding it again raised (RecursionError, UnicodeEncodeError); handle() raised, so main() spooled
    the payload and every later replay raised again, as above."""
    assert hook_module.handle(raw, tmp_path / "t.db") == "stored"


def test_numbers_out_of_range_in_transcripts_do_not_stop_backfill(tmp_path):
    """Regression: one line with a token count past 64 bits (or a float like 1e300, a 40-digit
    string, a timestamp of 1e300 seconds) made the whole run fail (OverflowError from SQLite or
    datetime) and every later run fail at the same line. Now the value is dropped, the line kept."""
    sid = "11111111-2222-3333-4444-555555555555"
    base = {"type": "assistant", "sessionId": sid, "timestamp": "2026-01-01T00:00:00.000Z", "requestId": "r",
            "message": {"role": "assistant", "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "x"}]}}
    usage = [{"input_tokens": 2 ** 64 - 1, "output_tokens": 1}, {"input_tokens": 1e300, "output_tokens": 1},
             {"input_tokens": "9" * 40, "output_tokens": 1}, {"input_tokens": "²", "output_tokens": 1},
             {"input_tokens": 3, "output_tokens": 2 ** 63}]
    lines = [{**base, "uuid": f"u{i}", "message": {**base["message"], "id": f"msg_{i}", "usage": u}}
             for i, u in enumerate(usage)]
    lines += [
        {**base, "uuid": "t1", "timestamp": 1e300, "message": {**base["message"], "id": "msg_t1", "usage": {}}},
        {**base, "uuid": "t2", "timestamp": "0001-01-01T00:00:00+01:00"},
        {**base, "uuid": "c1", "costUSD": 2 ** 63, "message": {**base["message"], "id": "msg_c", "usage": {}}},
        {**base, "uuid": "e1", "isApiErrorMessage": True, "apiErrorStatus": 2 ** 70},
        {"type": "system", "subtype": "compact_boundary", "sessionId": sid, "uuid": "b1",
         "timestamp": base["timestamp"],
         "compactMetadata": {"trigger": "auto", "preTokens": 2 ** 64, "postTokens": -(2 ** 64)}},
        {"type": "system", "subtype": "api_error", "sessionId": sid, "uuid": "b2", "timestamp": base["timestamp"],
         "error": {"status": 2 ** 65}},
    ]
    projects = tmp_path / "projects" / "p"
    projects.mkdir(parents=True)
    (projects / f"{sid}.jsonl").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines[:4])
                                            + b"".join(json.dumps(line).encode() + b"\n" for line in lines[4:]))
    db = tmp_path / "t.db"
    summary = backfill(db, [tmp_path / "projects"])
    assert summary.bad_lines == 0 and summary.lines == len(lines)
    got = {r["message_id"]: r for r in rows(db, "select * from api_requests")}
    assert [got[f"msg_{i}"]["input_tokens"] for i in range(5)] == [0, 0, 0, 0, 3]
    assert got["msg_4"]["output_tokens"] == 0 and got["msg_c"]["reported_cost_usd"] is None
    assert got["msg_t1"]["timestamp"] is None
    assert {r["uuid"] for r in rows(db, "select uuid from messages")} == {l["uuid"] for l in lines}
    assert rows(db, "select status from errors") == [{"status": None}, {"status": None}]
    assert rows(db, "select pre_tokens, post_tokens from compactions") == [{"pre_tokens": None, "post_tokens": None}]


# =================================================================================================
# 2. SIGKILL in the middle of a backfill
# =================================================================================================
def _bench_module():
    spec = importlib.util.spec_from_file_location("backfill_bench", ROOT / "bench" / "backfill_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pk(table: str) -> str:
    return ", ".join(f"[{c}]" for c in store_module.schema.TABLES[table].pk)


def _rounded(row: tuple) -> tuple:
    # Sums of costs (the daily rollups) depend on the order SQLite adds them in, in the last bits.
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


def dump_tables(db: Path) -> dict:
    """Every product table row for row (ordered by key); ingest bookkeeping without its times and run ids."""
    conn = sqlite3.connect(db)
    try:
        out = {t: [_rounded(r) for r in conn.execute(f"select {facts(conn, t)} from [{t}] order by {_pk(t)}")]
               for t in PRODUCT_TABLES}
        out["ingest_files"] = conn.execute(
            "select path, kind, session_id, agent_id, size, mtime, mtime_ns, offset, head_hash, lines, bad_lines, "
            "rereads from ingest_files order by path").fetchall()
        out["ingest_skips"] = conn.execute("select path, offset, reason, excerpt from ingest_skips "
                                           "order by path, offset").fetchall()
        return out
    finally:
        conn.close()


def check_database(db: Path, finished: bool = True) -> None:
    """It opens (with the schema in place), SQLite finds no corruption, nor do the FTS indexes, each
    in step with its table (rank 1: compared with the content). After a kill (not ``finished``) a
    first backfill may have been cut short while it wrote without the full-text triggers: then its
    indexes may lag their tables, and the triggers' absence says so (the next backfill rebuilds them)."""
    conn = store_module.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        for table in ("prompts", "tool_calls", "errors"):
            fts = f"{table}_fts"
            conn.execute(f"insert into {fts}({fts}) values('integrity-check')")  # raises if corrupt
            triggers = conn.execute("select count(*) from sqlite_master where type = 'trigger' and tbl_name = ? "
                                    "and name in (?, ?, ?)", (table, *(f"{table}_a{x}" for x in "idu"))).fetchone()[0]
            if finished or triggers:
                assert triggers == 3, table
                conn.execute(f"insert into {fts}({fts}, rank) values('integrity-check', 1)")
                assert conn.execute(f"select count(*) from {fts}").fetchone() == conn.execute(
                    f"select count(*) from {table}").fetchone()
            else:
                assert triggers == 0, f"{table}: some of its full-text triggers are missing, not all"
    finally:
        conn.close()


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigkill_at_random_points_then_rerun_equals_an_uninterrupted_run(tmp_path, jobs):
    """A real ``python -m ingest backfill`` over a ~30 MB corpus (the fixtures copied with fresh ids),
    killed with SIGKILL at seeded random moments, twice in a row on the same database, then run to
    the end: after every kill the database opens and passes its integrity checks, and the final
    tables equal those of one uninterrupted run. In this process (--jobs 1) and with two workers."""
    bench = _bench_module()
    corpus = tmp_path / "corpus"
    # With workers the first commit comes later (they start first, and the writer shares the cores
    # with them): a larger corpus keeps kills landing between commits.
    size, files = bench.generate(bench.Template(PROJECTS), 7 if jobs == 1 else 10, corpus)
    assert size > 25e6
    env = environ()

    def command(db):
        return [sys.executable, "-m", "ingest", "backfill", str(corpus), "--db", str(db), "-q", "--jobs", str(jobs)]

    clean = tmp_path / "clean.db"
    full = None
    for attempt in range(2):  # the first run reads a cold page cache: time the second, as the kills see it
        if attempt:
            for f in tmp_path.glob("clean.db*"):
                f.unlink()
        started = time.perf_counter()
        subprocess.run(command(clean), check=True, env=env, capture_output=True, timeout=120)
        full = time.perf_counter() - started if full is None else min(full, time.perf_counter() - started)
    check_database(clean)
    expected = dump_tables(clean)
    assert len(expected["api_requests"]) > 1000 and len(expected["ingest_files"]) == files

    # Ten kills at seeded random moments, one in each tenth of the span from 5% to 90% of a clean
    # run (the second kill of a scenario hits a run that resumes, so has less left to do).
    rng = random.Random(6)
    moments = [rng.uniform(0.05 + 0.085 * k, 0.05 + 0.085 * (k + 1)) * full for k in range(10)]
    rng.shuffle(moments)
    landed, committed = 0, []
    for scenario in range(5):
        db = tmp_path / f"killed{scenario}.db"
        for _ in range(2):
            proc = subprocess.Popen(command(db), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(moments.pop())
            proc.send_signal(signal.SIGKILL)
            landed += proc.wait(timeout=60) == -signal.SIGKILL
            if db.exists():
                check_database(db, finished=False)
            committed.append(rows(db, "select count(*) n from ingest_files")[0]["n"] if db.exists() else 0)
        result = subprocess.run(command(db), env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        check_database(db)
        assert dump_tables(db) == expected, f"scenario {scenario}"
    print(f"SIGKILL: {landed} of 10 kills landed mid-run; transcript files committed at each kill: {committed}; "
          f"clean run {full:.2f}s over {size / 1e6:.1f} MB")
    assert landed >= 6, f"only {landed} of 10 kills landed mid-run"
    # Some kills came before any commit and some between two (the re-run resumed from the offsets).
    assert 0 in committed and any(0 < n < files for n in committed), committed


# =================================================================================================
# 3. A full disk, a failing write, a read-only file system or database
# =================================================================================================
def run_hook(db: Path, raw: bytes, env: dict, argv: list[str] | None = None):
    started = time.perf_counter()
    proc = subprocess.run(argv or [sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=raw,
                          capture_output=True, timeout=60, env=env)
    return proc, time.perf_counter() - started


def session_payloads(tag: str, n: int, pad: int = 0) -> list[bytes]:
    """A session's prompts and tool calls: n x (UserPromptSubmit, PreToolUse, PostToolUse), each
    padded with ``pad`` characters (a payload bigger than a page needs a new one)."""
    out = []
    for i in range(n):
        base = {"session_id": f"sess-{tag}", "cwd": "/w", "tool_name": "Bash", "tool_use_id": f"toolu_{tag}_{i}",
                "tool_input": {"command": f"echo {tag} {i}", "description": "d" * pad}}
        out += [json.dumps({"session_id": f"sess-{tag}", "hook_event_name": "UserPromptSubmit",
                            "prompt": f"{tag} prompt {i} " + "x" * pad}).encode(),
                json.dumps({**base, "hook_event_name": "PreToolUse"}).encode(),
                json.dumps({**base, "hook_event_name": "PostToolUse", "tool_response": {"stdout": str(i)}}).encode()]
    return out


def assert_stored_exactly_once(db: Path, sent: list[bytes], total: int) -> None:
    """Each payload sent is one hook_events row (none lost, none doubled), with the rows it derives."""
    counts = dict((r["id"], r["n"]) for r in rows(db, "select id, count(*) n from hook_events group by id"))
    assert [counts.get(content_id(raw), 0) for raw in sent] == [1] * len(sent)
    assert rows(db, "select count(*) n from hook_events")[0]["n"] == total
    prompts = {json.loads(raw)["prompt"] for raw in sent if b"UserPromptSubmit" in raw}
    assert prompts <= {r["text"] for r in rows(db, "select text from prompts")}
    calls = {json.loads(raw)["tool_use_id"] for raw in sent if b"PreToolUse" in raw}
    paired = {r["tool_use_id"] for r in rows(db, "select tool_use_id from tool_calls where started_at is not null "
                                                 "and ended_at is not null and output_preview is not null")}
    assert calls <= paired


def _quiet_and_quick(proc, seconds) -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert seconds < 3.0, f"the hook took {seconds:.1f}s"


@contextmanager
def tmpfs(path: Path, size: str):
    """A small file system of its own (root only: CI runs as root); skipped where mounting is refused."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30)
    except OSError as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root and mount permission): {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(directory: Path) -> Path:
    """Write a file until the file system has not one byte left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 64, 1):
            block = b"\0" * chunk
            while True:
                try:
                    if os.write(fd, block) < chunk:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


def test_full_disk_hook_exits_quietly_spools_and_the_next_run_replays(tmp_path):
    """A 4 MB file system filled to the last byte, once while a reader holds the database open (the
    WAL cannot grow: SQLITE_FULL) and once with nothing open (no room for the WAL either): every
    hook exits 0 at once, prints nothing and spools (to the state directory, since the disk has no
    room for the spool beside the database either); once there is room, the next hook replays all."""
    env = environ()
    with tmpfs(tmp_path / "disk", "4m") as disk:
        db = disk / "claude.db"
        first = b'{"hook_event_name": "SessionStart", "session_id": "sess-full", "source": "startup"}'
        proc, _ = run_hook(db, first, env)
        assert proc.returncode == 0 and rows(db, "select count(*) n from hook_events")[0]["n"] == 1
        reader = sqlite3.connect(db)
        reader.execute("select count(*) from hook_events").fetchone()
        filler = fill(disk)
        open_payloads, closed_payloads = session_payloads("open", 3, pad=3000), session_payloads("closed", 3, pad=3000)
        for raw in open_payloads:
            _quiet_and_quick(*run_hook(db, raw, env))
        reader.close()
        for raw in closed_payloads:
            _quiet_and_quick(*run_hook(db, raw, env))
        spooled = [line for p in spool_files(tmp_path) for line in p.read_bytes().splitlines()]
        assert len(spooled) == len(open_payloads) + len(closed_payloads) == 18
        filler.unlink()
        last = b'{"hook_event_name": "Stop", "session_id": "sess-full"}'
        _quiet_and_quick(*run_hook(db, last, env))
        assert_stored_exactly_once(db, [first, *open_payloads, *closed_payloads, last], 20)
        assert rows(db, "select source, count(*) n from hook_events group by 1 order by 1") == [
            {"source": "hook", "n": 2}, {"source": "spool", "n": 18}]
        assert spool_files(tmp_path) == []
        check_database(db)


def test_spool_write_cut_short_by_a_full_disk_loses_nothing(tmp_path):
    """Regression: on a full disk an append to the spool can be cut short (the kernel writes what
    fits). spool() ignored os.write's count and reported the payload spooled: the torn line was lost
    at replay, and so was the next payload, appended to it once there was room again. Now a short
    write moves on to the next spool location, and replay reads past a torn line."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        db = disk / "claude.db"
        beside, fallback = hook_module.spool_paths(db)[:2]
        sent = [json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": f"p{i} " + "y" * size})
                .encode() for i, size in enumerate([1000, 8000, 10, 10, 10])]
        ts = "2026-01-01T00:00:00.000Z"
        assert hook_module.spool(db, sent[0], ts) == beside
        filler = fill(disk)
        assert hook_module.spool(db, sent[1], ts) == fallback  # cut short beside the database
        assert not beside.read_bytes().endswith(b"\n")  # (the kernel did write part of it there)
        assert hook_module.spool(db, sent[2], ts) == fallback  # no room at all
        filler.unlink()
        assert hook_module.spool(db, sent[3], ts) == beside  # appended to the torn line
        assert hook_module.handle(sent[4], db) == "stored"  # and the spools replayed
        assert_stored_exactly_once(db, sent, 5)
        assert spool_files(tmp_path) == []


def test_short_spool_write_moves_on_and_replay_reads_past_a_torn_line(tmp_path, monkeypatch):
    """The same, on any file system: os.write writing half of a spool line."""
    db = tmp_path / "claude.db"
    beside, fallback = hook_module.spool_paths(db)[:2]
    sent = [json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": f"p{i}"}).encode()
            for i in range(4)]
    ts = "2026-01-01T00:00:00.000Z"
    assert hook_module.spool(db, sent[0], ts) == beside
    real_write = os.write

    def cut_short_once(fd, data):
        monkeypatch.setattr(hook_module.os, "write", real_write)
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(hook_module.os, "write", cut_short_once)
    assert hook_module.spool(db, sent[1], ts) == fallback
    assert not beside.read_bytes().endswith(b"\n")
    assert hook_module.spool(db, sent[2], ts) == beside
    assert hook_module.handle(sent[3], db) == "stored"
    assert_stored_exactly_once(db, sent, 4)
    assert spool_files(tmp_path) == []


def _full_connect(real_connect):
    """store.connect, with the database capped at the pages it has: the next page needed is SQLITE_FULL."""
    def connect(path, **kwargs):
        conn = real_connect(path, **kwargs)
        pages = conn.execute("pragma page_count").fetchone()[0]
        conn.execute(f"pragma max_page_count = {pages}")
        return conn
    return connect


def test_sqlite_full_spools_in_process_and_replays_exactly_once(tmp_path, monkeypatch):
    """A real SQLITE_FULL (``pragma max_page_count``): every payload is spooled; the first healthy
    call replays them all; sending them all again adds nothing."""
    db = tmp_path / "claude.db"
    assert hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "init"}', db) == "stored"
    real_connect = store_module.connect
    monkeypatch.setattr(hook_module.store_mod, "connect", _full_connect(real_connect))
    sent = session_payloads("full", 5, pad=6000)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        hook_module.write_event(hook_module.store_mod.connect(db), sent[0], "2026-01-01T00:00:00.000Z")
    assert [hook_module.handle(raw, db) for raw in sent] == ["spooled"] * len(sent)
    assert len(hook_module.spool_paths(db)[0].read_bytes().splitlines()) == len(sent)
    monkeypatch.setattr(hook_module.store_mod, "connect", real_connect)
    assert hook_module.handle(b'{"hook_event_name": "Stop", "session_id": "init"}', db) == "stored"
    assert_stored_exactly_once(db, sent, len(sent) + 2)
    assert [hook_module.handle(raw, db) for raw in sent] == ["duplicate"] * len(sent)
    assert_stored_exactly_once(db, sent, len(sent) + 2)
    assert spool_files(tmp_path) == []


def test_sqlite_full_in_the_real_command_then_backfill_replays(tmp_path):
    """The same through the real hook entry point (in a subprocess that caps the database), then the
    real ``claude-ingest backfill`` replays the spool."""
    env = environ()
    db = tmp_path / "claude.db"
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "init"}', db)
    capped = [sys.executable, "-c",
              "import sys, ingest.store as s, tests_faults_cap as cap; s.connect = cap.full(s.connect); "
              "from ingest.entry import main; sys.exit(main())", "hook", "--db", str(db)]
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "tests_faults_cap.py").write_text(
        "def full(real):\n"
        "    def connect(path, **kwargs):\n"
        "        conn = real(path, **kwargs)\n"
        "        conn.execute(f\"pragma max_page_count = {conn.execute('pragma page_count').fetchone()[0]}\")\n"
        "        return conn\n"
        "    return connect\n")
    env_capped = {**env, "PYTHONPATH": f"{helper}{os.pathsep}{ROOT}"}
    sent = session_payloads("cmd", 3, pad=6000)
    for raw in sent:
        _quiet_and_quick(*run_hook(db, raw, env_capped, argv=capped))
    assert len(hook_module.spool_paths(db)[0].read_bytes().splitlines()) == len(sent)
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "-m", "ingest", "backfill", str(tmp_path / "empty"), "--db", str(db)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{len(sent)} spooled hook events replayed" in result.stdout
    assert_stored_exactly_once(db, sent, len(sent) + 1)
    assert spool_files(tmp_path) == []


class _CommitFails(sqlite3.Connection):
    """A connection whose N-th commit fails as a full disk would (then every later one succeeds)."""
    fail_at = 0
    commits = 0

    def execute(self, sql, *args):
        if sql == "commit":
            type(self).commits += 1
            if type(self).commits == type(self).fail_at:
                raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_commit_failing_midway_through_a_replay_doubles_nothing(tmp_path, monkeypatch):
    """A replay that fails at its 4th commit puts what it did not replay back in the spool; the next
    run replays it: the three already stored stay stored once, the rest is stored, none twice."""
    db = tmp_path / "claude.db"
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "init"}', db)
    sent = session_payloads("replay", 4)
    for raw in sent:
        hook_module.spool(db, raw, "2026-01-01T00:00:00.000Z")
    real_connect = store_module.connect

    def connect(path, **kwargs):
        real_connect(path, **kwargs).close()
        return sqlite3.connect(path, timeout=kwargs.get("timeout", 5), isolation_level=None, factory=_CommitFails)

    monkeypatch.setattr(_CommitFails, "fail_at", 5)  # 1: the new payload, 2-4: three replayed, 5: fails
    monkeypatch.setattr(hook_module.store_mod, "connect", connect)
    now = b'{"hook_event_name": "Stop", "session_id": "init"}'
    assert hook_module.handle(now, db) == "stored"
    assert rows(db, "select count(*) n from hook_events where source = 'spool'")[0]["n"] == 3
    assert len(hook_module.spool_paths(db)[0].read_bytes().splitlines()) == len(sent) - 3  # for the next run
    assert not list(tmp_path.rglob("*.replaying"))
    monkeypatch.setattr(hook_module.store_mod, "connect", real_connect)
    assert hook_module.handle(b'{"hook_event_name": "Stop", "session_id": "later"}', db) == "stored"
    assert_stored_exactly_once(db, sent, len(sent) + 3)
    assert spool_files(tmp_path) == []


def test_read_only_file_system_hook_spools_elsewhere_then_replays(tmp_path):
    """The database's file system remounted read-only (EROFS; root is refused too): the hook exits 0
    at once and spools to the state directory; remounted read-write, the next hook replays."""
    env = environ()
    with tmpfs(tmp_path / "ro", "8m") as disk:
        db = disk / "claude.db"
        first = b'{"hook_event_name": "SessionStart", "session_id": "sess-ro", "source": "startup"}'
        run_hook(db, first, env)
        r = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        try:
            sent = session_payloads("ro", 3)
            for raw in sent:
                _quiet_and_quick(*run_hook(db, raw, env))
            fallback = hook_module.spool_paths(db)[1]  # the state directory
            assert len(fallback.read_bytes().splitlines()) == len(sent)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], capture_output=True)
        last = b'{"hook_event_name": "Stop", "session_id": "sess-ro"}'
        _quiet_and_quick(*run_hook(db, last, env))
        assert_stored_exactly_once(db, [first, *sent, last], len(sent) + 2)
        assert spool_files(tmp_path) == []
        check_database(db)


def test_immutable_database_file_is_sqlite_readonly_even_for_root(tmp_path):
    """``chattr +i`` on the database file: SQLite opens it read-only and every write is
    SQLITE_READONLY (chmod would not stop root). The hook spools beside it; once writable, replays."""
    env = environ()
    db = tmp_path / "claude.db"
    first = b'{"hook_event_name": "SessionStart", "session_id": "sess-i", "source": "startup"}'
    run_hook(db, first, env)
    r = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True) if shutil.which("chattr") else None
    if r is None or r.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {r.stderr.strip() if r else 'no chattr'}")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            sqlite3.connect(db, isolation_level=None).execute("delete from hook_events")
        sent = session_payloads("immutable", 3)
        for raw in sent:
            _quiet_and_quick(*run_hook(db, raw, env))
        assert len(hook_module.spool_paths(db)[0].read_bytes().splitlines()) == len(sent)
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
    last = b'{"hook_event_name": "Stop", "session_id": "sess-i"}'
    _quiet_and_quick(*run_hook(db, last, env))
    assert_stored_exactly_once(db, [first, *sent, last], len(sent) + 2)
    assert spool_files(tmp_path) == []
    check_database(db)


# =================================================================================================
# Found by the soak: a row's final value must not depend on where reads were cut
# =================================================================================================
def test_file_operation_does_not_depend_on_where_a_read_was_cut(tmp_path):
    """Regression: a Write's file_events row is written twice, "write" by the tool_use line and
    "create" by its result. The two rows have different columns, so the store flushes them in
    separate statements, all of one shape before the other: when a read began between a call and its
    result (a growing transcript, or the 16 MB commit), every later Write of that batch ended as
    "write". A clean read gave "create". The operation now merges by "min" ("create" < "write")."""
    src = PROJECTS / "-Users-chip-dev-ai-music" / "d3ad4cdc-5657-435d-98fa-0035d53e383d.jsonl"
    lines = src.read_bytes().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if b'"type":"create"' in line.replace(b" ", b"")) - 1
    f = tmp_path / "p" / src.name
    f.parent.mkdir()
    f.write_bytes(b"".join(lines[:cut + 1]))  # up to the first Write's tool_use, not its result
    db = tmp_path / "t.db"
    backfill(db, [f])
    with open(f, "ab") as out:
        out.write(b"".join(lines[cut + 1:]))
    backfill(db, [f])
    clean = tmp_path / "clean.db"
    backfill(clean, [src])
    query = "select tool_use_id, operation from file_events order by 1"
    assert rows(db, query) == rows(clean, query)
    assert {r["operation"] for r in rows(db, query)} >= {"create"}


def test_subagent_file_read_before_its_parent_gives_the_same_rows(tmp_path):
    """A subagent's transcript read before its parent's progress mirrors of it (as a backfill running
    mid-session can): the tables must equal a clean read's. Found by the soak: the usage rule kept
    the first copy read when two tied on usage_total (fixed in store.py by 6c7378e)."""
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    early = tmp_path / "subagent_first.db"
    backfill(early, sorted(projects.rglob("subagents/*.jsonl")))
    backfill(early, [projects])
    clean = tmp_path / "clean.db"
    backfill(clean, [projects])
    assert dump_tables(early) == dump_tables(clean)
