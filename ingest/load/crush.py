"""``claude-ingest crush`` (and ``claude-ingest opencode`` on a Go store): the per-project SQLite
stores of the Go OpenCode (``.opencode/opencode.db``) and of Charm Crush (``.crush/crush.db``).

Each store is opened read-only beside a running agent (the way :mod:`ingest.load.opencode` opens
``opencode.db``: a ``mode=ro`` URI with a busy timeout, from a copy if it cannot be opened in place),
read whole, and not read again while its size and mtime (and its WAL's) stay the same. The sessions
of a store belong to the project directory the store sits in. A SQLite file that is not such a store
is named as what it is, never read as zero sessions.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .. import store as store_mod
from ..clock import now_iso
from ..errors import IngestError
from ..identity import host as this_host
from ..parse.crush import CrushParser
from . import files, runs
from .runs import rows_text

STORES = ((".crush", "crush.db", "crush"), (".opencode", "opencode.db", "opencode-go"))


class NotAStore(IngestError):
    """A SQLite file given as a store that is not one this loader reads."""


def source_of(path: Path) -> str:
    return "crush" if path.name.startswith("crush") or path.parent.name == ".crush" else "opencode-go"


def is_go_store(conn) -> bool:
    """The Go OpenCode / Crush schema: ``sessions`` and ``messages`` with a ``parts`` column."""
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"sessions", "messages"} <= tables:
        return False
    return "parts" in {r[1] for r in conn.execute("pragma table_info(messages)")}


def describe(conn) -> str:
    tables = sorted(r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")
                    if not r[0].startswith("sqlite_"))
    return ", ".join(tables[:12]) + (", ..." if len(tables) > 12 else "") if tables else "no tables"


def projects_file() -> Path:
    """Crush's list of the projects it has run in (``$XDG_DATA_HOME/crush/projects.json``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "crush" / "projects.json"


def find_stores(paths: Iterable[Path]) -> list[Path]:
    """The stores at each path: a store file, a project directory holding ``.crush/crush.db`` or
    ``.opencode/opencode.db``, or the ``.crush``/``.opencode`` directory itself."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser().absolute()
        candidates = [path] if path.is_file() else [path / d / f for d, f, _ in STORES] + \
            [path / f for d, f, _ in STORES if path.name == d]
        for c in candidates:
            if c.is_file() and c not in found:
                found.append(c)
    return found


def known_projects() -> list[Path]:
    """The project directories Crush's projects.json lists (their data_dir), where they exist."""
    data = files.read_json(projects_file())
    out = []
    for entry in (data.get("projects") if isinstance(data, dict) else None) or ():
        if isinstance(entry, dict):
            where = entry.get("data_dir") or entry.get("path")
            if isinstance(where, str) and Path(where).exists():
                out.append(Path(where))
    return out


@dataclass
class CrushSummary:
    run_id: str
    stores_read: list = field(default_factory=list)
    stores_unchanged: int = 0
    sessions: int = 0
    subagents: int = 0
    messages: int = 0
    tool_calls: int = 0
    reported_cost_usd: float = 0.0
    rows: dict = field(default_factory=runs.no_rows)
    seconds: float = 0.0
    handled: list = field(default_factory=list)  # the store files that are Go stores (read or unchanged)

    def line(self) -> str:
        read = ", ".join(self.stores_read) or "nothing"
        return (f"{len(self.stores_read)} stores read ({read}), {self.stores_unchanged} unchanged; "
                f"{self.sessions} sessions, {self.subagents} subagent sessions, {self.messages:,} messages, "
                f"{self.tool_calls:,} tool calls, ${self.reported_cost_usd:.4f} cost as the agents reported it "
                f"(these stores keep no per-request token counts); {rows_text(self.rows)}; "
                f"{self.seconds:.2f}s")


def _rows(conn, sql):
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values))


def ingest_crush(db, paths: Iterable[Path] | None = None, *, host: str | None = None, force: bool = False,
                 strict: bool = True) -> CrushSummary:
    """Read the Go OpenCode and Crush stores at ``paths`` (default: the current directory's, and the
    projects in Crush's projects.json) into ``db``, a database path or an open connection.
    ``strict``: a SQLite file given that is not such a store is an error (NotAStore), not skipped."""
    started, started_at = time.perf_counter(), now_iso()
    stores = find_stores(paths if paths else [Path.cwd(), *known_projects()])
    summary = CrushSummary(run_id=runs.new_run_id("crush"))
    with store_mod.opened(db) as conn:
        store = store_mod.Store(conn, batch_size=None, count_rows=True)
        known = dict(conn.execute("select path, head_hash from ingest_files where kind in ('crush', 'opencode-go')"))
        for path in stores:
            src = files.SqliteSource(path)
            key, fingerprint = str(path.resolve()), src.fingerprint()
            if not force and known.get(key) == fingerprint:
                summary.stores_unchanged += 1
                summary.handled.append(path)
                continue
            try:
                src_conn = src.connect()
            except sqlite3.DatabaseError as e:
                src.close()
                if not strict:
                    continue
                raise NotAStore(f"{path}: cannot be read as a SQLite database ({e})") from None
            try:
                if not is_go_store(src_conn):
                    if strict:
                        raise NotAStore(f"{path} is not a Go OpenCode or Crush store (no sessions and messages "
                                        f"with parts; its tables: {describe(src_conn)})")
                    continue
                summary.handled.append(path)
                _read_store(src_conn, path, key, fingerprint, store, summary, host or this_host())
            finally:
                src_conn.close()
                src.close()
        summary.rows = store.counts()
        summary.seconds = time.perf_counter() - started
        with store.atomic():
            store.add("ingest_runs", runs.run_row(summary.run_id, "crush", started_at, summary.seconds,
                                                  files_seen=len(stores), files_read=len(summary.stores_read),
                                                  files_skipped=summary.stores_unchanged, rows=summary.rows))
    return summary


def _read_store(src_conn, path: Path, key: str, fingerprint: str, store, summary: CrushSummary, host: str) -> None:
    sessions = list(_rows(src_conn, "select * from sessions"))
    parents = {r["id"]: r.get("parent_session_id") or None for r in sessions if isinstance(r.get("id"), str)}
    project = str(path.parent.parent) if path.parent.name in (".crush", ".opencode") else str(path.parent)
    parser = CrushParser(source_of(path), project, parents, origin=key, host=host)
    for row in sessions:
        records = parser.session(row)
        summary.sessions += sum(1 for t, _ in records if t == "sessions")
        summary.subagents += sum(1 for t, _ in records if t == "subagents")
        if not row.get("parent_session_id") and isinstance(row.get("cost"), (int, float)):
            summary.reported_cost_usd += row["cost"]
        store.write(records)
    calls = set()
    for row in _rows(src_conn, "select * from messages order by created_at, id"):
        for table, record in parser.message(row):
            store.add(table, record)
            summary.messages += table == "messages"
            if table == "tool_calls":
                calls.add(record["tool_use_id"])
    summary.tool_calls += len(calls)
    store.add("ingest_files", {"path": key, "kind": source_of(path), "head_hash": fingerprint,
                               "first_read_at": now_iso(), "last_read_at": now_iso()})
    with store.atomic():
        store.derive()
    summary.stores_read.append(f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
                               if path.parent.name.startswith(".") else path.name)
