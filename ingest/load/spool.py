"""The spool: where a live event waits when the database cannot take it, until a later run replays it.

A hook (or the OpenCode plugin's command) that finds the database locked, unwritable, missing or
corrupt appends the event here and exits; the next successful ``hook``, ``backfill`` or ``opencode``
replays it. The spool is storage too, and it may sit in a shared temporary directory, so:

* it lives only in **private directories the user owns** (mode 0700, not a symlink), checked on every
  use through the open descriptor: beside the database (``<db>.spool/``), else the user's state
  directory, else ``$TMPDIR/claude-ingest-<uid>/``. A location another user made is refused;
* its files are created 0600 with ``O_NOFOLLOW`` and stay 0600; one file per database and kind of
  event, so a replay never rewrites entries that belong to another database;
* a file is replayed only if the open descriptor is a regular file owned by the user with one link
  (a FIFO is opened non-blocking and refused, never waited on);
* every database path is resolved before it is used as a key (a relative ``--db`` and an absolute
  one are the same database);
* payloads are **redacted before they are spooled** (unless redaction is off), keeping the content
  hash of the original bytes, so a replayed event is the same event as one stored directly;
* replay is bounded in time (per entry and in all), so one poisoned payload never stalls later hooks:
  an entry that fails, or keeps a replay busy past its limit, is set aside in ``…failed.jsonl``,
  counted and shown by ``claude-ingest status``, and never retried forever.

Standard library only: the hook path uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import stat
import threading
import time
from pathlib import Path

from .. import redact
from ..clock import now_iso

ENTRY_VERSION = 2
_ENTRY_STARTS = (b'{"spool": 2, ', b'{"received_at": ')  # v2 lines; lines of the first spool format
MAX_BATCH_BYTES = 256 * 1024 * 1024  # a spool file larger than this is set aside whole, not read
MAX_ATTEMPTS = 3  # a batch whose replays died this many times (killed mid-way) is set aside
STALE_CLAIM_S = 30.0  # a claimed batch older than this, of a process that is gone, is claimed again
ENTRY_LIMIT_S = 0.5  # one entry taking longer than this to replay is set aside
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_O_FILE = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_COARSE = re.compile(r"[A-Za-z0-9+/_]{20,}")  # the fallback redaction: long token-like runs, linear


class EntryTimeout(Exception):
    """One spooled entry kept the replay busy past :data:`ENTRY_LIMIT_S`."""


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def db_key(db_path) -> str:
    """The database's resolved path: the key its spooled events are filed under."""
    return os.path.realpath(os.path.expanduser(os.fspath(db_path)))


def locations(key: str) -> list[tuple[Path, bool]]:
    """(private directory, create its parents?) in the order a spool write tries them."""
    db = Path(key)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "claude-ingest" / "spool"
    tmp = Path(os.environ.get("TMPDIR") or "/tmp") / f"claude-ingest-{_uid()}"
    return [(db.with_name(db.name + ".spool"), False), (state, True), (tmp, False)]


def file_name(key: str, suffix: str = "") -> str:
    """``claude.db.<hash>.spool.jsonl`` (``suffix`` ``.opencode`` for OpenCode events): one per database."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{Path(key).name}.{digest}{suffix}.spool.jsonl"


def spool_files(db_path, suffix: str = "") -> list[Path]:
    """The spool file of this database and kind in each location (whether or not it exists)."""
    key = db_key(db_path)
    return [loc / file_name(key, suffix) for loc, _ in locations(key)]


# -- private directories and files ---------------------------------------------------------------
def _ours(st: os.stat_result) -> bool:
    return st.st_uid == _uid() if _uid() >= 0 else True


def open_private_dir(path: Path, *, create: bool, parents: bool = False) -> int | None:
    """A descriptor of ``path`` if it is a directory of ours that nobody else can enter (made so if
    it was ours and wider); None if it is missing (and not ``create``d), another user's, or a link."""
    if create:
        try:
            if parents:
                os.makedirs(path.parent, mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        fd = os.open(path, _O_DIR)
    except OSError:  # missing, not a directory, or a symlink (O_NOFOLLOW)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode) or not _ours(st):
            raise OSError("not a private directory of this user")
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)  # ours, made wider by an umask or by hand: private again
        return fd
    except OSError:
        os.close(fd)
        return None


def _check_file(fd: int) -> os.stat_result:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or not _ours(st) or st.st_nlink != 1:
        raise OSError(f"not a spool file of this user (mode {st.st_mode:o}, uid {st.st_uid}, {st.st_nlink} links)")
    if st.st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return st


