"""The operations commands: ``status``, ``prune``, ``reprice`` and ``export``. They parse options, call
:mod:`ingest.ops` and print what it returns (``--json``: as it returns it). A problem with what was
asked for is an ``OpsError``: one line, exit 2 (:class:`.options.Commands`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import db_option, git_option, json_option, settings_option


@click.command()
@db_option
@json_option
@git_option("check")
@settings_option("check")
def status(db_path, as_json, git_repo, settings_file):
    """Show the database and how ingest is doing: size, rows per table, the newest event of each
    source, hooks installed, spooled events waiting, models without a price, the last ingest runs.

    Reads only; a database that does not exist is an error (exit 2), not created.

    \b
    Examples:
        claude-ingest status
        claude-ingest status --git . --json | jq .spool
    """
    from .. import ops

    result = ops.status(db_path, git_repo=git_repo, settings=settings_file)
    click.echo(json.dumps(result, indent=2) if as_json else ops.status_text(result))


@click.command()
@db_option
@click.option("--before", metavar="YYYY-MM-DD", help="Delete detail rows of the days before this one (UTC).")
@click.option("--keep-days", type=int, metavar="N", help="Delete detail rows older than N days before today (UTC).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted, per table; change nothing.")
@json_option
def prune(db_path, before, keep_days, dry_run, as_json):
    """Delete old detail rows (API requests, messages, tool calls, file events, prompts, errors, hook
    events, permission decisions, compactions, ingest skips) and keep the daily rollups, so per-day
    tokens, cost, tool and file counts of pruned days stay. One transaction, then VACUUM.

    Sessions, subagents, jobs, commits and the record of files already read are kept: the next
    backfill does not read pruned transcripts again.

    \b
    Examples:
        claude-ingest prune --keep-days 90 --dry-run
        claude-ingest prune --before 2026-01-01
    """
    from .. import ops

    day = ops.before_day(before, keep_days)
    result = ops.prune(db_path, day, dry_run=dry_run)
    click.echo(json.dumps(result, indent=2) if as_json else ops.prune_text(result))


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--since", metavar="YYYY-MM-DD", help="The sessions active or changed since this day (UTC); "
              "default: those changed since the last export (everything, the first time).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
def export(out, db_path, since, quiet):
    """Write what changed into OUT, a new small archive that `claude-ingest merge` reads: the
    sessions changed since --since (or since the last export), whole, with everything keyed to them.

    A machine ships its day this way instead of its whole database. Reads the database in one
    snapshot (hooks may go on writing); records the export, so the next one starts where it ended.

    \b
    Examples:
        claude-ingest export --since 2026-12-01 today.db
        claude-ingest export day.db && scp day.db team:inbox/ && ssh team claude-ingest merge inbox/day.db --db team.db
    """
    from .. import ops
    from ..load.merge import export as run_export
    from ..reports import parse_day
    from .sources import _progress

    if not Path(db_path).expanduser().is_file():
        raise ops.OpsError(f"no database at {db_path}")
    day = parse_day(since, "--since").isoformat() if since else None
    summary = run_export(db_path, out, since=day, progress=_progress(quiet, "Exporting"))
    if not quiet:
        click.echo(f"export {db_path}: {summary.line()}")


@click.command()
@db_option
@click.option("--prices", "prices_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A price table shaped like the shipped ingest/data/prices.json (default: that one).")
@json_option
def reprice(db_path, prices_file, as_json):
    """Recompute the cost of every API request from the price table, for when prices change or a new
    model appears; then the per-day usage rollup. A model with no price gets no cost (NULL, listed as
    unpriced), never $0. One transaction.

    \b
    Examples:
        claude-ingest reprice
        claude-ingest reprice --prices my-prices.json
    """
    from .. import ops

    result = ops.reprice(db_path, prices_file)
    click.echo(json.dumps(result, indent=2) if as_json else ops.reprice_text(result))
