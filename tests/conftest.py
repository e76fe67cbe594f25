import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import backfill

FIXTURES = Path(__file__).parent / "fixtures"
PROJECTS = FIXTURES / "claude" / "projects"
EDGE = FIXTURES / "edge-cases"
EXPECTED = FIXTURES / "expected"


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


def rows(db, sql, params=()):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def claude_ingest(*args, env=None, input=None, cwd=None):
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", *map(str, args)],
        capture_output=True, text=True, env=env, input=input, cwd=cwd, timeout=120,
    )


def load_expected(name):
    return json.loads((EXPECTED / name).read_text())
