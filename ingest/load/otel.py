"""``claude-ingest otel``: Claude Code's OpenTelemetry log events into the database.

Two ways in, one write path (:func:`write_request`):

* a file of OTLP/JSON: the lines the OpenTelemetry Collector's file exporter writes (one
  ``ExportLogsServiceRequest`` a line; lines of metrics or traces in the same file are passed over),
  or one request body; read incrementally as transcripts are (unchanged: not opened; grown: read from
  the stored offset; rewritten: read again, nothing deleted), or from stdin;
* the plugin's OTLP/HTTP receiver (``/-/claude/otlp/v1/logs``), which hands each request to
  :data:`OTEL_EVENTS` like a hook payload: stored, or spooled when the database is busy and replayed
  by the next request (or the next ``claude-ingest otel``).

Events are keyed by what they say (:func:`ingest.parse.otel.event_id`): a batch sent twice, or read
from the file and received over HTTP, is one set of rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .. import store as store_mod
from ..clock import now_iso
from ..identity import host as this_host
from ..parse import otel as parser
from . import files, runs
from . import hooks as hook_mod

BATCH_LINES = 500  # requests per transaction when reading a file


def _new_ids(conn, rows: list[dict]) -> int:
    ids = [r["id"] for r in rows]
    known = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        known += conn.execute(f"select count(*) from otel_events where id in ({','.join('?' * len(chunk))})",
                              chunk).fetchone()[0]
    return len(set(ids)) - known


def request_records(payload, received_at: str, host: str | None, source: str) -> list[tuple[str, dict]]:
    out = []
    for request, machine in parser.requests_in(payload):
        out += parser.records(request, received_at, machine or host, source)
    return out


def write_request(conn: sqlite3.Connection, raw: bytes, received_at: str, *, source: str = "otlp-http",
                  event_id: str | None = None, size: int | None = None) -> bool:
    """Store the events of one OTLP/JSON request (or our receiver's envelope of one) in one
    transaction. False when none of them was new."""
    payload = hook_mod._loads(raw)
    records = request_records(payload, received_at, None if source.startswith("otlp") else this_host(), source)
    events = [row for table, row in records if table == "otel_events"]
    if not events:
        return False
    store = store_mod.Store(conn)
    with store.atomic():
        new = _new_ids(conn, events)
        store.write(records)
    return new > 0


OTEL_EVENTS = hook_mod.EventSink("otlp", write_request, spool_suffix=".otlp", replay_source="otlp-spool")


def handle_request(raw: bytes, db_path, received_at: str | None = None) -> str:
    """One request from the receiver: 'stored', 'duplicate', 'spooled' or 'lost' (as for a hook)."""
    return hook_mod.handle(raw, Path(db_path), received_at, OTEL_EVENTS)


# -- files ---------------------------------------------------------------------------------------
@dataclass
class OtelSummary:
    path: str
    unchanged: bool = False
    reread: bool = False
    lines: int = 0
    bad_lines: int = 0
    other_signals: int = 0  # lines of metrics or traces, which the file exporter may write alongside
    events: Counter = field(default_factory=Counter)
    new_events: int = 0
    bytes_read: int = 0
    spooled: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if self.unchanged:
            return f"{self.path}: unchanged since the last read, not opened"
        kinds = ", ".join(f"{k} {n:,}" for k, n in self.events.most_common()) or "none"
        extra = f", {self.other_signals:,} lines of metrics or traces passed over" if self.other_signals else ""
        extra += f", {self.spooled} spooled requests replayed" if self.spooled else ""
        how = "read again from the start (rewritten), " if self.reread else ""
        return (f"{self.path}: {how}{self.lines:,} lines ({self.bytes_read:,} bytes), {sum(self.events.values()):,} "
                f"events ({kinds}), {self.new_events:,} new, {self.bad_lines} bad lines skipped{extra}; "
                f"{self.seconds:.2f}s")


def _decode(raw: bytes):
    payload = json.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError(f"a JSON {type(payload).__name__}, not an OTLP export request")
    return payload


def _other_signal(payload: dict) -> bool:
    return "resourceLogs" not in payload and any(k in payload for k in ("resourceMetrics", "resourceSpans"))


def ingest_otel(db, path=None, *, text: bytes | None = None) -> OtelSummary:
    """Read the OTLP/JSON log events in ``path`` (or ``text``, stdin's bytes) into ``db`` (a database
    path or an open connection)."""
    started, started_at = time.perf_counter(), now_iso()
    run_id = runs.new_run_id("otel")
    with store_mod.opened(db) as conn:
        if text is not None:
            summary = OtelSummary(path="-")
            _read_text(conn, text, summary, run_id)
        else:
            summary = _read_file(conn, Path(path).expanduser().resolve(), run_id)
        if not summary.unchanged:
            summary.spooled = hook_mod.replay_spool(conn, store_mod.path_of(conn), OTEL_EVENTS)
        summary.seconds = time.perf_counter() - started
        if not summary.unchanged:
            store = store_mod.Store(conn)
            with store.atomic():
                store.add("ingest_runs", runs.run_row(
                    run_id, "otel", started_at, summary.seconds, files_seen=1, files_read=1,
                    bytes_read=summary.bytes_read, lines=summary.lines, bad_lines=summary.bad_lines,
                    rows={"otel_events": summary.new_events}))
    return summary


def _write(conn, payloads: list, summary: OtelSummary, extra=()) -> None:
    received_at = now_iso()
    records = [r for p in payloads for r in request_records(p, received_at, this_host(), "otel-file")]
    events = [row for table, row in records if table == "otel_events"]
    store = store_mod.Store(conn, batch_size=None)
    with store.atomic():
        summary.new_events += _new_ids(conn, events) if events else 0
        summary.events.update(row["event"] or "(unnamed)" for row in events)
        store.write(records)
        store.write(extra)


def _read_text(conn, text: bytes, summary: OtelSummary, run_id: str) -> None:
    summary.bytes_read = len(text)
    try:  # one request body (pretty-printed or not)
        payload = _decode(text)
        summary.lines = 1
        if _other_signal(payload):
            summary.other_signals += 1
        else:
            _write(conn, [payload], summary)
        return
    except ValueError:
        pass
    payloads, skips = [], []
    offset = 0
    for raw in text.splitlines(keepends=True):
        _line(raw, offset, "-", run_id, summary, payloads, skips)
        offset += len(raw)
    _write(conn, payloads, summary, skips)


def _line(raw: bytes, offset: int, key: str, run_id: str, summary: OtelSummary, payloads: list, skips: list) -> None:
    if not raw.strip():
        return
    summary.lines += 1
    try:
        payload = _decode(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        summary.bad_lines += 1
        skips.append(("ingest_skips", runs.skip_row(key, offset, run_id, f"{type(e).__name__}: {e}", raw)))
        return
    if _other_signal(payload):
        summary.other_signals += 1
        return
    payloads.append(payload)


def _read_file(conn, path: Path, run_id: str) -> OtelSummary:
    summary = OtelSummary(path=str(path))
    key = f"{path}#otel"
    known = conn.execute("select size, mtime_ns, offset, head_hash, lines, bad_lines, rereads from ingest_files "
                         "where path = ?", (key,)).fetchone()
    f, st = files.open_regular(path)  # a FIFO is refused at once, never waited on
    with f:
        if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:
            summary.unchanged = True
            return summary
        offset, rereads = (known[2] or 0, known[6] or 0) if known else (0, 0)
        if known and (st.st_size < offset or files.head_hash(f, offset) != known[3]):
            offset, rereads, summary.reread = 0, rereads + 1, True
        prior = (known[4] or 0, known[5] or 0) if known and not summary.reread else (0, 0)
        if offset == 0 and st.st_size <= files.MAX_LINE_BYTES:
            f.seek(0)
            whole = f.read()
            if b"\n" in whole.strip() and whole.lstrip().startswith(b"{") and not _first_line_is_json(whole):
                _read_text(conn, whole, summary, run_id)  # one pretty-printed body: not line by line
                _record_file(conn, key, st, st.st_size, f, rereads, prior, summary)
                return summary
        payloads, skips = [], []
        for kind, line_offset, raw, size in files.lines(f, offset):
            if kind == files.PARTIAL:
                try:  # a last line still being written, unless it is whole already
                    json.loads(raw)
                except ValueError:
                    break
            summary.bytes_read += size
            offset = line_offset + size
            if kind == files.TOO_LONG:
                summary.lines += 1
                summary.bad_lines += 1
                skips.append(("ingest_skips", runs.skip_row(key, line_offset, run_id,
                                                            f"a line of {size:,} bytes: not read", raw)))
                continue
            _line(raw, line_offset, key, run_id, summary, payloads, skips)
            if len(payloads) >= BATCH_LINES:
                _write(conn, payloads, summary, skips)
                _record_file(conn, key, st, offset, f, rereads, prior, summary)
                payloads, skips = [], []
        _write(conn, payloads, summary, skips)
        _record_file(conn, key, st, offset, f, rereads, prior, summary)
    return summary


def _first_line_is_json(data: bytes) -> bool:
    try:
        json.loads(data.split(b"\n", 1)[0])
        return True
    except ValueError:
        return False


def _record_file(conn, key, st, offset, f, rereads, prior, summary) -> None:
    pos = f.tell()
    head = files.head_hash(f, offset)
    f.seek(pos)
    store = store_mod.Store(conn)
    with store.atomic():
        store.add("ingest_files", runs.file_row(key, "otel", st, offset, head, lines=prior[0] + summary.lines,
                                                bad_lines=prior[1] + summary.bad_lines, rereads=rereads))


__all__ = ["ingest_otel", "write_request", "handle_request", "OTEL_EVENTS"]
