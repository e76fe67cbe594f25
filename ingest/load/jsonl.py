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
import time
from dataclasses import dataclass
from pathlib import Path

from .. import redact, schema
from .. import store as store_mod
from ..clock import now_iso
from ..errors import IngestError
from ..parse.common import BadLine
from ..parse.jsonl import HASH_COLUMN, parse_line
from . import files, runs

BATCH = 2000


class TableNameError(IngestError, ValueError):
    """A --table or --pk that would write into claude-ingest's own tables or keys."""


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


def import_jsonl(db, file, table: str, *, pk: str | None = None) -> JsonlSummary:
    """Import the lines of ``file`` not imported before into ``table`` of ``db`` (a database path
    or an open connection)."""
    import sqlite_utils

    check_table_name(table, pk)
    started, started_at = time.perf_counter(), now_iso()
    path = Path(file).expanduser().resolve()
    with store_mod.opened(db) as conn:
        sdb = sqlite_utils.Database(conn)
        key_column = pk or HASH_COLUMN
        if sdb[table].exists() and sdb[table].pks != [key_column]:
            raise TableNameError(f"table {table!r} exists keyed by {sdb[table].pks}, not by {key_column!r}")
        importer = _Import(sdb, path, table, key_column, pk)
        importer.run()
        summary = importer.summary
        summary.seconds = time.perf_counter() - started
        if not summary.unchanged:
            with importer.store.atomic():
                importer.store.add("ingest_runs", runs.run_row(
                    runs.new_run_id("jsonl"), f"jsonl --table {table}", started_at, summary.seconds, files_seen=1,
                    files_read=1, bytes_read=summary.bytes_read, lines=summary.lines, bad_lines=summary.bad_lines,
                    rows={table: summary.new_rows}))
        return summary


class _Import:
    """One import of one file into one table: lines read with no transaction open, each batch
    written in one, with how far the file was read (a run cut short resumes after the last batch)."""

    def __init__(self, sdb, path: Path, table: str, key_column: str, pk: str | None):
        self.sdb, self.path, self.table, self.key_column, self.pk = sdb, path, table, key_column, pk
        self.key = f"{path}#{table}"  # one file may feed several tables
        self.summary = JsonlSummary(path=str(path), table=table)
        self.store = store_mod.Store(sdb.conn, batch_size=None)

    def _count(self) -> int:
        return self.sdb[self.table].count if self.sdb[self.table].exists() else 0

    def run(self) -> None:
        summary = self.summary
        known = self.sdb.conn.execute("select size, mtime_ns, offset, head_hash, lines, bad_lines, rereads "
                                      "from ingest_files where path = ?", (self.key,)).fetchone()
        st = self.path.stat()
        if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:  # unchanged: not opened
            summary.unchanged, summary.total_rows = True, self._count()
            return
        before = self._count()
        f, st = files.open_regular(self.path)  # a FIFO is refused at once, never waited on
        with f:
            offset, rereads = (known[2] or 0, known[6] or 0) if known else (0, 0)
            if known and (st.st_size < offset or files.head_hash(f, offset) != known[3]):
                offset, rereads, summary.reread = 0, rereads + 1, True
            prior = (known[4] or 0, known[5] or 0) if known and not summary.reread else (0, 0)
            self._read(f, st, offset, rereads, prior)
        summary.total_rows = self._count()
        summary.new_rows = summary.total_rows - before

    def _read(self, f, st, offset: int, rereads: int, prior: tuple[int, int]) -> None:
        summary, batch = self.summary, []
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
                batch.append(parse_line(raw, self.pk))
            except (ValueError, BadLine, UnicodeDecodeError, RecursionError) as e:
                summary.bad_lines += 1
                self.store.add("ingest_skips", runs.skip_row(self.key, line_offset, f"jsonl:{self.table}",
                                                             f"{type(e).__name__}: {e}", raw))
            if len(batch) >= BATCH:
                self._write_batch(batch, f, st, offset, rereads, prior)
                batch = []
        self._write_batch(batch, f, st, offset, rereads, prior)

    def _write_batch(self, batch, f, st, offset, rereads, prior) -> None:
        """One transaction: the batch's rows, the skips recorded with them, and how far the file was read."""
        pos = f.tell()
        head = files.head_hash(f, offset)
        f.seek(pos)
        with self.store.atomic():
            if batch:
                self.store.flush()
                if self.store.redact:  # a table of its own, written by sqlite-utils: every text value is redacted
                    batch = [{k: redact.redact_text(v) if isinstance(v, str) and k != self.key_column else v
                              for k, v in row.items()} for row in batch]
                self.sdb[self.table].upsert_all(batch, pk=self.key_column, alter=True)
                if not self.sdb.conn.in_transaction:  # sqlite-utils < 4 commits each chunk itself
                    self.store.begin()
            self.store.add("ingest_files", runs.file_row(
                self.key, f"jsonl:{self.table}", st, offset, head, lines=prior[0] + self.summary.lines,
                bad_lines=prior[1] + self.summary.bad_lines, rereads=rereads))
