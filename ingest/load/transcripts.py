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
from typing import Callable, Iterable, Iterator

try:  # 2.5x faster than the standard library on transcript lines: backfill is mostly decoding
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    json_loads = json.loads

from . import files, history, runs, workers
from .. import store as store_mod
from ..clock import now_iso
from ..identity import host as this_host
from ..parse.common import BadLine
from ..parse.transcripts import FileContext, TranscriptParser
from ..paths import existing_projects_dirs
from .runs import rows_text, unpriced_text

COMMIT_EVERY_BYTES = 16 * 1024 * 1024  # bounds memory and the work a crash can lose
# Below this much to read, worker processes cost more (their start, ~0.2 s, and the cores they
# take from the writer) than they save: measured even at 34 MB, 1.36x faster at 100 MB.
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
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


# ---------------------------------------------------------------------------------------------
# Reading one file: the same function in this process (--jobs 1) and in a worker process
# ---------------------------------------------------------------------------------------------
ROWS_EVERY_BYTES = 2 * 1024 * 1024  # a worker sends its rows this often, between the commit points


@dataclass
class FileTask:
    """One file to read from where the last run stopped: picklable, for a worker process."""

    path: Path
    kind: str
    agent_id: str | None
    # what ingest_files knew: (size, mtime_ns, offset, head_hash, rereads, lines, bad_lines), or None
    known: tuple | None
    parser: object  # the file's parser, as make_parser made it (nothing fed yet)
    skip_raw: Callable[[bytes], bool] | None
    run_id: str
    redact: bool = True
    rows_every: int | None = None  # in a worker: send the rows read so far after this many bytes


def read_file(task: FileTask, sink) -> Iterator[tuple]:
    """Read ``task``'s file into ``sink`` (a Store, or a worker's RowBuffer), yielding what the writer
    needs to know, in order: ``("failed", reason)``; ``("opened",)``; ``("rows",)`` (only with
    ``rows_every``); ``("checkpoint", lines, bad lines, bytes, known)`` after the file's row in
    ingest_files was added, where the writer may commit (every COMMIT_EVERY_BYTES and at the end);
    ``("unpriced", {model: responses})``."""
    path, parser = str(task.path), task.parser
    try:
        f, st = files.open_regular(task.path)  # a FIFO is refused at once, never waited on
    except files.NotRegularFile as e:
        yield "failed", f"not read: {e}"
        return
    except OSError as e:
        yield "failed", f"cannot open: {e.strerror or e}"
        return
    with f:
        known = task.known
        offset, rereads = (known[2] or 0, known[4] or 0) if known else (0, 0)
        if known and (st.st_size < offset or files.head_hash(f, offset) != known[3]):
            offset, rereads = 0, rereads + 1  # truncated or rewritten: read it all again
        f.seek(offset)
        yield ("opened",)
        total_lines, total_bad = (known[5] or 0, known[6] or 0) if known else (0, 0)
        skip_raw, rows_every = task.skip_raw, task.rows_every
        add = sink.add
        lines = bad = read = unsent = 0
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
                add("ingest_skips", runs.skip_row(
                    path, line_offset, task.run_id, f"a line of {size:,} bytes, longer than any record "
                                                    f"({files.MAX_LINE_BYTES:,} bytes at most): not read", raw))
            elif not raw.isspace():
                lines += 1
                if obj is None and skip_raw is not None and skip_raw(raw):
                    continue
                try:
                    if obj is None:
                        obj = json_loads(raw)
                    records = parser.feed(obj)
                except (ValueError, BadLine, RecursionError) as e:
                    records = None
                    bad += 1
                    add("ingest_skips", runs.skip_row(path, line_offset, task.run_id, f"{type(e).__name__}: {e}", raw))
                if records:
                    for table, row in records:
                        add(table, row)
            if read >= COMMIT_EVERY_BYTES:  # a large file: record how far it was read; the writer may commit
                total_lines, total_bad = total_lines + lines, total_bad + bad
                yield _checkpoint(f, offset, st, task, lines, bad, read, rereads, total_lines, total_bad, sink)
                lines = bad = read = unsent = 0
            elif rows_every and read - unsent >= rows_every:
                unsent = read
                yield ("rows",)
        total_lines, total_bad = total_lines + lines, total_bad + bad
        yield _checkpoint(f, offset, st, task, lines, bad, read, rereads, total_lines, total_bad, sink)
    yield "unpriced", {model: len(keys) for model, keys in parser.unpriced.items()}


def _checkpoint(f, offset, st, task, lines, bad, read, rereads, total_lines, total_bad, sink) -> tuple:
    """Write what the parser summarised and how far the file was read (committed with the rows)."""
    parser = task.parser
    sink.write(parser.finish())
    pos = f.tell()
    head = files.head_hash(f, offset)
    f.seek(pos)
    sink.add("ingest_files", runs.file_row(str(task.path), task.kind, st, offset, head, lines=total_lines,
                                           bad_lines=total_bad, rereads=rereads, session_id=parser.session_id,
                                           agent_id=task.agent_id))
    known = (st.st_size, st.st_mtime_ns, offset, head, rereads, total_lines, total_bad)
    return "checkpoint", lines, bad, read, known


def read_in_worker(task: FileTask) -> Iterator[tuple]:
    """:func:`read_file` in a worker process: each event that marks rows as ready carries them."""
    buffer = store_mod.RowBuffer(redact_secrets=task.redact)
    for event in read_file(task, buffer):
        if event[0] in ("rows", "checkpoint"):
            event = event + (buffer.take(),)
        yield event


