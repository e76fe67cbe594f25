"""``claude-ingest jsonl``: a legacy JSONL log into a table of its own, idempotently and incrementally.

The table is made and widened by sqlite-utils (columns from the keys, types from the values); the
rows are keyed by ``--pk`` or by the SHA-1 of their line, so importing a line twice changes nothing.
The file is read the way backfill reads transcripts (:mod:`ingest.load.transcripts`): unchanged (size and
mtime) means not opened, grown means read from the stored byte offset, truncated or rewritten means
read again from the start; a last line without its newline waits for the next import. The offset
is kept in ``ingest_files`` under ``<path>#<table>`` (one file may feed several tables) and written
in the same transaction as the rows read up to it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import schema
from .. import redact
from .. import store as store_mod
from . import files
from .transcripts import EXCERPT_CHARS, now_iso
from ..parse.jsonl import HASH_COLUMN, BadLine, parse_line

BATCH = 2000


class TableNameError(ValueError):
    pass


@dataclass
class JsonlSummary:
    path: str
    table: str
    unchanged: bool = False
    reread: bool = False
    lines: int = 0
    bad_lines: int = 0
    new_rows: int = 0
    total_rows: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if self.unchanged:
            return f"{self.path} -> {self.table}: unchanged since the last import, not read; {self.total_rows:,} rows"
        how = "read again from the start (rewritten), " if self.reread else ""
        return (f"{self.path} -> {self.table}: {how}{self.lines:,} lines ({self.bytes_read:,} bytes), "
                f"{self.new_rows:,} new rows, {self.total_rows:,} in the table, "
                f"{self.bad_lines} bad lines skipped; {self.seconds:.2f}s")


def check_table_name(table: str, pk: str | None) -> None:
    reserved = set(schema.TABLES) | set(schema.VIEWS) | set(getattr(schema, "RETIRED_VIEWS", ()))
    if not table or table in reserved or table.lower().startswith("sqlite_") or "_fts" in table:
        raise TableNameError(f"{table!r} is one of claude-ingest's own tables or names; choose another")
    if pk == HASH_COLUMN:
        raise TableNameError(f"--pk {HASH_COLUMN} is the column used when no --pk is given")


def import_jsonl(db_path, file, table: str, *, pk: str | None = None) -> JsonlSummary:
    """Import the lines of ``file`` not imported before into ``table``."""
    import sqlite_utils

    check_table_name(table, pk)
    started, started_at = time.perf_counter(), now_iso()
    path = Path(file).expanduser().resolve()
    key = f"{path}#{table}"
    summary = JsonlSummary(path=str(path), table=table)
    conn = store_mod.connect(db_path)
    try:
        db = sqlite_utils.Database(conn)
        key_column = pk or HASH_COLUMN
        if db[table].exists() and db[table].pks != [key_column]:
            raise TableNameError(f"table {table!r} exists keyed by {db[table].pks}, not by {key_column!r}")
        known = conn.execute("select size, mtime_ns, offset, head_hash, lines, bad_lines, rereads from ingest_files "
                             "where path = ?", (key,)).fetchone()
        st = path.stat()
        if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:  # unchanged: not opened
            summary.unchanged = True
            summary.total_rows = db[table].count if db[table].exists() else 0
            return summary
        f, st = files.open_regular(path)  # a FIFO is refused at once, never waited on
        with f:
            store = store_mod.Store(conn, batch_size=None)
            offset, rereads = (known[2] or 0, known[6] or 0) if known else (0, 0)
            if known and (st.st_size < offset or files.head_hash(f, offset) != known[3]):
                offset, rereads, summary.reread = 0, rereads + 1, True
            before = db[table].count if db[table].exists() else 0
            prior = (known[4] or 0, known[5] or 0) if known and not summary.reread else (0, 0)
            batch: list[dict] = []
            # Lines are read with no transaction open; each batch is written in one, with how far the
            # file was read, so a run cut short resumes after the last batch written.
            for kind, line_offset, raw, size in files.lines(f, offset):
                if kind == files.PARTIAL:
                    try:  # a last line still being written, unless it is whole already
                        json.loads(raw)
                    except ValueError:
                        break
                offset = line_offset + size
                summary.bytes_read += size
                if kind != files.TOO_LONG and not raw.strip():
                    continue
                summary.lines += 1
                try:
                    if kind == files.TOO_LONG:
                        raise BadLine(f"a line of {size:,} bytes, longer than any record "
                                      f"({files.MAX_LINE_BYTES:,} bytes at most): not read")
                    batch.append(parse_line(raw, pk))
                except (ValueError, BadLine, UnicodeDecodeError, RecursionError) as e:
                    summary.bad_lines += 1
                    store.add("ingest_skips", {
                        "path": key, "offset": line_offset, "run_id": f"jsonl:{table}",
                        "reason": f"{type(e).__name__}: {e}"[:200],
                        "excerpt": raw[:EXCERPT_CHARS + 4096].decode("utf-8", "replace"), "seen_at": now_iso()})
                if len(batch) >= BATCH:
                    _write_batch(db, table, key_column, batch, store, f, key, st, offset, rereads, prior, summary)
                    batch = []
            _write_batch(db, table, key_column, batch, store, f, key, st, offset, rereads, prior, summary)
        summary.total_rows = db[table].count if db[table].exists() else 0
        summary.new_rows = summary.total_rows - before
        summary.seconds = time.perf_counter() - started
        store.begin()
        store.add("ingest_runs", {
            "id": f"{now_iso()}-jsonl-{os.getpid()}", "command": f"jsonl --table {table}", "host": socket.gethostname(),
            "started_at": started_at, "ended_at": now_iso(), "seconds": round(summary.seconds, 3),
            "files_seen": 1, "files_read": 1,
            "bytes_read": summary.bytes_read, "lines": summary.lines, "bad_lines": summary.bad_lines,
            "rows_json": json.dumps({table: summary.new_rows}), "status": "ok"})
        store.commit()
        return summary
    finally:
        conn.close()


def _write_batch(db, table, key_column, batch, store, f, key, st, offset, rereads, prior, summary) -> None:
    """One transaction: the batch's rows, the skips recorded with them, and how far the file was read."""
    pos = f.tell()
    head = files.head_hash(f, offset)
    f.seek(pos)
    complete = offset >= st.st_size
    store.begin()
    try:
        if batch:
            _write(db, table, key_column, batch, store)
        if not db.conn.in_transaction:  # sqlite-utils < 4 commits each chunk itself
            store.begin()
        store.add("ingest_files", {
            "path": key, "kind": f"jsonl:{table}", "size": st.st_size if complete else offset,
            "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "mtime_ns": st.st_mtime_ns if complete else None, "offset": offset, "head_hash": head,
            "lines": prior[0] + summary.lines, "bad_lines": prior[1] + summary.bad_lines,
            "rereads": rereads, "first_read_at": now_iso(), "last_read_at": now_iso()})
        store.commit()
    except BaseException:
        store.rollback()
        raise


def _write(db, table: str, key_column: str, batch: list[dict], store) -> None:
    store.flush()
    if store.redact:  # a table of its own, written by sqlite-utils: every text value is redacted
        batch = [{k: redact.redact_text(v) if isinstance(v, str) and k != key_column else v
                  for k, v in row.items()} for row in batch]
    db[table].upsert_all(batch, pk=key_column, alter=True)
    if not db.conn.in_transaction:
        store.begin()
