"""The commands that read an input into the database: ``backfill`` (transcripts), ``hook`` (one hook
payload), ``statusline`` (Claude Code's statusLine payload), ``otel`` (OpenTelemetry logs), ``job``
(a headless run), ``opencode`` and ``opencode-event``, ``codex``, ``gemini``, ``crush`` (the Go
OpenCode and Crush stores), ``jsonl`` (a legacy log), ``git-commit`` and ``merge`` (other archives). Each parses its options and
calls the library."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..paths import claude_projects_dirs, existing_projects_dirs, samples_dir
from .options import InputError, db_option, jobs_option, machine_option, redaction_option


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@machine_option
@redaction_option
@jobs_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")
def backfill(paths, db_path, quiet, jobs):
    """Read Claude Code transcripts into the database, incrementally.

    PATHS are projects directories, project directories or single .jsonl files; the default is
    $CLAUDE_CONFIG_DIR/projects, else ~/.claude/projects. The prompt history beside a projects
    directory (history.jsonl) is read too: prompts whose transcript is gone stay searchable. Files
    unchanged since the last run are not opened, grown files are read from where the last run stopped.

    \b
    Example:
        claude-ingest backfill
        claude-ingest backfill ~/.claude/projects/-Users-me-myproject --db team.db
    """
    from ..load.transcripts import backfill as run_backfill

    paths = list(paths) or _default_sources(db_path)
    summary = run_backfill(db_path, paths, progress=_progress(quiet, "Reading transcripts"), jobs=jobs)
    if not quiet:
        click.echo(f"backfill {db_path}: {summary.line()}")


def _progress(quiet: bool, label: str):
    """A click progress bar on a terminal (the library calls it with the bytes there are to read)."""
    show_bar = not quiet and sys.stderr.isatty()

    def progress(total):
        if not (show_bar and total):
            return contextlib.nullcontext()
        return click.progressbar(length=total, label=label, file=sys.stderr)

    return progress


def _read_agent(name: str, label: str, what: str, paths, db_path, quiet, ingest, default, jobs=None) -> None:
    """The shared body of ``codex`` and ``gemini``: PATHS (default: the agent's home) read incrementally."""
    paths = list(paths) or [default()]
    if not any(Path(p).exists() for p in paths):
        click.echo(f"{name} {db_path}: no {what} at {paths[0]}; nothing to read")
        return
    summary = ingest(db_path, paths, progress=_progress(quiet, label), jobs=jobs)
    if not quiet:
        click.echo(f"{name} {db_path}: {summary.line()}")


_QUIET = click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@machine_option
@redaction_option
@jobs_option
@_QUIET
def codex(paths, db_path, quiet, jobs):
    """Read Codex CLI sessions (rollouts) into the database, incrementally.

    PATHS are Codex homes, directories of rollouts or single rollout-*.jsonl files; the default is
    $CODEX_HOME, else ~/.codex (its sessions/ and archived_sessions/). Sessions have source 'codex';
    each model response is one API request (token_count's last_token_usage, counted once).

    \b
    Examples:
        claude-ingest codex
        claude-ingest codex ~/.codex/archived_sessions --db team.db
    """
    from ..load.codex import default_home, ingest_codex

    _read_agent("codex", "Reading Codex rollouts", "Codex CLI sessions", paths, db_path, quiet, ingest_codex,
                default_home, jobs)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@machine_option
@redaction_option
@jobs_option
@_QUIET
def gemini(paths, db_path, quiet, jobs):
    """Read Gemini CLI sessions and prompt logs into the database, incrementally.

    PATHS are Gemini homes (~/.gemini), their tmp/ directory, one project's folder or single files;
    the default is $GEMINI_DATA_DIR, else ~/.gemini/tmp. Reads chats/session-*.json (older),
    chats/session-*.jsonl (newer) and logs.json. Sessions have source 'gemini'.

    \b
    Examples:
        claude-ingest gemini
        claude-ingest gemini ~/.gemini --db team.db
    """
    from ..load.gemini import default_dir, ingest_gemini

    _read_agent("gemini", "Reading Gemini sessions", "Gemini CLI sessions", paths, db_path, quiet, ingest_gemini,
                default_dir, jobs)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@machine_option
@click.option("--force", is_flag=True, help="Read every store again, even the ones unchanged since the last run.")
@redaction_option
def crush(paths, db_path, force):
    """Read Charm Crush's and the Go OpenCode's per-project stores into the database.

    PATHS are project directories (holding .crush/crush.db or .opencode/opencode.db) or store files;
    the default is the current directory and the projects in Crush's projects.json. Sessions have
    source 'crush' or 'opencode-go'; child sessions (the agent tool's) are subagents. These stores
    keep each session's cost, not per-request token counts: the cost goes to sessions.reported_cost_usd.

    \b
    Examples:
        claude-ingest crush
        claude-ingest crush ~/src/myapp ~/src/other/.opencode/opencode.db
    """
    from ..load.crush import ingest_crush

    summary = ingest_crush(db_path, list(paths) or None, force=force)
    click.echo(f"crush {db_path}: {summary.line()}")


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@redaction_option
@_QUIET
def merge(sources, db_path, quiet):
    """Bring other claude-ingest archives into this one: another machine's database, one an older
    version wrote, or what `claude-ingest export` wrote.

    Rows go through the same merge rules as every other source, so the same session seen on two
    machines is one set of rows, every row keeps the machine it came from, and merging again (or in
    another order) changes nothing. A source merged before is read from where that merge stopped
    (it is known by its identity, so a copy of the file is the same source). Each source is merged
    whole or not at all; a source that is missing, locked, corrupt or not an archive is an error
    (exit 2) before anything is written.

    \b
    Examples:
        claude-ingest merge laptop.db desktop.db --db team.db
        scp devbox:.claude/claude.db devbox.db && claude-ingest merge devbox.db
    """
    from ..load.merge import merge as run_merge

    summary = run_merge(db_path, sources, progress=_progress(quiet, "Merging"))
    if not quiet:
        click.echo(f"merge {db_path}: {summary.line()}")


def _has_transcripts(directory: Path) -> bool:
    """Whether a projects directory holds at least one transcript (stops at the first found)."""
    return next(directory.rglob("*.jsonl"), None) is not None


def _holds_sessions(db_path: Path) -> bool:
    """Whether the database already has something in it (then the samples are not mixed in)."""
    import sqlite3

    if not Path(db_path).is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
            return conn.execute("select exists(select 1 from sessions)").fetchone()[0] == 1
    except sqlite3.Error:  # not ours, or no sessions table yet: backfill itself reports a bad file
        return False


def _default_sources(db_path: Path) -> list[Path]:
    """Claude Code's projects directories; on a first run where they hold no transcript (missing,
    or the empty directory a fresh install makes), the real sample transcripts shipped with the
    package, so the dashboard has something true to show. Never mixed into a database with data."""
    where = ", ".join(str(p) for p in claude_projects_dirs())
    found = [p for p in existing_projects_dirs() if _has_transcripts(p)]
    if found:
        return found
    absent = "No Claude Code history" if not existing_projects_dirs() else "No transcripts found"
    if _holds_sessions(db_path):
        click.echo(f"{absent} at {where}: nothing to read; {db_path} is unchanged.", err=True)
        return []
    click.echo(
        f"{absent} at {where}: ingesting the sample transcripts that ship with datasette-claude "
        f"({samples_dir()}) so there is something real to explore. Run `claude-ingest backfill` "
        "again once Claude Code has written transcripts: they are added beside the samples.",
        err=True,
    )
    return [samples_dir()]


@click.command(context_settings={"ignore_unknown_options": True})
@db_option
@machine_option
def hook(db_path):
    """Store one Claude Code hook payload read on stdin (called by the hooks themselves).

    Always exits 0 and prints nothing; if the database is busy or unwritable the payload is spooled
    (privately, redacted) and replayed by the next run. CLAUDE_INGEST_DEBUG=1 shows failures on stderr.

    \b
    Example (what install-hooks writes into settings.json):
        echo '{"session_id": "…", "hook_event_name": "Stop"}' | claude-ingest hook
    """
    # The console script runs the hook before click is imported (ingest.entry); this body runs when
    # the group is called as a library (click's CliRunner, another program embedding it).
    from ..load.hooks import main as hook_main

    sys.exit(hook_main(["--db", str(db_path)]))


@click.command()
@click.argument("file", required=False, default="-",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@machine_option
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
    if str(file) == "-" and sys.stdin.isatty():
        raise click.UsageError("pipe the output of `claude -p ... --output-format json|stream-json` in, "
                               "or name a FILE")
    try:
        if str(file) == "-":
            summary = ingest_job(db_path, sys.stdin.read(), **kwargs)
        else:
            summary = ingest_job_file(db_path, file, **kwargs)
    except ValueError as e:  # output that is not a run's (ingest.load.jobs.NoJobOutput), or a field out of shape
        raise InputError(str(e)) from None
    click.echo(summary.line())


@click.command()
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@db_option
@machine_option
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


@click.command(context_settings={"ignore_unknown_options": True})
@db_option
@machine_option
@click.option("--chain", metavar="COMMAND", help="Your own statusLine command: run it on the same payload and "
              "show what it prints (install-hooks --statusline keeps one it finds this way).")
@click.option("--show-ours", is_flag=True, help="With --chain: our line after theirs.")
def statusline(db_path, chain, show_ours):
    """Claude Code's statusLine command: record the payload on stdin, print one line.

    The line: today's spend, this session's cost (Claude Code's own figure), the 5-hour and 7-day
    limits used (Claude.ai plans) and the context left. Each payload is kept in
    statusline_snapshots (at most one row per session per 5 seconds). Always exits 0 and prints
    nothing else; a busy database spools the snapshot, as hooks do.

    \b
    Example (what install-hooks --statusline writes into settings.json):
        "statusLine": {"type": "command", "command": "claude-ingest statusline"}
    """
    # As for `hook`: the console script dispatches before click; this body is the library's way in.
    from ..load.statusline import main as statusline_main

    args = ["--db", str(db_path)] + (["--chain", chain] if chain else []) + (["--show-ours"] if show_ours else [])
    sys.exit(statusline_main(args))


@click.command()
@click.argument("file", required=False, default="-",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@machine_option
@redaction_option
def otel(file, db_path):
    """Read Claude Code's OpenTelemetry log events (OTLP/JSON) from FILE, or stdin.

    FILE is what the OpenTelemetry Collector's file exporter writes (one export request a line; its
    metrics and traces lines are passed over) or one ExportLogsServiceRequest body. Read
    incrementally: an unchanged file is not opened, a grown one is read from where the last run
    stopped. Each event is one otel_events row, keyed by what it says: reading the same events again
    changes nothing. api_request events are Claude Code's own cost per API call (see the
    reconciliation query). A running `datasette claude.db` receives them directly at
    /-/claude/otlp/v1/logs.

    \b
    Examples:
        claude-ingest otel ~/otel/claude-code-logs.jsonl
        cat export.json | claude-ingest otel -
    """
    from ..load.otel import ingest_otel

    if str(file) == "-":
        if sys.stdin.isatty():
            raise click.UsageError("pipe OTLP/JSON in, or name a FILE")
        summary = ingest_otel(db_path, text=sys.stdin.buffer.read())
    else:
        summary = ingest_otel(db_path, file)
    click.echo(f"otel {db_path}: {summary.line()}")


@click.command("opencode-event", context_settings={"ignore_unknown_options": True})
@db_option
@machine_option
def opencode_event(db_path):
    """Store one OpenCode plugin event read on stdin (called by the plugin install-hooks --opencode puts in place).

    Always exits 0 and prints nothing; if the database is busy or unwritable the event is spooled
    (privately, redacted) and replayed by the next run. CLAUDE_INGEST_DEBUG=1 shows failures on stderr.

    \b
    Example:
        echo '{"type": "session.idle", "properties": {"sessionID": "ses_…"}}' | claude-ingest opencode-event
    """
    # As for `hook`: the console script dispatches before click; this body is the library's way in.
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


@click.command("git-commit")
@db_option
@machine_option
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".",
              help="Repository (default: the current directory).")
@click.option("--rev", default="HEAD", show_default=True, help="Commit to record.")
def git_commit(db_path, repo, rev):
    """Record a commit: sha, repository, branch, author, message, files, and the active session.

    For a git post-commit hook (`install-hooks --git` installs it). Exits 0 even when it cannot
    record, so that it never gets in the way of a commit; the reason goes to stderr.

    \b
    Example:
        claude-ingest git-commit --repo ~/src/myproject
    """
    from ..load.git import record_commit

    try:
        row = record_commit(db_path, repo.resolve(), rev)
    except Exception as e:  # noqa: BLE001 - a post-commit hook must not fail
        click.echo(f"claude-ingest git-commit: not recorded: {e}", err=True)
        return
    session = f" (session {row['session_id']})" if row.get("session_id") else ""
    click.echo(f"recorded {row['sha'][:12]} in {row['repository']}{session}")
