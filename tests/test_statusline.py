"""`claude-ingest statusline`: Claude Code's statusLine command, on its real and documented payloads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from helpers import HOOKS, PROJECTS, claude_ingest, environ, rows
from ingest import backfill
from ingest.load import statusline as statusline_mod

REAL = HOOKS / "statusline-stdin.json"  # Claude Code 1.0.88, as ccusage's tests keep it
DOCUMENTED = HOOKS / "statusline-docs-example-2026-08.json"  # every field, from the statusline docs


def run(db, payload: bytes, *args, env=None):
    return subprocess.run([sys.executable, "-m", "ingest", "statusline", "--db", str(db), *args], input=payload,
                          capture_output=True, env=env or environ(), timeout=60)


def test_the_real_payload_gives_exit_0_one_line_and_a_snapshot(db_path):
    proc = run(db_path, REAL.read_bytes())
    assert proc.returncode == 0 and proc.stderr == b""
    out = proc.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1
    # Claude Code's own session cost, and the context left: 42,500 of 200,000 tokens used
    assert "$0.056 session" in out and "79% context left" in out and "today" in out
    (snap,) = rows(db_path, "select * from statusline_snapshots")
    assert snap["session_id"] == "73cc9f9a-2775-4418-beec-bc36b62a1c6f"
    assert snap["total_cost_usd"] == pytest.approx(0.05626615) and snap["context_used_pct"] == 21.2
    assert (snap["model"], snap["version"], snap["context_window_size"]) == ("claude-sonnet-4-20250514", "1.0.88", 200000)
    assert snap["five_hour_pct"] is None and json.loads(snap["payload"]) == json.loads(REAL.read_text())
    (session,) = rows(db_path, "select id, source, model, version, project_path from sessions")
    assert session == {"id": snap["session_id"], "source": "claude", "model": "claude-sonnet-4-20250514",
                       "version": "1.0.88", "project_path": "/Users/ryoppippi/ghq/github.com/ccusage/ccusage"}


def test_rate_limits_and_context_of_the_documented_payload():
    payload = json.loads(DOCUMENTED.read_text())
    row = statusline_mod.parser.snapshot(payload, "2026-08-22T10:00:03.120Z")
    assert (row["five_hour_pct"], row["seven_day_pct"]) == (23.5, 41.2)
    assert row["five_hour_resets_at"] == "2025-02-01T16:00:00.000Z"  # 1738425600
    assert row["seven_day_resets_at"] == "2025-02-06T16:00:00.000Z"
    assert (row["context_used_pct"], row["session_name"], row["prompt_id"]) == (8, "my-session",
                                                                                 "550e8400-e29b-41d4-a716-446655440000")
    assert row["bucket"] == "2026-08-22T10:00:00Z"
    text = statusline_mod.line(payload, 4.2)
    assert text.startswith("$4.20 today · $0.012 session · 5h 24% (resets ") and text.endswith(
        " · 7d 41% · 92% context left")


def test_one_row_per_session_per_few_seconds_and_a_late_replay_changes_nothing(db_path):
    from ingest import store

    payload = json.loads(DOCUMENTED.read_text())
    conn = store.connect(db_path)

    def write(at, cost):
        raw = json.dumps({**payload, "cost": {**payload["cost"], "total_cost_usd": cost}}).encode()
        assert statusline_mod.write_snapshot(conn, raw, at)
        return raw

    write("2026-08-22T10:00:01.000Z", 0.10)
    late = write("2026-08-22T10:00:02.000Z", 0.20)
    write("2026-08-22T10:00:04.500Z", 0.30)  # same 5-second bucket: the newest is kept
    write("2026-08-22T10:00:05.000Z", 0.40)  # the next bucket
    before = rows(db_path, "select bucket, captured_at, total_cost_usd from statusline_snapshots order by 1")
    assert before == [
        {"bucket": "2026-08-22T10:00:00Z", "captured_at": "2026-08-22T10:00:04.500Z", "total_cost_usd": 0.30},
        {"bucket": "2026-08-22T10:00:05Z", "captured_at": "2026-08-22T10:00:05.000Z", "total_cost_usd": 0.40}]
    statusline_mod.write_snapshot(conn, late, "2026-08-22T10:00:02.000Z", source="statusline-spool")  # replayed
    assert rows(db_path, "select bucket, captured_at, total_cost_usd from statusline_snapshots order by 1") == before
    conn.close()


def test_a_busy_database_spools_the_snapshot_and_the_line_still_shows(db_path):
    run(db_path, b"{}")  # the database exists
    blocker = sqlite3.connect(db_path, timeout=0)
    blocker.execute("begin exclusive")
    env = environ(CLAUDE_INGEST_DEBUG="1")
    proc = run(db_path, REAL.read_bytes(), env=env)
    assert proc.returncode == 0 and proc.stdout.decode().count("\n") == 1 and "$0.056 session" in proc.stdout.decode()
    assert b"spooled" in proc.stderr
    blocker.rollback()
    blocker.close()
    assert rows(db_path, "select count(*) n from statusline_snapshots") == [{"n": 0}]
    other = json.loads(DOCUMENTED.read_text())
    assert run(db_path, json.dumps(other).encode()).returncode == 0  # the next one replays the spooled one
    got = rows(db_path, "select session_id, captured_at from statusline_snapshots order by session_id")
    assert [g["session_id"] for g in got] == ["73cc9f9a-2775-4418-beec-bc36b62a1c6f", "abc123..."]
    assert not any(p.exists() for p in statusline_mod.hook_mod.spool_paths(db_path, statusline_mod.STATUSLINE))


def test_anything_on_stdin_gives_a_line_and_exit_0(db_path):
    for payload in (b"", b"not json", b"[1, 2]", b'{"session_id": 5}', b'{"cost": {"total_cost_usd": "x"}}'):
        proc = run(db_path, payload)
        assert proc.returncode == 0 and proc.stderr == b"", payload
        assert proc.stdout.decode().count("\n") == 1, payload


def test_today_takes_per_session_the_larger_of_claude_code_s_own_figure_and_the_archive_s(tmp_path):
    from ingest import store

    db = tmp_path / "claude.db"
    backfill(db, [PROJECTS])
    day = "2026-02-12"
    archive = rows(db, "select session_id, sum(cost_usd) c from api_requests where timestamp >= ? and is_replay = 0 "
                       "group by 1", (day,))
    assert len(archive) == 1 and archive[0]["c"] > 10  # the spotter session, $10.51 that day
    spotter = archive[0]["session_id"]
    conn = store.connect(db)
    base = json.loads(REAL.read_text())

    def snap(session, at, cost):
        statusline_mod.write_snapshot(conn, json.dumps({**base, "session_id": session,
                                                        "cost": {"total_cost_usd": cost}}).encode(), at)

    snap("other", "2026-02-11T23:00:00.000Z", 1.00)  # before the day: not counted
    snap("other", "2026-02-12T09:00:00.000Z", 1.50)  # +0.50
    snap("other", "2026-02-12T10:00:00.000Z", 0.20)  # /clear started over: +0.20
    snap("other", "2026-02-12T11:00:00.000Z", 0.45)  # +0.25
    snap(spotter, "2026-02-12T16:00:00.000Z", 3.00)  # less than the transcript says: the archive's figure
    conn.close()
    assert statusline_mod.today_cost(db, start="2026-02-12T00:00:00.000Z") == pytest.approx(0.95 + archive[0]["c"])


def test_the_statusline_imports_no_heavy_library(tmp_path):
    db = tmp_path / "t.db"
    run(db, b"{}")  # the schema, which needs sqlite-utils once
    code = ("import sys, io; sys.stdin = io.TextIOWrapper(io.BytesIO(" + repr(REAL.read_bytes()) + ")); "
            f"sys.argv = ['claude-ingest', 'statusline', '--db', {str(db)!r}]; from ingest.entry import main; main(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('click', 'sqlite_utils', 'datasette', 'yaml', 'ingest', 'genai_prices', 'subprocess')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out.splitlines()[-1])
    assert not [m for m in loaded if not m.startswith("ingest")], loaded
    assert "ingest.pricing" not in loaded and "ingest.parse.transcripts" not in loaded


# -- install-hooks --statusline ---------------------------------------------------------------------
def _installed(settings):
    return json.loads(settings.read_text())["statusLine"]


def test_install_chains_the_user_s_own_command_and_uninstall_gives_it_back_exactly(tmp_path, db_path):
    settings = tmp_path / "settings.json"
    theirs = {"type": "command", "command": "printf 'main \\342\\234\\223 2 files'", "padding": 1,
              "refreshInterval": 5}
    original = json.dumps({"model": "opus", "statusLine": theirs}, indent=4)
    settings.write_text(original)
    r = claude_ingest("install-hooks", "--settings", settings, "--db", db_path, "--statusline")
    assert r.returncode == 0 and "runs your statusLine command" in r.stdout
    ours = _installed(settings)
    assert {k: v for k, v in ours.items() if k != "command"} == {k: v for k, v in theirs.items() if k != "command"}
    assert " statusline --db " in ours["command"] and "--chain" in ours["command"]
    # run as Claude Code runs it: through the shell, the payload on stdin; their line, and only it
    proc = subprocess.run(ours["command"], shell=True, input=REAL.read_bytes(), capture_output=True, env=environ())
    assert proc.returncode == 0 and proc.stdout.decode() == "main ✓ 2 files\n"
    assert rows(db_path, "select count(*) n from statusline_snapshots") == [{"n": 1}]  # ours recorded it
    # installing again changes nothing; --show-ours adds our line under theirs
    assert "already installed" in claude_ingest("install-hooks", "--settings", settings, "--db", db_path,
                                                "--statusline").stdout
    claude_ingest("install-hooks", "--settings", settings, "--db", db_path, "--statusline", "--show-ours")
    both = subprocess.run(_installed(settings)["command"], shell=True, input=REAL.read_bytes(), capture_output=True,
                          env=environ()).stdout.decode().splitlines()
    assert both[0] == "main ✓ 2 files" and "$0.056 session" in both[1] and len(both) == 2
    r = claude_ingest("uninstall-hooks", "--settings", settings, "--statusline")
    assert r.returncode == 0 and "your statusLine command is back" in r.stdout
    assert json.loads(settings.read_text()) == json.loads(original)
    assert list(json.loads(settings.read_text())["statusLine"]) == list(theirs)  # key order too


def test_install_without_a_statusline_adds_ours_and_uninstall_removes_it(tmp_path, db_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"hooks": {}}))
    claude_ingest("install-hooks", "--settings", settings, "--db", db_path, "--statusline")
    ours = _installed(settings)
    assert ours["type"] == "command" and "--chain" not in ours["command"]
    proc = subprocess.run(ours["command"], shell=True, input=REAL.read_bytes(), capture_output=True, env=environ())
    assert proc.returncode == 0 and proc.stdout.decode().count("\n") == 1 and "$0.056 session" in proc.stdout.decode()
    claude_ingest("uninstall-hooks", "--settings", settings, "--statusline")
    assert "statusLine" not in json.loads(settings.read_text())
    assert "no claude-ingest statusline" in claude_ingest("uninstall-hooks", "--settings", settings,
                                                          "--statusline").stdout


def test_a_slow_or_failing_command_of_theirs_gives_our_line_in_bounded_time(tmp_path, db_path):
    import time

    for command in ("sleep 30", "exit 3"):
        started = time.monotonic()
        proc = run(db_path, REAL.read_bytes(), "--chain", command)
        assert time.monotonic() - started < statusline_mod.DEADLINE_S + 2
        assert proc.returncode == 0 and "$0.056 session" in proc.stdout.decode(), command
