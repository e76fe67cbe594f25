"""The claude-ingest command line: in process (click's CliRunner), and as the real console script."""

import os
import stat

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
    assert "rows upserted: none" in again.stdout


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
