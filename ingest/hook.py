"""``claude-ingest hook``: one Claude Code hook payload on stdin into the database, invisibly.

It runs on every tool call of every session, inside the agent's loop, so it:

* always exits 0 and prints nothing on stdout (on SessionStart and UserPromptSubmit stdout would be
  injected into the model's context) nor, unless ``CLAUDE_INGEST_DEBUG=1``, on stderr;
* returns within a bounded time (an alarm cuts it short, and the payload is spooled);
* imports no click, sqlite-utils or datasette, and writes through the same schema, store and merge
  rules as everything else;
* stores the raw payload first (keyed by content hash, so a retried call is not doubled), then the
  rows derived from it, in one transaction; a payload that cannot be derived is still kept raw;
* when the database is locked past a short timeout, unwritable, or its directory is missing, appends
  the payload to a spool file beside the database, replayed by the next successful ``hook`` or
  ``backfill``. Nothing is lost.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

from . import store as store_mod
from .paths import default_db_path
from .sources import hooks as parser

BUSY_TIMEOUT_S = 2.0  # then spool: a long backfill transaction must not stall the agent
DEADLINE_S = 5  # the whole run; Claude Code's own timeout for the hook is set above this
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
DEBUG_ENV = "CLAUDE_INGEST_DEBUG"


class _Deadline(Exception):
    pass


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _host() -> str | None:
    try:
        return os.uname().nodename
    except (AttributeError, OSError):
        return None


# -- spool ---------------------------------------------------------------------------------------
def spool_paths(db_path: Path) -> list[Path]:
    """Where a payload goes when the database cannot take it: beside the database, else in the
    user's state directory, else the temp directory (a missing or read-only database directory)."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "claude-ingest"
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return [db_path.with_name(db_path.name + ".spool.jsonl"), state / "spool.jsonl",
            tmp / f"claude-ingest-{uid}.spool.jsonl"]


_ENTRY_START = b'{"received_at": '  # how every spool line starts (never unescaped inside one)


