"""Another archive's rows as records of this schema: a claude-ingest database from another machine,
written by an older (or newer) version, or an ``export``. Pure: the source's columns and rows in,
``(table, row)`` records out, for the one store to upsert with its merge rules, so two machines'
rows converge exactly as a hook's and a transcript's do.

What is taken: every table of what happened (sessions and all that is keyed to them, hook and OTel
events, statusline snapshots, jobs, commits), with the columns this schema knows, and the rollup
rows of the days the source pruned (their detail is gone: the rollups are all that is left of them).
What is not: the source's record of its own reading and writing (``ingest_files``, ``ingest_runs``,
``ingest_skips``, ``prunes``, ``migrations``, ``merge_sources``, ``exports``, ``archive``) and the
columns that number its own commits (``schema.LOCAL``): another machine's paths and counters mean
nothing here.
"""

from __future__ import annotations

from .. import schema

# In this order: sessions first, so that a session's own row is written before what is keyed to it.
MERGED = ("sessions", "subagents", "api_requests", "messages", "tool_calls", "file_events", "compactions",
          "prompts", "errors", "permission_decisions", "hook_events", "statusline_snapshots", "otel_events",
          "jobs", "commits")
ROLLUPS = tuple(schema.ROLLUPS)


def columns_to_read(table: str, source_columns) -> tuple[str, ...] | None:
    """The columns of the source's ``table`` to copy (in the source's order): those this schema
    knows, less this database's own bookkeeping; None when the source's table lacks its key."""
    target = schema.TABLES[table]
    local = schema.LOCAL.get(table, ())
    columns = tuple(c for c in source_columns if c in target.columns and c not in local)
    return columns if set(target.pk) <= set(columns) else None


def unknown_columns(table: str, source_columns) -> list[str]:
    """Columns a newer claude-ingest wrote that this one does not know (and so leaves out)."""
    return [c for c in source_columns if c not in schema.TABLES[table].columns]


def record(table: str, columns: tuple[str, ...], values, seen_at: dict | None = None) -> tuple[str, dict]:
    """One source row as a record. A session from an archive older than ``sessions.seen_at`` is given
    the time its own machine first recorded it (``seen_at``: migrations.SEEN_AT_SQL run on the source), or
    None: never the merging machine's now, which would make it the session's origin."""
    row = dict(zip(columns, values))
    if table == "sessions" and "seen_at" not in row:
        row["seen_at"] = (seen_at or {}).get(row["id"])
    return table, row
