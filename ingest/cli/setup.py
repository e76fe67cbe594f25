"""``install-hooks`` and ``uninstall-hooks``: claude-ingest into (and out of) Claude Code's
settings.json, a repository's post-commit hook and OpenCode's plugins. What changes is decided in
:mod:`ingest.install`; a settings file that is not JSON is an error (exit 2) and is not touched."""

from __future__ import annotations

import click

from .options import db_option, explicit_db, git_option, project_option, settings_option, targets_options


@click.command("install-hooks")
@db_option
@targets_options("Install")
@settings_option("edit")
@project_option
@git_option("install")
@click.option("--statusline", is_flag=True, help="Also make `claude-ingest statusline` Claude Code's statusLine "
              "(a statusLine command of your own keeps showing: ours runs it).")
@click.option("--show-ours", is_flag=True, help="With --statusline over a command of your own: our line under yours.")
@click.option("--remote", metavar="URL", help="Also post every event to a team server (`datasette team.db` with "
              "this plugin) with Claude Code's http hooks: its address, or its /-/claude/hook URL.")
@click.option("--token-env", metavar="VAR", help="With --remote: send `Authorization: Bearer $VAR`, Claude Code "
              "reading VAR from its environment (the server's token for this machine).")
@click.option("--machine", metavar="NAME", help="Name this machine NAME in what the hooks write (default: "
              "$CLAUDE_INGEST_MACHINE, else the host name).")
@click.pass_context
def install_hooks(ctx, db_path, claude, opencode, settings_file, project, git_repo, statusline, show_ours, remote,
                  token_env, machine):
    """Add `claude-ingest hook` to Claude Code's settings, one handler per event.

    Keeps every other hook and setting, writes a backup first, and changes nothing when already
    installed; an older install is updated in place. The hooks call this claude-ingest by its
    absolute path; tool events run async, so Claude Code does not wait for them (the table of
    events is HANDLERS in ingest/install.py). --opencode puts the OpenCode plugin in place instead
    (--claude --opencode: both); --git adds the post-commit hook to either; --statusline makes
    `claude-ingest statusline` the statusLine (running yours, if you have one).

    --remote URL adds Claude Code's http hooks posting every event to a team server as well (the
    local hooks stay: they are the durable path when the server is down); --token-env names the
    environment variable that holds this machine's token for it.

    \b
    Examples:
        claude-ingest install-hooks
        claude-ingest install-hooks --project --git .
        claude-ingest install-hooks --opencode
        claude-ingest install-hooks --claude --opencode
        claude-ingest install-hooks --statusline --show-ours
        claude-ingest install-hooks --remote https://team.example:8001 --token-env CLAUDE_TEAM_TOKEN
    """
    from .. import install

    db = explicit_db(ctx)
    if token_env and not remote:
        raise click.UsageError("--token-env goes with --remote URL")
    if remote:
        url = install.remote_url(remote)
        path = install.settings_path(project=project, settings=settings_file)
        settings, added, updated = install.add_remote_hooks(install.read_settings(path), url, token_env)
        _write_handlers(path, settings, added, updated, f"http hooks to {url}")
        for note in install.remote_notes(url, token_env):
            click.echo(f"note: {note}")
    if claude or not (opencode or remote):
        path = install.settings_path(project=project, settings=settings_file)
        settings, added, updated = install.add_hooks(install.read_settings(path),
                                                     install.command_line("hook", db, machine))
        _write_handlers(path, settings, added, updated, "claude-ingest hook", name_events=True)
    if statusline:
        path = install.settings_path(project=project, settings=settings_file)
        settings, changed = install.add_statusline(install.read_settings(path), db, show_ours=show_ours)
        if changed:
            backup = install.write_settings(path, settings)
            said = {"added": "claude-ingest statusline is the statusLine",
                    "chained": "claude-ingest statusline runs your statusLine command and shows its line"
                               + (", then ours" if show_ours else ""),
                    "updated": "claude-ingest statusline updated"}[changed]
            click.echo(f"{path}: {said}" + (f"; backup at {backup}" if backup else ""))
        else:
            click.echo(f"{path}: claude-ingest statusline already installed")
    if git_repo is not None:
        hook_file, changed = install.install_git_hook(git_repo.resolve(), db)
        click.echo(f"{hook_file}: {'added' if changed else 'already has'} claude-ingest git-commit")
    if opencode:
        plugin, changed = install.install_opencode_plugin(db, project=project)
        click.echo(f"{plugin}: {'added' if changed else 'already has'} the claude-ingest OpenCode plugin")


