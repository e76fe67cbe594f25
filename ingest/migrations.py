"""The steps an older database takes to today that adding what is missing cannot: each a named
function, applied once, in order, and recorded in ``migrations`` (as llm keeps its own), so an
old database's path to the current schema reads top to bottom here.

Everything additive (new tables, columns, indexes, FTS indexes, views) is ``schema.ensure``'s job;
a step belongs here only when it changes or removes something an earlier version made.
"""

from __future__ import annotations

from .clock import now_iso

MIGRATIONS: list = []


def migration(function):
    MIGRATIONS.append(function)
    return function


@migration
def m001_drop_the_daily_usage_view(db) -> None:
    """Schema 1 had a view called daily_usage; it is a canned query's name now, and Datasette 1.0
    resolves a view before a stored query of the same name."""
    db.conn.execute("drop view if exists [daily_usage]")


@migration
def m002_fts_update_triggers_reindex_only_changed_text(db) -> None:
    """sqlite-utils' FTS update trigger re-indexes a row on every update; upserts update rows all the
    time (a tool_result merging into its tool_use, a derived duration): re-index only on a change."""
    for table in db.table_names():
        fts = db[table].detect_fts() if not table.endswith("_fts") and "_fts_" not in table else None
        if fts:
            columns = [c for c in db[fts].columns_dict if c != "rowid"]
            scope_fts_update_trigger(db, table, columns)


@migration
def m003_read_transcripts_again_for_replay(db) -> None:
    """Schema 9 keeps what a session's replay needs (thinking, tool inputs in full, longer outputs,
    the parent across a compaction, the titles apart): transcripts still on disk are read once more
    by the next backfill (their offsets forgotten, so they read from the start; rows merge by key)."""
    db.conn.execute("update ingest_files set mtime_ns = null, head_hash = null "
                    "where kind in ('main', 'subagent', 'legacy_subagent')")


# When the machine of an archive first recorded each session, from the bookkeeping every version kept
# (the first read of one of its files, its first hook event): for sessions recorded before
# sessions.seen_at existed (m004 below; ``merge`` reads an older archive so).
SEEN_AT_SQL = """
select session_id, min(t) as seen_at from (
  select session_id, min(first_read_at) as t from ingest_files where session_id is not null group by session_id
  union all
  select session_id, min(received_at) from hook_events where session_id is not null group by session_id)
 group by session_id"""


@migration
def m004_sessions_first_seen(db) -> None:
    """Schema 13 keeps when this machine first recorded each session (sessions.seen_at: a session seen
    on two machines keeps the machine it was seen on first). Sessions recorded before take it from
    the first read of their files and their first hook event."""
    db.conn.execute(f"""
update sessions set seen_at = (select seen.seen_at from ({SEEN_AT_SQL}) seen where seen.session_id = sessions.id)
 where seen_at is null""")


def fts_triggers(table: str, columns) -> dict[str, str]:
    """The triggers that keep ``table``'s FTS index in step with it, by name, as the database holds
    them: on insert and delete as sqlite-utils' ``enable_fts`` writes them, on update scoped to the
    indexed columns (m002). A cold load drops them and writes them back from here."""
    fts = f'"{table}_fts"'
    quoted = [f'"{c}"' for c in columns]
    cols = ", ".join(quoted)
    insert = f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {', '.join(f'new.{c}' for c in quoted)});"
    delete = f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {', '.join(f'old.{c}' for c in quoted)});"
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in quoted)
    return {
        f"{table}_ai": f'CREATE TRIGGER "{table}_ai" AFTER INSERT ON "{table}" BEGIN\n  {insert}\nEND',
        f"{table}_ad": f'CREATE TRIGGER "{table}_ad" AFTER DELETE ON "{table}" BEGIN\n  {delete}\nEND',
        f"{table}_au": f'CREATE TRIGGER "{table}_au" AFTER UPDATE ON "{table}" WHEN {changed} BEGIN\n'
                       f"  {delete}\n  {insert}\nEND",
    }


def scope_fts_update_trigger(db, table: str, columns) -> None:
    """The update trigger of ``table``'s FTS index, re-indexing a row only when an indexed column
    changed (also applied to every FTS index ``schema.ensure`` creates)."""
    name = f"{table}_au"
    row = db.conn.execute("select sql from sqlite_master where type = 'trigger' and name = ?", (name,)).fetchone()
    if row and " WHEN " in row[0]:
        return
    db.conn.execute(f'DROP TRIGGER IF EXISTS "{name}"')
    db.conn.execute(fts_triggers(table, columns)[name])


def apply(db) -> list[str]:
    """Run the migrations this database has not had, in order; the names of those run."""
    applied = {row[0] for row in db.conn.execute("select name from migrations")}
    ran = []
    for function in MIGRATIONS:
        if function.__name__ not in applied:
            function(db)
            db.conn.execute("insert or ignore into migrations (name, applied_at) values (?, ?)",
                            (function.__name__, now_iso()))
            ran.append(function.__name__)
    return ran
