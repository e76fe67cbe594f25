"""The commands for the other sources: ``job``, ``opencode``, ``opencode-event`` and ``jsonl``.

Registered on the ``claude-ingest`` group at the end of :mod:`ingest.cli`; like it, they only parse
options and call the library.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import db_option, redaction_option


@click.command()
@click.argument("file", required=False, default="-",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@click.option("--job-id", help="The job's id (default: the run's session id).")
@click.option("--prompt", help="The prompt the run was given, in full (default: the one in the stream, if any).")
@click.option("--reuse-of", "reuse_of", metavar="JOB_ID", help="This run reused the prompt of that job.")
@redaction_option
def job(file, db_path, job_id, prompt, reuse_of):
    """Record a headless `claude -p` run from its output (FILE, or stdin).

    Reads `--output-format json` (one result object, or the array `--verbose` prints) and
    `--output-format stream-json --verbose` (one message per line). From a stream it records the
    session, its API usage, tool calls with their results and subagents, as its transcript would;
    every run gets a `jobs` row. Re-recording the same output changes nothing.

    \b
    Examples:
        claude -p "fix the flaky test" --output-format stream-json --verbose \\
          | claude-ingest job --prompt "fix the flaky test"
        claude-ingest job nightly-run.json --job-id nightly-2026-08-01
    """
    from ..load.jobs import ingest_job, ingest_job_file

    kwargs = {"job_id": job_id, "prompt": prompt, "reuse_of": reuse_of}
    try:
        if str(file) == "-":
            if sys.stdin.isatty():
                raise click.UsageError("pipe the output of `claude -p ... --output-format json|stream-json` in, "
                                       "or name a FILE")
            summary = ingest_job(db_path, sys.stdin.read(), **kwargs)
        else:
            summary = ingest_job_file(db_path, file, **kwargs)
    except ValueError as e:
        raise click.ClickException(str(e))
    click.echo(summary.line())


@click.command()
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@db_option
@click.option("--force", is_flag=True, help="Read every store again, even the ones unchanged since the last run.")
@redaction_option
def opencode(path, db_path, force):
    """Read OpenCode sessions into the database.

    PATH is OpenCode's data directory (default: $OPENCODE_DATA_DIR, else ~/.local/share/opencode)
    or one opencode.db. Reads opencode.db (read-only, safe while OpenCode runs), the JSON files
    under storage/ that older versions wrote, and the first versions' per-project stores; a
    session in both is read once. Stores unchanged since the last run are not read again.

    \b
    Examples:
        claude-ingest opencode
        claude-ingest opencode ~/backup/opencode --db team.db
    """
    from ..load.opencode import default_data_dir, ingest_opencode

    if path is None and not default_data_dir().exists():
        click.echo(f"opencode {db_path}: no OpenCode data at {default_data_dir()}; nothing to read")
        return
    summary = ingest_opencode(db_path, path, force=force)
    click.echo(f"opencode {db_path}: {summary.line()}")


@click.command("opencode-event", context_settings={"ignore_unknown_options": True})
@db_option
def opencode_event(db_path):
    """Store one OpenCode plugin event read on stdin (called by the plugin install-hooks --opencode puts in place).

    Always exits 0 and prints nothing; if the database is busy or unwritable the event is spooled
    beside it and replayed by the next run. CLAUDE_INGEST_DEBUG=1 shows failures on stderr.

    \b
    Example:
        echo '{"type": "session.idle", "properties": {"sessionID": "ses_…"}}' | claude-ingest opencode-event
    """
    from ..load.opencode import event_main

    sys.exit(event_main(["--db", str(db_path)]))


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", "table_name", required=True, help="Table to import into (created as needed).")
@click.option("--pk", help="Column that identifies a record (default: a hash of the line).")
@db_option
@redaction_option
def jsonl(file, table_name, pk, db_path):
    """Import a JSONL log into its own table, idempotently.

    Columns come from the keys (nested values as JSON text), types from the values; epoch seconds,
    epoch milliseconds and ISO times are stored as ISO 8601 UTC. Records are keyed by --pk or by a
    hash of the line, so importing the same growing file again only adds what is new; a file
    unchanged since the last import is not read. Bad lines are counted and reported, never fatal.

    \b
    Examples:
        claude-ingest jsonl ~/.claude/logs/routing-metrics.jsonl --table routing_metrics
        claude-ingest jsonl outcomes.jsonl --table session_outcomes --pk session_id
    """
    from ..load.jsonl import TableNameError, import_jsonl

    try:
        summary = import_jsonl(db_path, file, table_name, pk=pk)
    except TableNameError as e:
        raise click.BadParameter(str(e), param_hint="--table")
    click.echo(f"jsonl {db_path}: {summary.line()}")
