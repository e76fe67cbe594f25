"""The one writer: every source's records go into SQLite through here.

Records are ``(table, row)`` pairs, rows being dicts keyed by column names of ``ingest.schema``.
Each distinct set of columns gets one generated ``INSERT ... ON CONFLICT DO UPDATE`` statement whose
``SET`` clause applies the schema's merge rules, so the same fact seen by two sources (or twice by
one) converges on one row. sqlite-utils' own upsert replaces values with whatever it is given; the
rules here (null never overwrites, keep the largest usage copy, first-seen times) need SQL of their
own, generated from the one declaration.

Standard library only: the hook path uses this module too.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

from . import redact
from . import schema
from .clock import now_iso

BUSY_TIMEOUT_S = 10.0


@contextmanager
def opened(db, *, timeout: float = BUSY_TIMEOUT_S):
    """An open connection to ``db``: a path (opened here, closed after), or an open connection
    (``sqlite3.Connection`` or sqlite-utils' ``Database``), used as it is and left open. Every
    library entry point takes either, so callers and tests can compose them on one connection."""
    conn = getattr(db, "conn", db)
    if isinstance(conn, sqlite3.Connection):
        yield conn
        return
    conn = connect(db, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


def path_of(conn: sqlite3.Connection) -> Path:
    """The file of a connection's main database."""
    for _, name, file in conn.execute("pragma database_list"):
        if name == "main":
            return Path(file)
    raise ValueError("no main database")


@contextmanager
def transaction(conn: sqlite3.Connection):
    """``begin immediate`` ... ``commit``, rolled back if the block raises (sqlite-utils'
    ``db.atomic()`` in spirit, on a connection in autocommit mode, as every one here is)."""
    conn.execute("begin immediate")
    try:
        yield conn
        conn.execute("commit")
    except BaseException:
        if conn.in_transaction:
            conn.execute("rollback")
        raise


def connect(path: str | os.PathLike, *, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open (creating if needed, readable by its owner only) a database with the schema in place."""
    path = Path(path).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"pragma busy_timeout = {int(timeout * 1000)}")
    conn.execute("pragma synchronous = normal")  # durable across crashes in WAL mode
    if conn.execute("pragma user_version").fetchone()[0] < schema.SCHEMA_VERSION:
        schema.ensure(conn)
    return conn


# SQLite's words for what is wrong with a database file, in the user's words.
_DATABASE_PROBLEMS = (
    ("file is not a database", "is not a SQLite database"),
    ("malformed", "is corrupt (SQLite: database disk image is malformed); `sqlite3 FILE .recover` may "
                  "save what is in it"),
    ("unable to open", "cannot be opened"),
    ("readonly", "is read-only"),
    ("read-only", "is read-only"),
    ("disk is full", "cannot be written: the disk is full"),
    ("locked", "is locked by another process; try again when it is done"),
    ("disk i/o error", "cannot be read or written (disk I/O error)"),
)


def database_problem(path, error: sqlite3.Error) -> str:
    """One line saying what is wrong with the database at ``path``, from SQLite's error."""
    text = str(error)
    for words, said in _DATABASE_PROBLEMS:
        if words in text.lower():
            return f"{path} {said.replace('FILE', str(path))}"
    return f"{path}: {text}"


# --- a cold load: a first backfill into an empty database ---------------------------------------
# Keeping the indexes no derivation reads up to date row by row is a fifth of what a first backfill
# spends in SQLite; built once at its end they cost a fraction of that. The full-text indexes the
# same: their triggers cost the writer 2 s per GB (a trigger of any kind on tool_calls, whose rows
# are large, costs 13 us a row before it does anything), a rebuild at the end 0.13 s. What is put
# off is found again from the schema's declarations (nothing is recorded): a run killed before it
# finished leaves the indexes and the full-text triggers missing (the database is whole, only slower
# to query, and its search finds what was there before the kill only once the next backfill has
# rebuilt it), and the next backfill carries on without them, then builds them.
# the tables a backfill fills: only theirs are put off (and only while they are all empty)
COLD_LOAD_TABLES = ("sessions", "api_requests", "messages", "tool_calls", "file_events", "compactions", "subagents",
                    "prompts", "errors", *schema.ROLLUPS)


def _declared_indexes() -> dict[str, tuple[str, str]]:
    """The secondary indexes the schema declares on those tables: name -> (table, CREATE INDEX)."""
    out = {}
    for t in map(schema.TABLES.get, COLD_LOAD_TABLES):
        for columns in t.indexes:  # named as sqlite-utils names them (schema.ensure makes them so)
            name = f"idx_{t.name}_{'_'.join(columns)}"
            out[name] = (t.name, f"create index if not exists [{name}] on [{t.name}] "
                                 f"({', '.join(f'[{c}]' for c in columns)})")
        for name, (columns, where) in t.partial_indexes.items():
            out[name] = (t.name, f"create index if not exists [{name}] on [{t.name}] "
                                 f"({', '.join(f'[{c}]' for c in columns)}) where {where}")
    return out


def _full_text_triggers(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """Those tables' full-text indexes (the ones this database has): table -> its triggers by name."""
    from . import migrations  # here, not at the top: the hook path imports this module, and needs none of it

    present = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    return {t.name: migrations.fts_triggers(t.name, t.fts) for t in map(schema.TABLES.get, COLD_LOAD_TABLES)
            if t.fts and f"{t.name}_fts" in present}


def _indexes_derivations_use(conn: sqlite3.Connection) -> set[str]:
    """The indexes SQLite's plans for the derivations and rollups read (they run for every session
    written, and so does a hook's: they keep theirs, or each would scan its whole table)."""
    used = set()
    for _, sql in schema.DERIVATIONS:
        for row in conn.execute("explain query plan " + sql, {"session_id": ""}):
            words = row[-1].split()
            if "INDEX" in words and words.index("INDEX") + 1 < len(words):
                used.add(words[words.index("INDEX") + 1])
    return used


def _existing(conn: sqlite3.Connection, kind: str) -> set[str]:
    return {r[0] for r in conn.execute("select name from sqlite_master where type = ?", (kind,))}


def start_cold_load(conn: sqlite3.Connection) -> bool:
    """If the database holds nothing yet, put off the indexes no derivation reads and the full-text
    indexes until :func:`finish_cold_load`; if a cold load was killed before it finished (they are
    missing), go on without them. True if there is something to finish at the end."""
    indexes, triggers = _declared_indexes(), _full_text_triggers(conn)
    if set(indexes) - _existing(conn, "index") or (
            {name for named in triggers.values() for name in named} - _existing(conn, "trigger")):
        return True
    if any(conn.execute(f"select exists (select 1 from [{t}])").fetchone()[0] for t in COLD_LOAD_TABLES):
        return False
    used = _indexes_derivations_use(conn)
    with transaction(conn):
        for name in indexes:
            if name not in used:
                conn.execute(f"drop index if exists [{name}]")
        for named in triggers.values():
            for name in named:
                conn.execute(f'drop trigger if exists "{name}"')
    return True


def finish_cold_load(conn: sqlite3.Connection) -> None:
    """Build what :func:`start_cold_load` put off (or a killed one left missing), each index and
    each full-text index (rebuilt from its table, its triggers back) in a transaction of its own,
    so that a hook waiting to write waits for one of them at most."""
    present = _existing(conn, "index")
    for name, (table, sql) in _declared_indexes().items():
        if name not in present:
            with transaction(conn):
                conn.execute(sql)
    present = _existing(conn, "trigger")
    for table, named in _full_text_triggers(conn).items():
        if set(named) - present:
            with transaction(conn):
                for name, sql in named.items():
                    conn.execute(f'drop trigger if exists "{name}"')
                    conn.execute(sql)
                conn.execute(f"insert into [{table}_fts]([{table}_fts]) values ('rebuild')")


# --- a bulk load: many commits in a row from one writer ----------------------------------------
# SQLite copies the WAL into the database (a checkpoint: every page changed since the last, then a
# sync) once it holds wal_autocheckpoint pages, 1,000 (4 MB) by default: after nearly every commit of
# a backfill, whose indexes on random ids change pages all over in each. A backfill's writer lets it
# grow to 64 MB first: the 1 GB bench's commits took 2.4 s instead of 3.9 (1.5 s of cpu instead of 2.1).
BULK_CHECKPOINT_PAGES = 16384


@contextmanager
def bulk_load(conn: sqlite3.Connection):
    """Checkpoint every BULK_CHECKPOINT_PAGES while the block runs; at its end the connection's
    setting is put back and what is in the WAL is checkpointed without waiting for anyone (PASSIVE),
    so that the next writer, a hook maybe, does not pay for the copy."""
    (previous,) = conn.execute("pragma wal_autocheckpoint").fetchone()
    restore = f"pragma wal_autocheckpoint = {int(previous)}"
    conn.execute(f"pragma wal_autocheckpoint = {BULK_CHECKPOINT_PAGES}")
    try:
        yield conn
    except BaseException:
        try:
            conn.execute(restore)
        except sqlite3.Error:  # the database's own problem is the one to tell
            pass
        raise
    conn.execute(restore)
    if not conn.in_transaction:
        conn.execute("pragma wal_checkpoint(passive)").fetchall()


# Secrets are at most this long where a cut could meet one (a key block, a long JWT): text is
# redacted up to the bound plus this much, then cut to the bound.
REDACT_SLACK = 4096

# table -> ((column, "text" | "json" | None, bound or None), ...): what add() does to a row's values
_PREPARED = {
    table: tuple((column, schema.REDACTED.get(table, {}).get(column), schema.BOUNDED.get(table, {}).get(column))
                 for column in {**schema.REDACTED.get(table, {}), **schema.BOUNDED.get(table, {})})
    for table in {**schema.REDACTED, **schema.BOUNDED}
}


def cut(text: str, limit: int, marker: bool = False) -> str:
    """``text`` cut to ``limit`` characters, never inside a ``[REDACTED:kind]`` marker."""
    if len(text) <= limit:
        return text
    end = limit
    start = text.rfind("[REDACTED:", max(0, limit - 40), limit)
    if start != -1:
        close = text.find("]", start)
        if close >= limit:
            end = close + 1
    head = text[:end]
    return head + f"… [{len(text) - end} more characters]" if marker else head


def _bounded_text(text: str, kind: str | None, limit: int | None, marker: bool = False) -> str:
    if limit is not None and len(text) > limit + REDACT_SLACK:
        rest = len(text) - limit - REDACT_SLACK
        text = text[: limit + REDACT_SLACK]
    else:
        rest = 0
    if kind is not None:
        text = redact.redact_text(text)
    if limit is None or len(text) <= limit:
        return text
    out = cut(text, limit)
    return out + f"… [{len(text) - len(out) + rest} more characters]" if marker else out


def _walk(value, kind: str | None, limit: int | None):
    if isinstance(value, str):
        return _bounded_text(value, kind, limit, marker=True)
    if isinstance(value, dict):
        return {k: _walk(v, kind, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, kind, limit) for v in value]
    return value


def bounded_json(value, limit: int, redacting: bool) -> str:
    """A decoded JSON value encoded with each string redacted, then cut to ``limit`` characters."""
    return json.dumps(_walk(value, "text" if redacting else None, limit), ensure_ascii=False)


def _prepare(value, kind: str | None, limit: int | None, redacting: bool):
    """A value as it may be stored: redacted (when ``redacting`` and the column is one of
    schema.REDACTED: ``kind`` "text" or "json"), then cut to its bound. A "json" column may be given
    the decoded value (a parser's dict): it is redacted string by string, cut and encoded here."""
    how = "text" if redacting and kind else None
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(_walk(value, how, limit), ensure_ascii=False)
        except (RecursionError, ValueError):  # nested too deep to walk: redacted as text
            try:
                value = json.dumps(value, ensure_ascii=False)
            except (RecursionError, ValueError):
                return None
            return _bounded_text(value, how, None)
    if value.__class__ is not str:
        return value
    if kind == "json":  # JSON text: redacted string by string, never cut as text
        return redact.redact_json_text(value) if redacting else value
    return _bounded_text(value, how, limit)


def _merge_expression(table: schema.Table, column: str) -> str:
    new, old = f"excluded.[{column}]", f"[{table.name}].[{column}]"
    rule = table.rule(column)
    if rule == "latest":
        return f"coalesce({new}, {old})"
    if rule == "first":
        return f"coalesce({old}, {new})"
    if rule in ("min", "max"):
        return f"coalesce({rule}({new}, {old}), {new}, {old})"
    if rule == "longest":
        return f"case when length({new}) > coalesce(length({old}), -1) then {new} else {old} end"
    if rule == "usage":
        # The copy with the largest token total; between equal ones the earliest written (a subagent's
        # own line before its parent's progress mirror of it), so the order files are read in never matters.
        t = f"[{table.name}]"
        # Between copies equal in both, the one that says which price source priced it (an archive of
        # a version that did not record it merged with one that did): the same row in either order.
        return (
            f"case when coalesce(excluded.usage_total, -1) > coalesce({t}.usage_total, -1) "
            f"or (excluded.usage_total = {t}.usage_total and excluded.timestamp < {t}.timestamp) "
            f"or (excluded.usage_total is {t}.usage_total and excluded.timestamp is {t}.timestamp "
            f"and excluded.price_source is not null and {t}.price_source is null) "
            f"then {new} else {old} end"
        )
    if rule == "newest":
        t = f"[{table.name}]"
        return (f"case when {t}.captured_at is null or excluded.captured_at >= {t}.captured_at "
                f"then coalesce({new}, {old}) else {old} end")
    if rule == "origin":
        # the value of the copy that ranks first by (seen_at, nulls last; host; the value itself):
        # a total order, so the merged row is the same whichever copy is written first
        t = f"[{table.name}]"
        first = (f"(excluded.seen_at is not null and ({t}.seen_at is null or excluded.seen_at < {t}.seen_at))"
                 f" or (excluded.seen_at is {t}.seen_at and (coalesce(excluded.host, '') < coalesce({t}.host, '')"
                 f" or (excluded.host is {t}.host and {new} < {old})))")
        return f"case when {new} is null then {old} when {old} is null then {new} when {first} then {new} else {old} end"
    if rule == "original":
        return (
            f"case when {old} is null then {new} "
            f"when [{table.name}].is_fork_copy = 1 and excluded.is_fork_copy = 0 then coalesce({new}, {old}) "
            f"else {old} end"
        )
    raise ValueError(f"unknown merge rule {rule!r} for {table.name}.{column}")


def upsert_sql(table_name: str, columns: tuple[str, ...]) -> str:
    table = schema.TABLES[table_name]
    unknown = set(columns) - set(table.columns)
    if unknown:
        raise KeyError(f"{table_name} has no column(s) {sorted(unknown)}")
    missing = set(table.pk) - set(columns)
    if missing:
        raise KeyError(f"{table_name} row lacks its key {sorted(missing)}")
    names = ", ".join(f"[{c}]" for c in columns)
    marks = ", ".join("?" for _ in columns)
    updates = [c for c in columns if c not in table.pk]
    conflict = ", ".join(f"[{c}]" for c in table.pk)
    sql = f"insert into [{table_name}] ({names}) values ({marks}) on conflict ({conflict}) do "
    if not updates:
        return sql + "nothing"
    return sql + "update set " + ", ".join(f"[{c}] = {_merge_expression(table, c)}" for c in updates)


# The tables a command's summary counts rows of: what was learned. Not the rollups (recomputed, not
# learned) nor the ingest bookkeeping (the summary says what was read in its own words).
COUNTED = tuple(t for t in schema.TABLES if t not in schema.ROLLUPS
                and t not in ("ingest_files", "ingest_runs", "ingest_skips", "migrations", "prunes", "archive",
                              "merge_sources", "exports"))


class RowCounter:
    """Which rows of the COUNTED tables this connection added, changed and removed, as SQLite saw
    them: temporary triggers note each row's rowid once (a row upserted five times is one row; an
    update that changed no value is no change), in temporary tables that commit and roll back with
    the writes. Exact whatever the merge rules do, and only for this connection's writes.

    A row's state: added (new), changed (there before, a value differs), removed (there before,
    deleted: a hook's row merged into the transcript's), gone (added, then deleted), replaced (there
    before and deleted, its rowid then taken by a new row: one removed and one added).

    A table that is empty when counting starts (a first backfill) gets no triggers: every row it
    holds at the end was added since, so it is counted then (with the rows another process added
    meanwhile, a hook beside the backfill); a trigger on each of its rows cost 5% of a cold load."""

    ADDED, CHANGED, REMOVED, GONE, REPLACED = range(1, 6)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.empty: set[str] = set()
        for name in COUNTED:
            if not conn.execute(f"select exists (select 1 from main.[{name}])").fetchone()[0]:
                self.empty.add(name)
                for event in ("insert", "update", "delete"):
                    conn.execute(f"drop trigger if exists temp.[claude_ingest_{event}_{name}]")
                continue
            # one table per table, keyed by rowid: the cheapest b-tree a trigger can write to
            conn.execute(f"create temp table if not exists [claude_ingest_rows_{name}] "
                         f"(rid integer primary key, state integer)")
            conn.execute(f"delete from temp.[claude_ingest_rows_{name}]")
            # rows from here on are new, so noted on insert: their updates need no look (a fresh
            # backfill's updates then cost one comparison each)
            (first_new,) = conn.execute(f"select coalesce(max(rowid), 0) + 1 from main.[{name}]").fetchone()
            kept = [c for c in schema.TABLES[name].columns if c not in schema.BOOKKEEPING.get(name, ())]
            changed = f"old.rowid < {int(first_new)} and (" + " or ".join(f"old.[{c}] is not new.[{c}]" for c in kept) + ")"
            log = f"[claude_ingest_rows_{name}]"
            for event, body in (
                ("insert", f"insert into {log} values (new.rowid, {self.ADDED}) on conflict (rid) do update "
                           f"set state = case state when {self.REMOVED} then {self.REPLACED} "
                           f"when {self.GONE} then {self.ADDED} else state end"),
                ("update", f"insert into {log} values (new.rowid, {self.CHANGED}) on conflict (rid) do nothing"),
                ("delete", f"insert into {log} values (old.rowid, {self.REMOVED}) on conflict (rid) do update "
                           f"set state = case state when {self.ADDED} then {self.GONE} else {self.REMOVED} end"),
            ):
                when = f" when {changed}" if event == "update" else ""
                conn.execute(f"drop trigger if exists temp.[claude_ingest_{event}_{name}]")
                conn.execute(f"create temp trigger [claude_ingest_{event}_{name}] after {event} "
                             f"on main.[{name}]{when} begin {body}; end")

    def counts(self) -> dict[str, Counter]:
        """``{"added": Counter, "changed": Counter, "removed": Counter}`` per table, so far."""
        out = {"added": Counter(), "changed": Counter(), "removed": Counter()}
        for name in COUNTED:
            if name in self.empty:
                n = self.conn.execute(f"select count(*) from main.[{name}]").fetchone()[0]
                if n:
                    out["added"][name] += n
                continue
            for state, n in self.conn.execute(
                    f"select state, count(*) from temp.[claude_ingest_rows_{name}] group by 1"):
                if state in (self.ADDED, self.REPLACED):
                    out["added"][name] += n
                if state in (self.REMOVED, self.REPLACED):
                    out["removed"][name] += n
                if state == self.CHANGED:
                    out["changed"][name] += n
        return out

    def stop(self) -> None:
        """Drop the triggers: later writes on this connection (a hook replaying its spool) go uncounted."""
        for name in COUNTED:
            for event in ("insert", "update", "delete"):
                self.conn.execute(f"drop trigger if exists temp.[claude_ingest_{event}_{name}]")
            self.conn.execute(f"drop table if exists temp.[claude_ingest_rows_{name}]")


class RowBuffer:
    """Records made ready to store, held in memory: each row redacted and cut (schema.REDACTED and
    BOUNDED), keyed by its table and columns, with the sessions and tables it touched. No database:
    a worker process fills one and sends what it holds (:meth:`take`) to the process that writes."""

    def __init__(self, *, redact_secrets: bool | None = None):
        # Secrets are redacted before they are stored unless CLAUDE_INGEST_NO_REDACT=1 (--no-redact).
        self.redact = redact.enabled() if redact_secrets is None else redact_secrets
        self._pending: dict[tuple[str, tuple[str, ...]], list[tuple]] = defaultdict(list)
        self._buffered = 0
        self.touched_sessions: set[str] = set()
        self.touched_tables: set[str] = set()

    def add(self, table: str, row: dict) -> str | None:
        """Hold ``row`` for ``table``; the session it belongs to, if any."""
        columns = _PREPARED.get(table)
        if columns:
            for column, kind, limit in columns:
                value = row.get(column)
                if value is not None:
                    row[column] = _prepare(value, kind, limit, self.redact)
        if table == "sessions":
            session_id = row.get("id")
            if "seen_at" not in row:  # first seen now, by this machine (a merge brings the origin's)
                row["seen_at"] = now_iso()
        else:
            session_id = row.get("session_id")
        key = (table, tuple(row))
        self._pending[key].append(tuple(row.values()))
        self._buffered += 1
        if session_id is not None:
            self.touched_sessions.add(session_id)
            self.touched_tables.add(table)
        return session_id

    def write(self, records) -> None:
        for table, row in records:
            self.add(table, row)

    def take(self) -> tuple:
        """What is held, as :meth:`Store.put` takes it (plain data: marshal and pickle write it);
        the buffer is empty after."""
        held = (dict(self._pending), self._buffered, self.touched_sessions, self.touched_tables)
        self.discard()
        return held

    def discard(self) -> None:
        """Forget what is held."""
        self._pending = defaultdict(list)
        self._buffered = 0
        self.touched_sessions, self.touched_tables = set(), set()


class Store(RowBuffer):
    """Buffers records and writes them in batches; the caller owns transactions (``begin``/``commit``)."""

    def __init__(self, conn: sqlite3.Connection, *, batch_size: int | None = 5000, redact_secrets: bool | None = None,
                 count_rows: bool = False):
        """``batch_size``: rows buffered before they are sent (inside the caller's transaction);
        None buffers until ``flush``/``commit``, for a caller that opens its transaction only then.
        ``count_rows``: keep count of the rows added, changed and removed from now on (:meth:`counts`),
        for a command's summary; the hook path leaves it off."""
        super().__init__(redact_secrets=redact_secrets)
        self.conn = conn
        self.batch_size = batch_size
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self.counter = RowCounter(conn) if count_rows else None
        # sessions with rows buffered, and with rows sent in this transaction: their rev is moved on
        # at commit (schema: sessions.rev), so merge and export know what changed since they read
        self._pending_sessions: set[str] = set()
        self._sent_sessions: set[str] = set()

    def counts(self) -> dict[str, Counter]:
        """Rows added, changed and removed per table since the store was made (see RowCounter);
        counting stops here."""
        if self.counter is None:
            raise ValueError("this store does not count rows (Store(..., count_rows=True))")
        counts = self.counter.counts()
        self.stop_counting()
        return counts

    def stop_counting(self) -> None:
        if self.counter is not None:
            self.counter.stop()
            self.counter = None

    # transactions -----------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("begin immediate")

    def commit(self) -> None:
        self.flush()
        self._mark_changed()
        self.conn.execute("commit")

    def _mark_changed(self) -> None:
        """One new ``rev`` (the largest so far, plus one) for every session this transaction wrote
        to: commits are serialised by SQLite's write lock, so revs grow in commit order."""
        if not self._sent_sessions:
            return
        ids = sorted(self._sent_sessions)
        self._sent_sessions = set()
        (rev,) = self.conn.execute("select coalesce(max(rev), 0) + 1 from sessions").fetchone()
        now = now_iso()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            self.conn.execute(f"update sessions set rev = ?, changed_at = ? where id in ({','.join('?' * len(chunk))})",
                              (rev, now, *chunk))

    def discard(self) -> None:
        """Forget buffered rows not yet sent (the caller rolls back what was)."""
        super().discard()
        self._pending_sessions = set()

    def rollback(self) -> None:
        self.discard()
        self._sent_sessions = set()
        if self.conn.in_transaction:
            self.conn.execute("rollback")

    @contextmanager
    def atomic(self):
        """One transaction around the block: what it adds is written and committed at its end
        (after the derivations, if ``derive()`` is called in it), all rolled back if it raises."""
        self.begin()
        try:
            yield self
            self.commit()
        except BaseException:
            self.rollback()
            raise

    # writing ----------------------------------------------------------------------------------
    def add(self, table: str, row: dict) -> None:
        session_id = super().add(table, row)
        if session_id is not None:
            self._pending_sessions.add(session_id)
        if self.batch_size is not None and self._buffered >= self.batch_size:
            self.flush()

    def put(self, held: tuple) -> None:
        """Rows a :class:`RowBuffer` made ready (its :meth:`RowBuffer.take`), as if added here in
        the order they were added there."""
        pending, buffered, sessions, tables = held
        mine = self._pending
        for key, rows in pending.items():
            mine[key].extend(rows)
        self._buffered += buffered
        self.touched_sessions |= sessions
        self.touched_tables |= tables
        self._pending_sessions |= sessions
        if self.batch_size is not None and self._buffered >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        for key, rows in self._pending.items():
            sql = self._sql.get(key)
            if sql is None:
                sql = self._sql[key] = upsert_sql(*key)
            self.conn.executemany(sql, rows)
        self._pending.clear()
        self._buffered = 0
        self._sent_sessions |= self._pending_sessions
        self._pending_sessions = set()

    def derive(self) -> None:
        """Run the schema's cross-row derivations for the sessions and tables written since last time."""
        self.flush()
        statements = [sql for tables, sql in schema.DERIVATIONS if tables & self.touched_tables]
        for session_id in sorted(self.touched_sessions):
            for sql in statements:
                self.conn.execute(sql, {"session_id": session_id})
        self.touched_sessions, self.touched_tables = set(), set()