def _append(dir_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_FILE, 0o600, dir_fd=dir_fd)
    try:
        _check_file(fd)
        if os.write(fd, data) != len(data):  # one write of whole lines: appends do not interleave
            raise OSError("short write (disk full?)")  # a torn line: replay reads past it
    finally:
        os.close(fd)


def _read(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | _O_FILE, dir_fd=dir_fd)
    try:
        st = _check_file(fd)
        if st.st_size > MAX_BATCH_BYTES:
            raise OSError(f"spool file of {st.st_size:,} bytes is larger than a spool ever grows")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


# -- writing ---------------------------------------------------------------------------------------
def _redacted(text: str, budget: float | None) -> tuple[str, str]:
    """The payload as it may be stored, and how it was redacted. Redaction is linear; if it still
    cannot finish in ``budget`` seconds (a deadline already close), a coarse linear mask is used."""
    if not redact.enabled():
        return text, "off"
    try:
        with time_limit(budget):
            return redact.redact_json_text(text), "full"
    except EntryTimeout:
        return _COARSE.sub("[REDACTED:unchecked]", text), "coarse"


def entry_line(key: str, raw: bytes, received_at: str, *, reason: str | None = None,
               event_id: str | None = None, size: int | None = None, budget: float | None = None) -> bytes:
    text, how = _redacted(raw.decode("utf-8", "surrogateescape"), budget)
    entry = {"spool": ENTRY_VERSION, "received_at": received_at, "db": key,
             "id": event_id or hashlib.sha256(raw).hexdigest(), "size": len(raw) if size is None else size,
             "redaction": how, "reason": reason, "raw": text}
    return (json.dumps(entry, ensure_ascii=True) + "\n").encode()  # ASCII: lone surrogates survive


def spool(db_path, raw: bytes, received_at: str, *, suffix: str = "", reason: str | None = None,
          event_id: str | None = None, size: int | None = None, budget: float | None = None) -> Path | None:
    """Append one event to this database's spool in the first location that takes it; where it went."""
    key = db_key(db_path)
    line = entry_line(key, raw, received_at, reason=reason, event_id=event_id, size=size, budget=budget)
    name = file_name(key, suffix)
    for loc, parents in locations(key):
        dir_fd = open_private_dir(loc, create=True, parents=parents)
        if dir_fd is None:
            continue
        try:
            _append(dir_fd, name, line)
            return loc / name
        except OSError:
            continue
        finally:
            os.close(dir_fd)
    return None


