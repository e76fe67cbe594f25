"""``claude-ingest merge`` and ``export``: other archives into this one, and this one's recent part out.

merge reads another claude-ingest database (another machine's archive, one written by an older
version, an ``export``) read-only, in one snapshot, and writes its rows through the one store with
the schema's merge rules: the same rules that make a hook and a transcript converge make two machines
converge, so merging twice, or in any order, gives the same rows. Each source is one transaction:
it is merged whole or not at all.

* Incremental: each source is known by its identity (``archive.id``, kept by every copy of the file),
  not its path, and ``merge_sources`` remembers how far it was read: the largest ``sessions.rev``
  (every commit that writes a session's rows moves it on) and each table's largest rowid. The next
  merge reads the sessions changed since, whole, and the rows added since; a source that went back
  (restored from a backup) is read whole again. A source too old to have ``rev`` is read whole each
  time (its rows merge by key: nothing doubles).
* Every row keeps its machine: sessions bring their ``host``, ``account`` and ``seen_at``; for a
  session on two machines the origin rule keeps the one that saw it first, whichever is merged first.
* Rollups: the touched sessions' are recomputed from the detail (the store's derivations); the days
  the source pruned keep the source's rollup rows, the larger copy winning (schema: _ROLLUP_MERGE).

export writes the sessions changed since a date (or since the last export) into a new small archive
of its own identity, through the same store: what a machine ships instead of its whole database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from .. import migrations, schema
from .. import store as store_mod
from ..clock import now_iso
from ..errors import IngestError
from ..parse import merge as parser
from . import files, runs

BATCH_ROWS = 5000
BUSY_TIMEOUT_S = 5.0  # a source another process is writing (without WAL) is waited for this long
# Rows with no session that a --since export takes by their own time
SESSIONLESS_TIME = {"hook_events": "received_at", "otel_events": "received_at", "commits": "recorded_at",
                    "jobs": "recorded_at"}


class MergeError(IngestError):
    """A source that cannot be merged (missing, not a database, locked, corrupt, not an archive)."""


class _SourceFailed(Exception):
    """Reading a source failed part way (a corrupt page): its transaction is rolled back."""

    def __init__(self, archive, error: sqlite3.Error):
        super().__init__(str(error))
        self.archive, self.error = archive, error


# -- an archive, read in one snapshot -------------------------------------------------------------
@dataclass
class Archive:
    path: Path
    conn: sqlite3.Connection
    tables: dict  # table -> its columns, for the tables a merge reads
    id: str
    host: str | None
    schema_version: int
    size: int
    has_rev: bool
    max_rev: int | None
    rowids: dict  # table -> its largest rowid
    pruned_before: str  # the latest prune's cut-off: days before it have rollups only ('' if none)
    sessions: int
    newer: dict = field(default_factory=dict)  # table -> columns this claude-ingest does not know
    _source: files.SqliteSource | None = None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        if self._source is not None:
            self._source.close()


def _size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(str(path) + suffix).st_size
    return total


def describe(conn: sqlite3.Connection, path: Path, *, source=None) -> Archive:
    """What a merge needs to know of the archive behind ``conn``, read inside one read transaction
    (left open: every later read sees the same snapshot)."""
    if not conn.in_transaction:
        conn.execute("begin")
    names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    wanted = [t for t in parser.MERGED + parser.ROLLUPS if t in names]
    tables, newer = {}, {}
    for table in wanted:
        columns = [r[1] for r in conn.execute(f"pragma table_info([{table}])")]
        unknown = parser.unknown_columns(table, columns)
        if unknown:
            newer[table] = unknown
        if parser.columns_to_read(table, columns):
            tables[table] = columns
    sessions = tables.get("sessions", [])
    has_rev = "rev" in sessions
    max_rev = conn.execute("select max(rev) from sessions").fetchone()[0] if has_rev else None
    rowids = {t: conn.execute(f"select coalesce(max(rowid), 0) from [{t}]").fetchone()[0] for t in tables}
    pruned = conn.execute("select coalesce(max(before), '') from prunes").fetchone()[0] if "prunes" in names else ""
    host = None
    if "archive" in names:
        row = conn.execute("select host from archive order by created_at, id limit 1").fetchone()
        host = row[0] if row else None
    if host is None and sessions:  # the machine most of its sessions name
        row = conn.execute("select host from sessions where host is not null group by host "
                           "order by count(*) desc limit 1").fetchone()
        host = row[0] if row else None
    identity = schema.archive_id(conn) or "path-" + _digest(os.path.realpath(path))
    return Archive(path=path, conn=conn, tables=tables, id=identity, host=host,
                   schema_version=conn.execute("pragma user_version").fetchone()[0], size=_size(path),
                   has_rev=has_rev, max_rev=max_rev, rowids=rowids, pruned_before=pruned or "",
                   sessions=conn.execute("select count(*) from sessions").fetchone()[0] if sessions else 0,
                   newer=newer, _source=source)


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def open_archive(path, *, target: Path | None = None) -> Archive:
    """Another archive, opened read-only (beside a claude-ingest or Datasette that has it open), or a
    one-line MergeError saying why it cannot be merged."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MergeError(f"{path}: no such file")
    try:
        f, _ = files.open_regular(path)  # a FIFO is refused at once, never waited on
        f.close()
    except OSError as e:
        raise MergeError(f"{path}: {e}") from None
    if target is not None and target.exists() and os.path.samefile(path, target):
        raise MergeError(f"{path} is the database being merged into")
    try:
        conn, source = _connect(path)
        names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    except sqlite3.Error as e:
        raise MergeError(store_mod.database_problem(path, e)) from None
    if not _is_archive(conn, names):
        conn.close()
        if source is not None:
            source.close()
        listed = ", ".join(sorted(n for n in names if not n.startswith("sqlite_"))[:12]) or "none"
        raise MergeError(f"{path} is a SQLite database but not a claude-ingest archive (its tables: {listed})")
    try:
        return describe(conn, path, source=source)
    except sqlite3.Error as e:
        conn.close()
        if source is not None:
            source.close()
        raise MergeError(store_mod.database_problem(path, e)) from None


