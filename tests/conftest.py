"""Fixtures. What tests share otherwise is in helpers.py (import it; never import this module)."""

import sqlite3

import pytest

from helpers import PROJECTS, ROOT
from ingest import backfill
from ingest.load.hooks import DEBUG_ENV
from ingest.redact import NO_REDACT_ENV


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch):
    """Every test runs as a user of its own: a home, a state and a temp directory under its tmp_path,
    none of the machine's claude-ingest, Claude Code or OpenCode variables, and subprocesses that
    import this checkout (whatever their working directory)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for name in ("CLAUDE_INGEST_DB", "CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "OPENCODE_DATA_DIR",
                 "CLAUDE_INGEST_MACHINE", NO_REDACT_ENV, DEBUG_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "claude.db"


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory):
    """The real fixture transcripts, backfilled once for the whole test session (read-only use)."""
    path = tmp_path_factory.mktemp("fixture-db") / "claude.db"
    backfill(path, [PROJECTS])
    return path


@pytest.fixture
def query(fixture_db):
    conn = sqlite3.connect(fixture_db)
    conn.row_factory = sqlite3.Row

    def run(sql, params=()):
        return [dict(r) for r in conn.execute(sql, params)]

    yield run
    conn.close()
