"""Putting ``claude-ingest`` into Claude Code's settings.json and a repository's post-commit hook.

Every change is additive and reversible: other hooks and settings are kept as they were, a backup is
written before a file changes, installing twice changes nothing, and uninstalling removes exactly
the handlers that call ``claude-ingest hook`` (or the post-commit block between our markers). Files
keep their mode, owner and symlinks. Which handlers Claude Code waits for is decided per event in
``HANDLERS``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import IngestError
from typing import NamedTuple


class Handler(NamedTuple):
    run_async: bool  # Claude Code's "async": it spawns the hook and does not wait for it
    timeout: int  # seconds; the hook bounds itself at 5 s (hook.DEADLINE_S)
    why: str


# One handler per event, and whether Claude Code waits for it. Async costs the agent only the spawn,
# but in `claude -p` a still-running async hook is killed at teardown. So an event is async only when
# it fires mid-loop and the transcript holds what we take from it (backfill recovers a killed one);
# it stays synchronous (SYNC: waited for) when it can end a run or its payload carries what only a
# hook sees. Timeouts: 10 s, above the hook's own 5 s bound (Claude Code's default would be 600);
# SessionEnd's hooks share a 1.5 s budget raised to the largest timeout: 3 s does not raise it to
# 10 s, yet outlasts the hook's 2 s busy wait on a locked database (after which it spools).
# Every event of the 2026-08 reference is here except WorktreeCreate (its stdout is read as a path)
# and MessageDisplay (fires on every streamed text delta; the transcript has the text).
ASYNC, SYNC = True, False
HANDLERS: dict[str, Handler] = {
    # event: Handler(ASYNC or SYNC, timeout in seconds, why)
    "SessionStart":        Handler(SYNC,  10, "source, model and title are in no transcript line; once a session"),
    "SessionEnd":          Handler(SYNC,  3,  "fires at teardown; reason is hook-only; 3 s: we never hold exit longer"),
    "UserPromptSubmit":    Handler(ASYNC, 10, "the user line holds prompt, promptId and mode; starts a turn"),
    "UserPromptExpansion": Handler(SYNC,  10, "expansion type, command source, MCP prompt are hook-only; rare"),
    "PreToolUse":          Handler(ASYNC, 10, "every tool call; tool_use holds id, name, input; the tool runs next"),
    "PostToolUse":         Handler(ASYNC, 10, "every tool call; tool_result holds output; the model's reply follows"),
    "PostToolUseFailure":  Handler(ASYNC, 10, "as PostToolUse: the tool_result with is_error holds the error"),
    "PostToolBatch":       Handler(ASYNC, 10, "after every parallel batch; each tool_result is in the transcript"),
    "PermissionRequest":   Handler(SYNC,  10, "permission prompts are in no transcript; a person answers it anyway"),
    "PermissionDenied":    Handler(SYNC,  10, "auto-mode denials and their reason are hook-only"),
    "Notification":        Handler(SYNC,  10, "notification text and type are hook-only"),
    "SubagentStart":       Handler(ASYNC, 10, "the subagent's transcript and .meta.json hold its id, type and start"),
    "SubagentStop":        Handler(SYNC,  10, "background_tasks, session_crons hook-only; may end as -p tears down"),
    "Stop":                Handler(SYNC,  10, "ends every -p run just before teardown; background_tasks hook-only"),
    "StopFailure":         Handler(SYNC,  10, "ends a turn (often a -p run) on an API error, just before teardown"),
    "PreCompact":          Handler(SYNC,  10, "custom_instructions are hook-only; compacting takes far longer"),
    "PostCompact":         Handler(ASYNC, 10, "compact_boundary and the summary line hold it; mid-session"),
    "TaskCreated":         Handler(ASYNC, 10, "mid-loop, beside the TaskCreate call the transcript holds"),
    "TaskCompleted":       Handler(ASYNC, 10, "mid-loop, beside the TaskUpdate call the transcript holds"),
    "TeammateIdle":        Handler(SYNC,  10, "a teammate going idle is hook-only"),
    "InstructionsLoaded":  Handler(SYNC,  10, "which CLAUDE.md and rules files loaded, and why, is hook-only"),
    "ConfigChange":        Handler(SYNC,  10, "settings changes are hook-only"),
    "CwdChanged":          Handler(ASYNC, 10, "every transcript line carries cwd: the change shows there too"),
    "FileChanged":         Handler(SYNC,  10, "watched-file changes are hook-only"),
    "DirectoryAdded":      Handler(SYNC,  10, "/add-dir directories are hook-only"),
    "Elicitation":         Handler(SYNC,  10, "MCP elicitation requests are hook-only; a person answers them"),
    "ElicitationResult":   Handler(SYNC,  10, "the answer to an elicitation is hook-only"),
    "Setup":               Handler(SYNC,  10, "--init-only exits right after it; its trigger is hook-only"),
    "WorktreeRemove":      Handler(SYNC,  10, "worktree removal is hook-only and may come at session end"),
}
HOOK_EVENTS = tuple(HANDLERS)
_OURS = re.compile(r"(claude-ingest['\"]?|-m ingest) hook(\s|$)")
GIT_BEGIN, GIT_END = "# >>> claude-ingest git-commit >>>", "# <<< claude-ingest git-commit <<<"
GIT_SHEBANG = "#!/bin/sh\n"  # what a post-commit we create starts with


def executable() -> str:
    """The absolute path of this claude-ingest: hooks run with Claude Code's PATH, not ours."""
    found = shutil.which("claude-ingest")
    if found:
        return str(Path(found).resolve())
    script = Path(sys.argv[0])
    if script.name == "claude-ingest" and script.exists():
        return str(script.resolve())
    return f"{shlex.quote(sys.executable)} -m ingest"


