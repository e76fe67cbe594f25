"""Backfill: every Claude Code transcript on disk into the database, incrementally.

A file already read is skipped on (size, mtime) without being opened; a file that grew is read from
its stored byte offset; a partial last line waits for the next run; a file that shrank or whose head
changed is re-read from the start, and the upserts leave what was already learned in place. The
offset is committed in the same transaction as the rows read up to it, so a run killed at any point
resumes where the last commit left it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

try:  # 2.5x faster than the standard library on transcript lines: backfill is mostly decoding
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    json_loads = json.loads

from . import files, history, runs
from .. import store as store_mod
from ..clock import now_iso
from ..identity import host as this_host
from ..parse.common import BadLine
from ..parse.transcripts import FileContext, TranscriptParser
from ..paths import existing_projects_dirs
from .runs import rows_text, unpriced_text

COMMIT_EVERY_BYTES = 16 * 1024 * 1024  # bounds memory and the work a crash can lose
CACHE_KIB = 64 * 1024


@dataclass(frozen=True)
class TranscriptFile:
    path: Path
    kind: str  # main | subagent | legacy_subagent
    session_hint: str | None
    agent_id: str | None


def classify(path: Path) -> TranscriptFile:
    if path.name == history.NAME:  # Claude Code's prompt history, beside projects/
        return TranscriptFile(path, history.KIND, None, None)
    name = path.name[: -len(".jsonl")]
    if name.startswith("agent-"):
        agent_id = name[len("agent-"):]
        if "subagents" in path.parts:  # <session>/subagents/[...]/agent-<id>.jsonl (CC >= 2.1.2)
            session = path.parts[path.parts.index("subagents") - 1]
            return TranscriptFile(path, "subagent", session, agent_id)
        return TranscriptFile(path, "legacy_subagent", None, agent_id)  # flat, CC ~2.0.28 - 2.1.1
    return TranscriptFile(path, "main", name, None)


def discover(paths: Iterable[Path]) -> list[TranscriptFile]:
    """Transcript files under the given files or directories: main files first, then subagents."""
    found: dict[Path, TranscriptFile] = {}
    for path in paths:
        path = Path(path).expanduser()
        path = path.absolute()
        if not path.is_dir():
            candidates = [path]
        else:
            # Only names ending exactly in .jsonl: ".jsonl.orphaned-N" and friends are not primary.
            candidates = [p for p in path.rglob("*.jsonl") if "memory" not in p.relative_to(path).parts[:-1]]
            if path.name == "projects":  # a Claude Code config dir's projects/: its history.jsonl too
                candidates += history.history_files([path])
        for p in candidates:
            if p.name.endswith(".jsonl") and p not in found:  # pending() stats each file once
                found[p] = classify(p)
    # history last: the transcripts' prompts are in the database when its lines are matched to them
    return sorted(found.values(), key=lambda f: (f.kind != "main", f.kind == history.KIND, str(f.path)))


@dataclass
class RunSummary:
    run_id: str
    files_seen: int = 0
    files_read: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    bytes_read: int = 0
    lines: int = 0
    bad_lines: int = 0
    # rows added, changed and removed per table, as the database saw them (store.RowCounter)
    rows: dict = field(default_factory=runs.no_rows)
    unpriced: Counter = field(default_factory=Counter)
    spooled: int = 0
    seconds: float = 0.0

    @property
    def added(self) -> Counter:
        return self.rows["added"]

    @property
    def changed(self) -> Counter:
        return self.rows["changed"]

    def line(self) -> str:
        rows, unpriced = rows_text(self.rows), unpriced_text(self.unpriced)
        failed = f", {self.files_failed} unreadable" if self.files_failed else ""
        failed += f", {self.spooled} spooled hook events replayed" if self.spooled else ""
        return (
            f"{self.files_read} files read, {self.files_skipped} unchanged{failed}; "
            f"{self.lines:,} lines ({self.bytes_read / 1e6:.1f} MB), {self.bad_lines} bad lines skipped; "
            f"{rows}; unpriced models: {unpriced}; {self.seconds:.2f}s"
        )


_TYPE = b'"type":"'


def _is_live_progress(raw: bytes) -> bool:
    """A hook_progress/bash_progress line (most lines of a busy transcript): nothing in it is stored,
    so it is not decoded. Claude Code writes the top-level "type" before "data" and "message", so
    the first "type" in the line is the line's own; agent_progress lines are read (they mirror
    subagent calls). Only complete-looking lines are skipped: a torn one is decoded and counted."""
    at = raw.find(_TYPE)
    return (at != -1 and raw.startswith(b"progress\"", at + len(_TYPE)) and raw.startswith(b"{")
            and raw.rstrip().endswith(b"}") and b'"type":"agent_progress"' not in raw)


def _read_meta(path: Path) -> dict | None:
    meta = files.read_json(path.with_name(path.name[: -len(".jsonl")] + ".meta.json"))
    return meta if isinstance(meta, dict) else None




class Backfill:
    """One backfill run over a database connection: :meth:`pending` picks the files that changed,
    :meth:`run_pending` reads them and returns the run's :class:`RunSummary`."""

    def __init__(self, conn, *, host: str | None = None, progress: Callable[[int], None] | None = None,
                 command: str = "backfill"):
        self.conn = conn
        # Rows wait in memory until a commit: the write lock is held only while they are written,
        # never while a file is read (a hook waits for that lock, then spools).
        self.store = store_mod.Store(conn, batch_size=None, count_rows=True)
        self.host = host or this_host()
        self.progress = progress
        self.command = command
        self.summary = RunSummary(run_id=runs.new_run_id(command))
        conn.execute(f"pragma cache_size = -{CACHE_KIB}")  # indexes on random ids: keep their pages
        self._known = {
            row[0]: row[1:]
            for row in conn.execute("select path, size, mtime_ns, offset, head_hash, rereads, lines, bad_lines "
                                    "from ingest_files")
        }
        self._since_commit = 0

    def replay_spool(self) -> int:
        """Hook payloads spooled while the database was busy or unwritable go in first."""
        from .hooks import replay_spool

        self.summary.spooled = replay_spool(self.conn, store_mod.path_of(self.conn))
        return self.summary.spooled

    def pending(self, files: list[TranscriptFile]) -> list[tuple[TranscriptFile, os.stat_result | None]]:
        """The files whose (size, mtime) changed since they were last read, with their stat."""
        out = []
        for tf in files:
            self.summary.files_seen += 1
            try:
                st = tf.path.stat()
            except OSError:
                out.append((tf, None))
                continue
            if stat.S_ISDIR(st.st_mode):  # a directory that happens to be named *.jsonl
                self.summary.files_seen -= 1
                continue
            known = self._known.get(str(tf.path))
            if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:
                self.summary.files_skipped += 1
                continue
            out.append((tf, st))
        return out

    def run_pending(self, todo: list[tuple[TranscriptFile, os.stat_result | None]]) -> RunSummary:
        """Read the files that :meth:`pending` picked; record the run; return its summary."""
        started = time.perf_counter()
        started_at = now_iso()
        try:
            committed = False
            for tf, st in todo:
                if tf.kind == history.KIND and not committed:
                    self._commit()  # its lines find their sessions among the ones just read
                    committed = True
                self.ingest_file(tf, st)
            self._commit()
        except BaseException:
            self.store.rollback()
            self.store.stop_counting()
            raise
        self.summary.rows = self.store.counts()
        self.summary.seconds = time.perf_counter() - started
        self._record_run(started_at)
        return self.summary

    def _commit(self) -> None:
        """Derive, then commit what was read since the last commit, the files' offsets with it.

        One transaction spans files until COMMIT_EVERY_BYTES were read: a commit is a WAL
        checkpoint's worth of work on a large database, too much to pay per small file. The
        transaction is opened here, when the rows read so far are written, not before reading."""
        with self.store.atomic():
            self.store.derive()
        self._since_commit = 0

    def _read(self, nbytes: int) -> None:
        self.summary.bytes_read += nbytes
        self._since_commit += nbytes
        if self.progress:
            self.progress(nbytes)
        if self._since_commit >= COMMIT_EVERY_BYTES:
            self._commit()

    # ------------------------------------------------------------------------------------------
    def make_parser(self, tf: TranscriptFile):
        """The parser for one file: fed decoded lines (``feed``), asked for what it summarised
        (``finish``), with ``session_id`` and ``unpriced`` (a loader of another line format
        overrides this, and ``skip_raw``, and reads its files the same way)."""
        if tf.kind == history.KIND:
            return history.make_parser(tf.path, self.conn, self.host)
        ctx = FileContext(path=str(tf.path), kind=tf.kind, session_hint=tf.session_hint, agent_id=tf.agent_id,
                          meta=_read_meta(tf.path) if tf.kind != "main" else None, host=self.host)
        return TranscriptParser(ctx)

    @staticmethod
    def skip_raw(raw: bytes) -> bool:
        """A line known to hold nothing to store without decoding it (Claude Code's live progress)."""
        return _is_live_progress(raw)

    def ingest_file(self, tf: TranscriptFile, st: os.stat_result | None) -> None:
        path = str(tf.path)
        if st is None:
            self._file_failed(path, "file vanished or cannot be read")
            return
        known = self._known.get(path)
        parser = self.make_parser(tf)
        try:
            f, st = files.open_regular(tf.path)  # a FIFO is refused at once, never waited on
        except files.NotRegularFile as e:
            self._file_failed(path, f"not read: {e}")
            return
        except OSError as e:
            self._file_failed(path, f"cannot open: {e.strerror or e}")
            return
        with f:
            offset, rereads = (known[2] or 0, known[4] or 0) if known else (0, 0)
            if known and (st.st_size < offset or files.head_hash(f, offset) != known[3]):
                offset, rereads = 0, rereads + 1  # truncated or rewritten: read it all again
            f.seek(offset)
            self.summary.files_read += 1
            self._read_from(f, offset, st, tf, parser, rereads)

    def _read_from(self, f, offset, st, tf, parser, rereads) -> None:
        path = str(tf.path)
        store, summary = self.store, self.summary
        lines = bad = read = 0
        for kind, line_offset, raw, size in files.lines(f, offset):
            obj = None
            if kind == files.PARTIAL:
                # A last line without its newline is still being written, unless it is whole JSON.
                try:
                    obj = json_loads(raw)
                except ValueError:
                    break
            offset = line_offset + size
            read += size
            if kind == files.TOO_LONG:
                lines += 1
                bad += 1
                self._skip(path, line_offset, f"a line of {size:,} bytes, longer than any record "
                                              f"({files.MAX_LINE_BYTES:,} bytes at most): not read", raw)
            elif not raw.isspace():
                lines += 1
                if obj is None and self.skip_raw(raw):
                    continue
                try:
                    if obj is None:
                        obj = json_loads(raw)
                    records = parser.feed(obj)
                except (ValueError, BadLine, RecursionError) as e:
                    records = None
                    bad += 1
                    self._skip(path, line_offset, f"{type(e).__name__}: {e}", raw)
                if records:
                    store.write(records)
            if read >= COMMIT_EVERY_BYTES:  # a large file: record how far it was read, maybe commit
                self._record_file(f, offset, st, tf, parser, lines, bad, rereads)
                self._read(read)
                lines = bad = read = 0
        self._record_file(f, offset, st, tf, parser, lines, bad, rereads)
        self._read(read)
        for model, keys in parser.unpriced.items():
            summary.unpriced[model] += len(keys)

    def _skip(self, path: str, offset: int, reason: str, raw: bytes) -> None:
        self.store.add("ingest_skips", runs.skip_row(path, offset, self.summary.run_id, reason, raw))

    def _record_file(self, f, offset, st, tf, parser, lines, bad, rereads) -> None:
        """Write what the parser summarised and how far the file was read (committed with the rows)."""
        store, summary = self.store, self.summary
        summary.lines += lines
        summary.bad_lines += bad
        store.write(parser.finish())
        pos = f.tell()
        head = files.head_hash(f, offset)
        f.seek(pos)
        path = str(tf.path)
        known = self._known.get(path)
        prev_lines, prev_bad = (known[5] or 0, known[6] or 0) if known else (0, 0)
        store.add("ingest_files", runs.file_row(path, tf.kind, st, offset, head, lines=prev_lines + lines,
                                                bad_lines=prev_bad + bad, rereads=rereads,
                                                session_id=parser.session_id, agent_id=tf.agent_id))
        self._known[path] = (st.st_size, st.st_mtime_ns, offset, head, rereads, prev_lines + lines, prev_bad + bad)

    def _file_failed(self, path: str, reason: str) -> None:
        self.summary.files_failed += 1
        self.store.add("ingest_skips", runs.skip_row(path, -1, self.summary.run_id, reason))

    def _record_run(self, started_at: str) -> None:
        s = self.summary
        with self.store.atomic():
            self.store.add("ingest_runs", runs.run_row(
                s.run_id, self.command, started_at, s.seconds, files_seen=s.files_seen, files_read=s.files_read,
                files_skipped=s.files_skipped, bytes_read=s.bytes_read, lines=s.lines, bad_lines=s.bad_lines,
                rows=s.rows, unpriced=s.unpriced))


def backfill(db, paths: Iterable[Path] | None = None, *, progress=None, host=None) -> RunSummary:
    """Ingest the transcripts under ``paths`` (default: Claude Code's projects dirs) into ``db``, a
    database path or an open connection.

    ``progress``, if given, is called with the number of bytes there are to read and returns a
    context manager whose value is called with each chunk's size (``click.progressbar`` fits), or None.
    """
    paths = list(paths) if paths else existing_projects_dirs()
    with store_mod.opened(db) as conn:
        run = Backfill(conn, host=host)
        try:
            run.replay_spool()
            todo = run.pending(discover(paths))
            total = sum(st.st_size for _, st in todo if st is not None)
            with (progress(total) if progress else contextlib.nullcontext()) as bar:
                run.progress = bar.update if bar is not None else None
                return run.run_pending(todo)
        finally:
            run.store.stop_counting()  # a caller's connection is left as it came
