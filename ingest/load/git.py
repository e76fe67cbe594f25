"""Recording a git commit, with the Claude Code session that was active where it was made."""

from __future__ import annotations

from pathlib import Path

from .. import schema
from .. import store as store_mod
from ..clock import now_iso
from ..identity import host
from ..parse.git import head_commit


def record_commit(db, repo: Path, rev: str = "HEAD") -> dict:
    """Record ``rev`` of ``repo`` in ``db`` (a database path or an open connection)."""
    row = head_commit(repo, rev)
    with store_mod.opened(db) as conn:
        found = conn.execute(schema.ACTIVE_SESSION_SQL, {"repository": row["repository"],
                                                         "committed_at": row["committed_at"]}).fetchone()
        row.update(session_id=found[0] if found else None, host=host(), recorded_at=now_iso())
        store = store_mod.Store(conn)
        with store.atomic():
            store.add("commits", row)
    return row
