"""`claude-ingest hook`: every real payload, convergence with backfill, concurrency, locks, spooling."""

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import FIXTURES, PROJECTS, copy_tree, rows
from hook_payloads import payloads_for_session
from ingest import backfill
from ingest.load import hooks as hook_module

HOOKS = FIXTURES / "hooks"
SPOTTER = PROJECTS / "-Users-marot-spotter" / "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl"


def run_hook(db, payload, env=None):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=raw,
                          capture_output=True, timeout=60, env=env)
    return proc, time.perf_counter() - started


def real_payloads():
    out = []
    for path in sorted(HOOKS.glob("real-*.json")):
        out += [(path.name, p) for p in json.loads(path.read_text())]
    for name in ("docs-examples-2026-08.json", "docs-examples-2025-11.json"):
        for event, examples in json.loads((HOOKS / name).read_text())["events"].items():
            out += [(f"{name}:{event}", p) for p in examples]
    return out


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """Every real and documented payload through the real command, one subprocess each."""
    db = tmp_path_factory.mktemp("hooks") / "claude.db"
    payloads = real_payloads()
    run_hook(db, payloads[0][1])  # create the database once, before the concurrent calls
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: run_hook(db, p[1])[0], payloads))
    return db, payloads, results


def test_every_real_payload_exits_0_and_prints_nothing(replayed):
    db, payloads, results = replayed
    assert len(payloads) > 330
    for (name, _), proc in zip(payloads, results):
        assert proc.returncode == 0, name
        assert proc.stdout == b"", name
        assert proc.stderr == b"", name


def test_raw_events_are_stored_once_per_distinct_payload(replayed):
    db, payloads, _ = replayed
    distinct = {json.dumps(p).encode() for _, p in payloads}
    assert rows(db, "select count(*) n from hook_events")[0]["n"] == len(distinct)
    assert rows(db, "select count(*) n from hook_events where derive_error is not null")[0]["n"] == 0
    events = {r["event"] for r in rows(db, "select distinct event from hook_events where known = 1")}
    assert len(events) == 31  # all events of the 2026-08 reference, plus the older payloads'


def test_tool_calls_from_real_post_tool_use(replayed):
    db, _, _ = replayed
    post = json.loads((HOOKS / "real-post_tool_use.json").read_text())
    failed = json.loads((HOOKS / "real-post_tool_use_failure.json").read_text())
    got = {r["tool_use_id"]: r for r in rows(db, "select * from tool_calls")}
    for p in post:
        row = got[p["tool_use_id"]]
        assert (row["tool_name"], row["is_error"], row["session_id"]) == (p["tool_name"], 0, p["session_id"])
        assert row["ended_at"] is not None
    for p in failed:
        row = got[p["tool_use_id"]]
        assert row["is_error"] == 1 and row["error_message"] == p["error"]
        # the logging hook's own timestamp (local time, no zone) is taken as the event time
        assert row["ended_at"].startswith(p["timestamp"][:19])
    bash = next(p for p in post if p["tool_name"] == "Bash")
    assert got[bash["tool_use_id"]]["command"] == bash["tool_input"]["command"]
    edits = rows(db, "select count(*) n from file_events where operation in ('edit', 'write', 'create')")
    assert edits[0]["n"] > 0


def test_prompts_permissions_subagents_compactions_sessions(replayed):
    db, _, _ = replayed
    prompts = json.loads((HOOKS / "real-user_prompt_submit.json").read_text())
    texts = {r["text"] for r in rows(db, "select text from prompts where session_id = ?", (prompts[0]["session_id"],))}
    assert texts == {p["prompt"] for p in prompts}
    hits = rows(db, "select count(*) n from prompts_fts where prompts_fts match ?", (prompts[0]["prompt"].split()[0],))
    assert hits[0]["n"] >= 1
    asked = json.loads((HOOKS / "real-permission_request.json").read_text())
    got = rows(db, "select tool_name, count(*) n from permission_decisions where decision = 'asked' "
                   "and session_id = ? group by tool_name", (asked[0]["session_id"],))
    assert sum(r["n"] for r in got) == len(asked)
    assert rows(db, "select decision, reason from permission_decisions where event = 'PermissionDenied'")[0][
        "decision"] == "denied"
    starts = json.loads((HOOKS / "real-subagent_start.json").read_text())
    stops = json.loads((HOOKS / "real-subagent_stop.json").read_text())
    agents = {r["agent_id"]: r for r in rows(db, "select * from subagents")}
    assert {p["agent_id"] for p in starts + stops} <= set(agents)
    for p in stops:
        assert agents[p["agent_id"]]["transcript_path"] == p["agent_transcript_path"]
        assert agents[p["agent_id"]]["agent_type"] == (p["agent_type"] or None)
    # two PreCompact payloads of one session, received apart (as Claude Code sends them, not within
    # the same millisecond as the concurrent replay above may): two compactions
    pre_compact = json.loads((HOOKS / "real-pre_compact.json").read_text())
    sid = pre_compact[0]["session_id"]
    apart = db.parent / "apart.db"
    for p in pre_compact:
        assert run_hook(apart, p)[0].returncode == 0
    assert [r["trigger"] for r in rows(apart, "select trigger from compactions where session_id = ?", (sid,))] == [
        "auto", "auto"]
    assert rows(db, "select trigger from compactions where session_id = ?", (sid,))
    (session,) = rows(db, "select * from sessions where id = ?", (sid,))
    assert session["model"] == "claude-sonnet-4-5-20250929" and session["start_source"] == "compact"
    assert rows(db, "select end_reason from sessions where end_reason is not null")
    assert rows(db, "select kind from errors where kind = 'rate_limit'")  # StopFailure


