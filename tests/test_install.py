"""install-hooks / uninstall-hooks on a real settings.json, and git-commit in a real repository."""

import json
import os
import stat
import subprocess
import time

from helpers import claude_ingest, environ, rows
from ingest.load import hooks as hook_module
from ingest.install import HANDLERS, HOOK_EVENTS

EXISTING = {
    "model": "opus",
    "permissions": {"allow": ["Bash(git status)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "say done", "timeout": 3}]}],
    },
}


def test_install_adds_one_handler_per_event_and_keeps_everything_else(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(EXISTING, indent=2))
    r = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert r.returncode == 0, r.stderr
    assert f"added claude-ingest hook for {len(HOOK_EVENTS)} events" in r.stdout and "backup at" in r.stdout
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == EXISTING["permissions"]
    assert data["hooks"]["PreToolUse"][0] == EXISTING["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == EXISTING["hooks"]["Stop"][0]
    for event in HOOK_EVENTS:
        ours = [h for g in data["hooks"][event] for h in g["hooks"] if h["command"].endswith(" hook")]
        assert len(ours) == 1, event
        assert ours[0]["timeout"] == HANDLERS[event].timeout and ours[0]["command"].startswith("/")
    assert "WorktreeCreate" not in data["hooks"]  # its stdout is read as a path
    backups = list(tmp_path.glob("settings.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == EXISTING

    again = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert "already installed" in again.stdout
    assert json.loads(settings.read_text()) == data

    gone = claude_ingest("uninstall-hooks", "--settings", settings, env=environ())
    assert gone.returncode == 0 and f"removed claude-ingest hook from {len(HOOK_EVENTS)} events" in gone.stdout
    assert json.loads(settings.read_text()) == EXISTING


def test_installed_command_runs_the_hook(tmp_path):
    settings = tmp_path / "settings.json"
    db = tmp_path / "hooked.db"
    claude_ingest("install-hooks", "--settings", settings, "--db", db, env=environ())
    (command,) = [h["command"] for g in json.loads(settings.read_text())["hooks"]["Stop"] for h in g["hooks"]]
    assert str(db) in command
    proc = subprocess.run(command, shell=True, input=b'{"session_id": "s", "hook_event_name": "Stop"}',
                          capture_output=True)
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert rows(db, "select event from hook_events") == [{"event": "Stop"}]


def test_user_scope_by_default_and_project_scope(tmp_path):
    env = environ()
    assert claude_ingest("install-hooks", env=env).returncode == 0
    assert (tmp_path / "home" / ".claude" / "settings.json").exists()
    project = tmp_path / "proj"
    project.mkdir()
    assert claude_ingest("install-hooks", "--project", env=env, cwd=project).returncode == 0
    assert "SessionStart" in json.loads((project / ".claude" / "settings.local.json").read_text())["hooks"]


def test_invalid_settings_are_not_touched(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text("{ not json")
    r = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert r.returncode == 2 and "not valid JSON" in r.stderr  # a usage error, as every other one
    assert settings.read_text() == "{ not json"


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_git_post_commit_records_commit_with_active_session(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    db = tmp_path / "c.db"
    env = environ()
    r = claude_ingest("install-hooks", "--settings", tmp_path / "s.json", "--db", db, "--git", repo, env=env)
    assert r.returncode == 0 and "post-commit: added" in r.stdout
    assert "already has" in claude_ingest("install-hooks", "--settings", tmp_path / "s.json", "--db", db,
                                          "--git", repo, env=env).stdout
    # a Claude Code session is working in this repository
    hook_module.handle(json.dumps({"session_id": "live", "hook_event_name": "SessionStart", "cwd": str(repo),
                                   "source": "startup"}).encode(), db)
    (repo / "a.py").write_text("print(1)\n")
    (repo / "b.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a and b\n\nBody line")
    sha = git(repo, "rev-parse", "HEAD").strip()
    (row,) = rows(db, "select * from commits")
    assert row["sha"] == sha and row["repository"] == str(repo.resolve()) and row["branch"] == "main"
    assert (row["author_name"], row["author_email"]) == ("Dev", "dev@example.com")
    assert row["message"] == "Add a and b\n\nBody line"
    assert json.loads(row["files_json"]) == ["a.py", "b.txt"] and row["files_changed"] == 2
    assert row["session_id"] == "live"
    # a commit with no active session, recorded by hand, is still recorded
    hook_module.handle(json.dumps({"session_id": "live", "hook_event_name": "SessionEnd", "cwd": str(repo),
                                   "reason": "logout"}).encode(), db)
    (repo / "c.txt").write_text("y\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c")
    assert rows(db, "select session_id from commits where message = 'c'") == [{"session_id": None}]
    # uninstall removes exactly our block
    r = claude_ingest("uninstall-hooks", "--settings", tmp_path / "s.json", "--git", repo, env=env)
    assert "post-commit: removed" in r.stdout
    assert not (repo / ".git" / "hooks" / "post-commit").exists()  # it was ours alone


def test_git_commit_outside_a_repository_never_fails(tmp_path):
    r = claude_ingest("git-commit", "--repo", tmp_path, "--db", tmp_path / "c.db", env=environ())
    assert r.returncode == 0 and "not recorded" in r.stderr


def test_a_relative_db_is_installed_as_an_absolute_path(tmp_path):
    settings = tmp_path / "settings.json"
    r = claude_ingest("install-hooks", "--settings", settings, "--db", "rel/claude.db", env=environ(),
                      cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (command,) = [h["command"] for g in json.loads(settings.read_text())["hooks"]["Stop"] for h in g["hooks"]]
    assert command.endswith(f"--db {tmp_path / 'rel' / 'claude.db'}")


# -- leaving files as they were found -------------------------------------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_settings_keep_their_mode_and_owner_and_a_new_one_is_private(tmp_path):
    # settings.json may hold env.ANTHROPIC_API_KEY: a 0600 file must not come back 0644
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({**EXISTING, "env": {"ANTHROPIC_API_KEY": "sk-ant-api03-test"}}))
    settings.chmod(0o600)
    if os.geteuid() == 0:  # root can show the owner is kept too
        os.chown(settings, 4242, 4343)
    r = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert r.returncode == 0, r.stderr
    assert mode(settings) == 0o600
    (backup,) = tmp_path.glob("settings.json.bak-*")
    assert mode(backup) == 0o600
    if os.geteuid() == 0:
        assert (os.stat(settings).st_uid, os.stat(settings).st_gid) == (4242, 4343)
        assert (os.stat(backup).st_uid, os.stat(backup).st_gid) == (4242, 4343)
    assert claude_ingest("uninstall-hooks", "--settings", settings, env=environ()).returncode == 0
    assert mode(settings) == 0o600 and all(mode(b) == 0o600 for b in tmp_path.glob("settings.json.bak-*"))

    # a mode the user chose is kept, not narrowed either
    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    shared.chmod(0o640)
    claude_ingest("install-hooks", "--settings", shared, env=environ())
    assert mode(shared) == 0o640

    # one we create is 0600 whatever the umask
    fresh = tmp_path / "new" / "settings.json"
    assert claude_ingest("install-hooks", "--settings", fresh, env=environ()).returncode == 0
    assert mode(fresh) == 0o600
    assert [p.name for p in fresh.parent.iterdir()] == ["settings.json"]  # no temp file left behind


def test_a_symlinked_settings_file_stays_a_link_and_its_target_is_written(tmp_path):
    dotfiles = tmp_path / "dotfiles" / "claude"
    dotfiles.mkdir(parents=True)
    real = dotfiles / "settings.json"
    real.write_text(json.dumps(EXISTING, indent=2))
    real.chmod(0o600)
    home_claude = tmp_path / "home" / ".claude"
    home_claude.mkdir(parents=True)
    link = home_claude / "settings.json"
    link.symlink_to("../../dotfiles/claude/settings.json")  # relative, as dotfile managers make them
    r = claude_ingest("install-hooks", "--settings", link, env=environ())
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "../../dotfiles/claude/settings.json"
    assert set(json.loads(real.read_text())["hooks"]) >= set(HOOK_EVENTS) and mode(real) == 0o600
    # nothing but the file in the dotfiles directory (no temp file; the backup is beside the link)
    assert list(dotfiles.iterdir()) == [real]
    (backup,) = home_claude.glob("settings.json.bak-*")
    assert not backup.is_symlink() and json.loads(backup.read_text()) == EXISTING and mode(backup) == 0o600

    assert claude_ingest("uninstall-hooks", "--settings", link, env=environ()).returncode == 0
    assert link.is_symlink() and json.loads(real.read_text()) == EXISTING and list(dotfiles.iterdir()) == [real]

    # the default user settings through a link too
    assert claude_ingest("install-hooks", env=environ()).returncode == 0
    assert link.is_symlink() and "hooks" in json.loads(real.read_text())


def test_backups_never_overwrite_one_another(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(EXISTING))
    # install then uninstall within one second: two backups, the first still the pre-install file
    claude_ingest("install-hooks", "--settings", settings, env=environ())
    installed = settings.read_text()
    claude_ingest("uninstall-hooks", "--settings", settings, env=environ())
    contents = sorted(b.read_text() for b in tmp_path.glob("settings.json.bak-*"))
    assert len(contents) == 2 and sorted([json.dumps(EXISTING), installed]) == contents

    # backups already there under every name this second (and the next 30) would give are left alone
    other = tmp_path / "other"
    other.mkdir()
    settings = other / "settings.json"
    settings.write_text(json.dumps(EXISTING))
    now = time.time()
    taken = {other / f"settings.json.bak-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now + s))}"
             for s in range(31)}
    for path in taken:
        path.write_text("an older backup")
    assert claude_ingest("install-hooks", "--settings", settings, env=environ()).returncode == 0
    assert all(p.read_text() == "an older backup" for p in taken)
    (new,) = set(other.glob("settings.json.bak-*")) - taken
    assert json.loads(new.read_text()) == EXISTING


def test_uninstall_git_removes_the_post_commit_it_created_and_restores_one_it_found(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    hooks = repo / ".git" / "hooks"
    samples = sorted(p.name for p in hooks.iterdir())
    env = environ()
    s = tmp_path / "s.json"
    assert claude_ingest("install-hooks", "--settings", s, "--git", repo, env=env).returncode == 0
    assert (hooks / "post-commit").read_text().startswith("#!/bin/sh\n")
    r = claude_ingest("uninstall-hooks", "--settings", s, "--git", repo, env=env)
    assert r.returncode == 0 and "post-commit: removed" in r.stdout
    assert not (hooks / "post-commit").exists()  # it held nothing but our block and its shebang
    assert sorted(p.name for p in hooks.iterdir()) == samples

    # a post-commit of the user's own comes back byte for byte, with its mode
    mine = "#!/bin/sh\n# mine\necho committed >> .git/log\n\n"
    (hooks / "post-commit").write_text(mine)
    (hooks / "post-commit").chmod(0o755)
    claude_ingest("install-hooks", "--settings", s, "--git", repo, env=env)
    installed = (hooks / "post-commit").read_text()
    assert installed.startswith(mine) and "claude-ingest" in installed
    claude_ingest("uninstall-hooks", "--settings", s, "--git", repo, env=env)
    assert (hooks / "post-commit").read_text() == mine and mode(hooks / "post-commit") == 0o755


def test_install_git_does_not_widen_a_post_commit_it_found(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\necho private\n")
    hook.chmod(0o700)
    s = tmp_path / "s.json"
    assert claude_ingest("install-hooks", "--settings", s, "--git", repo, env=environ()).returncode == 0
    assert mode(hook) == 0o700 and "claude-ingest" in hook.read_text()
    created = tmp_path / "other"
    created.mkdir()
    git(created, "init", "-q")
    claude_ingest("install-hooks", "--settings", s, "--git", created, env=environ())
    assert mode(created / ".git" / "hooks" / "post-commit") == 0o755  # one we create: as git's samples are


def test_opencode_alone_installs_only_the_opencode_plugin(tmp_path):
    env = {**environ(), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    settings = tmp_path / "home" / ".claude" / "settings.json"
    plugin = tmp_path / "config" / "opencode" / "plugins" / "claude-ingest.js"
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    r = claude_ingest("install-hooks", "--opencode", "--git", repo, env=env)
    assert r.returncode == 0, r.stderr
    assert plugin.exists() and (repo / ".git" / "hooks" / "post-commit").exists()  # --git: also that
    assert not settings.exists() and "settings.json" not in r.stdout
    # plain install-hooks is Claude Code only; --claude --opencode is both in one call
    plugin.unlink()
    assert claude_ingest("install-hooks", env=env).returncode == 0
    assert set(HOOK_EVENTS) <= set(json.loads(settings.read_text())["hooks"]) and not plugin.exists()
    settings.unlink()
    assert claude_ingest("install-hooks", "--claude", "--opencode", env=env).returncode == 0
    assert settings.exists() and plugin.exists()
    installed = settings.read_text()

    # the same on the way out
    r = claude_ingest("uninstall-hooks", "--opencode", env=env)
    assert r.returncode == 0 and not plugin.exists() and settings.read_text() == installed
    claude_ingest("install-hooks", "--opencode", env=env)
    claude_ingest("uninstall-hooks", env=env)
    assert plugin.exists() and "hooks" not in json.loads(settings.read_text())
    claude_ingest("install-hooks", "--claude", "--opencode", env=env)
    assert claude_ingest("uninstall-hooks", "--claude", "--opencode", env=env).returncode == 0
    assert not plugin.exists() and "hooks" not in json.loads(settings.read_text())


# -- hooks that do not block the agent ------------------------------------------------------------
def handlers(settings_file):
    data = json.loads(settings_file.read_text())
    return {event: [h for g in data["hooks"][event] for h in g["hooks"] if h["command"].endswith(" hook")]
            for event in HOOK_EVENTS}


def test_tool_events_run_async_and_teardown_events_stay_synchronous(tmp_path):
    settings = tmp_path / "settings.json"
    assert claude_ingest("install-hooks", "--settings", settings, env=environ()).returncode == 0
    ours = handlers(settings)
    assert all(len(hs) == 1 for hs in ours.values())
    ours = {event: hs[0] for event, hs in ours.items()}
    # every tool call fired two synchronous Python starts; the transcript holds what they carry
    for event in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch"):
        assert ours[event]["async"] is True, event
    # `claude -p` kills still-running async hooks at teardown; these end a run, or only a hook sees them
    for event in ("SessionStart", "SessionEnd", "Stop", "StopFailure", "SubagentStop", "Setup",
                  "PermissionRequest", "PermissionDenied", "Notification"):
        assert "async" not in ours[event], event
    # SessionEnd's 1.5 s budget rises to the largest timeout: ours is short, yet past the hook's busy wait
    assert hook_module.BUSY_TIMEOUT_S < ours["SessionEnd"]["timeout"] <= 3
    # the table in install.py is what was written, and says why for each event
    assert set(HANDLERS) == set(HOOK_EVENTS)
    for event, h in ours.items():
        spec = HANDLERS[event]
        assert (h.get("async", False), h["timeout"]) == (spec.run_async, spec.timeout) and spec.why, event


def test_an_all_synchronous_install_is_upgraded_in_place_and_still_uninstalls_exactly(tmp_path):
    from ingest import ops

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(EXISTING, indent=2))
    claude_ingest("install-hooks", "--settings", settings, env=environ())
    # what install-hooks wrote before handlers had "async" and a SessionEnd timeout of their own
    old = json.loads(settings.read_text())
    for groups in old["hooks"].values():
        for g in groups:
            for h in g["hooks"]:
                if h["command"].endswith(" hook"):
                    h.pop("async", None)
                    h["timeout"] = 10
    old["hooks"]["Stop"][-1]["hooks"][0]["statusMessage"] = "archiving"  # a key a user added to ours
    settings.write_text(json.dumps(old, indent=2))
    backups = set(tmp_path.glob("settings.json.bak-*"))

    r = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert r.returncode == 0, r.stderr
    upgraded = json.loads(settings.read_text())
    changed = sorted(e for e in HOOK_EVENTS if upgraded["hooks"][e] != old["hooks"][e])
    assert "added" not in r.stdout and f"updated claude-ingest hook for {len(changed)} events" in r.stdout
    assert "PreToolUse" in changed and "PostToolUse" in changed and "SessionEnd" in changed and "Stop" not in changed
    for event in HOOK_EVENTS:  # in place: same groups, same positions, the user's handlers untouched
        assert len(upgraded["hooks"][event]) == len(old["hooks"][event]), event
        for before, after in zip(old["hooks"][event], upgraded["hooks"][event]):
            assert [h["command"] for h in before["hooks"]] == [h["command"] for h in after["hooks"]]
    assert upgraded["hooks"]["PreToolUse"][0] == EXISTING["hooks"]["PreToolUse"][0]
    assert upgraded["hooks"]["PreToolUse"][1]["hooks"][0]["async"] is True
    assert upgraded["hooks"]["Stop"][-1]["hooks"][0]["statusMessage"] == "archiving"
    assert len(set(tmp_path.glob("settings.json.bak-*")) - backups) == 1

    # idempotent: a second install changes nothing, not even a backup
    text = settings.read_text()
    backups = set(tmp_path.glob("settings.json.bak-*"))
    again = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert "already installed" in again.stdout and settings.read_text() == text
    assert set(tmp_path.glob("settings.json.bak-*")) == backups

    # status still reads it through install's helpers
    hooks = ops.hooks_status(tmp_path / "c.db", settings=settings)["claude_code"]
    assert (hooks["installed"], hooks["missing"]) == (len(HOOK_EVENTS), [])

    old_other_db = json.loads(text)  # an install for another database is replaced, not doubled
    for g in old_other_db["hooks"]["PostToolUse"]:
        for h in g["hooks"]:
            if h["command"].endswith(" hook"):
                h["command"] += " --db /elsewhere.db"
    old_other_db["hooks"]["PostToolUse"].append({"hooks": [dict(h)]})  # and a duplicate of ours
    settings.write_text(json.dumps(old_other_db, indent=2))
    r = claude_ingest("install-hooks", "--settings", settings, env=environ())
    assert "updated claude-ingest hook for 1 events (PostToolUse)" in r.stdout
    assert json.loads(settings.read_text()) == json.loads(text)

    gone = claude_ingest("uninstall-hooks", "--settings", settings, env=environ())
    assert gone.returncode == 0 and json.loads(settings.read_text()) == EXISTING