def command_line(subcommand: str, db_path: Path | None = None, machine: str | None = None) -> str:
    exe = executable()
    command = f"{exe if exe.endswith(' -m ingest') else shlex.quote(exe)} {subcommand}"
    if db_path is not None:
        command += " --db " + shlex.quote(str(db_path))
    if machine:
        command += " --machine " + shlex.quote(machine)
    return command


def settings_path(*, project: bool = False, settings: Path | None = None) -> Path:
    if settings:
        return Path(settings).expanduser()
    if project:
        return Path.cwd() / ".claude" / "settings.local.json"  # personal, not committed
    base = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip() or "~/.claude"
    return Path(base).expanduser() / "settings.json"


def is_ours(handler) -> bool:
    """A handler that calls ``claude-ingest hook`` (any path, any --db)."""
    return isinstance(handler, dict) and isinstance(handler.get("command"), str) and bool(
        _OURS.search(handler["command"]))



def handler(event: str, command: str) -> dict:
    """The handler install-hooks writes for ``event`` (see HANDLERS)."""
    spec = HANDLERS[event]
    wanted = {"type": "command", "command": command, "timeout": spec.timeout}
    return {**wanted, "async": True} if spec.run_async else wanted


def _is_current(found: dict, wanted: dict) -> bool:
    return (all(found.get(k) == wanted[k] for k in ("type", "command", "timeout"))
            and found.get("async", False) is wanted.get("async", False))


def add_hooks(settings: dict, command: str) -> tuple[dict, list[str], list[str]]:
    """A copy of ``settings`` with one handler per event calling ``command``; the events whose handler
    was added, and those whose handler of ours was brought up to date in place."""
    settings = json.loads(json.dumps(settings))
    hooks = settings.setdefault("hooks", {})
    added, updated = [], []
    for event in HOOK_EVENTS:
        wanted = handler(event, command)
        groups = hooks.setdefault(event, [])
        mine = [(g, i) for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list)
                for i, h in enumerate(g["hooks"]) if is_ours(h)]
        if not mine:
            groups.append({"hooks": [wanted]})
            added.append(event)
            continue
        (group, i), *extra = mine
        current = group["hooks"][i]
        if not extra and _is_current(current, wanted):
            continue
        # An older install (all synchronous, or another path or database): our first handler is
        # updated where it is, keeping its group, its matcher and any key a user added; the rest go.
        current.update(wanted)
        if "async" not in wanted:
            current.pop("async", None)
        for g, j in reversed(extra):
            del g["hooks"][j]
        emptied = {id(g) for g, _ in extra if not g["hooks"]}
        groups[:] = [g for g in groups if id(g) not in emptied]
        updated.append(event)
    return settings, added, updated


