"""Recording a git commit, with the Claude Code session that was active where it was made."""

from __future__ import annotations

import os
from pathlib import Path

from .. import schema
from .. import store as store_mod
from .transcripts import now_iso
from ..parse.git import head_commit


def record_commit(db_path, repo: Path, rev: str = "HEAD") -> dict:
    row = head_commit(repo, rev)
    conn = store_mod.connect(db_path)
    try:
        found = conn.execute(schema.ACTIVE_SESSION_SQL, {"repository": row["repository"],
                                                         "committed_at": row["committed_at"]}).fetchone()
        row.update(session_id=found[0] if found else None, host=os.uname().nodename, recorded_at=now_iso())
        store = store_mod.Store(conn)
        store.begin()
        store.add("commits", row)
        store.commit()
    finally:
        conn.close()
    return row
