"""`claude-ingest jsonl`: legacy JSONL logs into tables of their own, idempotently and incrementally."""

import json
import os
import sqlite3

import pytest

from helpers import claude_ingest, rows
from ingest.load import jsonl as legacy
from ingest.load.jsonl import TableNameError, import_jsonl
from ingest.parse.jsonl import epoch_time, is_time_key, iso_time, normalise

# Shapes of the logs older setups wrote (routing metrics, session outcomes, self-heal events).
ROUTING = [
    {"ts": 1767312000, "model": "claude-sonnet-4-5", "route": "code", "latency_ms": 1834, "cost": 0.0123,
     "ok": True, "tags": ["fast", "cheap"]},
    {"ts": 1767312060.5, "model": "claude-opus-4-6", "route": "plan", "latency_ms": 4210, "cost": 0.2,
     "ok": False, "error": {"type": "overloaded", "status": 529}},
    {"timestamp": "2026-01-02T00:02:00+01:00", "model": "claude-haiku-4-5", "route": "chat", "latency_ms": 300,
     "cost": 0.001, "ok": True},
    {"createdAt": 1767312180123, "model": "claude-haiku-4-5", "route": "chat", "latency_ms": 250, "cost": 0.001,
     "ok": True, "duration_ms": 1767312180123},
    {"logged_at": "2026-01-02 00:04:00", "model": "gpt-5", "route": "review", "latency_ms": 900, "cost": None,
     "ok": True, "startTime": "1767312240"},
]
BAD = ["this is not json", "[1, 2, 3]", "{}", '{"ts": 1767312000, "model": "trunc']


def write_log(path, records, bad=(), end="\n"):
    lines = [json.dumps(r) for r in records] + list(bad)
    path.write_text("\n".join(lines) + end)
    return path


def dump(db, table):
    conn = sqlite3.connect(db)
    out = sorted(map(repr, conn.execute(f"select * from [{table}]")))
    conn.close()
    return out


def test_columns_types_and_times(tmp_path):
    log = write_log(tmp_path / "routing.jsonl", ROUTING)
    db = tmp_path / "t.db"
    summary = import_jsonl(db, log, "routing_metrics")
    assert (summary.lines, summary.new_rows, summary.bad_lines) == (5, 5, 0)
    conn = sqlite3.connect(db)
    types = {r[1]: r[2] for r in conn.execute("pragma table_info(routing_metrics)")}
    conn.close()
    assert types["latency_ms"] == "INTEGER" and types["cost"] in ("FLOAT", "REAL")
    assert types["ok"] == "INTEGER" and types["model"] == "TEXT" and types["tags"] == "TEXT"
    by_latency = {r["latency_ms"]: r for r in rows(db, "select * from routing_metrics")}
    got = [by_latency[r["latency_ms"]] for r in ROUTING]
    assert [r["ts"] for r in got[:2]] == ["2026-01-02T00:00:00.000Z", "2026-01-02T00:01:00.500Z"]  # epoch seconds
    assert got[2]["timestamp"] == "2026-01-01T23:02:00.000Z"  # an ISO time with an offset, in UTC
    assert got[3]["createdAt"] == "2026-01-02T00:03:00.123Z"  # epoch milliseconds
    assert got[3]["duration_ms"] == 1767312180123  # not a time, whatever its size
    assert got[4]["logged_at"] == "2026-01-02T00:04:00.000Z"  # no zone: UTC
    assert got[4]["startTime"] == "2026-01-02T00:04:00.000Z"  # epoch seconds written as text
    assert json.loads(got[0]["tags"]) == ["fast", "cheap"] and json.loads(got[1]["error"])["status"] == 529
    assert got[0]["ok"] == 1 and got[1]["ok"] == 0 and got[4]["cost"] is None
    # times sort and group as text
    assert rows(db, "select date(ts) d from routing_metrics where ts is not null limit 1") == [{"d": "2026-01-02"}]