# -- time limits -----------------------------------------------------------------------------------
class time_limit:
    """Raise :class:`EntryTimeout` in the block after ``seconds`` (main thread, POSIX; else no limit).
    An alarm already set (the hook's own deadline) is put back, less the time spent."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.active = bool(seconds) and hasattr(signal, "setitimer") and (
            threading.current_thread() is threading.main_thread())

    def __enter__(self):
        if self.active:
            self.started = time.monotonic()
            self.old_handler = signal.signal(signal.SIGALRM, self._fire)
            self.old_timer = signal.setitimer(signal.ITIMER_REAL, 0)[0]
            first = self.seconds if not self.old_timer else min(self.seconds, self.old_timer)
            self.outer_first = bool(self.old_timer) and self.old_timer <= self.seconds
            signal.setitimer(signal.ITIMER_REAL, first)
        return self

    def _fire(self, signum, frame):
        if self.outer_first and callable(self.old_handler):
            self.old_handler(signum, frame)  # the outer deadline came first: it is not this entry's fault
        raise EntryTimeout()

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old_handler)
            if self.old_timer:
                left = self.old_timer - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
        return False


# -- replay ----------------------------------------------------------------------------------------
_TRANSIENT = ("locked", "busy", "disk", "full", "readonly", "read-only", "i/o", "unable to open", "malformed",
              "not a database", "no such table")


def _transient(e: BaseException) -> bool:
    """A failure of the database, not of the entry: stop and leave the spool for a later run."""
    if isinstance(e, OSError):
        return True
    return isinstance(e, (sqlite3.OperationalError, sqlite3.DatabaseError)) and not isinstance(
        e, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError)) and any(
        word in str(e).lower() for word in _TRANSIENT)


def _decode_entry(line: bytes):
    # A write cut short (a full disk) leaves a line without its newline, and the next entry is
    # appended to it: replay that entry (the torn one went to another location or was never kept).
    start = max(line.rfind(s) for s in _ENTRY_STARTS)
    line = line[start:] if start > 0 else line
    try:
        entry = json.loads(line)
        raw = entry["raw"].encode("utf-8", "surrogateescape")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError):
        return None, line
    return (entry, raw), line


def _claim_name(name: str, attempt: int) -> str:
    return f"{name}.{attempt}.{os.getpid()}.{time.time_ns()}.replaying"


_CLAIMED = re.compile(r"\.(\d+)\.(\d+)\.(\d+)\.replaying$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process of that pid: not ours to judge


def _claims(dir_fd: int, name: str) -> list[tuple[str, int]]:
    """Batches to replay: claimed ones left by a process that died (their attempt counted), then
    what was spooled so far, renamed atomically so that one process replays it."""
    out = []
    try:
        names = os.listdir(dir_fd)
    except OSError:
        return out
    for other in sorted(names):
        match = _CLAIMED.search(other) if other.startswith(name + ".") else None
        if not match:
            continue
        attempt, pid, ns = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if pid != os.getpid() and _alive(pid) and time.time_ns() - ns < STALE_CLAIM_S * 1e9:
            continue  # another replay is at it now
        mine = _claim_name(name, attempt + 1)
        try:
            os.rename(other, mine, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            out.append((mine, attempt + 1))
        except OSError:
            continue  # someone else claimed it first
    if name in names:
        mine = _claim_name(name, 0)
        try:
            os.rename(name, mine, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            out.append((mine, 0))
        except OSError:
            pass
    return out


class Replay:
    """One replay of a database's spool of one kind of event (``sink``: an ``EventSink``)."""

    def __init__(self, conn, db_path, sink, *, budget: float | None = None, entry_limit: float | None = ENTRY_LIMIT_S):
        self.conn, self.sink = conn, sink
        self.key = db_key(db_path)
        self.name = file_name(self.key, sink.spool_suffix)
        self.deadline = None if budget is None else time.monotonic() + budget
        self.entry_limit = entry_limit
        self.replayed = self.set_aside = 0
        self.stopped = False  # the database failed, or time ran out: the rest waits for a later run

    def run(self) -> int:
        for loc, _ in locations(self.key):
            if self.stopped:
                break
            dir_fd = open_private_dir(loc, create=False)
            if dir_fd is None:
                continue
            try:
                for batch, attempt in _claims(dir_fd, self.name):
                    self._batch(dir_fd, batch, attempt)
            finally:
                os.close(dir_fd)
        if not self.stopped:
            self._legacy()
        return self.replayed

    def _batch(self, dir_fd: int, batch: str, attempt: int) -> None:
        try:
            data = _read(dir_fd, batch)
        except OSError as e:
            self._set_aside(dir_fd, [], f"unreadable spool batch: {e}")
            _unlink(dir_fd, batch)
            return
        lines = [line for line in data.splitlines() if line.strip()]
        if attempt >= MAX_ATTEMPTS:  # replays of it died (killed) again and again: stop trying
            self._set_aside(dir_fd, lines, f"replay of this batch died {attempt} times")
            _unlink(dir_fd, batch)
            return
        back, aside = [], []
        for i, line in enumerate(lines):
            if self.stopped or (self.deadline is not None and time.monotonic() > self.deadline):
                self.stopped = True
                back.extend(lines[i:])
                break
            decoded, line = _decode_entry(line)
            if decoded is None:
                continue  # a torn line cannot be replayed; its event is lost only if never re-sent
            entry, raw = decoded
            try:
                with time_limit(self.entry_limit):
                    self._write(entry, raw)
                self.replayed += 1
            except EntryTimeout:
                aside.append((line, f"took longer than {self.entry_limit} s to replay"))
            except Exception as e:  # noqa: BLE001 - a bad entry is set aside, a bad database stops replay
                if _transient(e):
                    self.stopped = True
                    back.extend(lines[i:])
                    break
                aside.append((line, f"{type(e).__name__}: {e}"[:300]))
        if back:
            _append(dir_fd, self.name, b"\n".join(back) + b"\n")
        for line, reason in aside:
            self._set_aside(dir_fd, [line], reason)
        _unlink(dir_fd, batch)

    def _write(self, entry: dict, raw: bytes) -> None:
        self.sink.write(self.conn, raw, entry.get("received_at") or now_iso(), source=self.sink.replay_source,
                        event_id=entry.get("id"), size=entry.get("size"))

    def _set_aside(self, dir_fd: int, lines: list[bytes], reason: str) -> None:
        out = []
        for line in lines or [b""]:
            try:
                entry = json.loads(line) if line else {}
            except ValueError:
                entry = {"raw": line.decode("utf-8", "replace")}
            entry.update(failed=reason, failed_at=now_iso())
            out.append(json.dumps(entry, ensure_ascii=True).encode())
        self.set_aside += len(lines)
        try:
            _append(dir_fd, failed_name(self.name), b"\n".join(out) + b"\n")
        except OSError:
            pass

    def _legacy(self) -> None:
        """Spool files of the first format (one shared file per location, raw payloads): replayed if
        they are regular files of this user; entries for other databases move to their own spools."""
        for path in legacy_paths(self.key, self.sink.spool_suffix):
            try:
                dir_fd = os.open(path.parent, _O_DIR)
            except OSError:
                continue
            try:
                names = [n for n in os.listdir(dir_fd) if n == path.name or (
                    n.startswith(path.name + ".") and n.endswith(".replaying"))]
                for name in names:
                    if self.stopped:
                        return
                    try:
                        data = _read(dir_fd, name)  # refuses what is not a regular file of ours
                        os.unlink(name, dir_fd=dir_fd)
                    except OSError:
                        continue
                    self._legacy_lines(data)
            finally:
                os.close(dir_fd)

    def _legacy_lines(self, data: bytes) -> None:
        for line in data.splitlines():
            decoded, _ = _decode_entry(line)
            if decoded is None:
                continue
            entry, raw = decoded
            target, suffix = _legacy_target(entry.get("db") or "")
            if (target, suffix) == (self.key, self.sink.spool_suffix):
                try:
                    with time_limit(self.entry_limit):
                        self.sink.write(self.conn, raw, entry.get("received_at") or now_iso(),
                                        source=self.sink.replay_source)
                    self.replayed += 1
                    continue
                except Exception as e:  # noqa: BLE001
                    if not _transient(e):
                        continue
            # another database's or kind's event (or this one's, while the database fails): moved
            # to its own spool, redacted
            spool(target, raw, entry.get("received_at") or now_iso(), suffix=suffix,
                  reason="moved from a spool file of an earlier version")


