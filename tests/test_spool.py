"""The spool is trusted by nobody else (issue 9, section 1), tried as an attacker on a shared machine.

Two real users share one temporary directory (sticky, like /tmp): the attacker prepares files there
before the victim's hook runs. The victim runs the real hook command as its own uid. The victim's
interpreter is the system's Python with a world-readable copy of this checkout's ``ingest`` package
(the hook path needs the standard library only); its database is created beforehand, so the hook
never needs sqlite-utils to make the schema.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT, environ, rows
from ingest import backfill, schema
from ingest.load import hooks as hook_module

ATTACKER, VICTIM = "dc-attacker", "dc-victim"


def _python_for_others() -> str | None:
    for candidate in (sys.executable, "/usr/bin/python3"):
        path = Path(candidate).resolve()
        if path.exists() and all(os.stat(p).st_mode & 0o001 for p in [*path.parents][:-1]):
            return str(path)
    return None


def _user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                       capture_output=True)
        return pwd.getpwnam(name)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A world-writable sticky temp directory, a copy of ``ingest`` both users can read, and the users."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root (to create the two users) and setpriv")
    python = _python_for_others()
    if python is None:
        pytest.skip("no Python interpreter other users may run")
    base = Path(tempfile.mkdtemp(prefix="dc-spool-", dir="/tmp"))
    base.chmod(0o755)
    code = base / "code"
    shutil.copytree(ROOT / "ingest", code / "ingest", ignore=shutil.ignore_patterns("__pycache__"))
    for p in [code, *code.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    tmp = base / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    users = {"attacker": _user(ATTACKER), "victim": _user(VICTIM)}
    yield {"base": base, "code": code, "tmp": tmp, "python": python, **users}
    shutil.rmtree(base, ignore_errors=True)


def _as(user: pwd.struct_passwd, argv: list[str], *, env: dict, input: bytes = b"", timeout: float = 30):
    started = time.perf_counter()
    proc = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *argv],
                          input=input, capture_output=True, env=env, timeout=timeout)
    return proc, time.perf_counter() - started


@pytest.fixture
def victim(shared, tmp_path):
    """The victim's home (its own), its database (created, then given to it) and environment."""
    home = shared["base"] / f"home-{tmp_path.name}"
    home.mkdir()
    db = home / "claude.db"
    backfill(db, [tmp_path / "nothing"])  # the schema, made with sqlite-utils by the installing user
    uid, gid = shared["victim"].pw_uid, shared["victim"].pw_gid
    for p in [home, *home.rglob("*")]:
        os.chown(p, uid, gid)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(shared["tmp"]),
           "PYTHONPATH": str(shared["code"]), "XDG_STATE_HOME": str(home / ".local" / "state")}
    yield {"home": home, "db": db, "env": env, "uid": uid}
    shutil.rmtree(home, ignore_errors=True)
    for leftover in shared["tmp"].iterdir():  # what the attacker left in the shared directory
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink()


def _hook(shared, victim, payload: dict | bytes, *argv, env=None):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return _as(shared["victim"], [shared["python"], "-m", "ingest", "hook", "--db", str(victim["db"]), *argv],
               env=env or victim["env"], input=raw)