def _write_handlers(path, settings, added: list, updated: list, what: str, name_events: bool = False) -> None:
    """Write ``settings`` to ``path`` (a backup first) if handlers were added or updated, and say
    which, per event or in number; or say that ``what`` was already there for every event."""
    from .. import install

    if not (added or updated):
        click.echo(f"{path}: {what} already installed for all {len(install.HOOK_EVENTS)} events")
        return
    backup = install.write_settings(path, settings)
    done = [f"{verb} {what} for {len(events)} events" + (f" ({', '.join(events)})" if name_events else "")
            for verb, events in (("added", added), ("updated", updated)) if events]
    click.echo(f"{path}: {'; '.join(done)}" + (f"; backup at {backup}" if backup else ""))


@click.command("uninstall-hooks")
@targets_options("Remove")
@settings_option("edit")
@project_option
@git_option("remove")
@click.option("--statusline", is_flag=True, help="Also remove our statusLine, giving back yours if ours ran it.")
@click.option("--remote", metavar="URL", is_flag=False, flag_value="*", default=None,
              help="The http hooks install-hooks --remote wrote (to URL, or given bare, to any team server) "
                   "instead of the local ones; with --claude, both.")
def uninstall_hooks(claude, opencode, settings_file, project, git_repo, statusline, remote):
    """Remove exactly what install-hooks added (handlers, git post-commit block, OpenCode plugin).

    Claude Code's handlers by default; --opencode the OpenCode plugin instead (--claude --opencode:
    both); --remote the http hooks to a team server; --git also the post-commit block; --statusline
    also our statusLine (yours given back)."""
    from .. import install

    if remote:
        url = None if remote == "*" else install.remote_url(remote)
        path = install.settings_path(project=project, settings=settings_file)
        settings, removed = install.remove_remote_hooks(install.read_settings(path), url)
        if removed:
            backup = install.write_settings(path, settings)
            click.echo(f"{path}: removed the http hooks to {url or 'a team server'} from {len(removed)} events; "
                       f"backup at {backup}")
        else:
            click.echo(f"{path}: no http hook to {url or 'a team server'} to remove")
    if claude or not (opencode or remote):
        path = install.settings_path(project=project, settings=settings_file)
        settings, removed = install.remove_hooks(install.read_settings(path))
        if removed:
            backup = install.write_settings(path, settings)
            click.echo(f"{path}: removed claude-ingest hook from {len(removed)} events; backup at {backup}")
        else:
            click.echo(f"{path}: no claude-ingest hook to remove")
    if statusline:
        path = install.settings_path(project=project, settings=settings_file)
        settings, changed = install.remove_statusline(install.read_settings(path))
        if changed:
            backup = install.write_settings(path, settings)
            said = "your statusLine command is back" if changed == "restored" else "removed claude-ingest statusline"
            click.echo(f"{path}: {said}; backup at {backup}")
        else:
            click.echo(f"{path}: no claude-ingest statusline to remove")
    if git_repo is not None:
        hook_file, changed = install.uninstall_git_hook(git_repo.resolve())
        click.echo(f"{hook_file}: {'removed' if changed else 'had no'} claude-ingest git-commit")
    if opencode:
        plugin, changed = install.uninstall_opencode_plugin(project=project)
        click.echo(f"{plugin}: {'removed' if changed else 'not there'}")
