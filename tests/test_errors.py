"""Clear errors, never a traceback (issue 9, section 6): a database that is not one, truncated or
corrupt gives every command one line naming the file and what is wrong, and exit status 2."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FIXTURES, PROJECTS
from ingest import backfill

ROOT = Path(__file__).resolve().parent.parent
JOB = FIXTURES / "headless" / "claude-p-output-json.result-success.live-shape-2026-07.json"


def _run(tmp_path, *args, input=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.run([sys.executable, "-m", "ingest", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120, input=input)


@pytest.fixture(scope="module")
def good_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "claude.db"
    backfill(path, [PROJECTS])
    conn = sqlite3.connect(path)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return path


def _bad(kind: str, good_db: Path, where: Path) -> Path:
    db = where / f"{kind}.db"
    if kind == "random-bytes":
        db.write_bytes(os.urandom(64 * 1024))
    else:
        shutil.copy(good_db, db)
        data = bytearray(db.read_bytes())
        if kind == "truncated":
            data = data[: len(data) // 3]
        else:  # corrupt: pages in the middle overwritten, the header intact
            page = int.from_bytes(data[16:18], "big") or 65536
            for n in range(2, len(data) // page, 3):
                data[n * page: n * page + page] = os.urandom(page)
        db.write_bytes(bytes(data))
    return db


COMMANDS = {
    "backfill": lambda t: ["backfill", t / "empty"],
    "prune": lambda t: ["prune", "--before", "2026-02-12"],
    "reprice": lambda t: ["reprice"],
    "jsonl": lambda t: ["jsonl", t / "log.jsonl", "--table", "routing"],
    "opencode": lambda t: ["opencode", t / "empty"],
    "job": lambda t: ["job", JOB],
    "status": lambda t: ["status"],
}


@pytest.mark.parametrize("kind", ["random-bytes", "truncated", "corrupt"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unusable_database_is_one_line_and_exit_2(tmp_path, good_db, kind, command):
    (tmp_path / "empty").mkdir()
    (tmp_path / "log.jsonl").write_text(json.dumps({"ts": 1767225600, "route": "a"}) + "\n")
    db = _bad(kind, good_db, tmp_path)
    r = _run(tmp_path, *COMMANDS[command](tmp_path), "--db", db)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    if kind != "random-bytes" and r.returncode == 0:
        return  # SQLite did not need the damaged pages for this command
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(db) in lines[0], r.stderr
    assert any(word in lines[0] for word in ("not a SQLite database", "corrupt")), lines[0]


def test_a_hook_that_can_only_spool_because_the_database_is_corrupt_shows_in_status(tmp_path):
    db = tmp_path / "claude.db"
    db.write_bytes(os.urandom(8192))
    payload = json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "kept"})
    hook = _run(tmp_path, "hook", "--db", db, input=payload)
    assert (hook.returncode, hook.stdout, hook.stderr) == (0, "", "")
    r = _run(tmp_path, "status", "--db", db)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a SQLite database" in r.stderr and "1 events from hooks are spooled for it" in r.stderr
    assert "file is not a database" in r.stderr  # why they were spooled
