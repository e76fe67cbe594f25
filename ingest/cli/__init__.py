"""The command line: parses options and calls the library. No ingest logic lives here."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from pathlib import Path

import click

from .. import store as store_mod
from ..load.transcripts import backfill as run_backfill
from ..load.transcripts import claude_projects_dirs
from ..paths import DB_ENV, default_db_path, samples_dir
from ..redact import NO_REDACT_ENV


def db_option(command):
    """``--db PATH`` on every command; ``$CLAUDE_INGEST_DB`` sets it too."""

    def remember(ctx, param, value):
        ctx.meta["claude_ingest.db"] = value  # for the one-line error of a database that is not usable
        return value

    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=DB_ENV,
        default=default_db_path,
        show_default="~/.claude/claude.db",
        callback=remember,
        help=f"SQLite database to write (env {DB_ENV}).",
    )(command)


class InputError(click.ClickException):
    """Something the user gave cannot be used (a database that is not one, a FIFO given as a file):
    one line on stderr, exit status 2 like click's own usage errors, never a traceback."""

    exit_code = 2


class Commands(click.Group):
    """The command group: turns what a command could not use into one line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except sqlite3.Error as e:
            raise InputError(store_mod.database_problem(ctx.meta.get("claude_ingest.db") or "the database", e)) from None
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise InputError(f"{where}{e.strerror or e}") from None


def redaction_option(command):
    """``--no-redact``: store secrets as they came (sets CLAUDE_INGEST_NO_REDACT=1 for this run)."""

    def callback(ctx, param, value):
        if value:
            os.environ[NO_REDACT_ENV] = "1"
            click.echo("claude-ingest: --no-redact: API keys, tokens and passwords will be stored as they "
                       "appear in the input", err=True)
        return value

    return click.option("--no-redact", is_flag=True, expose_value=False, callback=callback, is_eager=True,
                        help="Store secrets (API keys, tokens, passwords) unredacted. Off by default.")(command)


@click.group(cls=Commands)
@click.version_option(package_name="datasette-claude")
def cli():
    """Ingest what AI coding agents did into one SQLite database, for `datasette`."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@redaction_option
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
    show_bar = not quiet and sys.stderr.isatty()

    def progress(total):
        if not (show_bar and total):
            return contextlib.nullcontext()
        return click.progressbar(length=total, label="Reading transcripts", file=sys.stderr)

    summary = run_backfill(db_path, paths, progress=progress)
    if not quiet:
        click.echo(f"backfill {db_path}: {summary.line()}")


@cli.command(context_settings={"ignore_unknown_options": True})
@db_option
def hook(db_path):
    """Store one Claude Code hook payload read on stdin (called by the hooks themselves).

    Always exits 0 and prints nothing; if the database is busy or unwritable the payload is spooled
    beside it and replayed by the next run. CLAUDE_INGEST_DEBUG=1 shows failures on stderr.

    \b
    Example (what install-hooks writes into settings.json):
        echo '{"session_id": "…", "hook_event_name": "Stop"}' | claude-ingest hook
    """
    from ..load.hooks import main as hook_main

    sys.exit(hook_main(["--db", str(db_path)]))


@cli.command("install-hooks")
@db_option
@click.option("--claude", is_flag=True,
              help="Claude Code's hooks in settings.json (the default when --opencode is not given); "
                   "with --opencode, both.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path),
              help="settings.json to edit (default: user scope, $CLAUDE_CONFIG_DIR or ~/.claude).")
@click.option("--project", is_flag=True, help="This project's .claude/settings.local.json instead "
              "(and .opencode/plugins/ for --opencode).")
@click.option("--git", "git_repo", type=click.Path(file_okay=False, path_type=Path), is_flag=False,
              flag_value=".", default=None, help="Also install the post-commit hook in this repository.")
@click.option("--opencode", is_flag=True,
              help="The OpenCode plugin (~/.config/opencode/plugins/, or with --project the project's "
                   ".opencode/plugins/) instead of Claude Code's hooks; with --claude, both.")