def _remove_ours(groups: list, ours=None) -> int:
    removed = 0
    for group in list(groups):
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        keep = [h for h in group["hooks"] if not (ours or is_ours)(h)]
        removed += len(group["hooks"]) - len(keep)
        if keep:
            group["hooks"] = keep
        else:
            groups.remove(group)
    return removed


def remove_hooks(settings: dict, ours=None) -> tuple[dict, list[str]]:
    """A copy of ``settings`` without our handlers (``ours``: which they are; default the
    ``claude-ingest hook`` commands), and the events they were removed from."""
    settings = json.loads(json.dumps(settings))
    hooks = settings.get("hooks")
    removed = []
    if isinstance(hooks, dict):
        for event, groups in list(hooks.items()):
            if isinstance(groups, list) and _remove_ours(groups, ours or is_ours):
                removed.append(event)
                if not groups:
                    del hooks[event]
        if not hooks:
            del settings["hooks"]
    return settings, removed


# -- http hooks to a team server ---------------------------------------------------------------
# Claude Code's "type": "http" hooks post the payload a command hook reads on stdin to a URL, and
# wait for the answer (there is no async for them). Our route answers at once (it stores or spools);
# 5 s bounds what a server that does not answer costs a tool call, 3 s SessionEnd's share of exit.
REMOTE_PATH = "/-/claude/hook"
REMOTE_TIMEOUT_S = 5
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def remote_url(url: str) -> str:
    """The URL of a team server's hook route: ``http://team:8001`` becomes
    ``http://team:8001/-/claude/hook``; one that already ends so (behind a path prefix, with
    ``?db=team``) stays; anything else is an error."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"--remote takes the team server's http:// or https:// URL, not {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(REMOTE_PATH):
        if path:
            raise SettingsError(f"--remote {url}: give the server's address (http://host:port) or its "
                                f"{REMOTE_PATH} URL")
        path = REMOTE_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def remote_handler(event: str, url: str, token_env: str | None) -> dict:
    """The http handler install-hooks --remote writes for ``event``: Claude Code fills ``$VAR`` in a
    header only for the variables ``allowedEnvVars`` lists, so the token stays in the environment."""
    if token_env is not None and not _ENV_NAME.fullmatch(token_env):
        raise SettingsError(f"--token-env takes the name of an environment variable, not {token_env!r}")
    wanted = {"type": "http", "url": url, "timeout": min(HANDLERS[event].timeout, REMOTE_TIMEOUT_S)}
    if token_env:
        wanted["headers"] = {"Authorization": f"Bearer ${token_env}"}
        wanted["allowedEnvVars"] = [token_env]
    return wanted


def is_our_remote(handler, url: str | None = None) -> bool:
    """An http handler posting to a team server's hook route (to ``url``, when given)."""
    if not (isinstance(handler, dict) and handler.get("type") == "http" and isinstance(handler.get("url"), str)):
        return False
    from urllib.parse import urlsplit

    if url is not None:
        return handler["url"] == url
    return urlsplit(handler["url"]).path.rstrip("/").endswith(REMOTE_PATH)


