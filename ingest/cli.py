"""The command line: parses options and calls the library. No ingest logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .incremental import Backfill, claude_projects_dirs, discover
from .paths import DB_ENV, default_db_path, samples_dir
from .store import connect


def db_option(command):
    """``--db PATH`` on every command; ``$CLAUDE_INGEST_DB`` sets it too."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=DB_ENV,
        default=default_db_path,
        show_default="~/.claude/claude.db",
        help=f"SQLite database to write (env {DB_ENV}).",
    )(command)


@click.group()
@click.version_option(package_name="datasette-claude")
def cli():
    """Ingest what AI coding agents did into one SQLite database, for `datasette`."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
def backfill(paths, db_path, quiet):
    """Read Claude Code transcripts into the database, incrementally.

    PATHS are projects directories, project directories or single .jsonl files; the default is
    $CLAUDE_CONFIG_DIR/projects, else ~/.claude/projects. Files unchanged since the last run are not
    opened, grown files are read from where the last run stopped.

    \b
    Example:
        claude-ingest backfill
        claude-ingest backfill ~/.claude/projects/-Users-me-myproject --db team.db
    """
    paths = list(paths)
    if not paths:
        paths = [p for p in claude_projects_dirs() if p.is_dir()]
        if not paths:
            where = ", ".join(str(p) for p in claude_projects_dirs())
            click.echo(
                f"No Claude Code history at {where}: ingesting the sample transcripts that ship "
                f"with datasette-claude ({samples_dir()}) so there is something real to explore.",
                err=True,
            )
            paths = [samples_dir()]
    conn = connect(db_path)
    try:
        run = Backfill(conn)
        todo = run.pending(discover(paths))
        total = sum(st.st_size for _, st in todo if st is not None)
        if total and not quiet and sys.stderr.isatty():
            with click.progressbar(length=total, label="Reading transcripts", file=sys.stderr) as bar:
                run.progress = bar.update
                summary = run.run_pending(todo)
        else:
            summary = run.run_pending(todo)
    finally:
        conn.close()
    if not quiet:
        click.echo(f"backfill {db_path}: {summary.line()}")


def main():
    cli(prog_name="claude-ingest")
