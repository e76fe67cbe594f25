"""The claude-ingest command line: in process (click's CliRunner), and as the real console script."""

import json
import os
import re
import shutil
import sqlite3
import stat
from pathlib import Path

from helpers import PROJECTS, claude_ingest, copy_tree, environ, rows


def test_backfill_prints_one_summary_line_and_writes_the_db(tmp_path):
    db = tmp_path / "out" / "claude.db"
    r = claude_ingest("backfill", PROJECTS, "--db", db, env=environ(), subprocess_=True)  # the console script
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert line.startswith(f"backfill {db}: 6 files read, 0 unchanged;")
    assert "0 bad lines" in line and "api_requests" in line and "unpriced models: none" in line
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    again = claude_ingest("backfill", PROJECTS, "--db", db, env=environ())
    assert "0 files read, 6 unchanged" in again.stdout
    assert "rows added: none; rows changed: none" in again.stdout


def test_database_is_private_and_in_wal_mode(tmp_path):
    db = tmp_path / "claude.db"
    assert claude_ingest("backfill", PROJECTS / "-Users-chip-dev-ai-music", "--db", db,
                         env=environ()).returncode == 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert rows(db, "pragma journal_mode")[0]["journal_mode"] == "wal"


def test_missing_path_is_a_clear_error_with_exit_2(tmp_path):
    r = claude_ingest("backfill", tmp_path / "nope", "--db", tmp_path / "x.db", env=environ())
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "nope" in r.stderr
    assert not (tmp_path / "x.db").exists()


def test_db_from_environment_and_projects_from_claude_config_dir(tmp_path):
    config = tmp_path / "config"
    copy_tree(PROJECTS, config / "projects")
    db = tmp_path / "env.db"
    r = claude_ingest("backfill", env=environ(CLAUDE_INGEST_DB=db, CLAUDE_CONFIG_DIR=config))
    assert r.returncode == 0, r.stderr
    assert "6 files read" in r.stdout
    assert rows(db, "select count(*) n from sessions")[0]["n"] == 3