@click.pass_context
def install_hooks(ctx, db_path, claude, settings_file, project, git_repo, opencode):
    """Add `claude-ingest hook` to Claude Code's settings, one handler per event.

    Keeps every other hook and setting, writes a backup first, and changes nothing when already
    installed; an older install is updated in place. The hooks call this claude-ingest by its
    absolute path; tool events run async, so Claude Code does not wait for them (the table of
    events is HANDLERS in ingest/install.py). --opencode puts the OpenCode plugin in place instead
    (--claude --opencode: both); --git adds the post-commit hook to either.

    \b
    Examples:
        claude-ingest install-hooks
        claude-ingest install-hooks --project --git .
        claude-ingest install-hooks --opencode
        claude-ingest install-hooks --claude --opencode
    """
    from .. import install

    db = _explicit_db(ctx, db_path)
    if claude or not opencode:
        path = install.settings_path(project=project, settings=settings_file)
        try:
            settings, added, updated = install.add_hooks(install.read_settings(path),
                                                         install.command_line("hook", db))
        except install.SettingsError as e:
            raise click.ClickException(str(e))
        if added or updated:
            backup = install.write_settings(path, settings)
            done = [f"{what} claude-ingest hook for {len(events)} events ({', '.join(events)})"
                    for what, events in (("added", added), ("updated", updated)) if events]
            click.echo(f"{path}: {'; '.join(done)}" + (f"; backup at {backup}" if backup else ""))
        else:
            click.echo(f"{path}: claude-ingest hook already installed for all {len(install.HOOK_EVENTS)} events")
    if git_repo is not None:
        try:
            hook_file, changed = install.install_git_hook(git_repo.resolve(), db)
        except install.SettingsError as e:
            raise click.ClickException(str(e))
        click.echo(f"{hook_file}: {'added' if changed else 'already has'} claude-ingest git-commit")
    if opencode:
        plugin, changed = install.install_opencode_plugin(db, project=project)
        click.echo(f"{plugin}: {'added' if changed else 'already has'} the claude-ingest OpenCode plugin")


@cli.command("uninstall-hooks")
@click.option("--claude", is_flag=True,
              help="Claude Code's hooks in settings.json (the default when --opencode is not given); "
                   "with --opencode, both.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", is_flag=True, help="This project's .claude/settings.local.json instead "
              "(and .opencode/plugins/ for --opencode).")
@click.option("--git", "git_repo", type=click.Path(file_okay=False, path_type=Path), is_flag=False,
              flag_value=".", default=None, help="Also remove the post-commit hook from this repository.")
@click.option("--opencode", is_flag=True,
              help="The OpenCode plugin install-hooks put in place instead of Claude Code's hooks; "
                   "with --claude, both.")
def uninstall_hooks(claude, settings_file, project, git_repo, opencode):
    """Remove exactly what install-hooks added (handlers, git post-commit block, OpenCode plugin).

    Claude Code's handlers by default; --opencode the OpenCode plugin instead (--claude --opencode:
    both); --git also the post-commit block."""
    from .. import install

    if claude or not opencode:
        path = install.settings_path(project=project, settings=settings_file)
        try:
            settings, removed = install.remove_hooks(install.read_settings(path))
        except install.SettingsError as e:
            raise click.ClickException(str(e))
        if removed:
            backup = install.write_settings(path, settings)
            click.echo(f"{path}: removed claude-ingest hook from {len(removed)} events; backup at {backup}")
        else:
            click.echo(f"{path}: no claude-ingest hook to remove")
    if git_repo is not None:
        try:
            hook_file, changed = install.uninstall_git_hook(git_repo.resolve())
        except install.SettingsError as e:
            raise click.ClickException(str(e))
        click.echo(f"{hook_file}: {'removed' if changed else 'had no'} claude-ingest git-commit")
    if opencode:
        plugin, changed = install.uninstall_opencode_plugin(project=project)
        click.echo(f"{plugin}: {'removed' if changed else 'not there'}")


@cli.command("git-commit")
@db_option
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


def _explicit_db(ctx, db_path):
    """The --db to bake into installed hooks: only one given explicitly (flag or environment)."""
    source = ctx.get_parameter_source("db_path")
    if source not in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
        return None
    return Path(db_path).expanduser().absolute()  # hooks run in the session's directory, not this one


# Commands for the other sources (headless jobs, OpenCode, legacy JSONL), defined in their own module.
from .sources import job, jsonl, opencode, opencode_event  # noqa: E402

for _command in (job, opencode, opencode_event, jsonl):
    cli.add_command(_command)

# Operations commands (status, prune, reprice), defined in their own module.
from .ops import prune, reprice, status  # noqa: E402

for _command in (status, prune, reprice):
    cli.add_command(_command)