def test_unknown_event_is_stored_raw_and_counted(tmp_path):
    db = tmp_path / "t.db"
    proc, _ = run_hook(db, {"session_id": "s", "hook_event_name": "SomethingNew2027", "x": 1})
    assert proc.returncode == 0 and proc.stdout == b""
    assert rows(db, "select event, known from hook_events") == [{"event": "SomethingNew2027", "known": 0}]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"session_id": 5}', b"\xff\xfe{", b"{" * 5000])
def test_garbage_never_fails_or_prints(tmp_path, raw):
    db = tmp_path / "t.db"
    proc, _ = run_hook(db, raw)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert rows(db, "select count(*) n from hook_events")[0]["n"] == 1


def test_old_payloads_without_event_name_or_tool_use_id_are_paired(tmp_path):
    """CC < 2.0.43: no tool_use_id; < 1.0.41: no hook_event_name. Pre and Post pair by the fallback key."""
    db = tmp_path / "t.db"
    pre = {"session_id": "old", "cwd": "/w", "tool_name": "Write",
           "tool_input": {"file_path": "/w/a.txt", "content": "x"}, "timestamp": "2025-06-01T10:00:00.000Z"}
    post = {**pre, "tool_response": {"filePath": "/w/a.txt", "success": True}, "timestamp": "2025-06-01T10:00:02.500Z"}
    for p in (pre, post):
        assert run_hook(db, p)[0].returncode == 0
    (call,) = rows(db, "select * from tool_calls")
    assert call["tool_use_id"].startswith("hook:") and call["tool_name"] == "Write"
    assert (call["started_at"], call["ended_at"], call["duration_ms"]) == (
        "2025-06-01T10:00:00.000Z", "2025-06-01T10:00:02.500Z", 2500)
    assert rows(db, "select event from hook_events order by received_at") == [
        {"event": "PreToolUse"}, {"event": "PostToolUse"}]


def _tables(db):
    return {
        "tool_calls": rows(db, "select tool_use_id, session_id, agent_id, tool_name, is_error from tool_calls "
                               "order by tool_use_id"),
        "prompts": sorted(r["text"] for r in rows(db, "select text from prompts")),
        "compactions": rows(db, "select session_id, trigger from compactions"),
        "subagents": rows(db, "select agent_id, session_id from subagents order by agent_id"),
        "file_events": rows(db, "select tool_use_id, file_path from file_events order by 1, 2"),
    }


def _ingest_hooks(db, payloads):
    for p in payloads:
        hook_module.handle(json.dumps(p).encode(), db, received_at="2026-11-01T00:00:00.000Z")


def test_hooks_and_backfill_converge_in_either_order(tmp_path):
    projects = copy_tree(PROJECTS / "-Users-marot-spotter", tmp_path / "projects" / "-Users-marot-spotter")
    (projects / "tool_heavy.jsonl").unlink()
    payloads = payloads_for_session(projects / SPOTTER.name)
    hooks_then = tmp_path / "hooks_then_backfill.db"
    _ingest_hooks(hooks_then, payloads)
    hooks_only = _tables(hooks_then)
    backfill(hooks_then, [tmp_path / "projects"])
    backfill_then = tmp_path / "backfill_then_hooks.db"
    backfill(backfill_then, [tmp_path / "projects"])
    transcript_only = _tables(backfill_then)
    _ingest_hooks(backfill_then, payloads)

    a, b = _tables(hooks_then), _tables(backfill_then)
    assert a == b == transcript_only
    # hooks alone see the same calls, prompts, compactions and subagents
    assert hooks_only["tool_calls"] == [{**r, "agent_id": r["agent_id"]} for r in a["tool_calls"]]
    assert hooks_only["prompts"] == a["prompts"] and len(a["prompts"]) == 2
    assert hooks_only["subagents"] == a["subagents"]
    assert len(hooks_only["compactions"]) == len(a["compactions"]) == 1
    assert a["compactions"][0]["trigger"] == "auto"
    # no duplicates anywhere, hooks add timing and transcripts add usage
    for db in (hooks_then, backfill_then):
        assert rows(db, "select count(*) n from tool_calls where tool_use_id like 'hook:%'")[0]["n"] == 0
        assert rows(db, "select count(*) n from api_requests")[0]["n"] == 178
        (c,) = rows(db, "select * from compactions")
        assert c["id"] == "7b6887e9-15c3-485b-98c7-eb986f5abc7f" and c["pre_tokens"] == 167117
        assert c["custom_instructions"] is None and c["summary_preview"]


