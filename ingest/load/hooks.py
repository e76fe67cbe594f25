"""``claude-ingest hook``: one Claude Code hook payload on stdin into the database, invisibly.

It runs on every tool call of every session, inside the agent's loop, so it:

* always exits 0 and prints nothing on stdout (on SessionStart and UserPromptSubmit stdout would be
  injected into the model's context) nor, unless ``CLAUDE_INGEST_DEBUG=1``, on stderr;
* returns within a bounded time (an alarm cuts it short, and the payload is spooled);
* imports no click, sqlite-utils or datasette, and writes through the same schema, store and merge
  rules as everything else;
* stores the raw payload first (keyed by content hash, so a retried call is not doubled), then the
  rows derived from it, in one transaction; a payload that cannot be derived is still kept raw;
* when the database is locked past a short timeout, unwritable, corrupt or its directory is missing,
  appends the payload (redacted) to a private spool (:mod:`ingest.load.spool`), replayed by the next
  successful ``hook`` (for at most half a second, after its own event is stored) or ``backfill``;
* reads stdin until the payload is whole, not until an end of file that may never come, and keeps
  a payload of any size: a large one is derived from what fits, its original size kept.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

from .. import redact
from .. import store as store_mod
from ..clock import now_iso
from ..identity import MACHINE_ENV, host
from ..parse import hooks as parser
from ..paths import default_db_path
from . import spool as spool_mod

BUSY_TIMEOUT_S = 2.0  # then spool: a long backfill transaction must not stall the agent
DEADLINE_S = 5  # the whole run; Claude Code's own timeout for the hook is set above this
REPLAY_BUDGET_S = 0.5  # what one hook spends replaying others' spooled events, after its own is stored
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # read and decoded whole; of a larger payload the head is kept
PAYLOAD_KEEP_BYTES = 1024 * 1024  # stored as it came up to this; beyond, its long strings are cut
PAYLOAD_STRING_CHARS = 64 * 1024  # (the size column keeps the original size)
DEBUG_ENV = "CLAUDE_INGEST_DEBUG"


class _Deadline(Exception):
    pass


class EventSink:
    """One kind of live event that a command inside an agent's loop stores, never failing.

    ``write(conn, raw, received_at, *, source, event_id=None, size=None)`` stores one event (see
    :func:`store_event`); events of this kind spool in files of their own (``spool_suffix``), so
    each kind replays only its own (:mod:`ingest.load.spool`)."""

    __slots__ = ("name", "write", "spool_suffix", "replay_source")

    def __init__(self, name: str, write, spool_suffix: str = "", replay_source: str = "spool"):
        self.name, self.write, self.spool_suffix, self.replay_source = name, write, spool_suffix, replay_source


def replay_spool(conn: sqlite3.Connection, db_path: Path, sink: "EventSink | None" = None, *,
                 budget: float | None = None) -> int:
    """Write every spooled event of this kind meant for this database; return how many were replayed."""
    return spool_mod.replay(conn, db_path, sink or CLAUDE_HOOK, budget=budget)


def spool(db_path: Path, raw: bytes, received_at: str, sink: "EventSink | None" = None, *,
          reason: str | None = None, size: int | None = None, budget: float | None = None,
          event_id: str | None = None) -> Path | None:
    """Spool one event for this database (redacted, 0600, in a private directory); where it went."""
    return spool_mod.spool(db_path, raw, received_at, suffix=(sink or CLAUDE_HOOK).spool_suffix, reason=reason,
                           size=size, budget=budget, event_id=event_id)


def spool_paths(db_path: Path, sink: "EventSink | None" = None) -> list[Path]:
    """The spool file of this database and kind in each location, in the order spooling tries them."""
    return spool_mod.spool_files(db_path, (sink or CLAUDE_HOOK).spool_suffix)


# -- writing -------------------------------------------------------------------------------------
def store_event(conn: sqlite3.Connection, event_row: dict, derive) -> bool:
    """The raw event first (keyed by the content hash in ``event_row["id"]``: a retried call is
    stored once), then the rows ``derive(conn)`` returns, in one transaction. Rows that cannot be
    derived are rolled back alone and the reason kept on the raw event. False if already stored."""
    store = store_mod.Store(conn)
    with store.atomic():
        if conn.execute("select 1 from hook_events where id = ?", (event_row["id"],)).fetchone():
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
    return True


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


_HEAD_FIELD = re.compile(rb'"(hook_event_name|session_id|transcript_path|cwd|permission_mode|tool_name|tool_use_id|'
                         rb'agent_id|agent_type)"\s*:\s*"((?:[^"\\]|\\.){0,4096}?)"')
_TOOL_INPUT = re.compile(rb'"tool_input"\s*:\s*')


def salvage(head: bytes) -> dict | None:
    """What can be read from the head of a payload too large to decode whole (its tool output is
    what makes it large; the fields that say what happened come first): the top-level strings
    before the cut, and ``tool_input`` if it is whole."""
    fields: dict = {}
    for match in _HEAD_FIELD.finditer(head[:1 << 20]):
        try:
            fields.setdefault(match.group(1).decode(), json.loads(b'"' + match.group(2) + b'"'))
        except ValueError:
            continue
    found = _TOOL_INPUT.search(head[:1 << 20])
    if found:
        try:
            value, _ = json.JSONDecoder().raw_decode(head[found.end():found.end() + (16 << 20)].decode("utf-8", "replace"))
            if isinstance(value, dict):
                fields["tool_input"] = value
        except ValueError:
            pass
    return fields if "session_id" in fields else None


def write_event(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "hook",
                event_id: str | None = None, size: int | None = None, machine: str | None = None) -> bool:
    """Store one Claude Code hook payload and what it says. Returns False if already stored.

    ``raw`` may be the head of a larger payload (``size`` says how large it was) or, replayed from
    the spool, a redacted copy (``event_id`` is then the content hash of the original bytes).
    ``machine``: the machine the payload came from (a receiver's token names it), else this one."""
    size = len(raw) if size is None else size
    cut = size > len(raw)
    payload = None if cut else _loads(raw)
    if payload is None and cut:
        payload = salvage(raw)
    fields = payload if isinstance(payload, dict) else {}
    event = parser.event_name(fields) if fields else "unparseable"

    def text(key):
        value = fields.get(key)
        return value if isinstance(value, str) else None

    stored = None
    if len(raw) <= PAYLOAD_KEEP_BYTES:
        stored = raw.decode("utf-8", "replace")
    elif fields and not cut:
        try:
            stored = store_mod.bounded_json(fields, PAYLOAD_STRING_CHARS, redact.enabled())  # redacted, then cut
        except (RecursionError, ValueError):  # nested too deep to walk
            pass
    if stored is None:
        stored = raw[:PAYLOAD_KEEP_BYTES].decode("utf-8", "replace")
    row = {
        "id": event_id or parser.content_id(raw), "received_at": received_at, "event": event,
        "known": 1 if event in parser.KNOWN_EVENTS else 0, "session_id": text("session_id"),
        "agent_id": text("agent_id"), "tool_use_id": text("tool_use_id"), "cwd": text("cwd"),
        "source": source, "size": size, "payload": stored,
    }
    return store_event(conn, row, (lambda conn: parser.records(fields, received_at, machine or host())) if fields
                       else None)


CLAUDE_HOOK = EventSink("hook", write_event)


def posted(body: bytes, machine: str | None) -> bytes:
    """What the plugin's ``/-/claude/hook`` route hands over (and the spool keeps) for one payload
    a Claude Code ``"type": "http"`` hook posted: the payload as it came, and the machine its token
    names (None: this machine)."""
    return json.dumps({"machine": machine, "body": body.decode("utf-8", "surrogateescape")},
                      ensure_ascii=True).encode()


def write_posted(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "http-hook",
                 event_id: str | None = None, size: int | None = None) -> bool:
    """Store one posted payload (:func:`posted`) exactly as ``claude-ingest hook`` stores one read on
    stdin, keyed by the same content hash of the payload's bytes, its rows labelled with the machine
    the token named, never with one the payload names."""
    envelope = json.loads(raw)
    body = envelope["body"].encode("utf-8", "surrogateescape")
    machine = envelope.get("machine") if isinstance(envelope.get("machine"), str) else None
    return write_event(conn, body, received_at, source=source, event_id=event_id or parser.content_id(body),
                       size=size, machine=machine)


POSTED_HOOK = EventSink("http-hook", write_posted, spool_suffix=".http-hook", replay_source="http-hook-spool")


def handle(raw: bytes, db_path: Path, received_at: str | None = None, sink: EventSink | None = None, *,
           size: int | None = None, replay_budget: float | None = REPLAY_BUDGET_S, event_id: str | None = None) -> str:
    """Store one event, or spool it; then replay what others spooled, for at most ``replay_budget``
    seconds (0: not now). 'stored', 'duplicate', 'spooled' or 'lost'. ``event_id``: the event's
    key when ``raw`` is an envelope around it (a posted hook payload), kept by the spool."""
    sink = sink or CLAUDE_HOOK
    received_at = received_at or now_iso()
    db_path = Path(spool_mod.db_key(db_path))  # a relative --db and an absolute one are one database

    def spool_it(e: BaseException) -> str:
        reason = f"{type(e).__name__}: {e}"[:200]
        return "spooled" if spool(db_path, raw, received_at, sink, reason=reason, size=size,
                                  event_id=event_id) else "lost"

    try:
        conn = store_mod.connect(db_path, timeout=BUSY_TIMEOUT_S)
    except (sqlite3.Error, OSError) as e:
        return spool_it(e)
    try:
        try:
            stored = sink.write(conn, raw, received_at, size=size, **({"event_id": event_id} if event_id else {}))
        except (sqlite3.Error, OSError) as e:
            return spool_it(e)
        if replay_budget != 0:
            try:
                replay_spool(conn, db_path, sink, budget=replay_budget)
            except (sqlite3.Error, OSError):
                pass  # the spool stays for the next run
        return "stored" if stored else "duplicate"
    finally:
        conn.close()


def _parse_db(argv: list[str]) -> Path:
    """The --db of the argv (default: the usual database); a --machine in it names this machine for
    what this run writes (as CLAUDE_INGEST_MACHINE does)."""
    for i, arg in enumerate(argv):
        if arg == "--machine" and i + 1 < len(argv) and argv[i + 1].strip():
            os.environ[MACHINE_ENV] = argv[i + 1].strip()
        elif arg.startswith("--machine=") and arg[10:].strip():
            os.environ[MACHINE_ENV] = arg[10:].strip()
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            return Path(spool_mod.db_key(argv[i + 1]))
        if arg.startswith("--db="):
            return Path(spool_mod.db_key(arg[5:]))
    return Path(spool_mod.db_key(default_db_path()))


class PayloadReader:
    """Reads one payload from stdin and stops as soon as it is whole, even if stdin stays open
    (waiting for an end of file that never comes would cost the whole deadline and lose the event).
    Keeps the first ``limit`` bytes and counts the rest."""

    PAUSE_S = 0.02  # no more bytes for this long after a closing brace: try whether the JSON is whole

    def __init__(self, fd: int | None = 0, limit: int = MAX_PAYLOAD_BYTES):
        self.fd, self.limit = fd, limit
        self.buf = bytearray()
        self.total = 0

    def read(self) -> bytes:
        import select

        if self.fd is None:  # stdin is not a file descriptor (a program calling the CLI in process)
            stream = getattr(sys.stdin, "buffer", sys.stdin)
            data = stream.read(self.limit + 1) or b""
            data = data.encode() if isinstance(data, str) else data
            self.buf += data[: self.limit]
            self.total = len(data) + len(stream.read() or b"") if len(data) > self.limit else len(data)
            return bytes(self.buf)
        while True:
            if self.total == len(self.buf) and self._ends_in_brace():
                try:
                    ready = select.select([self.fd], [], [], self.PAUSE_S)[0]
                except (OSError, ValueError):
                    ready = [self.fd]
                if not ready and _loads(bytes(self.buf)) is not None:
                    break
            try:
                chunk = os.read(self.fd, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                break  # no stdin at all
            if not chunk:
                break
            self.total += len(chunk)
            room = self.limit - len(self.buf)
            if room > 0:
                self.buf += chunk[:room]
        return bytes(self.buf)

    def _ends_in_brace(self) -> bool:
        buf, i = self.buf, len(self.buf) - 1
        while i >= 0 and buf[i] in b" \t\r\n":
            i -= 1
        return i >= 0 and buf[i] == 0x7D


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is both
        return None


_SESSION_END = re.compile(rb'"hook_event_name"\s*:\s*"SessionEnd"')


def main(argv: list[str] | None = None, sink: EventSink | None = None) -> int:
    """Entry point of ``claude-ingest hook [--db PATH]`` (and of the other sinks' commands): always
    0, never a byte on stdout."""
    sink = sink or CLAUDE_HOOK
    debug = os.environ.get(DEBUG_ENV) == "1"
    reader = PayloadReader(_stdin_fd())
    db_path = None
    received_at = now_iso()

    def deadline(signum, frame):
        raise _Deadline()

    try:
        if hasattr(signal, "SIGALRM"):
            signal.signal(signal.SIGALRM, deadline)
            signal.alarm(DEADLINE_S)
        db_path = _parse_db(argv if argv is not None else sys.argv[2:])
        raw = reader.read()
        # SessionEnd shares a short budget with the session's exit: store it and leave at once.
        budget = 0 if _SESSION_END.search(raw[:65536]) else REPLAY_BUDGET_S
        outcome = handle(raw, db_path, received_at, sink, size=reader.total, replay_budget=budget)
        if debug:
            print(f"claude-ingest {sink.name}: {outcome} ({db_path})", file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - nothing may escape into the agent's loop
        if reader.buf and db_path is not None:
            try:
                spool(db_path, bytes(reader.buf), received_at, sink, reason=f"hook cut short: {type(e).__name__}",
                      size=reader.total, budget=0.5)
            except BaseException:  # noqa: BLE001
                pass
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
    finally:
        if hasattr(signal, "SIGALRM"):
            signal.alarm(0)
    return 0