def _connect(path: Path):
    """Read-only, beside whatever has it open (a ``mode=ro`` URI, a busy timeout); a WAL database that
    cannot be opened so (its directory read-only, no ``-shm`` yet) is read from a copy. A locked one
    (another process writing it without WAL) is an error: a copy of it could be half-written."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        conn.execute(f"pragma busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("select count(*) from sqlite_master").fetchone()
        return conn, None
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise
    source = files.SqliteSource(path)
    try:
        return source.connect(), source
    except BaseException:
        source.close()
        raise


def _is_archive(conn, names: set) -> bool:
    if not {"sessions", "api_requests"} <= names:
        return False
    sessions = {r[1] for r in conn.execute("pragma table_info(sessions)")}
    requests = {r[1] for r in conn.execute("pragma table_info(api_requests)")}
    return {"id", "source", "started_at"} <= sessions and {"message_id", "request_id", "session_id"} <= requests


# -- what to read --------------------------------------------------------------------------------
@dataclass
class Selection:
    """Which of an archive's rows to read: all of them, those of sessions whose ``rev`` is past
    ``rev`` and rows past ``rowids``, or (export --since) those of sessions active or changed since
    a day."""

    full: bool = True
    rev: int | None = None
    rowids: dict = field(default_factory=dict)
    since: str | None = None

    def why(self) -> str:
        if self.since:
            return f"sessions changed since {self.since}"
        return "read whole" if self.full else "read from where the last merge stopped"


def _sessions_selected(archive: Archive, sel: Selection) -> list[str] | None:
    """The ids of the sessions whose rows are read; None for every session."""
    if sel.since is not None:
        changed = "changed_at >= :since or " if "changed_at" in archive.tables.get("sessions", ()) else ""
        return [r[0] for r in archive.conn.execute(
            f"select id from sessions where {changed}ended_at >= :since or started_at >= :since",
            {"since": sel.since})]
    if sel.full:
        return None
    return [r[0] for r in archive.conn.execute("select id from sessions where rev > ?", (sel.rev,))]


def _query(archive: Archive, table: str, sel: Selection, ids: list[str] | None, columns: tuple) -> tuple[str, dict]:
    cols = ", ".join(f"[{c}]" for c in columns)
    base = f"select {cols} from [{table}]"
    params: dict = {"ids": json.dumps(ids) if ids is not None else None}
    has_session = "session_id" in archive.tables[table]
    in_ids = "session_id in (select value from json_each(:ids))"
    if table in parser.ROLLUPS:
        # only the days a session has no detail for in the source (it pruned them; a version older
        # than the prunes table says so no other way), and the days before its last prune: the rest is
        # recomputed here from the detail
        detail, day, _ = schema.ROLLUPS[table]
        cols = ", ".join(f"r.[{c}]" for c in columns)
        first = (f"select session_id, min({day}) as d from [{detail}] where session_id is not null group by session_id"
                 if detail in archive.tables else "select null as session_id, null as d where 0")
        params["pruned"] = archive.pruned_before
        where = "r.day < max(coalesce(f.d, '9999'), :pruned)" + (f" and r.{in_ids}" if ids is not None else "")
        return (f"select {cols} from [{table}] r left join ({first}) f on f.session_id = r.session_id "
                f"where {where}"), params
    if ids is None:
        return base, params
    if table == "sessions":
        return f"{base} where id in (select value from json_each(:ids))", params
    if sel.since is not None:
        clauses = [in_ids] if has_session else []
        when = SESSIONLESS_TIME.get(table)
        if when and when in archive.tables[table]:
            params["since"] = sel.since
            clauses.append(f"({'session_id is null and ' if has_session else ''}[{when}] >= :since)")
        return (f"{base} where {' or '.join(clauses)}" if clauses else ""), params
    params["rowid"] = sel.rowids.get(table, 0)
    return f"{base} where rowid > :rowid" + (f" or {in_ids}" if has_session else ""), params


def _seen_at(archive: Archive) -> dict:
    """For an archive older than sessions.seen_at: when its machine first recorded each session."""
    if "seen_at" in archive.tables.get("sessions", ()):
        return {}
    names = {r[0] for r in archive.conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"ingest_files", "hook_events"} <= names:
        return {}
    if not all("session_id" in {r[1] for r in archive.conn.execute(f"pragma table_info({t})")}
               for t in ("ingest_files", "hook_events")):
        return {}
    return dict(archive.conn.execute(migrations.SEEN_AT_SQL).fetchall())


def plan(archive: Archive, sel: Selection) -> tuple[list[tuple[str, tuple, str, dict]], int, int]:
    """The queries that read the selected rows: (table, columns, sql, params); how many rows they
    read and how many sessions they take."""
    ids = _sessions_selected(archive, sel)
    out, total = [], 0
    for table, source_columns in archive.tables.items():
        columns = parser.columns_to_read(table, source_columns)
        sql, params = _query(archive, table, sel, ids, columns)
        if not sql:
            continue
        (n,) = archive.conn.execute(f"select count(*) from ({sql})", params).fetchone()
        if n:
            out.append((table, columns, sql, params))
            total += n
    return out, total, (archive.sessions if ids is None else len(ids))


def copy_rows(archive: Archive, queries, store: store_mod.Store, progress=None) -> tuple[Counter, str]:
    """Every selected row through ``store``; rows read per table, and the last day of the rollup
    rows read (days the source kept rollups of only), '' if none."""
    try:
        seen_at = _seen_at(archive)
    except sqlite3.DatabaseError as e:
        raise _SourceFailed(archive, e) from None
    read: Counter = Counter()
    last_rollup_day = ""
    for table, columns, sql, params in queries:
        day_at = columns.index("day") if table in parser.ROLLUPS else None
        try:
            cursor = archive.conn.execute(sql, params)
        except sqlite3.DatabaseError as e:
            raise _SourceFailed(archive, e) from None
        while True:
            try:
                batch = cursor.fetchmany(BATCH_ROWS)
            except sqlite3.DatabaseError as e:
                raise _SourceFailed(archive, e) from None
            if not batch:
                break
            for values in batch:
                store.add(*parser.record(table, columns, values, seen_at))
            if day_at is not None:
                last_rollup_day = max(last_rollup_day, max(v[day_at] or "" for v in batch))
            read[table] += len(batch)
            if progress:
                progress(len(batch))
    return read, last_rollup_day


# -- merge ---------------------------------------------------------------------------------------
@dataclass
class SourceResult:
    path: str
    id: str
    host: str | None
    schema_version: int
    how: str  # read whole | read from where the last merge stopped | unchanged | this archive itself
    sessions: int = 0
    rows_read: int = 0
    bytes: int = 0
    rows: dict = field(default_factory=runs.no_rows)
    newer: dict = field(default_factory=dict)

    def text(self) -> str:
        who = f"{Path(self.path).name} ({self.host or 'machine unknown'}, schema {self.schema_version})"
        if self.how in ("unchanged", "same"):
            return f"{who} " + ("unchanged since its last merge" if self.how == "unchanged"
                                else "is a copy of this archive: nothing to merge")
        extra = ""
        if self.newer:
            left = sorted(f"{t}.{c}" for t, cs in self.newer.items() for c in cs)
            extra = f", written by a newer claude-ingest: left out {', '.join(left[:5])}" + (
                f" and {len(left) - 5} more" if len(left) > 5 else "")
        return f"{who} {self.how}: {self.sessions:,} sessions, {self.rows_read:,} rows{extra}"


@dataclass
class MergeSummary:
    db: str
    run_id: str
    sources: list = field(default_factory=list)
    rows: dict = field(default_factory=runs.no_rows)
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sources)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.sources if s.rows_read)

    def line(self) -> str:
        what = "; ".join(s.text() for s in self.sources)
        n = len(self.sources)
        return (f"{n} {'archive' if n == 1 else 'archives'}: {what}; {runs.rows_text(self.rows)}; "
                f"{self.seconds:.2f}s")


def _state(conn, source_id: str):
    row = conn.execute("select rev, rowids_json from merge_sources where id = ?", (source_id,)).fetchone()
    if row is None:
        return None
    return {"rev": row[0], "rowids": json.loads(row[1] or "{}")}


def selection_for(archive: Archive, state) -> Selection:
    """Read whole unless the last merge of this source left a rev and rowids that it has not gone
    back from."""
    if state is None or not archive.has_rev or state["rev"] is None:
        return Selection(full=True)
    if (archive.max_rev or 0) < state["rev"] or any(archive.rowids.get(t, 0) < n for t, n in state["rowids"].items()):
        return Selection(full=True)  # restored from an older copy: its numbers went back
    return Selection(full=False, rev=state["rev"], rowids=state["rowids"])


def _unchanged(archive: Archive, sel: Selection) -> bool:
    return (not sel.full and (archive.max_rev or 0) == sel.rev
            and all(archive.rowids.get(t, 0) <= sel.rowids.get(t, 0) for t in archive.tables))


def merge(db, sources, *, progress=None) -> MergeSummary:
    """Merge the archives at ``sources`` into ``db`` (a database path or an open connection).

    Every source is opened and checked before anything is written: one that is missing, not a
    database, locked, corrupt or not a claude-ingest archive raises MergeError and nothing changes.
    ``progress``: as for ``backfill``, called with the number of rows to read."""
    started, started_at = time.perf_counter(), now_iso()
    run_id = runs.new_run_id("merge")
    with store_mod.opened(db) as conn:
        target = store_mod.path_of(conn)
        summary = MergeSummary(db=str(target), run_id=run_id)
        own_id = schema.archive_id(conn)
        archives = []
        try:
            for path in sources:
                archives.append(open_archive(path, target=target))
            work, total = [], 0
            for archive in archives:
                result = SourceResult(path=str(archive.path), id=archive.id, host=archive.host,
                                      schema_version=archive.schema_version, how="", newer=archive.newer)
                summary.sources.append(result)
                if archive.id == own_id:
                    result.how = "same"
                    continue
                if any(a is not archive and a.id == archive.id for a, _, _ in work):
                    result.how = "unchanged"  # the same archive named twice (a copy of it)
                    continue
                sel = selection_for(archive, _state(conn, archive.id))
                if _unchanged(archive, sel):
                    result.how = "unchanged"
                    continue
                try:
                    queries, n, result.sessions = plan(archive, sel)
                except sqlite3.DatabaseError as e:  # found corrupt while counting what to read
                    raise MergeError(store_mod.database_problem(archive.path, e) + "; nothing was merged") from None
                result.how, result.rows_read = sel.why(), n
                work.append((archive, (sel, queries), result))
                total += n
            # one counter over the whole run: a row one source adds and the next changes is one row added
            store = store_mod.Store(conn, batch_size=BATCH_ROWS, count_rows=True)
            try:
                with (progress(total) if progress and total else contextlib.nullcontext()) as bar:
                    for archive, (sel, queries), result in work:
                        _merge_one(store, archive, queries, result, bar.update if bar is not None else None)
                summary.rows = store.counts()
            finally:
                store.stop_counting()
        except _SourceFailed as e:  # found corrupt while read: its transaction was rolled back
            done = [Path(s.path).name for s in summary.sources if s.bytes]
            raise MergeError(store_mod.database_problem(e.archive.path, e.error) + "; nothing of it was merged"
                             + (f" ({', '.join(done)} before it were)" if done else "")) from None
        finally:
            for archive in archives:
                archive.close()
        summary.seconds = time.perf_counter() - started
        store = store_mod.Store(conn)
        with store.atomic():
            store.add("ingest_runs", runs.run_row(
                run_id, "merge", started_at, summary.seconds, files_seen=len(summary.sources),
                files_read=sum(1 for s in summary.sources if s.rows_read),
                files_skipped=sum(1 for s in summary.sources if not s.rows_read),
                bytes_read=summary.bytes, lines=summary.rows_read, rows=summary.rows))
    return summary


def _merge_one(store: store_mod.Store, archive: Archive, queries, result: SourceResult, progress) -> None:
    """One source in one transaction, with where its reading stopped."""
    before = store.counter.counts()
    with store.atomic():
        _, last_rollup_day = copy_rows(archive, queries, store, progress)
        store.derive()  # hook rows meet transcript rows, labels, the touched sessions' rollups
        after = store.counter.counts()
        counts = {k: after[k] - before[k] for k in after}  # what this source added or changed first
        now = now_iso()
        store.add("merge_sources", {
            "id": archive.id, "path": str(Path(archive.path).resolve()), "host": archive.host,
            "schema_version": archive.schema_version, "rev": archive.max_rev,
            "rowids_json": json.dumps(archive.rowids, sort_keys=True), "sessions": archive.sessions,
            "pruned_before": max(archive.pruned_before, _day_after(last_rollup_day)) or None,
            "first_merged_at": now, "last_merged_at": now,
            "rows_json": json.dumps({k: dict(v) for k, v in counts.items()})})
    result.bytes, result.rows = archive.size, counts


def _day_after(day: str) -> str:
    try:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    except ValueError:  # '' (rollup rows of requests without a time)
        return ""


# -- export --------------------------------------------------------------------------------------
@dataclass
class ExportSummary:
    db: str
    out: str
    since: str | None
    first: bool
    sessions: int = 0
    rows_read: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        what = (f"the sessions active or changed since {self.since}" if self.since
                else "everything (no export before)" if self.first else "what changed since the last export")
        return (f"{self.out}: {what}: {self.sessions:,} sessions, {self.rows_read:,} rows, "
                f"{self.bytes / 1e6:.1f} MB; {self.seconds:.2f}s")


def export(db, out, *, since: str | None = None, progress=None) -> ExportSummary:
    """Write the sessions of ``db`` changed since the day ``since`` (YYYY-MM-DD, UTC), or since the
    last export when None, with every row keyed to them (and rows of no session written since),
    into a new archive at ``out``, which ``merge`` reads like any other."""
    started = time.perf_counter()
    out = Path(out).expanduser()
    if out.exists() and out.stat().st_size:
        raise MergeError(f"{out} exists: export writes a new file (choose another name)")
    with store_mod.opened(db) as conn:
        last = None if since is not None else conn.execute(
            "select rev_to, rowids_json from exports order by exported_at desc limit 1").fetchone()
        source = store_mod.path_of(conn)
        conn.execute("begin")  # one snapshot of this database for the whole export
        try:
            archive = describe(conn, source)
            if since is not None:
                sel = Selection(full=False, since=since)
            elif last is None:
                sel = Selection(full=True)
            else:
                sel = Selection(full=False, rev=last[0] or 0, rowids=json.loads(last[1] or "{}"))
            queries, total, sessions = plan(archive, sel)
            summary = ExportSummary(db=str(source), out=str(out), since=since, first=since is None and last is None,
                                    sessions=sessions, rows_read=total)
            out_conn = store_mod.connect(out)
            # the export is this archive's part: it names the machine that made it, not a new one
            out_conn.execute("update archive set host = ?", (archive.host,))
            try:
                store = store_mod.Store(out_conn, batch_size=BATCH_ROWS)
                with (progress(total) if progress and total else contextlib.nullcontext()) as bar:
                    with store.atomic():
                        _, last_rollup_day = copy_rows(archive, queries, store, bar.update if bar is not None else None)
                        if last_rollup_day or archive.pruned_before:  # days it holds the rollups of only
                            out_conn.execute("insert into prunes (before, pruned_at, rows_json) values (?, ?, ?)",
                                             (max(archive.pruned_before, _day_after(last_rollup_day)), now_iso(),
                                              json.dumps({"export": "the archive it was exported from had pruned "
                                                                    "these days"})))
                        store.derive()
                out_conn.execute("pragma journal_mode = delete")  # one self-contained file to ship, no -wal
            finally:
                out_conn.close()
        finally:
            if conn.in_transaction:
                conn.execute("commit")
        summary.bytes = _size(out)
        summary.seconds = time.perf_counter() - started
        store = store_mod.Store(conn)
        with store.atomic():
            store.add("exports", {
                "id": runs.new_run_id("export"), "exported_at": now_iso(), "path": str(out.resolve()),
                "since": since, "rev_from": None if sel.full else sel.rev, "rev_to": archive.max_rev,
                "rowids_json": json.dumps(archive.rowids, sort_keys=True), "sessions": sessions,
                "bytes": summary.bytes, "rows_json": None})
    return summary


__all__ = ["merge", "export", "open_archive", "MergeError", "MergeSummary", "ExportSummary"]
