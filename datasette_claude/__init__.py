"""Datasette plugin for databases written by claude-ingest: `datasette claude.db` is the dashboard.

Hook implementations only. A database is recognised by its tables, not its file name. On Datasette
0.65 the metadata and canned queries come through the ``get_metadata`` and ``canned_queries`` hooks;
Datasette 1.0 has neither, so ``startup`` writes them through its metadata and stored-query APIs and
its configuration. Either way the user's own metadata, configuration and queries win.
"""

from __future__ import annotations

import json
import weakref

from datasette import hookimpl

from . import format as cells
from . import permissions
from . import resources

QUERY_SOURCE = "datasette-claude"
_recognised: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


async def recognised_databases(datasette) -> list[str]:
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


def _known(datasette) -> list[str]:
    return _recognised.get(datasette, [])


def _database_metadata() -> dict:
    meta = resources.metadata()
    return {k: v for k, v in meta.items() if k != "queries"}


@hookimpl
def startup(datasette):
    async def inner():
        names = await recognised_databases(datasette)
        for name in names:
            await _upgrade_schema(datasette.databases[name])
        if names and hasattr(datasette, "add_query"):
            await _apply_to_datasette_1(datasette, names)

    return inner


async def _upgrade_schema(db):
    """A database written by an older claude-ingest lacks newer tables (the canned queries read the
    rollups): add what is missing, as the next ingest would. Never for a read-only database."""
    from ingest import schema

    if not db.is_mutable:
        return
    version = (await db.execute("pragma user_version")).first()[0]
    if version < schema.SCHEMA_VERSION:
        await db.execute_write_fn(schema.ensure, block=True)


async def _apply_to_datasette_1(datasette, names):
    meta = _database_metadata()
    tables = meta.get("tables", {})
    config = {"databases": {}}
    for name in names:
        existing = await datasette.get_database_metadata(name)
        for key in ("title", "description", "description_html"):
            if key in meta and key not in existing:
                await datasette.set_database_metadata(name, key, meta[key])
        for table, settings in tables.items():
            have = await datasette.get_resource_metadata(name, table)
            for key in ("title", "description", "description_html"):
                if key in settings and key not in have:
                    await datasette.set_resource_metadata(name, table, key, settings[key])
            for column, description in (settings.get("columns") or {}).items():
                if "description" not in await datasette.get_column_metadata(name, table, column):
                    await datasette.set_column_metadata(name, table, column, "description", description)
        config["databases"][name] = {"tables": {
            table: {k: settings[k] for k in resources.CONFIG_KEYS if k in settings}
            for table, settings in tables.items()}}
        for query_name, query in resources.canned_queries().items():
            current = await datasette.get_query(name, query_name)
            if current is not None and current.source != QUERY_SOURCE:
                continue  # the user's query of that name wins
            await datasette.add_query(
                name, query_name, query["sql"], title=query.get("title"), description=query.get("description"),
                fragment=query.get("fragment"), parameters=query.get("params"), hide_sql=bool(query.get("hide_sql")),
                source=QUERY_SOURCE, replace=True)
    datasette.config = _merge(config, datasette.config or {})


def _merge(ours: dict, theirs: dict) -> dict:
    """``theirs`` laid over ``ours``: every key the user set wins."""
    out = dict(ours)
    for key, value in theirs.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@hookimpl
def get_metadata(datasette, key, database, table):
    """Datasette 0.65: our metadata for our databases; Datasette lays the user's -m metadata over it."""
    names = _known(datasette)
    if not names:
        return {}
    return {"databases": {name: _database_metadata() for name in names}}


@hookimpl
def canned_queries(datasette, database):
    """Datasette 0.65: the canned_queries/*.sql files, for our databases, unless the user has one."""
    if database not in _known(datasette):
        return {}
    theirs = datasette.metadata("queries", database=database, fallback=False) or {}
    return {name: resources.datasette_query(q) for name, q in resources.canned_queries().items()
            if name not in theirs}


@hookimpl
def extra_body_script(database, request, datasette):
    """Open a canned query's URL directly and its chart shows: datasette-vega draws when the URL
    fragment holds its settings, so the fragment is set before datasette-vega reads it."""
    if request is None or database not in _known(datasette):
        return None
    query_name = request.path.rstrip("/").rsplit("/", 1)[-1]
    query = resources.canned_queries().get(query_name)
    if not query or not query.get("fragment"):
        return None
    return ("if (!window.location.hash) { history.replaceState(null, '', window.location.pathname + "
            f"window.location.search + '#' + {json.dumps(query['fragment'])}); }}")


@hookimpl
def render_cell(value, column, table, database, datasette):
    if database not in _known(datasette):
        return None
    return cells.render(value, column, table, database, datasette)


@hookimpl
def register_routes():
    from .pages.overview import overview

    return [(r"^/-/claude$", overview)]


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        # only for whom the overview opens: one of our databases they may see and run SQL on
        for name in _known(datasette):
            if await permissions.allowed(datasette, actor, name, execute_sql=True):
                return [{"href": datasette.urls.path("/-/claude"), "label": "Agent overview"}]
        return []

    return inner