def test_default_db_is_in_home_and_samples_are_used_without_history(tmp_path):
    r = claude_ingest("backfill", env=environ(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "No Claude Code history" in r.stderr and "sample transcripts" in r.stderr
    db = tmp_path / "home" / ".claude" / "claude.db"
    assert db.exists()
    assert rows(db, "select count(*) n from api_requests")[0]["n"] > 200


def test_an_empty_projects_directory_falls_back_to_the_samples(tmp_path):
    """A fresh Claude Code install makes ~/.claude/projects with nothing in it (or empty project
    folders): "no transcripts found" is what counts, not whether the directory exists."""
    (tmp_path / "home" / ".claude" / "projects" / "-home-me-new").mkdir(parents=True)
    r = claude_ingest("backfill", env=environ(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "No transcripts found" in r.stderr and "sample transcripts" in r.stderr
    db = tmp_path / "home" / ".claude" / "claude.db"
    assert rows(db, "select count(*) n from sessions")[0]["n"] == 3
    assert "6 files read" in r.stdout


def test_the_samples_are_never_mixed_into_a_database_with_history(tmp_path):
    db = tmp_path / "mine.db"
    one = sorted(PROJECTS.rglob("*.jsonl"))[0]
    assert claude_ingest("backfill", one, "--db", db, env=environ()).returncode == 0
    before = rows(db, "select count(*) n from sessions")[0]["n"]
    (tmp_path / "home" / ".claude" / "projects").mkdir(parents=True)  # transcripts since deleted
    r = claude_ingest("backfill", "--db", db, env=environ(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "No transcripts found" in r.stderr and "unchanged" in r.stderr
    assert "sample transcripts" not in r.stderr
    assert rows(db, "select count(*) n from sessions")[0]["n"] == before


def test_bad_lines_show_in_the_summary(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"type":"user","sessionId":"s","uuid":"u","message":{"content":"hi"}}\nnot json\n')
    r = claude_ingest("backfill", f, "--db", tmp_path / "t.db", env=environ())
    assert r.returncode == 0
    assert "1 bad lines skipped" in r.stdout


def test_help_lists_commands_with_examples(tmp_path):
    r = claude_ingest("backfill", "--help", env=environ())
    assert r.returncode == 0 and "Example" in r.stdout and "--db" in r.stdout


def test_progress_bar_on_a_terminal(tmp_path):
    """stderr on a pseudo-terminal: click's progress bar is drawn; stdout still gets the summary."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "backfill", str(PROJECTS), "--db", str(tmp_path / "t.db")],
                            stdout=subprocess.PIPE, stderr=follower, env=environ())
    os.close(follower)
    out, _ = proc.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"Reading transcripts" in seen and b"100%" in seen
    assert b"6 files read" in out


def test_the_hook_commands_run_in_process_too(tmp_path):
    """The console script dispatches `hook` before importing click; a program (or a test) calling the
    click group in process reaches the same code through the commands' bodies."""
    from click.testing import CliRunner

    from ingest.cli import cli

    db = tmp_path / "claude.db"
    payload = '{"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "in process"}'
    result = CliRunner().invoke(cli, ["hook", "--db", str(db)], input=payload)
    assert (result.exit_code, result.output) == (0, "")
    event = '{"type": "session.idle", "properties": {"sessionID": "ses_in_process"}}'
    result = CliRunner().invoke(cli, ["opencode-event", "--db", str(db)], input=event)
    assert (result.exit_code, result.output) == (0, "")
    assert rows(db, "select text from prompts") == [{"text": "in process"}]
    assert rows(db, "select event from hook_events where source = 'opencode'") == [{"event": "session.idle"}]


# -- the summary line counts rows, as the database holds them -------------------------------------
def _snapshot(db) -> dict:
    """Every counted table's rows by rowid, with their key (a rowid taken by a new row is a new row)."""
    from ingest import schema, store

    if not Path(db).exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        out = {}
        for name in store.COUNTED:
            pk = ", ".join(f"[{c}]" for c in schema.TABLES[name].pk)
            # a database's bookkeeping of its own writes (sessions.rev, ...) is no change to what happened
            columns = ", ".join(f"[{c}]" for c in schema.TABLES[name].columns
                                if c not in schema.BOOKKEEPING.get(name, ()))
            out[name] = {r[0]: (r[1:1 + len(schema.TABLES[name].pk)], r) for r in conn.execute(
                f"select rowid, {pk}, {columns} from [{name}]")}
        return out
    finally:
        conn.close()


def _diff(before: dict, after: dict) -> dict:
    added, changed, removed = {}, {}, {}
    for name in after:
        old, new = before.get(name, {}), after[name]
        for rowid, (key, row) in new.items():
            if rowid not in old or old[rowid][0] != key:
                added[name] = added.get(name, 0) + 1
            elif old[rowid][1] != row:
                changed[name] = changed.get(name, 0) + 1
        for rowid, (key, _) in old.items():
            if rowid not in new or new[rowid][0] != key:
                removed[name] = removed.get(name, 0) + 1
    return {"added": added, "changed": changed, "removed": removed}


def _said(line: str) -> dict:
    """The summary line's counts: ``rows added: t 1, u 2; rows changed: none[; rows merged into others: ...]``."""
    out = {}
    for part, what in (("added", r"rows added: ([^;]*)"), ("changed", r"rows changed: ([^;]*)"),
                       ("removed", r"rows merged into others: ([^;]*)")):
        m = re.search(what, line)
        text = m.group(1) if m else "none"
        out[part] = {} if text == "none" else {t: int(n.replace(",", "")) for t, n in
                                               (item.rsplit(" ", 1) for item in text.split(", "))}
    return out


def test_summary_line_counts_the_rows_the_tables_gained(tmp_path):
    """A real backfill once printed `api_requests 1,559, sessions 18, subagents 174, tool_calls 1,998`
    for a database holding 750, 10, 10 and 933 rows: it counted upserts. Now every figure is rows."""
    db = tmp_path / "claude.db"
    r = claude_ingest("backfill", PROJECTS, "--db", db)
    said = _said(r.stdout)
    counts = {t: n for t, n in ((t, rows(db, f"select count(*) n from [{t}]")[0]["n"]) for t in said["added"]) if n}
    assert said["added"] == counts and said["changed"] == {} and said["removed"] == {}
    assert said["added"]["api_requests"] == 244 and said["added"]["sessions"] == 3
    assert said["added"]["subagents"] == 3 and said["added"]["tool_calls"] == 308
    assert json.loads(rows(db, "select rows_json from ingest_runs")[0]["rows_json"])["added"] == counts


def test_summary_line_equals_what_changed_in_the_database(tmp_path):
    """Against a row-by-row comparison of the database before and after: a file that grew, hooks'
    rows meeting their transcript (some merged into others), a job's stream meeting its transcript."""
    from hook_payloads import payloads_for_session
    from ingest.load import hooks as hook_module
    from test_jobs import load, ndjson, to_stream

    projects = copy_tree(PROJECTS, tmp_path / "projects")
    spotter = projects / "-Users-marot-spotter"
    main = spotter / "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl"
    db = tmp_path / "claude.db"
    for p in payloads_for_session(main):  # hooks first: their rows meet the transcript's below
        hook_module.handle(json.dumps(p).encode(), db, received_at="2026-11-01T00:00:00.000Z")

    def check(*args):
        before = _snapshot(db)
        r = claude_ingest(*args, "--db", db)
        assert r.returncode == 0, r.stderr
        assert _said(r.stdout) == _diff(before, _snapshot(db)), r.stdout
        return _said(r.stdout)

    first = check("backfill", projects)
    assert first["changed"] and first["removed"], first  # hook rows completed, and merged away
    lines = main.read_text().splitlines(keepends=True)
    grown = spotter / "grown.jsonl"
    grown.write_text("".join(lines[: len(lines) // 2]))
    check("backfill", projects)
    with open(grown, "a") as f:
        f.write("".join(lines[len(lines) // 2:]))
    check("backfill", projects)
    assert _said(claude_ingest("backfill", projects, "--db", db).stdout) == {
        "added": {}, "changed": {}, "removed": {}}

    stream = tmp_path / "stream.jsonl"  # tool_heavy's run as `claude -p` streamed it, then its transcript
    stream.write_text(ndjson(to_stream(load(spotter / "tool_heavy.jsonl"))))
    db = tmp_path / "job-first.db"
    check("job", stream)
    (tmp_path / "th").mkdir()
    shutil.copy(spotter / "tool_heavy.jsonl", tmp_path / "th" / "tool_heavy.jsonl")
    both = check("backfill", tmp_path / "th")
    assert both["removed"].get("api_requests"), both  # the stream's copies gave way to the transcript's
