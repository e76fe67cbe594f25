"""Which served databases claude-ingest wrote (recognised by their tables, not their file names),
and bringing one written by an older claude-ingest up to date."""

from __future__ import annotations

import weakref

from datasette.utils.asgi import Base400

from . import resources

_recognised: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


async def recognised(datasette) -> list[str]:
    """The names of the served databases that claude-ingest wrote (and remember them)."""
    names = []
    for name, db in list(datasette.databases.items()):
        if name.startswith("_"):
            continue
        try:
            tables = await db.table_names()
        except Exception:  # noqa: BLE001 - an unreadable database is simply not ours
            continue
        if resources.is_claude_database(tables):
            names.append(name)
    _recognised[datasette] = names
    return names


def known(datasette) -> list[str]:
    """The databases recognised at startup (or by the latest page that looked)."""
    return _recognised.get(datasette, [])


async def upgrade_schema(db) -> None:
    """A database written by an older claude-ingest lacks newer tables (the canned queries read the
    rollups): add what is missing, as the next ingest would. Never for a read-only database."""
    from ingest import schema

    if not db.is_mutable:
        return
    version = (await db.execute("pragma user_version")).first()[0]
    if version < schema.SCHEMA_VERSION:
        await db.execute_write_fn(schema.ensure, block=True)


class Outdated(Base400):
    """A database an older claude-ingest wrote, served where it cannot be brought up to date."""

    status = 409


async def ensure_current(db) -> None:
    """Raise Outdated, saying what to do, for a database older than this plugin's schema: one served
    immutable or read-only (``datasette -i``), which startup could not upgrade. Our pages read the
    newer tables and columns; without this they would fail on the first one missing."""
    from ingest import schema

    version = (await db.execute("pragma user_version")).first()[0]
    if version < schema.SCHEMA_VERSION:
        raise Outdated(
            f"{db.name} was written by an older claude-ingest (schema {version}; this one reads {schema.SCHEMA_VERSION}) "
            "and is served read-only, so it cannot be brought up to date here. Serve it once without -i (the "
            "plugin brings it up to date as it starts), or run a claude-ingest command that writes to it, such "
            "as backfill.")


_ours_now: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def serves_ours_now(datasette) -> bool:
    """Whether a served database is ours, answered without awaiting: for settings Datasette reads
    while it builds its app, which 0.65 does when it is constructed, before any startup hook ran.
    The databases recognised so far, else each database's tables (through a connection of its own,
    opened as Datasette opens it)."""
    if known(datasette):
        return True
    names = frozenset(n for n in datasette.databases if not n.startswith("_"))
    cached = _ours_now.get(datasette)
    if cached is not None and cached[0] == names:
        return cached[1]
    ours = False
    for name in names:
        try:
            conn = datasette.databases[name].connect()
            try:
                tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
            finally:
                conn.close()
        except Exception:  # noqa: BLE001 - an unreadable database is simply not ours
            continue
        if resources.is_claude_database(tables):
            ours = True
            break
    _ours_now[datasette] = (names, ours)
    return ours
