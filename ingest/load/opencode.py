"""``claude-ingest opencode`` and ``claude-ingest opencode-event``: OpenCode into the database.

``ingest_opencode(db_path, path)`` reads every storage generation under an OpenCode data directory
(OpenCode moved from JSON files to SQLite in v1.2.0, 2026-02-14; the first versions kept
per-project stores):

* ``opencode.db`` (and ``opencode-<channel>.db``), v1.2+: opened read-only through a ``mode=ro`` URI
  with a busy timeout, never ``immutable`` (OpenCode keeps it open in WAL mode); if it cannot be
  opened in place it is read from a copy;
* the JSON files under ``storage/`` (v1 until 1.1.65), which the one-shot migration to SQLite left
  behind and sometimes did not migrate: sessions the database has are skipped, and so is any message
  it has;
* the per-project stores of the first versions, ``project/<dir>/storage/session/{info,message,part}``.

A source unchanged since the last run (sizes and mtimes) is not read again; reading one again
changes nothing, since every row has its natural key.

``handle_event(raw, db_path)`` is ``opencode-event``: one plugin event from stdin, stored raw in
``hook_events`` first (keyed by content hash) with the rows derived from it in the same
transaction, under the same rules as ``claude-ingest hook`` (:mod:`ingest.load.hooks`): exit 0, nothing on
stdout, a bounded time, and a spool beside the database when it is locked or unwritable.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .. import store as store_mod
from ..clock import now_iso
from ..identity import host as this_host
from ..parse.hooks import content_id
from ..parse.opencode import KNOWN_EVENTS, OpenCodeParser
from . import files, runs
from . import hooks as hook_mod
from .runs import rows_text, unpriced_text

DATA_ENV = "OPENCODE_DATA_DIR"  # ccusage's variable for the same directory
BUSY_TIMEOUT_MS = files.STORE_BUSY_TIMEOUT_MS
COMMIT_EVERY = 20000  # records per transaction


def default_data_dir() -> Path:
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "opencode"


@dataclass
class OpenCodeSummary:
    run_id: str
    sources_read: list = field(default_factory=list)
    sources_unchanged: int = 0
    sessions: int = 0
    subagents: int = 0
    messages: int = 0
    skipped_duplicates: int = 0
    bad_files: int = 0
    rows: dict = field(default_factory=runs.no_rows)  # added, changed, removed per table (store.RowCounter)
    unpriced: Counter = field(default_factory=Counter)
    spooled: int = 0
    seconds: float = 0.0
    go_stores: object = None  # the CrushSummary of the Go OpenCode stores found there, if any
    not_stores: list = field(default_factory=list)  # SQLite files that are no OpenCode store, said so

    def line(self) -> str:
        rows, unpriced = rows_text(self.rows), unpriced_text(self.unpriced)
        read = ", ".join(self.sources_read) or "nothing"
        spooled = f", {self.spooled} spooled events replayed" if self.spooled else ""
        out = (f"{len(self.sources_read)} sources read ({read}), {self.sources_unchanged} unchanged; "
               f"{self.sessions} sessions, {self.subagents} subagent sessions, {self.messages:,} messages, "
               f"{self.skipped_duplicates} already in opencode.db skipped, "
               f"{self.bad_files} unreadable files{spooled}; "
               f"{rows}; unpriced models: {unpriced}; {self.seconds:.2f}s")
        if self.go_stores is not None:
            out += f"; the Go OpenCode / Crush stores: {self.go_stores.line()}"
        for said in self.not_stores:
            out += f"; not read: {said}"
        return out


# -- reading the stores ------------------------------------------------------------------------------
def _read_json(path: Path):
    """A JSON file of the store, or None: unreadable, invalid, too large, or not a regular file (a
    FIFO or a device under the data directory is never opened for a blocking read)."""
    return files.read_json(path)


SqliteSource = files.SqliteSource  # shared with the Go OpenCode / Crush loader


def _session_from_row(row: dict) -> dict:
    """A ``session`` table row in the shape of the JSON era's Session.Info."""
    info = {"id": row.get("id"), "projectID": row.get("project_id"), "parentID": row.get("parent_id"),
            "slug": row.get("slug"), "directory": row.get("directory"), "title": row.get("title"),
            "version": row.get("version"), "agent": row.get("agent"),
            "time": {"created": row.get("time_created"), "updated": row.get("time_updated")}}
    model = row.get("model")
    if isinstance(model, str):
        try:
            model = json.loads(model)
        except ValueError:
            model = None
    info["model"] = model if isinstance(model, dict) else None
    return info