def spool(db_path: Path, raw: bytes, received_at: str) -> Path | None:
    line = json.dumps({"received_at": received_at, "db": str(db_path),
                       "raw": raw.decode("utf-8", "surrogateescape")}) + "\n"
    for path in spool_paths(db_path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                data = line.encode()
                if os.write(fd, data) != len(data):  # one write of one line: appends do not interleave
                    raise OSError("short write (disk full?)")  # a torn line: replay skips past it
            finally:
                os.close(fd)
            return path
        except OSError:
            continue
    return None


class EventSink:
    """One kind of live event that a command inside an agent's loop stores, never failing.

    ``write(conn, raw, received_at, source=...)`` stores one event (see :func:`store_event`);
    events of this kind spool under ``<db><spool_suffix>.spool.jsonl`` (and the shared fallbacks,
    where each entry names the database it is for), so each kind replays only its own."""

    __slots__ = ("name", "write", "spool_suffix", "replay_source")

    def __init__(self, name: str, write, spool_suffix: str = "", replay_source: str = "spool"):
        self.name, self.write, self.spool_suffix, self.replay_source = name, write, spool_suffix, replay_source

    def spool_key(self, db_path: Path) -> Path:
        return db_path.with_name(db_path.name + self.spool_suffix) if self.spool_suffix else db_path


def replay_spool(conn: sqlite3.Connection, db_path: Path, sink: "EventSink | None" = None) -> int:
    """Write every spooled event of this kind meant for this database; return how many were replayed."""
    sink = sink or CLAUDE_HOOK
    key = sink.spool_key(db_path)
    replayed = 0
    for path in spool_paths(key):
        batches = sorted(path.parent.glob(path.name + ".*.replaying")) if path.parent.exists() else []
        if path.exists():
            claimed = path.with_name(f"{path.name}.{os.getpid()}.{time.time_ns()}.replaying")
            try:
                os.rename(path, claimed)  # atomic: one process claims what was spooled so far
                batches.append(claimed)
            except OSError:
                pass
        for batch in batches:
            replayed += _replay_file(conn, str(key), path, batch, sink)
    return replayed


def _replay_file(conn, key: str, spool_file: Path, batch: Path, sink: EventSink) -> int:
    try:
        lines = batch.read_bytes().splitlines()
    except OSError:
        return 0
    kept, count = [], 0
    for line in lines:
        # A write cut short (a full disk) leaves a line without its newline, and the next entry is
        # appended to it: replay that entry (the torn one went to another spool or was never kept).
        start = line.rfind(_ENTRY_START)
        line = line[start:] if start > 0 else line
        try:
            entry = json.loads(line)
            raw = entry["raw"].encode("utf-8", "surrogateescape")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a torn line cannot be replayed; its event is lost only if never re-sent
        if entry.get("db") != key:
            kept.append(line)  # another kind's event, or another database's, in a shared fallback
            continue
        sink.write(conn, raw, entry.get("received_at") or _now(), source=sink.replay_source)
        count += 1
    if kept:
        with open(spool_file, "ab") as f:
            f.write(b"\n".join(kept) + b"\n")
    batch.unlink(missing_ok=True)
    return count


# -- writing -------------------------------------------------------------------------------------
def store_event(conn: sqlite3.Connection, event_row: dict, derive) -> bool:
    """The raw event first (keyed by the content hash in ``event_row["id"]``: a retried call is
    stored once), then the rows ``derive(conn)`` returns, in one transaction. Rows that cannot be
    derived are rolled back alone and the reason kept on the raw event. False if already stored."""
    store = store_mod.Store(conn)
    store.begin()
    try:
        if conn.execute("select 1 from hook_events where id = ?", (event_row["id"],)).fetchone():
            store.rollback()
            return False
        store.add("hook_events", event_row)
        store.flush()
        if derive is not None:
            conn.execute("savepoint derive")
            try:
                store.write(derive(conn))
                store.derive()
                conn.execute("release derive")
            except Exception as e:  # noqa: BLE001 - any payload's rows (an int past 64 bits, deep nesting...)
                store.discard()
                conn.execute("rollback to derive")
                conn.execute("release derive")
                conn.execute("update hook_events set derive_error = ? where id = ?",
                             (f"{type(e).__name__}: {e}"[:500], event_row["id"]))
        store.commit()
        return True
    except BaseException:
        store.rollback()
        raise


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _loads(raw: bytes):
    """The payload, or None when it is not JSON (or nested too deep to decode). A lone surrogate
    (``"\\ud83d"``: JavaScript can cut a string mid-pair) cannot be stored as SQLite text: it becomes
    U+FFFD, as invalid bytes do in the stored payload."""
    try:
        payload = json.loads(raw)
        if b"\\ud" in raw or b"\\uD" in raw or b"\xed" in raw:
            payload = json.loads(_LONE_SURROGATE.sub("\ufffd", json.dumps(payload, ensure_ascii=False)))
        return payload
    except (ValueError, RecursionError):
        return None


def write_event(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "hook") -> bool:
    """Store one Claude Code hook payload and what it says. Returns False if already stored."""
    payload = _loads(raw)
    fields = payload if isinstance(payload, dict) else {}
    event = parser.event_name(fields) if fields else "unparseable"

    def text(key):
        value = fields.get(key)
        return value if isinstance(value, str) else None

    row = {
        "id": parser.content_id(raw), "received_at": received_at, "event": event,
        "known": 1 if event in parser.KNOWN_EVENTS else 0, "session_id": text("session_id"),
        "agent_id": text("agent_id"), "tool_use_id": text("tool_use_id"), "cwd": text("cwd"),
        "source": source, "size": len(raw), "payload": raw.decode("utf-8", "replace"),
    }
    return store_event(conn, row, (lambda conn: parser.records(fields, received_at, _host())) if fields else None)


CLAUDE_HOOK = EventSink("hook", write_event)


def handle(raw: bytes, db_path: Path, received_at: str | None = None, sink: EventSink | None = None) -> str:
    """Store one event, or spool it; then replay any spool. 'stored', 'duplicate', 'spooled' or 'lost'."""
    sink = sink or CLAUDE_HOOK
    received_at = received_at or _now()
    try:
        conn = store_mod.connect(db_path, timeout=BUSY_TIMEOUT_S)
    except (sqlite3.Error, OSError):
        return "spooled" if spool(sink.spool_key(db_path), raw, received_at) else "lost"
    try:
        try:
            stored = sink.write(conn, raw, received_at)
        except (sqlite3.Error, OSError):
            return "spooled" if spool(sink.spool_key(db_path), raw, received_at) else "lost"
        try:
            replay_spool(conn, db_path, sink)
        except (sqlite3.Error, OSError):
            pass  # the spool stays for the next run
        return "stored" if stored else "duplicate"
    finally:
        conn.close()


def _parse_db(argv: list[str]) -> Path:
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            return Path(argv[i + 1]).expanduser()
        if arg.startswith("--db="):
            return Path(arg[5:]).expanduser()
    return default_db_path()


def main(argv: list[str] | None = None, sink: EventSink | None = None) -> int:
    """Entry point of ``claude-ingest hook [--db PATH]`` (and of the other sinks' commands): always
    0, never a byte on stdout."""
    sink = sink or CLAUDE_HOOK
    debug = os.environ.get(DEBUG_ENV) == "1"
    raw = b""
    db_path = None
    received_at = _now()

    def deadline(signum, frame):
        raise _Deadline()

    try:
        if hasattr(signal, "SIGALRM"):
            signal.signal(signal.SIGALRM, deadline)
            signal.alarm(DEADLINE_S)
        db_path = _parse_db(argv if argv is not None else sys.argv[2:])
        raw = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES)
        outcome = handle(raw, db_path, received_at, sink)
        if debug:
            print(f"claude-ingest {sink.name}: {outcome} ({db_path})", file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - nothing may escape into the agent's loop
        if raw and db_path is not None:
            try:
                spool(sink.spool_key(db_path), raw, received_at)
            except BaseException:  # noqa: BLE001
                pass
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
    finally:
        if hasattr(signal, "SIGALRM"):
            signal.alarm(0)
    return 0
