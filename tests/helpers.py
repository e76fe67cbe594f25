"""What the tests share: where the fixtures are, reading rows, copying trees, and running the
command line (in process with click's CliRunner, or as the real console script in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
PROJECTS = FIXTURES / "claude" / "projects"
EDGE = FIXTURES / "edge-cases"
EXPECTED = FIXTURES / "expected"
HOOKS = FIXTURES / "hooks"

# The hook commands run as the real console script unless a test asks for them in process: they are
# dispatched before click is imported, which only the console script shows.
_SUBPROCESS_ONLY = {"hook", "statusline", "opencode-event"}


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


def environ(**extra) -> dict:
    """The environment the tests run in (see conftest's autouse fixture), with ``extra`` on top."""
    return {**os.environ, **{k: str(v) for k, v in extra.items()}}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def claude_ingest(*args, env=None, input=None, cwd=None, subprocess_: bool = False) -> Ran:
    """``claude-ingest ARGS``: in process through click's CliRunner (as sqlite-utils tests its CLI),
    or, for the hook commands and with ``subprocess_=True``, the real console entry point."""
    args = [str(a) for a in args]
    if subprocess_ or (args and args[0] in _SUBPROCESS_ONLY):
        r = subprocess.run([sys.executable, "-m", "ingest", *args], capture_output=True, text=True, env=env,
                           input=input, cwd=cwd, timeout=120)
        return Ran(r.returncode, r.stdout, r.stderr)
    from click.testing import CliRunner

    from ingest.cli import cli

    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(cli, args, input=input, env=env, prog_name="claude-ingest",
                                    catch_exceptions=True)
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the console script would print: the test must fail loudly
    return Ran(result.exit_code, result.stdout, result.stderr)


def load_expected(name):
    return json.loads((EXPECTED / name).read_text())
