"""``claude-ingest report daily|weekly|monthly|session|blocks``: ccusage's reports from the archive,
sessions Claude Code has already deleted included. Options parse here; :mod:`ingest.reports` does the
work; ``--json`` prints ccusage's own JSON shape."""

from __future__ import annotations

import json

import click

from .options import db_option, json_option

ORDER = click.Choice(["asc", "desc"])


def report_options(command):
    """The options every report takes (ccusage's names and short flags)."""
    from ..reports import AGENTS

    for decorator in reversed((
        db_option,
        click.option("--since", "-s", metavar="YYYYMMDD", help="From this day (in --timezone), inclusive; "
                     "YYYY-MM-DD works too."),
        click.option("--until", "-u", metavar="YYYYMMDD", help="Up to this day (in --timezone), inclusive."),
        click.option("--timezone", "-z", metavar="ZONE", help="Count days in this IANA time zone (UTC, "
                     "Europe/Paris, America/New_York, ...); default: the system's, as ccusage does."),
        click.option("--project", "-p", metavar="TEXT", help="Only sessions whose directory contains TEXT, or "
                     "whose transcripts are in the Claude Code project directory TEXT (-Users-me-app)."),
        click.option("--agent", type=click.Choice(sorted(AGENTS)), help="Only this agent's sessions."),
        click.option("--machine", metavar="NAME", help="Only the sessions of this machine (sessions.host)."),
        click.option("--account", metavar="DIR", help="Only the sessions of this Claude Code config directory "
                     "(~/.claude, ~/.claude-work: sessions.account)."),
        click.option("--breakdown", "-b", is_flag=True, help="A row per model under each row."),
        click.option("--order", "-o", type=ORDER, help="Oldest first (asc, the default) or newest first; "
                     "sessions: the most costly first unless asc."),
        json_option,
    )):
        command = decorator(command)
    return command


def _run(kind: str, db_path, as_json: bool, breakdown: bool, **options) -> None:
    from .. import reports

    result = reports.report(kind, db_path, **options)
    if as_json:
        click.echo(json.dumps(reports.ccusage_json(result), indent=2))
    else:
        click.echo(reports.report_text(result, breakdown=breakdown))


@click.group()
def report():
    """Usage reports as ccusage makes them (daily, weekly, monthly, session, 5-hour blocks), from
    the database: sessions whose transcripts Claude Code deleted, and days pruned, still count.

    Terminal tables with a totals row; --json prints ccusage's own JSON (the same field names), so
    a script written for `ccusage --json` keeps working.

    \b
    Examples:
        claude-ingest report daily --since 20260201 --timezone Europe/Paris
        claude-ingest report session --project spotter --json | jq '.sessions[0]'
        claude-ingest report blocks --active
    """


@report.command()
@report_options
def daily(db_path, as_json, breakdown, **options):
    """Tokens and cost per day (in --timezone)."""
    _run("daily", db_path, as_json, breakdown, **options)


@report.command()
@report_options
@click.option("--start-of-week", "-w", type=click.Choice(
    ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]), default="sunday",
    show_default=True, help="The day a week starts on.")
def weekly(db_path, as_json, breakdown, **options):
    """Tokens and cost per week (its first day, in --timezone)."""
    _run("weekly", db_path, as_json, breakdown, **options)


@report.command()
@report_options
def monthly(db_path, as_json, breakdown, **options):
    """Tokens and cost per calendar month (in --timezone)."""
    _run("monthly", db_path, as_json, breakdown, **options)


@report.command()
@report_options
def session(db_path, as_json, breakdown, **options):
    """Tokens and cost per session, the most costly first; --since and --until pick sessions by the
    day of their last request."""
    _run("session", db_path, as_json, breakdown, **options)


@report.command()
@report_options
@click.option("--active", "-a", is_flag=True, help="Only the active block, with its burn rate and projection.")
@click.option("--recent", "-r", is_flag=True, help="Only the blocks of the last 3 days (and the active one).")
def blocks(db_path, as_json, breakdown, **options):
    """5-hour billing blocks as ccusage cuts them (from the hour of a block's first request, five
    hours), the gaps between them, and the active block's burn rate and projection."""
    _run("blocks", db_path, as_json, breakdown, **options)