def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}


def _rows(conn, sql, params=()):
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values))


def _decoded(data, **ids) -> dict | None:
    try:
        obj = json.loads(data) if isinstance(data, (str, bytes)) else None
    except ValueError:
        return None
    return {**obj, **{k: v for k, v in ids.items() if v is not None}} if isinstance(obj, dict) else None


class Reader:
    """Everything under one OpenCode data directory, turned into records through one parser."""

    def __init__(self, root: Path, *, host: str | None = None):
        self.root = root
        self.host = host or this_host()
        self.sessions: dict[str, tuple[dict, str]] = {}  # id -> (info, origin)
        self.bad_files = 0
        self.skipped_duplicates = 0
        self.db_messages_ids: set[str] = set()  # messages opencode.db has: their JSON copies are older

    def databases(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        return sorted(p for p in self.root.glob("opencode*.db") if p.is_file())

    def json_roots(self) -> list[tuple[str, Path]]:
        """(layout, storage dir): the v1 JSON store and the first versions' per-project stores."""
        if self.root.is_file():
            return []
        found = []
        storage = self.root / "storage" if (self.root / "storage").is_dir() else self.root
        if (storage / "session").is_dir():
            found.append(("json", storage))
        for old in sorted(self.root.glob("project/*/storage")):
            if (old / "session" / "info").is_dir():
                found.append(("json0", old))
        return found

    @staticmethod
    def json_fingerprint(storage: Path) -> str:
        digest = hashlib.sha1()
        for sub in ("session", "message", "part", "project"):
            base = storage / sub
            if not base.is_dir():
                continue
            for p in sorted(base.rglob("*.json")):
                try:
                    st = p.stat()
                except OSError:
                    continue
                digest.update(f"{p.relative_to(storage)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    # -- loading -----------------------------------------------------------------------------
    def load_db_sessions(self, conn, origin: str) -> list[str]:
        tables = _tables(conn)
        if "session" not in tables:
            return []
        if "message" in tables:
            self.db_messages_ids.update(r[0] for r in conn.execute("select id from message"))
        ids = []
        for row in _rows(conn, "select * from session"):
            info = _session_from_row(row)
            if info["id"]:
                self.sessions[info["id"]] = (info, origin)
                ids.append(info["id"])
        return ids

    def db_messages(self, conn, parser: OpenCodeParser, seen_messages: set[str]):
        """Records of every message of a database, with its parts (read in message order)."""
        tables = _tables(conn)
        if "message" not in tables:
            return
        messages = {}
        for row in _rows(conn, "select id, session_id, time_created, data from message"):
            info = _decoded(row["data"], id=row["id"], sessionID=row["session_id"])
            if info is None:
                self.bad_files += 1
                continue
            info.setdefault("time", {"created": row["time_created"]})
            messages[row["id"]] = info
        current, parts = None, []
        if "part" in tables:
            for row in _rows(conn, "select id, message_id, session_id, data from part order by message_id, id"):
                if row["message_id"] != current:
                    if current in messages:
                        yield from self._message(parser, messages.pop(current), parts, seen_messages)
                    current, parts = row["message_id"], []
                part = _decoded(row["data"], id=row["id"], messageID=row["message_id"], sessionID=row["session_id"])
                if part is None:
                    self.bad_files += 1
                else:
                    parts.append(part)
            if current in messages:
                yield from self._message(parser, messages.pop(current), parts, seen_messages)
        for info in messages.values():
            yield from self._message(parser, info, [], seen_messages)

    def _message(self, parser, info, parts, seen_messages, from_json=False):
        if info["id"] in seen_messages or (from_json and info["id"] in self.db_messages_ids):
            self.skipped_duplicates += 1
            return
        seen_messages.add(info["id"])
        yield from parser.message(info, parts, whole=True)

    def load_json_sessions(self, layout: str, storage: Path, skip: set[str]) -> list[str]:
        pattern = "session/info/*.json" if layout == "json0" else "session/*/*.json"
        ids = []
        for path in sorted(storage.glob(pattern)):
            info = _read_json(path)
            if not isinstance(info, dict) or not isinstance(info.get("id"), str):
                self.bad_files += 1
                continue
            if info["id"] in skip:  # opencode.db has this session: its messages the migration skipped only
                ids.append(info["id"])
                continue
            if layout == "json":
                project = _read_json(storage / "project" / f"{info.get('projectID')}.json")
                if isinstance(project, dict) and not info.get("directory"):
                    info["directory"] = project.get("worktree")
            self.sessions[info["id"]] = (info, str(path))
            ids.append(info["id"])
        return ids

    def json_messages(self, layout: str, storage: Path, session_ids: list[str], parser, seen_messages):
        for sid in session_ids:
            mdir = storage / ("session/message" if layout == "json0" else "message") / sid
            for path in sorted(mdir.glob("*.json")) if mdir.is_dir() else ():
                info = _read_json(path)
                if not isinstance(info, dict) or not isinstance(info.get("id"), str):
                    self.bad_files += 1
                    continue
                info.setdefault("sessionID", sid)
                _lift_v0_metadata(info)
                pdir = (storage / "session/part" / sid / info["id"]) if layout == "json0" \
                    else storage / "part" / info["id"]
                parts = []
                for ppath in sorted(pdir.glob("*.json")) if pdir.is_dir() else ():
                    part = _read_json(ppath)
                    if isinstance(part, dict):
                        parts.append(part)
                    else:
                        self.bad_files += 1
                if not parts and isinstance(info.get("parts"), list):  # the first versions kept them inline
                    parts = [_lift_v0_part(p, info) for p in info["parts"] if isinstance(p, dict)]
                yield from self._message(parser, info, parts, seen_messages, from_json=True)


def _lift_v0_metadata(info: dict) -> None:
    """The first versions (0.1.x - 0.5.x) kept an assistant's model, usage and times under ``metadata``."""
    meta = info.get("metadata")
    if not isinstance(meta, dict):
        return
    if "time" not in info and isinstance(meta.get("time"), dict):
        info["time"] = meta["time"]
    assistant = meta.get("assistant")
    if isinstance(assistant, dict):
        for key in ("modelID", "providerID", "cost", "tokens", "path", "summary"):
            if key in assistant and key not in info:
                info[key] = assistant[key]
    if meta.get("error") and "error" not in info:
        info["error"] = meta["error"]


def _lift_v0_part(part: dict, info: dict) -> dict:
    """An inline AI SDK ``tool-invocation`` part as a v1 tool part."""
    part = dict(part, messageID=info["id"], sessionID=info["sessionID"])
    call = part.get("toolInvocation")
    if part.get("type") == "tool-invocation" and isinstance(call, dict):
        state = {"result": "completed", "call": "running", "partial-call": "pending"}.get(call.get("state"), "pending")
        result = call.get("result")
        part = {"type": "tool", "callID": call.get("toolCallId"), "tool": call.get("toolName"),
                "messageID": info["id"], "sessionID": info["sessionID"],
                "state": {"status": state, "input": call.get("args"),
                          "output": result if isinstance(result, str) else json.dumps(result) if result else ""}}
    return part


# -- ingest -------------------------------------------------------------------------------------------
def ingest_opencode(db, path: Path | None = None, *, host: str | None = None, force: bool = False):
    """Read an OpenCode data directory (default ``~/.local/share/opencode``) into ``db`` (a database
    path or an open connection)."""
    from . import crush

    started = time.perf_counter()
    started_at = now_iso()
    root = Path(path or default_data_dir()).expanduser()
    # The Go OpenCode (opencode-ai/opencode, 2025) kept a store per project, .opencode/opencode.db,
    # of another schema: given one (or the project holding it), it is read as such.
    go_stores = crush.find_stores([root])
    with store_mod.opened(db) as conn:
        # the Go stores first: each run counts its own rows on the connection, one after the other
        go_summary = crush.ingest_crush(conn, go_stores, host=host, force=force, strict=False) if go_stores else None
        run = _Run(conn, Reader(root, host=host), force=force)
        if go_summary is not None:
            go_stores = go_summary.handled
            run.go_stores = {p.resolve() for p in go_stores}
            run.summary.go_stores = go_summary if go_stores else None
        run.summary.spooled = replay_spool(conn, store_mod.path_of(conn))  # what the plugin could not store live
        try:
            plan = run.plan()
            for source in plan:
                run.read(*source)
            summary = run.finish(time.perf_counter() - started)
        finally:
            run.close()
        if root.is_file() and not summary.sources_read and not summary.sources_unchanged and not go_stores \
                and summary.not_stores:
            raise crush.NotAStore(summary.not_stores[0])
        with run.store.atomic():
            run.store.add("ingest_runs", runs.run_row(
                summary.run_id, "opencode", started_at, summary.seconds, files_seen=len(plan),
                files_read=len(summary.sources_read), files_skipped=summary.sources_unchanged,
                rows=summary.rows, unpriced=summary.unpriced))
        return summary


class _Run:
    """One ``claude-ingest opencode`` over every store under a data directory. Records wait in memory
    and are written every COMMIT_EVERY records (and at the end of each store, with its fingerprint):
    the write lock is never held while OpenCode's files are read."""

    def __init__(self, conn, reader: Reader, *, force: bool):
        self.conn, self.reader, self.force = conn, reader, force
        self.summary = OpenCodeSummary(run_id=runs.new_run_id("opencode"))
        self.store = store_mod.Store(conn, batch_size=None, count_rows=True)
        self.known = dict(conn.execute("select path, head_hash from ingest_files where kind like 'opencode%'"))
        self.parsers: list[OpenCodeParser] = []
        self.parents: dict[str, str | None] = {}
        self.db_sessions: set[str] = set()
        self.seen_messages: set[str] = set()
        self.opened: list = []
        self.go_stores: set = set()  # read by ingest.load.crush, not here

    def plan(self) -> list[tuple]:
        """(kind, key, fingerprint, handle, session ids) per store. Sessions first, from every
        generation, so that any child finds its top-level session."""
        reader, plan = self.reader, []
        from .crush import describe, is_go_store

        for db_file in reader.databases():
            if db_file.resolve() in self.go_stores:
                continue
            src = SqliteSource(db_file)
            fingerprint = src.fingerprint()
            key = str(db_file.resolve())
            try:
                src_conn = src.connect()
                if "session" not in _tables(src_conn):  # never a silent "0 sessions"
                    what = ("a Go OpenCode store (read it with `claude-ingest crush`)" if is_go_store(src_conn)
                            else f"not an OpenCode store (its tables: {describe(src_conn)})")
                    self.summary.not_stores.append(f"{db_file} is {what}")
                    src_conn.close()
                    src.close()
                    continue
                ids = reader.load_db_sessions(src_conn, key)
            except sqlite3.DatabaseError as e:
                src.close()
                reader.bad_files += 1
                with self.store.atomic():
                    self.store.add("ingest_skips", runs.skip_row(key, -1, self.summary.run_id, f"cannot read: {e}"))
                continue
            self.db_sessions.update(ids)
            self.opened.append((src, src_conn))
            plan.append(("opencode-db", key, fingerprint, src_conn, ids))
        for layout, storage in reader.json_roots():
            key = str(storage.resolve())
            ids = reader.load_json_sessions(layout, storage, self.db_sessions)
            plan.append((f"opencode-{layout}", key, reader.json_fingerprint(storage), (layout, storage), ids))
        for sid, (info, _) in reader.sessions.items():
            parent = info.get("parentID")
            self.parents[sid] = parent if isinstance(parent, str) and parent else None
        # A child whose parent was read in an earlier run: its place is in the database.
        for row in self.conn.execute("select agent_id, coalesce(parent_agent_id, session_id) from subagents"):
            self.parents.setdefault(row[0], row[1])
        return plan

    def read(self, kind: str, key: str, fingerprint: str, handle, ids: list[str]) -> None:
        summary, store, reader = self.summary, self.store, self.reader
        if not self.force and self.known.get(key) == fingerprint:
            summary.sources_unchanged += 1
            return
        parser = OpenCodeParser(self.parents, host=reader.host, origin=key)
        self.parsers.append(parser)
        for sid in ids:
            if kind != "opencode-db" and sid in self.db_sessions:
                continue
            records = parser.session(reader.sessions[sid][0])
            summary.sessions += sum(1 for t, _ in records if t == "sessions")
            summary.subagents += sum(1 for t, _ in records if t == "subagents")
            store.write(records)
        if kind == "opencode-db":
            messages = reader.db_messages(handle, parser, self.seen_messages)
        else:
            messages = reader.json_messages(*handle, ids, parser, self.seen_messages)
        for count, (table, row) in enumerate(messages, 1):
            store.add(table, row)
            summary.messages += table == "messages"
            if count % COMMIT_EVERY == 0:
                with store.atomic():
                    store.derive()
        store.add("ingest_files", {"path": key, "kind": kind, "head_hash": fingerprint,
                                   "first_read_at": now_iso(), "last_read_at": now_iso()})
        with store.atomic():
            store.derive()
        summary.sources_read.append(Path(key).name if kind == "opencode-db" else kind.split("-", 1)[1])

    def close(self) -> None:
        self.store.discard()  # what a failed read left unwritten
        self.store.stop_counting()
        for src, src_conn in self.opened:
            src_conn.close()
            src.close()

    def finish(self, seconds: float) -> OpenCodeSummary:
        summary = self.summary
        summary.skipped_duplicates = self.reader.skipped_duplicates
        summary.bad_files = self.reader.bad_files
        summary.rows = self.store.counts()
        for parser in self.parsers:
            for model, keys in parser.unpriced.items():
                summary.unpriced[model] += len(keys)
        summary.seconds = seconds
        return summary


# -- live events (opencode-event) -----------------------------------------------------------------------
class _StoredParents:
    """A child session's parent, from the events already stored (``subagents``), looked up once."""

    def __init__(self, conn, extra: dict):
        self.conn, self.cache = conn, dict(extra)

    def get(self, sid, default=None):
        if sid not in self.cache:
            row = self.conn.execute("select coalesce(parent_agent_id, session_id) from subagents where agent_id = ?",
                                    (sid,)).fetchone()
            self.cache[sid] = row[0] if row else None
        return self.cache[sid] if self.cache[sid] is not None else default


def _unwrap(payload) -> tuple[str, dict]:
    if isinstance(payload, dict) and isinstance(payload.get("payload"), dict) and "type" not in payload:
        payload = payload["payload"]  # the global event stream wraps {directory, payload}
    if not isinstance(payload, dict):
        return "unparseable", {}
    props = payload.get("properties")
    if not isinstance(props, dict):
        props = payload.get("data") if isinstance(payload.get("data"), dict) else {}  # V2: {type, data}
    return (payload["type"] if isinstance(payload.get("type"), str) else "unknown"), props


def _event_session(event_type: str, props: dict) -> str | None:
    for candidate in (props.get("sessionID"), (props.get("info") or {}).get("sessionID") if isinstance(
            props.get("info"), dict) else None, (props.get("part") or {}).get("sessionID") if isinstance(
            props.get("part"), dict) else None):
        if isinstance(candidate, str) and candidate:
            return candidate
    info = props.get("info")
    if event_type.startswith("session.") and isinstance(info, dict) and isinstance(info.get("id"), str):
        return info["id"]
    return None


def write_event(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "opencode",
                event_id: str | None = None, size: int | None = None) -> bool:
    """Store one raw event and what it says, in one transaction. False if it was already stored.
    (Replayed from the spool, ``raw`` is a redacted copy: ``event_id`` is the original's hash.)"""
    event_id = event_id or content_id(raw)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    event_type, props = _unwrap(payload)
    call = props.get("callID") if isinstance(props.get("callID"), str) else None
    row = {
        "id": event_id, "received_at": received_at, "event": event_type,
        "known": 1 if event_type in KNOWN_EVENTS else 0, "session_id": _event_session(event_type, props),
        "tool_use_id": call, "source": source, "size": len(raw) if size is None else size,
        "payload": raw.decode("utf-8", "replace"),
    }

    def derive(conn):
        extra = {}
        info = props.get("info")
        if event_type.startswith("session.") and isinstance(info, dict) and isinstance(info.get("id"), str):
            parent = info.get("parentID")
            extra[info["id"]] = parent if isinstance(parent, str) and parent else None
        parser = OpenCodeParser(_StoredParents(conn, extra), host=this_host(), origin="opencode-event")
        message = None
        part = props.get("part")
        if event_type == "message.part.updated" and isinstance(part, dict):
            message = _stored_message(conn, part)
        return parser.event(event_type, props, received_at, event_id, message)

    return hook_mod.store_event(conn, row, derive if props else None)


def _stored_message(conn, part: dict) -> dict | None:
    """The message a part belongs to, as the events stored it (its role, model and time)."""
    mid = part.get("messageID")
    if not isinstance(mid, str):
        return None
    row = conn.execute("select type, model, timestamp from messages where uuid = ?", (mid,)).fetchone()
    if not row:
        return {"id": mid, "sessionID": part.get("sessionID")}
    info = {"id": mid, "sessionID": part.get("sessionID"), "role": row[0], "modelID": row[1]}
    if row[2]:
        info["time"] = {"created": row[2]}
    return info


# OpenCode events spool under their own name, so that ``claude-ingest hook``'s replay (which reads
# Claude Code payloads) leaves them to ``opencode-event``'s, and the other way round.
OPENCODE_EVENTS = hook_mod.EventSink("opencode-event", write_event, spool_suffix=".opencode",
                                     replay_source="opencode-spool")


def replay_spool(conn: sqlite3.Connection, db_path: Path) -> int:
    """Write every spooled OpenCode event meant for this database; return how many were replayed."""
    return hook_mod.replay_spool(conn, db_path, OPENCODE_EVENTS)


def handle_event(raw: bytes, db_path: Path, received_at: str | None = None) -> str:
    """Store one event, or spool it; then replay any spool. 'stored', 'duplicate', 'spooled' or 'lost'."""
    return hook_mod.handle(raw, db_path, received_at, OPENCODE_EVENTS)


def event_main(argv: list[str] | None = None) -> int:
    """Entry point of ``claude-ingest opencode-event [--db PATH]``: always 0, never a byte on stdout."""
    return hook_mod.main(argv, OPENCODE_EVENTS)


__all__ = ["ingest_opencode", "handle_event", "event_main", "default_data_dir"]