def add_remote_hooks(settings: dict, url: str, token_env: str | None) -> tuple[dict, list[str], list[str]]:
    """A copy of ``settings`` with one http handler per event posting to ``url``; the events whose
    handler was added, and those whose handler to that URL was brought up to date."""
    settings = json.loads(json.dumps(settings))
    hooks = settings.setdefault("hooks", {})
    added, updated = [], []
    for event in HOOK_EVENTS:
        wanted = remote_handler(event, url, token_env)
        groups = hooks.setdefault(event, [])
        mine = [g["hooks"][i] for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list)
                for i, h in enumerate(g["hooks"]) if is_our_remote(h, url)]
        if not mine:
            groups.append({"hooks": [wanted]})
            added.append(event)
        elif any(mine[0].get(k) != v for k, v in wanted.items()) or (not token_env and (
                "headers" in mine[0] or "allowedEnvVars" in mine[0])):
            for key in ("headers", "allowedEnvVars"):
                mine[0].pop(key, None)
            mine[0].update(wanted)
            updated.append(event)
    return settings, added, updated


def remote_notes(url: str, token_env: str | None) -> list[str]:
    """What a person installing http hooks should know now rather than find out later."""
    from urllib.parse import urlsplit

    notes = []
    if token_env and not os.environ.get(token_env):
        notes.append(f"${token_env} is not set here: Claude Code sends an empty token (refused) until it is set "
                     "where Claude Code starts (your shell profile, or settings.json's env)")
    host = (urlsplit(url).hostname or "").lower()
    if token_env and urlsplit(url).scheme == "http" and host not in ("localhost", "127.0.0.1", "::1"):
        notes.append(f"{url} is plain http: the token and every payload cross the network unencrypted; "
                     "put the server behind https (a reverse proxy) or reach it over an SSH tunnel or VPN")
    if not token_env and host not in ("localhost", "127.0.0.1", "::1"):
        notes.append("no --token-env: a team server takes events from other machines only with tokens "
                     "configured (plugins.datasette-claude.tokens), each machine its own")
    return notes


def remove_remote_hooks(settings: dict, url: str | None = None) -> tuple[dict, list[str]]:
    """A copy of ``settings`` without the http handlers install-hooks --remote wrote (to ``url``, or
    to any team server); the events they were removed from."""
    return remove_hooks(settings, lambda h: is_our_remote(h, url))


# -- the statusLine -----------------------------------------------------------------------------
_OURS_STATUSLINE = re.compile(r"(claude-ingest['\"]?|-m ingest) statusline(\s|$)")


def statusline_command(db_path: Path | None = None, chain: str | None = None, show_ours: bool = False) -> str:
    """``claude-ingest statusline [--db PATH] [--chain THEIRS] [--show-ours]``, by absolute path."""
    command = command_line("statusline", db_path)
    if chain:
        command += " --chain " + shlex.quote(chain)
    return command + (" --show-ours" if show_ours else "")


def is_our_statusline(status_line) -> bool:
    return isinstance(status_line, dict) and isinstance(status_line.get("command"), str) and bool(
        _OURS_STATUSLINE.search(status_line["command"]))


