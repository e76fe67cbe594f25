"""The command line: ``claude-ingest``, a thin shell of click commands over the library.

The group is here; the commands live by what they do: :mod:`.sources` (read an input into the
database), :mod:`.setup` (install and remove hooks), :mod:`.ops` (status, prune, reprice),
:mod:`.reports` (ccusage's reports from the archive). The
options they share are in :mod:`.options`. No ingest logic lives in this package.
"""

from __future__ import annotations

import click

from .ops import export, prune, reprice, status
from .options import Commands
from .reports import report
from .setup import install_hooks, uninstall_hooks
from .sources import (backfill, codex, crush, gemini, git_commit, hook, job, jsonl, merge, opencode, opencode_event,
                      otel, statusline)


@click.group(cls=Commands)
@click.version_option(package_name="datasette-claude")
def cli():
    """Ingest what AI coding agents did into one SQLite database, for `datasette`."""


for _command in (backfill, hook, statusline, otel, job, opencode, opencode_event, codex, gemini, crush, jsonl,
                 git_commit, merge, export, install_hooks, uninstall_hooks, status, prune, reprice, report):
    cli.add_command(_command)
