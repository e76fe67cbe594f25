"""Our metadata, table settings and canned queries, given to Datasette the way each version takes
them: 0.65 through its ``get_metadata`` and ``canned_queries`` hooks (see ``__init__``), 1.0
(which has neither) through its metadata and stored-query APIs and its configuration, at startup.
Either way the user's own metadata, configuration and queries win."""

from __future__ import annotations

import importlib.util
from functools import lru_cache

from . import databases, resources

QUERY_SOURCE = "datasette-claude"
# datasette-mcp (the [mcp] extra) serves our canned queries as MCP tools too, unless the user's own
# settings for it say otherwise.
DATASETTE_MCP = "datasette-mcp"
DATASETTE_MCP_DEFAULTS = {"canned_queries": True}


def database_metadata() -> dict:
    meta = resources.metadata()
    return {k: v for k, v in meta.items() if k != "queries"}


async def apply_to_datasette_1(datasette, names) -> None:
    meta = database_metadata()
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
    datasette.config = merge(config, datasette.config or {})


def merge(ours: dict, theirs: dict) -> dict:
    """``theirs`` laid over ``ours``: every key the user set wins."""
    out = dict(ours)
    for key, value in theirs.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@lru_cache(maxsize=1)
def datasette_mcp_installed() -> bool:
    return importlib.util.find_spec("datasette_mcp") is not None


def plugin_defaults(datasette) -> dict:
    """Our defaults for other plugins' settings (``{"datasette-mcp": {...}}``), for an instance that
    serves one of our databases; the user's own settings are laid over them."""
    if not datasette_mcp_installed() or not databases.serves_ours_now(datasette):
        return {}
    return {DATASETTE_MCP: dict(DATASETTE_MCP_DEFAULTS)}


def apply_plugin_defaults_datasette_1(datasette) -> None:
    """Datasette 1.0 reads plugin settings from its configuration alone: ours go under the user's.
    Called from register_routes (first of the plugins'), since datasette-mcp reads its settings
    when it builds its server, as Datasette builds its app: before startup when the app is made
    for the in-process client."""
    defaults = plugin_defaults(datasette)
    if defaults:
        datasette.config = merge({"plugins": defaults}, datasette.config or {})