def _writer(args):
    db, writer = args
    outcomes = []
    for i in range(100):
        call = f"toolu_w{writer}_{i}"
        base = {"session_id": f"sess-{writer}", "cwd": "/w", "tool_name": "Bash",
                "tool_input": {"command": f"echo {writer} {i}"}, "tool_use_id": call}
        outcomes.append(hook_module.handle(json.dumps({**base, "hook_event_name": "PreToolUse"}).encode(), Path(db)))
        outcomes.append(hook_module.handle(json.dumps({**base, "hook_event_name": "PostToolUse",
                                                       "tool_response": {"stdout": str(i)}}).encode(), Path(db)))
    return outcomes


def test_eight_concurrent_writers(tmp_path):
    db = tmp_path / "t.db"
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "init"}', db)
    with multiprocessing.get_context("fork").Pool(8) as pool:
        outcomes = [o for result in pool.map(_writer, [(str(db), w) for w in range(8)]) for o in result]
    assert len(outcomes) == 1600 and set(outcomes) <= {"stored", "spooled"}
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "last"}', db)  # replays any spool
    assert rows(db, "select count(*) n from hook_events where session_id like 'sess-%'")[0]["n"] == 1600
    calls = rows(db, "select count(*) n, sum(started_at is not null and ended_at is not null) paired, "
                     "sum(output_preview is not null) out from tool_calls")[0]
    assert calls == {"n": 800, "paired": 800, "out": 800}
    assert not list(tmp_path.rglob("*.spool.jsonl*"))


def test_locked_database_spools_quickly_and_replays(tmp_path):
    db = tmp_path / "t.db"
    first = {"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "first"}
    second = {"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "second"}
    run_hook(db, {"session_id": "s", "hook_event_name": "SessionStart", "source": "startup"})
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("begin exclusive")
    try:
        proc, seconds = run_hook(db, first)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
        assert seconds < hook_module.BUSY_TIMEOUT_S + 3
        spool = hook_module.spool_paths(db)[0]  # the private spool directory beside the database
        assert spool.exists() and b"first" in spool.read_bytes()
    finally:
        locker.execute("rollback")
        locker.close()
    proc, _ = run_hook(db, second)
    assert proc.returncode == 0
    assert sorted(r["text"] for r in rows(db, "select text from prompts")) == ["first", "second"]
    assert rows(db, "select source, count(*) n from hook_events group by source order by source") == [
        {"source": "hook", "n": 2}, {"source": "spool", "n": 1}]
    assert not spool.exists()
    # replaying the same payload again (a retried hook) adds nothing
    run_hook(db, first)
    assert rows(db, "select count(*) n from hook_events")[0]["n"] == 3


def test_unwritable_database_location_spools_to_fallback_then_backfill_replays(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database directory should be")
    db = blocker / "claude.db"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "CLAUDE_INGEST_DEBUG": "1"}
    proc, _ = run_hook(db, {"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "kept"}, env=env)
    assert proc.returncode == 0 and proc.stdout == b""
    assert b"spooled" in proc.stderr  # CLAUDE_INGEST_DEBUG=1 makes it visible
    fallback = hook_module.spool_paths(db)[1]  # the user's state directory
    assert fallback.parent == tmp_path / "state" / "claude-ingest" / "spool" and fallback.exists()
    blocker.unlink()
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "ingest", "backfill", str(tmp_path / "empty"), "--db", str(db)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "1 spooled hook events replayed" in r.stdout
    assert rows(db, "select text from prompts") == [{"text": "kept"}]
    assert not fallback.exists()


def test_hook_path_imports_no_heavy_library(tmp_path):
    code = ("import sys, io; sys.stdin = io.TextIOWrapper(io.BytesIO(b'{}')); sys.argv = ['claude-ingest', 'hook', "
            f"'--db', {str(tmp_path / 't.db')!r}]; from ingest.entry import main; main(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('click', 'sqlite_utils', 'datasette', 'yaml', 'ingest')))")
    subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(tmp_path / "t.db")], input=b"{}")  # schema
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)
    assert not [m for m in loaded if not m.startswith("ingest")]
    assert "ingest.parse.transcripts" not in loaded and "ingest.pricing" not in loaded