class Backfill:
    """One backfill run over a database connection: :meth:`pending` picks the files that changed,
    :meth:`run_pending` reads them and returns the run's :class:`RunSummary`."""

    def __init__(self, conn, *, host: str | None = None, progress: Callable[[int], None] | None = None,
                 command: str = "backfill", jobs: int | None = None):
        """``jobs``: worker processes that read and parse while this one writes (1: none, all is done
        here; None: as many as there are cores, when there is enough to read)."""
        self.conn = conn
        self.jobs = jobs
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

    def run_found(self, found, progress=None) -> RunSummary:
        """Read what ``found`` lists (``discover``'s files) that changed since the last run, with a
        progress bar of its bytes when ``progress`` makes one: what each loader's command runs."""
        todo = self.pending(found)
        total = sum(st.st_size for _, st in todo if st is not None)
        with (progress(total) if progress else contextlib.nullcontext()) as bar:
            self.progress = bar.update if bar is not None else None
            return self.run_pending(todo)

    def run_pending(self, todo: list[tuple[TranscriptFile, os.stat_result | None]]) -> RunSummary:
        """Read the files that :meth:`pending` picked; record the run; return its summary."""
        started = time.perf_counter()
        started_at = now_iso()
        try:
            with store_mod.bulk_load(self.conn):
                committed = False
                cold = store_mod.start_cold_load(self.conn)
                remote = [(tf, st) for tf, st in todo if st is not None and self.reads_in_worker(tf)]
                jobs = self._workers_for(remote)
                with (workers.Pool(f"{__name__}:read_in_worker", jobs) if jobs else contextlib.nullcontext()) as pool:
                    results = None
                    if pool:
                        results = pool.map([(self.task(tf, rows_every=ROWS_EVERY_BYTES), st.st_size)
                                            for tf, st in remote])
                    for tf, st in todo:
                        if tf.kind == history.KIND and not committed:
                            self._commit()  # its lines find their sessions among the ones just read
                            committed = True
                        if results is not None and st is not None and self.reads_in_worker(tf):
                            self._apply(tf, next(results))
                        else:
                            self.ingest_file(tf, st)
                self._commit()
            if cold:  # each index a transaction, checkpointed as usual: a hook gets the lock between them
                store_mod.finish_cold_load(self.conn)
        except BaseException:
            self.store.rollback()
            self.store.stop_counting()
            raise
        self.summary.rows = self.store.counts()
        self.summary.seconds = time.perf_counter() - started
        self._record_run(started_at)
        return self.summary

    def _workers_for(self, remote: list) -> int:
        """How many worker processes to start for these files: none for --jobs 1 (they are read
        here), nor, by default, when there is too little to read for their start to pay."""
        if self.jobs == 1 or not remote:
            return 0
        if self.jobs is None:
            if sum(st.st_size for _, st in remote) < PARALLEL_MIN_BYTES:
                return 0
            jobs = workers.available_cores()
        else:
            jobs = self.jobs
        jobs = min(jobs, len(remote))
        return jobs if jobs > 1 else 0

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

    def reads_in_worker(self, tf: TranscriptFile) -> bool:
        """Whether a worker process may read this file: not Claude Code's prompt history (its parser
        looks the sessions up in the database, as the transcripts just read left it)."""
        return tf.kind != history.KIND

    def task(self, tf: TranscriptFile, rows_every: int | None = None) -> FileTask:
        return FileTask(path=tf.path, kind=tf.kind, agent_id=tf.agent_id, known=self._known.get(str(tf.path)),
                        parser=self.make_parser(tf), skip_raw=type(self).skip_raw, run_id=self.summary.run_id,
                        redact=self.store.redact, rows_every=rows_every)

    def ingest_file(self, tf: TranscriptFile, st: os.stat_result | None) -> None:
        """Read one file in this process."""
        if st is None:
            self._file_failed(str(tf.path), "file vanished or cannot be read")
            return
        self._apply(tf, read_file(self.task(tf), self.store))

    def _apply(self, tf: TranscriptFile, events) -> None:
        """What reading a file gave, in order (rows a worker made ready put into the store): the
        counts, the file's offsets and, at each checkpoint, maybe a commit."""
        store, summary = self.store, self.summary
        for event in events:
            what = event[0]
            if what == "checkpoint":
                _, lines, bad, nbytes, known, *held = event
                if held:
                    store.put(held[0])
                summary.lines += lines
                summary.bad_lines += bad
                self._known[str(tf.path)] = known
                self._read(nbytes)
            elif what == "rows":
                store.put(event[1])
            elif what == "opened":
                summary.files_read += 1
            elif what == "failed":
                self._file_failed(str(tf.path), event[1])
            elif what == "unpriced":
                for model, n in event[1].items():
                    summary.unpriced[model] += n

    def _skip(self, path: str, offset: int, reason: str, raw: bytes) -> None:
        self.store.add("ingest_skips", runs.skip_row(path, offset, self.summary.run_id, reason, raw))

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


def backfill(db, paths: Iterable[Path] | None = None, *, progress=None, host=None, jobs: int | None = None) -> RunSummary:
    """Ingest the transcripts under ``paths`` (default: Claude Code's projects dirs) into ``db``, a
    database path or an open connection.

    ``progress``, if given, is called with the number of bytes there are to read and returns a
    context manager whose value is called with each chunk's size (``click.progressbar`` fits), or None.
    ``jobs``: worker processes reading the files (1: none; default: one per core, for a large read).
    """
    paths = list(paths) if paths else existing_projects_dirs()
    with store_mod.opened(db) as conn:
        run = Backfill(conn, host=host, jobs=jobs)
        try:
            run.replay_spool()
            return run.run_found(discover(paths), progress)
        finally:
            run.store.stop_counting()  # a caller's connection is left as it came
