"""claude-ingest: Claude Code (and other agents') history into one SQLite database.

The library is the product and the CLI a thin shell over it::

    from ingest import backfill
    summary = backfill("claude.db")          # every transcript under ~/.claude/projects
    print(summary.line())

Nothing here imports click, sqlite-utils or datasette at import time: the hook path stays light.
"""

from .incremental import backfill, discover
from .paths import default_db_path

__all__ = ["backfill", "discover", "default_db_path"]
