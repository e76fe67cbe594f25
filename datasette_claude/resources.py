"""Where the plugin's shipped files are: inside the package when installed from a wheel (the build
maps the top-level ``metadata.yml`` and ``canned_queries/`` there), at the top of a checkout otherwise."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ingest import schema

PACKAGE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    packaged = PACKAGE / name
    return packaged if packaged.exists() else PACKAGE.parent / name


@lru_cache(maxsize=1)
def metadata() -> dict:
    return yaml.safe_load(resource("metadata.yml").read_text()) or {}


@lru_cache(maxsize=1)
def canned_queries() -> dict[str, dict]:
    """``canned_queries/<name>.sql`` files: a YAML header in ``--`` comments, then the SQL.

    The file name is the query's name and so its URL; the header holds title, description,
    hide_sql and the datasette-vega chart settings.
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
        queries[path.stem] = query
    return queries


# A database is ours when it has the core tables of the schema, whatever its file is called.
CORE_TABLES = {"sessions", "api_requests", "tool_calls", "messages"}
assert CORE_TABLES <= set(schema.TABLES)


def is_claude_database(table_names) -> bool:
    return CORE_TABLES <= set(table_names)