def _attacker_writes(shared, path: Path, data: bytes, mode: int = 0o666) -> None:
    script = (f"import os; fd = os.open({str(path)!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, {mode}); "
              f"os.write(fd, {data!r}); os.close(fd); os.chmod({str(path)!r}, {mode})")
    proc, _ = _as(shared["attacker"], [shared["python"], "-c", script], env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr


def _attacker_runs(shared, script: str) -> bytes:
    proc, _ = _as(shared["attacker"], [shared["python"], "-c", script], env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _forged_entries(victim) -> bytes:
    """A spool line in every format a replay ever read, each a fake prompt for the victim's database."""
    forged = json.dumps({"session_id": "forged", "hook_event_name": "UserPromptSubmit", "prompt": "FORGED PROMPT"})
    old = {"received_at": "2026-01-01T00:00:00.000Z", "db": str(victim["db"]), "raw": forged}
    new = {"spool": 2, **old, "id": hashlib.sha256(forged.encode()).hexdigest(), "size": len(forged)}
    return (json.dumps(old) + "\n" + json.dumps(new) + "\n").encode()


def test_files_another_user_plants_in_the_shared_temp_directory_are_never_replayed(shared, victim):
    """Injection: another user writes claimed-batch and spool files where the victim's replay looks
    (the first format's ``$TMPDIR/claude-ingest-<uid>.spool.jsonl.*.replaying``, and the private
    directory's place, made by the attacker and open to all). None of it reaches the database."""
    tmp, uid = shared["tmp"], victim["uid"]
    _attacker_writes(shared, tmp / f"claude-ingest-{uid}.spool.jsonl.1.2.replaying", _forged_entries(victim))
    _attacker_writes(shared, tmp / f"claude-ingest-{uid}.spool.jsonl", _forged_entries(victim))
    planted = tmp / f"claude-ingest-{uid}"
    _attacker_runs(shared, f"import os; os.mkdir({str(planted)!r}); os.chmod({str(planted)!r}, 0o777)")
    name = hook_module.spool_paths(victim["db"])[2].name
    _attacker_writes(shared, planted / name, _forged_entries(victim))

    proc, _ = _hook(shared, victim, {"session_id": "real", "hook_event_name": "UserPromptSubmit", "prompt": "real"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert rows(victim["db"], "select text from prompts") == [{"text": "real"}]
    assert rows(victim["db"], "select count(*) n from hook_events where source != 'hook'") == [{"n": 0}]


def test_a_fifo_in_the_shared_temp_directory_stalls_nothing(shared, victim):
    """Stall: FIFOs where the replay looks. Opening one for reading would block until a writer
    comes; the hook must not wait on it (it took its whole 5 s deadline), nor backfill or status
    (which hung)."""
    tmp, uid = shared["tmp"], victim["uid"]
    for name in (f"claude-ingest-{uid}.spool.jsonl", f"claude-ingest-{uid}.spool.jsonl.1.2.replaying"):
        _attacker_runs(shared, f"import os; os.mkfifo({str(tmp / name)!r}, 0o666)")
    proc, seconds = _hook(shared, victim, {"session_id": "s", "hook_event_name": "Stop"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert seconds < 2.5, f"the hook took {seconds:.1f} s"
    assert rows(victim["db"], "select count(*) n from hook_events") == [{"n": 1}]
    env = {**victim["env"], "PYTHONPATH": str(ROOT), "HOME": str(victim["home"])}
    (victim["home"] / "empty").mkdir()
    for command in (["backfill", str(victim["home"] / "empty")], ["status"]):
        started = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "ingest", *command, "--db", str(victim["db"])], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and time.perf_counter() - started < 10, (command, r.stderr)


def test_a_spool_never_goes_into_a_file_or_directory_another_user_prepared(shared, victim):
    """Predictable fallback: with the database's directory and the state directory unwritable, the
    spool falls back to the temp directory. A pre-created 0666 file there (or one behind a symlink,
    or a directory made by the attacker) must not receive the payload: the attacker could read it,
    or make the victim append to the link's target."""
    tmp, uid = shared["tmp"], victim["uid"]
    locked_home = shared["base"] / f"locked-{victim['home'].name}"  # root's, 0755: the victim cannot write
    locked_home.mkdir()
    env = {**victim["env"], "XDG_STATE_HOME": str(locked_home / "state")}
    db = locked_home / "claude.db"
    loot = tmp / "loot"
    _attacker_writes(shared, loot, b"")
    _attacker_writes(shared, tmp / f"claude-ingest-{uid}.spool.jsonl", b"")  # the first format's fallback
    _attacker_runs(shared, f"import os; os.symlink({str(loot)!r}, {str(tmp / f'claude-ingest-{uid}.spool.jsonl.x')!r})")
    planted = tmp / f"claude-ingest-{uid}"  # this format's fallback: a directory, made by the attacker
    _attacker_runs(shared, f"import os; os.mkdir({str(planted)!r}); os.chmod({str(planted)!r}, 0o777)")
    secret = "TOP-SECRET-PROMPT-4711"
    payload = json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": secret}).encode()
    proc, _ = _as(shared["victim"], [shared["python"], "-m", "ingest", "hook", "--db", str(db)], env=env,
                  input=payload)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    seen = _attacker_runs(shared, f"""
import os
out = []
for root, dirs, files in os.walk({str(tmp)!r}):
    for f in files:
        try:
            out.append(open(os.path.join(root, f), 'rb').read())
        except OSError:
            pass
print(repr(b''.join(out)))""")
    assert secret.encode() not in seen
    # ... and with the symlink as the fallback directory itself, nothing is written through it
    shutil.rmtree(planted)
    attacker_dir = tmp / "attackers-dir"
    _attacker_runs(shared, f"import os; os.mkdir({str(attacker_dir)!r}, 0o777); os.chmod({str(attacker_dir)!r}, 0o777); "
                           f"os.symlink({str(attacker_dir)!r}, {str(planted)!r})")
    proc, _ = _as(shared["victim"], [shared["python"], "-m", "ingest", "hook", "--db", str(db)], env=env,
                  input=payload)
    assert proc.returncode == 0
    assert list(attacker_dir.iterdir()) == []
    shutil.rmtree(locked_home)


def test_spool_files_and_directories_stay_private_through_every_replay(tmp_path, monkeypatch):
    """Modes: entries kept for another database were re-appended with ``open(..., "ab")``, i.e. the
    umask's 0644, raw API keys inside. Spool directories are 0700 and files 0600, whatever the
    umask, before and after a replay that leaves entries behind."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    old_umask = os.umask(0o022)
    try:
        dbs = []
        for name in ("one", "two"):
            blocker = tmp_path / name
            blocker.write_text("a file where the database directory should be: the spool falls back")
            dbs.append(blocker / "claude.db")
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONPATH": str(ROOT)}
        for db in dbs:
            for i in range(2):
                payload = json.dumps({"session_id": f"s{i}", "hook_event_name": "Stop", "db": str(db)})
                subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=payload.encode(),
                               env=env, check=True)
        (tmp_path / "one").unlink()  # the first database can be written again: a backfill replays its events
        (tmp_path / "empty").mkdir()
        r = subprocess.run([sys.executable, "-m", "ingest", "backfill", str(tmp_path / "empty"), "--db", str(dbs[0])],
                           env=env, capture_output=True, text=True)
        assert "2 spooled hook events replayed" in r.stdout, r.stdout + r.stderr
        found = [p for p in (tmp_path / "state").rglob("*")]
        assert any(p.is_file() for p in found)  # the second database's events wait
        for p in found:
            mode = stat.S_IMODE(p.stat().st_mode)
            if "spool" in str(p.relative_to(tmp_path)):
                assert mode & 0o077 == 0, f"{p} is {mode:o}"
    finally:
        os.umask(old_umask)


def test_a_relative_db_replays_what_an_absolute_one_spooled_and_back(tmp_path, monkeypatch):
    """``--db claude.db`` (relative) never matched the absolute spool key: nothing was replayed."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONPATH": str(ROOT)}
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("begin exclusive")
    try:
        for cwd, arg, prompt in ((tmp_path, "claude.db", "relative"), (Path("/"), str(db), "absolute")):
            payload = json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": prompt})
            subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", arg], input=payload.encode(), env=env,
                           cwd=cwd, check=True, timeout=30)
    finally:
        locker.execute("rollback")
        locker.close()
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "ingest", "backfill", str(tmp_path / "empty"), "--db", "claude.db"],
                       env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "2 spooled hook events replayed" in r.stdout, r.stdout + r.stderr
    assert sorted(r["text"] for r in rows(db, "select text from prompts")) == ["absolute", "relative"]


def test_the_spool_holds_no_secret_and_the_replayed_event_is_the_same_event(tmp_path, monkeypatch):
    """The spool is storage too: it held raw payloads, API keys and all. Spooled payloads are
    redacted; the event they become keeps the content hash of what the hook received, so the same
    payload delivered again (a retry) is still one event."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    key = "sk-ant-api03-" + "Q" * 40 + "AA"
    payload = json.dumps({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                          "tool_use_id": "toolu_secret", "tool_input": {"command": f"ANTHROPIC_API_KEY={key} claude"}}
                         ).encode()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONPATH": str(ROOT)}
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("begin exclusive")
    try:
        subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=payload, env=env, check=True)
    finally:
        locker.execute("rollback")
        locker.close()
    spooled = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "spool" in p.name]
    assert spooled and not any(key.encode() in data for data in spooled)
    subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], env=env, check=True,
                   input=b'{"session_id": "s", "hook_event_name": "Stop"}')
    (event,) = rows(db, "select id, source, payload from hook_events where event = 'PreToolUse'")
    assert event["id"] == hashlib.sha256(payload).hexdigest() and event["source"] == "spool"
    assert key not in event["payload"]
    subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=payload, env=env, check=True)
    assert rows(db, "select count(*) n from hook_events where event = 'PreToolUse'") == [{"n": 1}]


# -- the agent never waits, and a delivered event is never lost (issue 9, section 3) ----------------
def _timed_hook(db, raw: bytes, env) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ingest", "hook", "--db", str(db)], input=raw, env=env,
                          capture_output=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    return time.perf_counter() - started


def test_one_poisoned_payload_never_stalls_the_hooks_after_it(tmp_path, monkeypatch):
    """A 120 KB PostToolUse whose text was slow to redact hit the deadline and was spooled; from
    then on every hook spent its whole deadline replaying it. Replay is bounded in time and never
    retries an entry forever: each later hook is quick, and the event is stored or set aside."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    poison = json.dumps({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash",
                         "tool_use_id": "toolu_poison", "tool_input": {"command": "cat big.log"},
                         "tool_response": {"stdout": "a." * 60000 + "://"}}).encode()
    hook_module.spool(db, poison, "2026-01-01T00:00:00.000Z")  # as a locked database would have left it
    env = environ()
    times = [_timed_hook(db, json.dumps({"session_id": "s", "hook_event_name": "Stop", "n": i}).encode(), env)
             for i in range(3)]
    assert max(times) < 2.5, times
    from ingest import ops

    backlog = ops.spool_backlog(db)
    stored = rows(db, "select count(*) n from hook_events where event = 'PostToolUse'")[0]["n"]
    assert backlog["hook"] == 0 and stored + backlog["set_aside"]["hook"] == 1


