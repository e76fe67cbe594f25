"""``claude-ingest codex``: Codex CLI rollouts into the database, incrementally.

Rollouts are ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl`` (``CODEX_HOME``
defaults to ``~/.codex``), and the same files moved to ``archived_sessions/`` when a session is
archived (a session read from both is one session: every row has its natural key). They are read as
backfill reads Claude Code's transcripts (:class:`ingest.load.transcripts.Backfill`): a file whose size
and mtime have not changed is not opened, a grown one is read from its stored offset, a half-written
last line waits, a rewritten one is read again; a bad line is counted and recorded in ``ingest_skips``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from .. import store as store_mod
from ..parse.codex import CodexParser
from .transcripts import Backfill, RunSummary, TranscriptFile

HOME_ENV = "CODEX_HOME"
KIND = "codex"
# rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl: the session id is the UUID
_ROLLOUT_ID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$", re.I)


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or "~/.codex").expanduser()


def discover(paths: Iterable[Path]) -> list[TranscriptFile]:
    """Rollouts under each path: a Codex home (its sessions/ and archived_sessions/), any directory
    of rollouts, or one file."""
    found: dict[Path, TranscriptFile] = {}
    for path in paths:
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            roots = [path / d for d in ("sessions", "archived_sessions") if (path / d).is_dir()] or [path]
            candidates = [p for root in roots for p in root.rglob("rollout-*.jsonl")]
        else:
            candidates = [path]
        for p in candidates:
            if p.name.endswith(".jsonl") and p not in found:
                m = _ROLLOUT_ID.search(p.name)
                found[p] = TranscriptFile(p, KIND, m.group(1).lower() if m else None, None)
    return sorted(found.values(), key=lambda f: str(f.path))


class CodexRun(Backfill):
    """Backfill's incremental reading, with the rollout parser."""

    def __init__(self, conn, **kwargs):
        super().__init__(conn, command="codex", **kwargs)

    def make_parser(self, tf: TranscriptFile):
        return CodexParser(str(tf.path), session_hint=tf.session_hint, host=self.host)

    @staticmethod
    def skip_raw(raw: bytes) -> bool:
        return False


def ingest_codex(db, paths: Iterable[Path] | None = None, *, progress=None, host=None,
                 jobs: int | None = None) -> RunSummary:
    """Read the Codex rollouts under ``paths`` (default: ``$CODEX_HOME``, else ``~/.codex``) into
    ``db``, a database path or an open connection. ``progress`` and ``jobs`` are as for ``backfill``."""
    paths = list(paths) if paths else [default_home()]
    with store_mod.opened(db) as conn:
        return CodexRun(conn, host=host, jobs=jobs).run_found(discover(paths), progress)
