"""Datasette plugin for databases written by claude-ingest: `datasette claude.db` is the dashboard.

Hook implementations only, each a few lines; what they do lives beside them: which databases are
ours (:mod:`.databases`), how our metadata and queries reach each Datasette version
(:mod:`.configure`), readable cells (:mod:`.format`), who may see a page (:mod:`.permissions`),
who may write through a receiver (:mod:`.receivers`), and the pages and receivers themselves
(:mod:`.pages`).
"""

from __future__ import annotations

import json

from datasette import hookimpl

from . import configure, databases, permissions, receivers, resources
from . import format as cells


@hookimpl
def startup(datasette):
    async def inner():
        names = await databases.recognised(datasette)
        for name in names:
            await databases.upgrade_schema(datasette.databases[name])
        if names and hasattr(datasette, "add_query"):
            await configure.apply_to_datasette_1(datasette, names)

    return inner


@hookimpl
def get_metadata(datasette, key, database, table):
    """Datasette 0.65: our metadata for our databases; Datasette lays the user's -m metadata over it."""
    names = databases.known(datasette)
    if not names:
        return {}
    return {"databases": {name: configure.database_metadata() for name in names}}


@hookimpl
def canned_queries(datasette, database):
    """Datasette 0.65: the canned_queries/*.sql files, for our databases, unless the user has one."""
    if database not in databases.known(datasette):
        return {}
    theirs = datasette.metadata("queries", database=database, fallback=False) or {}
    return {name: resources.datasette_query(q) for name, q in resources.canned_queries().items()
            if name not in theirs}


@hookimpl
def extra_body_script(database, request, datasette):
    """Open a canned query's URL directly and its chart shows: datasette-vega draws when the URL
    fragment holds its settings, so the fragment is set before datasette-vega reads it."""
    if request is None or database not in databases.known(datasette):
        return None
    query_name = request.path.rstrip("/").rsplit("/", 1)[-1]
    query = resources.canned_queries().get(query_name)
    if not query or not query.get("fragment"):
        return None
    return ("if (!window.location.hash) { history.replaceState(null, '', window.location.pathname + "
            f"window.location.search + '#' + {json.dumps(query['fragment'])}); }}")


@hookimpl(trylast=True)  # the user's own render_cell plugins go first, as datasette-pretty-json does
def render_cell(value, column, table, database, datasette):
    if database not in databases.known(datasette):
        return None
    return cells.render(value, column, table, database, datasette)


@hookimpl
def register_routes():
    from .pages.otlp import otlp_logs
    from .pages.overview import overview

    return [(r"^/-/claude$", overview), (r"^/-/claude/otlp/v1/logs$", otlp_logs)]


@hookimpl
def skip_csrf(scope):
    """The receivers take no cookies and answer only their content types (see receivers)."""
    return receivers.skips_csrf(scope)


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        # only for whom the overview opens: one of our databases they may see and run SQL on
        for name in databases.known(datasette):
            if await permissions.allowed(datasette, actor, name, execute_sql=True):
                return [{"href": datasette.urls.path("/-/claude"), "label": "Agent overview"}]
        return []

    return inner
