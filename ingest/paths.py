"""Where things live: the database, Claude Code's transcripts, and the sample transcripts that ship
with the package."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "CLAUDE_INGEST_DB"


def default_db_path() -> Path:
    """``$CLAUDE_INGEST_DB``, else ``~/.claude/claude.db``: one fixed file, since hooks run from any cwd."""
    return Path(os.environ.get(DB_ENV) or "~/.claude/claude.db").expanduser()


def samples_dir() -> Path:
    """The real, public transcripts shipped for a first look on a machine with no Claude history.

    In a wheel they sit in the package (``ingest/samples``); in a checkout, in ``tests/fixtures``.
    """
    packaged = Path(__file__).with_name("samples") / "claude" / "projects"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude" / "projects"


def claude_projects_dirs() -> list[Path]:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR/projects`` (comma-separated config
    dirs allowed), else ``~/.claude/projects``, whether or not they exist."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    bases = [p for p in (configured or "").split(",") if p.strip()] or ["~/.claude"]
    return [Path(b.strip()).expanduser() / "projects" for b in bases]


def existing_projects_dirs() -> list[Path]:
    """The projects directories that are there (directories: a file of that name is not one)."""
    return [p for p in claude_projects_dirs() if p.is_dir()]
