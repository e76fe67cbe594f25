"""Datasette plugin for databases written by claude-ingest: `datasette claude.db` is the dashboard.

Hook implementations only, each a few lines; what they do lives beside them: which databases are
ours (:mod:`.databases`), how our metadata and queries reach each Datasette version
(:mod:`.configure`), readable cells (:mod:`.format`), who may see a page (:mod:`.permissions`),
who may write through a receiver (:mod:`.receivers`), the pages and receivers themselves
(:mod:`.pages`), and, with datasette-mcp installed (the ``[mcp]`` extra), our MCP tools (:mod:`.mcp`).
"""

from __future__ import annotations

import json

from datasette import hookimpl

from . import configure, databases, permissions, receivers, resources
from . import format as cells

if configure.datasette_mcp_installed():
    # datasette-mcp's hook, implemented only where datasette-mcp is: without it there is no such hook
    # and nothing of the MCP SDK is imported
    from . import mcp as _mcp

    register_mcp_tools = _mcp.register_mcp_tools


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
    """Datasette 0.65: our metadata for our databases, and our defaults for other plugins' settings
    (datasette-mcp's); Datasette lays the user's -m metadata over it."""
    out = {}
    if key in (None, "plugins"):
        defaults = configure.plugin_defaults(datasette)
        if defaults:
            out["plugins"] = defaults
    names = databases.known(datasette)
    if names:
        out["databases"] = {name: configure.database_metadata() for name in names}
    return out


@hookimpl
def canned_queries(datasette, database):
    """Datasette 0.65: the canned_queries/*.sql files, for our databases, unless the user has one."""
    if database not in databases.known(datasette):
        return {}
    theirs = datasette.metadata("queries", database=database, fallback=False) or {}
    return {name: resources.datasette_query(q) for name, q in resources.canned_queries().items()
            if name not in theirs}


@hookimpl
def extra_css_urls(database, datasette):
    if database in databases.known(datasette):
        return [datasette.urls.static_plugins("datasette-claude", "claude.css")]
    return []


@hookimpl
def extra_body_script(database, table, request, datasette):
    """On our tables' pages: what people read first comes first, the descriptions out of the way.
    On our canned queries' pages: the chart drawn on the server from the same parameters (above
    the results), date pickers for days, choices for enumerations and a hint for every parameter."""
    if request is None or database not in databases.known(datasette):
        return None
    if table:
        order = (resources.metadata().get("tables", {}).get(table) or {}).get("column_order")
        if not order or not request.path.rstrip("/").endswith("/" + table):  # its table page, not a row's
            return None
        return resources.page_script("table-page") % _json_for_script({"order": order})
    query_name = request.path.rstrip("/").rsplit("/", 1)[-1]
    query = resources.canned_queries().get(query_name)
    if not query or _users_own_query(datasette, database, query_name):
        return None
    params = query.get("params") or []

    async def inner():
        choices, blank = dict(query.get("choices") or {}), {}
        # the agents, machines and accounts this database has sessions of
        for param, column, any_ in (("agent", "source", "(any agent)"), ("machine", "host", "(any machine)"),
                                    ("account", "account", "(any account)")):
            if param in params and param not in choices:
                found = await datasette.get_database(database).execute(
                    f"select {column} from sessions where {column} is not null group by {column} "
                    "order by count(*) desc limit 500")
                choices[param], blank[param] = [""] + [r[0] for r in found.rows], any_
        widgets = {
            "chart": datasette.urls.path(f"/-/claude/chart/{database}/{query_name}.svg") if query.get("chart") else None,
            "dates": [p for p in params if p in ("start", "end")],
            "choices": choices,
            "blank": blank,
            "hints": {**{k: v for k, v in COMMON_HINTS.items() if k in params}, **(query.get("hints") or {})},
        }
        return resources.page_script("query-page") % _json_for_script(widgets)

    return inner


# What to type in the parameters many queries share (a query's own ``hints`` come first).
COMMON_HINTS = {"project": "part of a path (spotter), or a directory (/home/me/src)",
                "machine": "the machine the sessions ran on (claude-ingest --machine, else its host name)",
                "account": "the Claude Code config directory (~/.claude, or a CLAUDE_CONFIG_DIR)"}


def _json_for_script(value) -> str:
    """JSON for inside a <script>: no "<" may close it, whatever a database or table is called."""
    return json.dumps(value).replace("<", "\\u003c")


def _users_own_query(datasette, database, name) -> bool:
    """The user's own query of that name wins; ours does not dress its page."""
    try:
        theirs = datasette.metadata("queries", database=database, fallback=False) or {}
    except (TypeError, AttributeError):  # Datasette 1.0 keeps queries elsewhere; configure.py never overrides theirs
        return False
    return name in theirs


@hookimpl(trylast=True)  # the user's own render_cell plugins go first, as datasette-pretty-json does
def render_cell(row, value, column, table, database, datasette):
    if database not in databases.known(datasette):
        return None
    return cells.render(value, column, table, database, datasette, row)


@hookimpl(tryfirst=True)  # before datasette-mcp's, which reads its settings as it builds its server
def register_routes(datasette):
    if hasattr(datasette, "add_query"):  # Datasette 1.0: plugin settings live in its configuration
        configure.apply_plugin_defaults_datasette_1(datasette)
    from .pages.hook import hook_event
    from .pages.otlp import otlp_logs
    from .pages.overview import overview
    from .pages.report import report_page
    from .pages.chart import query_chart
    from .pages.job import job_page
    from .pages.session import call_fragment, session_page

    return [
        (r"^/-/claude/job/(?P<job_id>[^/]+)$", job_page),
        (r"^/-/claude/chart/(?P<database>[^/]+)/(?P<query>[^/]+)\.svg$", query_chart),
        (r"^/-/claude$", overview),
        (r"^/-/claude/report/(?P<kind>[a-z]+)(?P<json>\.json)?$", report_page),
        (r"^/-/claude/session/(?P<session_id>[^/]+)$", session_page),
        (r"^/-/claude/session/(?P<session_id>[^/]+)/call/(?P<tool_use_id>[^/]+)$", call_fragment),
        (r"^/-/claude/otlp/v1/logs$", otlp_logs),
        (r"^/-/claude/hook$", hook_event),
    ]


@hookimpl
def skip_csrf(scope):
    """The receivers take no cookies and answer only their content types (see receivers)."""
    return receivers.skips_csrf(scope)


@hookimpl
def extra_template_vars(view_name, request, datasette):
    """Datasette's home page links the overview (templates/index.html), for whom it opens."""
    if view_name != "index":
        return {}

    async def inner():
        actor = request.actor if request is not None else None
        mine = [n for n in databases.known(datasette)
                if await permissions.allowed(datasette, actor, n, execute_sql=True)]
        return {"claude_overview": {"href": datasette.urls.path("/-/claude"), "databases": mine}} if mine else {}

    return inner


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        # only for whom the overview opens: one of our databases they may see and run SQL on
        for name in databases.known(datasette):
            if await permissions.allowed(datasette, actor, name, execute_sql=True):
                return [{"href": datasette.urls.path("/-/claude"), "label": "Agent overview"}]
        return []

    return inner
