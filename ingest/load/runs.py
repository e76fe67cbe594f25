"""What every loader records about its own work: the run (``ingest_runs``), the lines it skipped
(``ingest_skips``), how far it read each file (``ingest_files``), and the one-line summary's parts."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter

from ..clock import from_timestamp, now_iso
from ..identity import host

EXCERPT_CHARS = 300  # of a skipped line, kept to show what it was (the store redacts, then cuts)


def new_run_id(command: str) -> str:
    return f"{now_iso()}-{command}-{uuid.uuid4().hex[:8]}"


def skip_row(path: str, offset: int, run_id: str, reason: str, raw: bytes | None = None) -> dict:
    """A line (``offset``; -1 for a whole file) that was not read, and why."""
    row = {"path": path, "offset": offset, "run_id": run_id, "reason": reason[:200], "seen_at": now_iso()}
    if raw is not None:  # a little more than is kept: the store redacts before it cuts
        row["excerpt"] = raw[:EXCERPT_CHARS + 4096].decode("utf-8", "replace")
    return row


def file_row(path: str, kind: str, st: os.stat_result, offset: int, head_hash: str | None, *, lines: int,
             bad_lines: int, rereads: int, session_id: str | None = None, agent_id: str | None = None) -> dict:
    """How far a file was read: a file read to its end is known by its size and mtime (and skipped
    while they stay the same); one read part way is known by its offset only."""
    complete = offset >= st.st_size
    return {
        "path": path, "kind": kind, "session_id": session_id, "agent_id": agent_id,
        "size": st.st_size if complete else offset, "mtime": from_timestamp(st.st_mtime),
        "mtime_ns": st.st_mtime_ns if complete else None, "offset": offset, "head_hash": head_hash,
        "lines": lines, "bad_lines": bad_lines, "rereads": rereads, "first_read_at": now_iso(),
        "last_read_at": now_iso(),
    }


def run_row(run_id: str, command: str, started_at: str, seconds: float, *, files_seen: int = 0,
            files_read: int = 0, files_skipped: int = 0, bytes_read: int = 0, lines: int = 0,
            bad_lines: int = 0, rows: dict | None = None, unpriced: dict | None = None, status: str = "ok") -> dict:
    """``rows``: per table, or (from a store that counts) ``{"added": {...}, "changed": {...}, "removed": {...}}``."""
    return {
        "id": run_id, "command": command, "host": host(), "started_at": started_at, "ended_at": now_iso(),
        "seconds": round(seconds, 3), "files_seen": files_seen, "files_read": files_read,
        "files_skipped": files_skipped, "bytes_read": bytes_read, "lines": lines, "bad_lines": bad_lines,
        "rows_json": json.dumps({k: dict(v) if isinstance(v, dict) else v for k, v in (rows or {}).items()}),
        "unpriced_models": json.dumps(dict(unpriced or {})),
        "status": status,
    }


def _per_table(rows) -> str:
    return ", ".join(f"{t} {n:,}" for t, n in sorted(rows.items()) if n) or "none"


def rows_text(counts: dict) -> str:
    """``rows added: api_requests 509, messages 904, ...; rows changed: sessions 1`` for a summary
    line, from a counting store's ``counts()``: rows, not the upserts that wrote them."""
    text = f"rows added: {_per_table(counts['added'])}; rows changed: {_per_table(counts['changed'])}"
    if any(counts["removed"].values()):  # hook rows that met their transcript's: derivations delete them
        text += f"; rows merged into others: {_per_table(counts['removed'])}"
    return text


def no_rows() -> dict:
    return {"added": Counter(), "changed": Counter(), "removed": Counter()}


def unpriced_text(unpriced: Counter) -> str:
    """``claude-3-sonnet-20240229 (3)``: the models with no price, and how many responses each."""
    return ", ".join(f"{m} ({n})" for m, n in unpriced.most_common()) or "none"