class _SlowSink:
    """A sink whose write of an entry saying SLOW takes longer than a replay allows one entry."""

    def __init__(self, real):
        self.real, self.spool_suffix, self.replay_source, self.name = real, real.spool_suffix, "spool", "slow"

    def write(self, conn, raw, received_at, **kwargs):
        if b"SLOW" in raw:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # Python code: the replay's timer can interrupt it
                pass
        return self.real.write(conn, raw, received_at, **kwargs)


def test_an_entry_that_keeps_replay_busy_is_set_aside_counted_and_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = tmp_path / "claude.db"
    sink = _SlowSink(hook_module.CLAUDE_HOOK)
    for text in ("first", "SLOW", "third"):
        hook_module.spool(db, json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit",
                                          "prompt": text}).encode(), "2026-01-01T00:00:00.000Z")
    from ingest import ops, store
    from ingest.load import spool

    conn = store.connect(db)
    started = time.perf_counter()
    assert spool.replay(conn, db, sink) == 2
    assert time.perf_counter() - started < 2
    assert spool.replay(conn, db, sink) == 0  # never retried
    conn.close()
    assert sorted(r["text"] for r in rows(db, "select text from prompts")) == ["first", "third"]
    backlog = ops.spool_backlog(db)
    assert (backlog["hook"], backlog["set_aside"]["hook"]) == (0, 1)
    assert "1 hook events, 0 OpenCode events failed to replay" in ops.status_text(ops.status(db))