def chained_command(command: str) -> str | None:
    """The user's own statusLine command that ours runs (its ``--chain``), if any."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "--chain" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--chain="):
            return word[len("--chain="):]
    return None


def add_statusline(settings: dict, db_path: Path | None = None, *, show_ours: bool = False) -> tuple[dict, str | None]:
    """A copy of ``settings`` with ``claude-ingest statusline`` as the statusLine command, and what
    changed: "added", "chained" (the user had a command of their own: ours runs it and shows what it
    prints, and keeps it to give back), "updated", or None. Every other key of their statusLine
    (padding, refreshInterval, ...) stays as it was."""
    settings = json.loads(json.dumps(settings))
    current = settings.get("statusLine")
    if is_our_statusline(current):
        wanted = statusline_command(db_path, chained_command(current["command"]), show_ours)
        if current["command"] == wanted:
            return settings, None
        current["command"] = wanted
        return settings, "updated"
    if isinstance(current, dict) and isinstance(current.get("command"), str) and current["command"].strip():
        current["command"] = statusline_command(db_path, current["command"], show_ours)
        current.setdefault("type", "command")
        return settings, "chained"
    if current is not None and not (isinstance(current, dict) and not current.get("command")):
        raise SettingsError("statusLine in settings is not a command this can chain "
                            f"({json.dumps(current)[:200]}); not touching it")
    settings["statusLine"] = {**(current or {}), "type": "command", "command": statusline_command(db_path, None,
                                                                                                  show_ours)}
    return settings, "added"


def remove_statusline(settings: dict) -> tuple[dict, str | None]:
    """A copy of ``settings`` without our statusLine: the user's own command given back in its place
    (the rest of their statusLine untouched), or no statusLine when there was none before ours.
    What changed: "restored", "removed" or None."""
    settings = json.loads(json.dumps(settings))
    current = settings.get("statusLine")
    if not is_our_statusline(current):
        return settings, None
    theirs = chained_command(current["command"])
    if theirs is not None:
        current["command"] = theirs
        return settings, "restored"
    del settings["statusLine"]
    return settings, "removed"


class SettingsError(IngestError):
    pass


def read_settings(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text() or "{}")
    except ValueError as e:
        raise SettingsError(f"{path} is not valid JSON ({e}); not touching it") from e
    if not isinstance(data, dict):
        raise SettingsError(f"{path} does not hold a JSON object; not touching it")
    return data


def write_settings(path: Path, settings: dict) -> Path | None:
    """Write ``settings``, keeping a timestamped backup of the previous file. Returns the backup.

    settings.json may hold ``env.ANTHROPIC_API_KEY``: the file keeps its mode and owner, a new one
    is 0600, and the backup gets the original's mode and owner. A symlinked settings.json (a dotfiles
    checkout) stays a link: its target is replaced, and the backup goes beside the link, not into
    the dotfiles."""
    target = Path(os.path.realpath(path))
    backup = None
    like = os.stat(target) if target.exists() else None
    if like is not None:
        backup = _write_backup(path, target.read_bytes(), like)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode(), like)
    return backup


def _take_mode(fd: int, like: os.stat_result | None) -> None:
    """Give a new file the mode and owner of the file it stands for (``like``), else 0600. Set before
    anything is written, so the content never sits in a file wider than the original."""
    if like is None:
        os.fchmod(fd, 0o600)
        return
    try:
        os.fchown(fd, like.st_uid, like.st_gid)
    except OSError:  # only root may give a file away: then it stays ours
        pass
    os.fchmod(fd, stat.S_IMODE(like.st_mode))  # after chown, which may clear set-id bits


def _write_atomic(target: Path, data: bytes, like: os.stat_result | None) -> None:
    """Replace ``target`` with ``data`` in one rename: readers see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            _take_mode(f.fileno(), like)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_backup(path: Path, data: bytes, like: os.stat_result) -> Path:
    """A new ``<name>.bak-<time>[-N]`` beside ``path``. Created exclusively: an install and an
    uninstall within one second used to share a name, and the pre-install backup was lost."""
    stamp = f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in itertools.count():
        backup = path.with_name(stamp if n == 0 else f"{stamp}-{n}")
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never through a link
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                _take_mode(f.fileno(), like)
                f.write(data)
            os.utime(backup, ns=(like.st_atime_ns, like.st_mtime_ns))  # as shutil.copy2 kept them
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(backup)
            raise
        return backup


# -- git -------------------------------------------------------------------------------------
def git_hooks_dir(repo: Path) -> Path:
    out = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=repo, capture_output=True, text=True)
    if out.returncode != 0:
        raise SettingsError(f"{repo} is not a git repository")
    path = Path(out.stdout.strip())
    return path if path.is_absolute() else (repo / path)


def git_hook_block(db_path: Path | None) -> str:
    # Never let a failure here touch the commit: quiet, and always true.
    return f"{GIT_BEGIN}\n{command_line('git-commit', db_path)} >/dev/null 2>&1 || true\n{GIT_END}\n"