def test_bad_lines_are_counted_recorded_and_never_fatal(tmp_path):
    log = write_log(tmp_path / "routing.jsonl", ROUTING[:2], bad=BAD[:3])
    with open(log, "a") as f:
        f.write(json.dumps(ROUTING[2]) + "\n" + BAD[3] + "\n")
    db = tmp_path / "t.db"
    summary = import_jsonl(db, log, "routing_metrics")
    assert (summary.lines, summary.new_rows, summary.bad_lines) == (7, 3, 4)
    assert "4 bad lines skipped" in summary.line()
    skips = rows(db, "select excerpt, reason from ingest_skips order by offset")
    assert [s["excerpt"].strip() for s in skips] == BAD
    assert "expected a JSON object" in skips[1]["reason"] and "empty object" in skips[2]["reason"]
    assert rows(db, "select lines, bad_lines from ingest_files") == [{"lines": 7, "bad_lines": 4}]


def test_same_file_again_changes_nothing_and_is_not_opened(tmp_path, monkeypatch):
    log = write_log(tmp_path / "routing.jsonl", ROUTING)
    db = tmp_path / "t.db"
    import_jsonl(db, log, "routing_metrics")
    before, files = dump(db, "routing_metrics"), dump(db, "ingest_files")

    def no_open(*args, **kwargs):
        raise AssertionError("an unchanged file was opened")

    monkeypatch.setattr(legacy, "open", no_open, raising=False)
    again = import_jsonl(db, log, "routing_metrics")
    assert again.unchanged and "unchanged since the last import, not read; 5 rows" in again.line()
    assert dump(db, "routing_metrics") == before and dump(db, "ingest_files") == files


def test_growing_file_adds_only_what_is_new(tmp_path):
    log = write_log(tmp_path / "routing.jsonl", ROUTING[:2])
    db = tmp_path / "t.db"
    first = import_jsonl(db, log, "routing_metrics")
    size = log.stat().st_size
    # a line half written when the import runs waits for the next one
    with open(log, "a") as f:
        f.write(json.dumps(ROUTING[2]) + "\n" + json.dumps(ROUTING[3])[:20])
    second = import_jsonl(db, log, "routing_metrics")
    assert (second.lines, second.new_rows, second.bytes_read) == (1, 1, len(json.dumps(ROUTING[2])) + 1)
    with open(log, "a") as f:
        f.write(json.dumps(ROUTING[3])[20:] + "\n" + json.dumps(ROUTING[4]) + "\n")
    third = import_jsonl(db, log, "routing_metrics")
    assert (third.lines, third.new_rows, third.total_rows) == (2, 2, 5)
    assert first.bytes_read == size and rows(db, "select offset from ingest_files")[0]["offset"] == log.stat().st_size
    # the same rows as importing the whole file at once
    whole = tmp_path / "whole.db"
    import_jsonl(whole, log, "routing_metrics")
    assert dump(db, "routing_metrics") == dump(whole, "routing_metrics")


def test_rewritten_file_is_read_again_without_losing_rows(tmp_path):
    log = write_log(tmp_path / "routing.jsonl", ROUTING[:3])
    db = tmp_path / "t.db"
    import_jsonl(db, log, "routing_metrics")
    write_log(log, ROUTING[3:])  # rotated: shorter, other lines
    summary = import_jsonl(db, log, "routing_metrics")
    assert summary.reread and "read again from the start" in summary.line()
    assert summary.new_rows == 2 and rows(db, "select count(*) n from routing_metrics") == [{"n": 5}]


