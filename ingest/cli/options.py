"""What the commands share: their options (declared once, as decorator factories), the error every
"you asked for something that cannot be done" becomes, and the group that turns library and SQLite
errors into one line and exit status 2."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click

from .. import store as store_mod
from ..errors import IngestError
from ..identity import MACHINE_ENV
from ..paths import DB_ENV, default_db_path
from ..redact import NO_REDACT_ENV


class InputError(click.ClickException):
    """Something the user gave cannot be used (a database that is not one, a FIFO given as a file,
    a bad date): one line on stderr, exit status 2 as for click's own usage errors, no traceback."""

    exit_code = 2


class Commands(click.Group):
    """The command group: what a command could not use becomes one line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except IngestError as e:
            raise InputError(str(e)) from None
        except sqlite3.Error as e:
            raise InputError(store_mod.database_problem(ctx.meta.get(_DB_KEY) or "the database", e)) from None
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise InputError(f"{where}{e.strerror or e}") from None


_DB_KEY = "claude_ingest.db"


def db_option(command):
    """``--db PATH`` on every command; ``$CLAUDE_INGEST_DB`` sets it too."""

    def remember(ctx, param, value):
        ctx.meta[_DB_KEY] = value  # for the one-line error of a database that is not usable
        return value

    return click.option(
        "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), envvar=DB_ENV,
        default=default_db_path, show_default="~/.claude/claude.db", callback=remember,
        help=f"SQLite database to write (env {DB_ENV}).",
    )(command)


def explicit_db(ctx: click.Context) -> Path | None:
    """The --db to bake into what is installed: only one given explicitly (flag or environment),
    absolute, since hooks run in the session's directory, not this one."""
    source = ctx.get_parameter_source("db_path")
    if source not in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
        return None
    return Path(ctx.params["db_path"]).expanduser().absolute()


def redaction_option(command):
    """``--no-redact``: store secrets as they came (sets CLAUDE_INGEST_NO_REDACT=1 for this run)."""

    def callback(ctx, param, value):
        if value:
            before = os.environ.get(NO_REDACT_ENV)
            os.environ[NO_REDACT_ENV] = "1"
            ctx.call_on_close(lambda: _restore(NO_REDACT_ENV, before))  # for this command only
            click.echo("claude-ingest: --no-redact: API keys, tokens and passwords will be stored as they "
                       "appear in the input", err=True)
        return value

    return click.option("--no-redact", is_flag=True, expose_value=False, callback=callback, is_eager=True,
                        help="Store secrets (API keys, tokens, passwords) unredacted. Off by default.")(command)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def jobs_option(command):
    """``--jobs N``: worker processes that read and parse while one process writes."""
    return click.option(
        "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
        help="Processes reading and parsing files while one writes (default: one per core, when there is "
             "more than 64 MB to read; 1: all in this process).")(command)


def machine_option(command):
    """``--machine NAME``: the name of this machine in what the command writes (``sessions.host``);
    default ``$CLAUDE_INGEST_MACHINE``, else the host name."""

    def callback(ctx, param, value):
        if value:
            before = os.environ.get(MACHINE_ENV)
            os.environ[MACHINE_ENV] = value
            ctx.call_on_close(lambda: _restore(MACHINE_ENV, before))  # for this command only
        return value

    return click.option("--machine", metavar="NAME", expose_value=False, callback=callback, is_eager=True,
                        help=f"This machine's name in what is written (default: ${MACHINE_ENV}, else the "
                             "host name).")(command)


def json_option(command):
    """``--json``: the command's result as one JSON object, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")(command)


def git_option(what: str):
    """``--git [REPO]`` (the current directory when given bare): ``what`` is done to its post-commit hook."""
    return click.option("--git", "git_repo", type=click.Path(file_okay=False, path_type=Path), is_flag=False,
                        flag_value=".", default=None, help=f"Also {what} the post-commit hook of this repository.")


def settings_option(what: str):
    """``--settings PATH``: the Claude Code settings.json to ``what`` (default: the user's)."""
    return click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path),
                        help=f"settings.json to {what} (default: user scope, $CLAUDE_CONFIG_DIR or ~/.claude).")


def project_option(command):
    return click.option("--project", is_flag=True, help="This project's .claude/settings.local.json instead "
                        "(and .opencode/plugins/ for --opencode).")(command)


def targets_options(verb: str):
    """``--claude`` and ``--opencode``: which agents' hooks ``verb`` applies to (Claude Code's by default)."""

    def decorate(command):
        command = click.option("--opencode", is_flag=True,
                               help=f"{verb} the OpenCode plugin (~/.config/opencode/plugins/, or with --project "
                                    "the project's .opencode/plugins/) instead of Claude Code's hooks; with "
                                    "--claude, both.")(command)
        return click.option("--claude", is_flag=True,
                            help=f"{verb} Claude Code's hooks in settings.json (the default when --opencode is "
                                 "not given); with --opencode, both.")(command)

    return decorate