def install_git_hook(repo: Path, db_path: Path | None) -> tuple[Path, bool]:
    hook = git_hooks_dir(repo) / "post-commit"
    block = git_hook_block(db_path)
    found = hook.exists()
    text = hook.read_text() if found else GIT_SHEBANG
    if block in text:
        return hook, False
    text = _strip_git_block(text)
    hook.parent.mkdir(parents=True, exist_ok=True)
    # Appended as is (no trailing newlines folded), so that uninstalling gives the file back exactly.
    hook.write_text(text + ("" if text.endswith("\n") else "\n") + block)
    # git runs only an executable hook: add x where the file is readable, and widen nothing else
    # (a 0700 hook stays 0700).
    old = stat.S_IMODE(hook.stat().st_mode) if found else 0o644
    hook.chmod(old | (old & 0o444) >> 2)
    return hook, True


def uninstall_git_hook(repo: Path) -> tuple[Path, bool]:
    hook = git_hooks_dir(repo) / "post-commit"
    if not hook.exists():
        return hook, False
    text = hook.read_text()
    stripped = _strip_git_block(text)
    if stripped == text:
        return hook, False
    if stripped.strip() in ("", GIT_SHEBANG.strip()):
        hook.unlink()  # install_git_hook created it: nothing of anyone else's is left in it
    else:
        hook.write_text(stripped)
    return hook, True


def _strip_git_block(text: str) -> str:
    return re.sub(re.escape(GIT_BEGIN) + r".*?" + re.escape(GIT_END) + r"\n?", "", text, flags=re.S)


# -- OpenCode ----------------------------------------------------------------------------------
OPENCODE_PLUGIN = Path(__file__).with_name("data") / "opencode-plugin.js"
OPENCODE_PLUGIN_NAME = "claude-ingest.js"


def opencode_plugins_dir(*, project: bool = False) -> Path:
    """Where OpenCode loads local plugins from: the project's ``.opencode/plugins/``, else the user's
    ``$XDG_CONFIG_HOME/opencode/plugins/`` (``~/.config/opencode/plugins/``)."""
    if project:
        return Path.cwd() / ".opencode" / "plugins"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "opencode" / "plugins"


def opencode_plugin_source(db_path: Path | None = None) -> str:
    """The plugin with this claude-ingest's absolute path (and --db, if given) baked in."""
    exe = executable()
    if exe.endswith(" -m ingest"):
        command, args = sys.executable, ["-m", "ingest", "opencode-event"]
    else:
        command, args = exe, ["opencode-event"]
    if db_path is not None:
        args += ["--db", str(Path(db_path).expanduser().resolve())]
    text = OPENCODE_PLUGIN.read_text()
    return (text.replace('"__CLAUDE_INGEST_COMMAND__"', json.dumps(command))
                .replace('["__CLAUDE_INGEST_ARGS__"]', json.dumps(args)))


def install_opencode_plugin(db_path: Path | None = None, *, project: bool = False,
                            plugins_dir: Path | None = None) -> tuple[Path, bool]:
    """Write the plugin into OpenCode's plugins directory; unchanged if it is already there as is."""
    target = (plugins_dir or opencode_plugins_dir(project=project)) / OPENCODE_PLUGIN_NAME
    source = opencode_plugin_source(db_path)
    if target.exists() and target.read_text() == source:
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(source)
    os.replace(tmp, target)
    return target, True


def uninstall_opencode_plugin(*, project: bool = False, plugins_dir: Path | None = None) -> tuple[Path, bool]:
    """Remove the plugin install_opencode_plugin wrote, and only it (it carries our header line)."""
    target = (plugins_dir or opencode_plugins_dir(project=project)) / OPENCODE_PLUGIN_NAME
    if not target.exists() or not target.read_text().startswith("// claude-ingest: forwards OpenCode events"):
        return target, False
    target.unlink()
    return target, True