def _legacy_target(db: str) -> tuple[str, str]:
    """(database, kind suffix) of a first-format entry: OpenCode's were filed under ``<db>.opencode``."""
    if db.endswith(".opencode"):
        return db_key(db[: -len(".opencode")]), ".opencode"
    return db_key(db), ""


def failed_name(name: str) -> str:
    return name[: -len(".spool.jsonl")] + ".failed.jsonl"


def legacy_paths(key: str, suffix: str = "") -> list[Path]:
    """Where the first spool format kept its files (beside the database, state dir, temp dir)."""
    db = Path(key)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "claude-ingest"
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    return [db.with_name(db.name + suffix + ".spool.jsonl"), state / "spool.jsonl",
            tmp / f"claude-ingest-{_uid()}.spool.jsonl"]


def _unlink(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def replay(conn, db_path, sink, *, budget: float | None = None, entry_limit: float | None = ENTRY_LIMIT_S) -> int:
    """Write the spooled events of this kind meant for this database; how many were replayed."""
    return Replay(conn, db_path, sink, budget=budget, entry_limit=entry_limit).run()


# -- what is waiting -----------------------------------------------------------------------------
def backlog(db_path, suffix: str = "") -> dict:
    """Events of one kind spooled for this database: waiting, set aside, where, and why they spooled."""
    key = db_key(db_path)
    name = file_name(key, suffix)
    out = {"waiting": 0, "set_aside": 0, "files": [], "reasons": {}}
    for loc, _ in locations(key):
        dir_fd = open_private_dir(loc, create=False)
        if dir_fd is None:
            continue
        try:
            for other in sorted(os.listdir(dir_fd)):
                failed = other == failed_name(name)
                if not (failed or other == name or (other.startswith(name + ".") and other.endswith(".replaying"))):
                    continue
                try:
                    lines = [line for line in _read(dir_fd, other).splitlines() if line.strip()]
                except OSError:
                    continue
                for line in lines:
                    decoded, _ = _decode_entry(line)
                    if decoded and not failed:
                        reason = decoded[0].get("reason") or "unknown"
                        out["reasons"][reason] = out["reasons"].get(reason, 0) + 1
                out["set_aside" if failed else "waiting"] += len(lines)
                out["files"].append({"path": str(loc / other), "events": len(lines), "set_aside": failed})
        finally:
            os.close(dir_fd)
    for path in legacy_paths(key, suffix):
        try:
            dir_fd = os.open(path.parent, _O_DIR)
        except OSError:
            continue
        try:
            data = _read(dir_fd, path.name)
        except OSError:
            continue
        finally:
            os.close(dir_fd)
        n = 0
        for line in data.splitlines():
            decoded, _ = _decode_entry(line)
            n += bool(decoded) and _legacy_target(decoded[0].get("db") or "") == (key, suffix)
        if n:
            out["waiting"] += n
            out["files"].append({"path": str(path), "events": n, "set_aside": False})
    return out
