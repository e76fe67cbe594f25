"""The plugin's shipped files, and what they say: metadata, canned queries, chart settings.

Installed from a wheel, ``metadata.yml`` and ``canned_queries/`` sit inside this package (the build
maps the top-level files there); in a checkout they are read from the top of the repository.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ingest import schema

PACKAGE = Path(__file__).resolve().parent

# Table settings that Datasette 1.0 reads from configuration rather than metadata.
CONFIG_KEYS = ("sort", "sort_desc", "facets", "label_column", "units", "sortable_columns", "size",
               "fts_table", "fts_pk", "searchmode", "hidden")
# What a canned query's ``chart:`` header may say (charts.for_query draws it).
CHART_KEYS = frozenset({"type", "x", "y", "label", "series", "unit", "paths", "note", "by_param", "day", "empty"})
CHART_TYPES = ("columns", "bars", "lines")

# A database is ours when it has the core tables of the schema, whatever its file is called.
CORE_TABLES = frozenset({"sessions", "api_requests", "tool_calls", "messages"})
assert CORE_TABLES <= set(schema.TABLES)


def resource(name: str) -> Path:
    packaged = PACKAGE / name
    return packaged if packaged.exists() else PACKAGE.parent / name


def is_claude_database(table_names) -> bool:
    return CORE_TABLES <= set(table_names)


@lru_cache(maxsize=1)
def metadata() -> dict:
    return yaml.safe_load(resource("metadata.yml").read_text()) or {}


@lru_cache(maxsize=1)
def canned_queries() -> dict[str, dict]:
    """``canned_queries/<name>.sql``: a YAML header in ``--`` comments, then the SQL.

    The file name is the query's name and so its URL. The header holds title, description, params,
    the chart the plugin draws above the results (``charts.for_query``), and for the parameters
    ``choices`` (an enumeration's values) and ``hints`` (what to type, shown in the box).
    """
    queries = {}
    for path in sorted(resource("canned_queries").glob("*.sql")):
        header, sql = [], []
        for line in path.read_text().splitlines():
            if not sql and line.startswith("--"):
                header.append(line[3:] if line.startswith("-- ") else line[2:])
            else:
                sql.append(line)
        query = yaml.safe_load("\n".join(header)) or {}
        query["sql"] = "\n".join(sql).strip()
        chart = query.get("chart")
        if chart is not None and (set(chart) - CHART_KEYS or chart.get("type", "bars") not in CHART_TYPES):
            raise ValueError(f"{path.name}: chart header takes {sorted(CHART_KEYS)}, type one of {CHART_TYPES}")
        queries[path.stem] = query
    return queries


def datasette_query(query: dict) -> dict:
    """A canned query as Datasette's configuration spells it."""
    out = {k: query[k] for k in ("sql", "title", "description", "fragment", "hide_sql") if query.get(k)}
    if query.get("params"):
        out["params"] = list(query["params"])
    return out


@lru_cache(maxsize=8)
def page_queries(page: str) -> dict[str, str]:
    """``datasette_claude/sql/<page>.sql``: the queries of one of the plugin's pages, each after a
    ``-- name: <name>`` line (SQL lives in .sql files, not in strings across the Python)."""
    queries: dict[str, list[str]] = {}
    current = None
    for line in (PACKAGE / "sql" / f"{page}.sql").read_text().splitlines():
        if line.startswith("-- name:"):
            current = line.split(":", 1)[1].strip()
            queries[current] = []
        elif current is not None and not line.startswith("--"):
            queries[current].append(line)
    return {name: "\n".join(lines).strip() for name, lines in queries.items()}


@lru_cache(maxsize=4)
def page_script(name: str) -> str:
    """``static/<name>.js``, a script that dresses one kind of Datasette page (``%s``: its settings,
    as JSON)."""
    return (PACKAGE / "static" / f"{name}.js").read_text()
