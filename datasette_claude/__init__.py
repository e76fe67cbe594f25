"""Datasette plugin for databases written by claude-ingest: hook implementations only."""

from datasette import hookimpl

from . import resources


@hookimpl
def canned_queries(datasette, database):
    async def inner():
        db = datasette.databases.get(database)
        if db is None or not resources.is_claude_database(await db.table_names()):
            return {}
        return {name: {k: v for k, v in q.items() if k != "chart"} for name, q in resources.canned_queries().items()}

    return inner
