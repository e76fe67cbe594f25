"""claude-ingest: Claude Code (and other agents') history into one SQLite database.

The library is the product and the CLI a thin shell over it::

    from ingest import backfill
    summary = backfill("claude.db")          # every transcript under ~/.claude/projects
    print(summary.line())

Names are imported on first use, so that the hook path (``ingest.load.hooks``) loads nothing it does not
need: no click, no sqlite-utils, no datasette, and none of the other sources' parsers.
"""

__all__ = ["backfill", "discover", "default_db_path", "ingest_codex", "ingest_gemini", "ingest_crush"]

# the other agents' loaders, by the name a caller imports
_AGENTS = {"ingest_codex": "codex", "ingest_gemini": "gemini", "ingest_crush": "crush"}


def __getattr__(name):
    if name in _AGENTS:
        import importlib

        return getattr(importlib.import_module(f".load.{_AGENTS[name]}", __name__), name)
    if name in ("backfill", "discover"):
        from .load import transcripts as incremental

        return getattr(incremental, name)
    if name == "default_db_path":
        from .paths import default_db_path

        return default_db_path
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