def test_primary_key_column_upserts(tmp_path):
    outcomes = [{"session_id": "s1", "outcome": "running", "updated_at": 1767312000},
                {"session_id": "s2", "outcome": "success", "updated_at": 1767312001},
                {"session_id": "s1", "outcome": "success", "files": 3, "updated_at": 1767312100},
                {"outcome": "orphan"}]
    log = write_log(tmp_path / "outcomes.jsonl", outcomes)
    db = tmp_path / "t.db"
    summary = import_jsonl(db, log, "session_outcomes", pk="session_id")
    assert (summary.new_rows, summary.bad_lines) == (2, 1)
    assert rows(db, "select * from session_outcomes order by session_id") == [
        {"session_id": "s1", "outcome": "success", "updated_at": "2026-01-02T00:01:40.000Z", "files": 3},
        {"session_id": "s2", "outcome": "success", "updated_at": "2026-01-02T00:00:01.000Z", "files": None}]
    with pytest.raises(TableNameError, match="keyed by"):
        import_jsonl(db, log, "session_outcomes")  # the table is keyed by session_id, not line hashes


def test_without_pk_identical_lines_are_one_record(tmp_path):
    log = write_log(tmp_path / "activity.jsonl", [ROUTING[0], ROUTING[0], ROUTING[1]])
    db = tmp_path / "t.db"
    assert import_jsonl(db, log, "activity").new_rows == 2
    assert {len(r["line_sha1"]) for r in rows(db, "select line_sha1 from activity")} == {40}


def test_cli(tmp_path):
    log = write_log(tmp_path / "routing.jsonl", ROUTING, bad=BAD[:1])
    db = tmp_path / "cli.db"
    proc = claude_ingest("jsonl", log, "--table", "routing_metrics", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and "5 new rows, 5 in the table, 1 bad lines skipped" in proc.stdout
    proc = claude_ingest("jsonl", log, "--table", "routing_metrics", "--db", db)
    assert proc.returncode == 0 and "unchanged since the last import" in proc.stdout
    env = dict(os.environ, CLAUDE_INGEST_DB=str(tmp_path / "env.db"))
    proc = claude_ingest("jsonl", log, "--table", "by_model", env=env)
    assert proc.returncode == 0 and rows(tmp_path / "env.db", "select count(*) n from by_model") == [{"n": 5}]
    # a missing file and claude-ingest's own tables are usage errors
    assert claude_ingest("jsonl", tmp_path / "missing.jsonl", "--table", "x", "--db", db).returncode == 2
    for name in ("sessions", "tool_calls", "usage_by_day", "jobs", "sqlite_master", "prompts_fts"):
        proc = claude_ingest("jsonl", log, "--table", name, "--db", db)
        assert proc.returncode == 2 and "--table" in proc.stderr, name
    assert claude_ingest("jsonl", log, "--db", db).returncode == 2  # --table is required


@pytest.mark.parametrize("value, expected", [
    ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"),
    ("2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05.123Z"),
    ("2026-01-02T03:04:05-0500", "2026-01-02T08:04:05.000Z"),
    ("2026-01-02 03:04", "2026-01-02T03:04:00.000Z"),
    ("2026-01-02", None),  # a date alone is kept as it is
    ("2026-13-02T03:04:05Z", None),
    ("version 2026-01-02T03:04:05Z", None),
])
def test_iso_times(value, expected):
    assert iso_time(value) == expected


def test_epoch_times_only_under_time_keys_and_in_range():
    assert epoch_time(1767312000) == "2026-01-02T00:00:00.000Z"
    assert epoch_time(1767312000123) == "2026-01-02T00:00:00.123Z"
    assert epoch_time(12345) is None and epoch_time(True) is None and epoch_time("12a") is None
    assert normalise("count", 1767312000) == 1767312000
    assert normalise("ts", 42) == 42
    for key in ("ts", "time", "timestamp", "created_at", "createdAt", "startTime", "end_time", "date", "logged",
                "updated_on", "timestamp_ms"):
        assert is_time_key(key), key
    for key in ("format", "reason", "session", "update", "duration_ms", "elapsed", "runtime", "retry_count",
                "timeout"):
        assert not is_time_key(key), key