def test_a_batch_whose_replays_keep_dying_is_set_aside(tmp_path, monkeypatch):
    """A replay killed mid-batch (SIGKILL) leaves its claimed batch; the next replays claim it again,
    counting attempts; after three deaths it is set aside instead of killing every later hook."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    db = tmp_path / "claude.db"
    path = hook_module.spool(db, b'{"session_id": "s", "hook_event_name": "Stop"}', "2026-01-01T00:00:00.000Z")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.rename(path.with_name(f"{path.name}.3.{dead.pid}.1.replaying"))  # died three times already
    from ingest import ops, store
    from ingest.load import spool

    conn = store.connect(db)
    assert spool.replay(conn, db, hook_module.CLAUDE_HOOK) == 0
    conn.close()
    assert ops.spool_backlog(db)["set_aside"]["hook"] == 1 and not list(tmp_path.rglob("*.replaying"))


def test_stdin_left_open_after_a_whole_payload_is_stored_at_once(tmp_path):
    """Claude Code (or a wrapper) may keep stdin open after the payload: the hook waited for an end
    of file until its deadline (5 s) and gave up with nothing stored or spooled."""
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "hook", "--db", str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ())
    started = time.perf_counter()
    proc.stdin.write(json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit", "prompt": "open"}).encode())
    proc.stdin.flush()
    try:
        assert proc.wait(timeout=30) == 0
        assert time.perf_counter() - started < 2.0
    finally:
        proc.stdin.close()
    assert proc.stdout.read() == b"" and proc.stderr.read() == b""
    assert rows(db, "select text from prompts") == [{"text": "open"}]


def test_a_payload_written_in_pieces_is_read_whole(tmp_path):
    """A pause after a closing brace inside the payload is not its end."""
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "hook", "--db", str(db)], stdin=subprocess.PIPE,
                            env=environ())
    proc.stdin.write(b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_input": {"command": "ls"}')
    proc.stdin.flush()
    time.sleep(0.3)
    proc.stdin.write(b', "tool_name": "Bash", "tool_use_id": "toolu_pieces"}')
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert rows(db, "select tool_name, command from tool_calls") == [{"tool_name": "Bash", "command": "ls"}]


def test_a_50_mb_tool_output_keeps_its_tool_call_and_its_size(tmp_path):
    """A 50 MB PostToolUse was cut at 16 MB, stored as "unparseable", and lost its tool call."""
    db = tmp_path / "claude.db"
    backfill(db, [tmp_path / "none"])
    payload = json.dumps({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Read",
                          "tool_use_id": "toolu_big", "tool_input": {"file_path": "/var/log/huge.log"},
                          "tool_response": {"type": "text", "file": {"filePath": "/var/log/huge.log",
                                                                     "content": "x" * 50_000_000}}}).encode()
    assert _timed_hook(db, payload, environ()) < 10
    (event,) = rows(db, "select event, size, length(payload) stored, derive_error from hook_events")
    assert (event["event"], event["size"], event["derive_error"]) == ("PostToolUse", len(payload), None)
    assert event["stored"] < 1_000_000
    (call,) = rows(db, "select tool_name, file_path, output_size, length(output_preview) preview from tool_calls")
    assert call == {"tool_name": "Read", "file_path": "/var/log/huge.log", "output_size": 50_000_000,
                    "preview": schema.OUTPUT_CHARS}


def test_a_payload_too_large_to_decode_is_derived_from_its_head(tmp_path):
    """Past what the hook decodes whole, the fields that come before the tool output still say
    which call it was; the original size is kept."""
    from ingest import store

    head = (b'{"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", '
            b'"tool_input": {"command": "cat /dev/urandom | base64"}, "tool_use_id": "toolu_huge", '
            b'"tool_response": {"stdout": "' + b"A" * 5000)
    conn = store.connect(tmp_path / "claude.db")
    assert hook_module.write_event(conn, head, "2026-01-01T00:00:00.000Z", size=200_000_000)
    conn.close()
    (event,) = rows(tmp_path / "claude.db", "select event, size, tool_use_id from hook_events")
    assert event == {"event": "PostToolUse", "size": 200_000_000, "tool_use_id": "toolu_huge"}
    (call,) = rows(tmp_path / "claude.db", "select tool_name, command, is_error from tool_calls")
    assert call == {"tool_name": "Bash", "command": "cat /dev/urandom | base64", "is_error": 0}
