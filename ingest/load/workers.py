"""Worker processes for a loader with many files to read: each file is read, decoded, parsed and
made ready to store (redacted, cut, keyed) in a worker, and what it gives comes back to the one
process that writes, file by file in the order the files were given, so that what is written does
not depend on how many workers there are.

A worker is a fresh interpreter (``python -c``, as multiprocessing's "spawn" starts one), talking
over its stdin and stdout: it imports only what reading needs, never the caller's main module (so
``from ingest import backfill`` works in a script with no ``if __name__ == "__main__"`` guard),
and nothing of the parent's state, its open database included, is copied into it. Memory stays
bounded: a worker holds at most ``QUEUED_BYTES`` of messages ready to send, then waits for the writer, which
reads one message at a time. A worker ends when the process that started it does, however it ends
(SIGKILL included): its stdin closes and its stdout has no reader.

The writer is the narrowest part of the pipeline (one SQLite connection writes everything), so a
worker runs at a lower priority than the process that started it: when the cores are all taken, the
writer is the one that runs, and the workers use what it leaves.
"""

from __future__ import annotations

import collections
import importlib
import marshal
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import IngestError

# What a worker holds ready to send, at most (its messages once written, the rows of a few MB of
# input each): enough for it to work a few files ahead while the writer reads another worker's.
QUEUED_BYTES = 16 * 1024 * 1024
LOOKAHEAD_TASKS = 64  # files handed out beyond the one being written, at most ...
LOOKAHEAD_BYTES = 64 * 1024 * 1024  # ... and this much input per worker, so every worker has work
# A worker's priority below the writer's (its niceness, added to the writer's). At the same priority,
# two workers and the writer share two cores a third each, and the writer waits for a core while
# the workers, ahead of it, wait for work: the 1 GB bench took 17.7 s then, 15.0-15.5 s at nice 10
# (no better at 15 or 19).
NICENESS = 10
# A worker's results come through a pipe: Linux's default 64 KiB makes the writer and the worker's
# sending thread take turns sixteen times per MB; 1 MiB is the most an unprivileged process may ask
# for by default (/proc/sys/fs/pipe-max-size). Measured: 0.5-0.8 s less per GB.
PIPE_BYTES = 1 << 20
_HEADER = struct.Struct("!Q")  # each message: its length, then the message
# Tasks (parsers included) are pickled; what a worker sends back is plain data (str, int, float,
# tuple, dict, set, None), which marshal writes and reads twice as fast as pickle.
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def available_cores() -> int:
    """The cores this process may run on (``taskset`` and cgroup CPU sets included)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class WorkerFailed(IngestError):
    """A worker process raised or ended before it finished a file: one line (the exception, as the
    command line says it), the worker's traceback in ``details``."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


def _widen(pipe) -> None:
    """Make ``pipe`` hold PIPE_BYTES, where the system lets it (Linux); else leave it as it is."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def _write(stream, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    return data if len(data) == size else None


# ---------------------------------------------------------------------------------------------
# The worker's side
# ---------------------------------------------------------------------------------------------
class _Outbox:
    """Messages waiting to be sent, bounded by their size in bytes (one is always let in, however
    large, so that a big file's rows never wait for each other)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: collections.deque = collections.deque()
        self._bytes = 0
        self._ready = threading.Condition()

    def put(self, data: bytes | None) -> None:
        size = len(data) if data else 0
        with self._ready:
            while self._items and self._bytes + size > self.limit:
                self._ready.wait()
            self._items.append(data)
            self._bytes += size
            self._ready.notify_all()

    def get(self) -> bytes | None:
        with self._ready:
            while not self._items:
                self._ready.wait()
            data = self._items.popleft()
            self._bytes -= len(data) if data else 0
            self._ready.notify_all()
            return data


def _send_loop(out: _Outbox, stream) -> None:
    while True:
        data = out.get()
        if data is None:
            return
        try:
            _write(stream, data)
        except OSError:  # the writing process is gone: nothing waits for this worker
            os._exit(1)


def _receive_loop(stream, tasks: queue.Queue) -> None:
    while True:
        data = _read(stream)
        task = pickle.loads(data) if data is not None else None
        tasks.put(task)
        if task is None:
            return


def serve() -> None:
    """A worker's life (``python -c "from ingest.load.workers import serve; serve()"``): the first
    message names the function, then tasks until there are no more (None, or the parent is gone);
    for each, every event the function yields, then ``done`` (or ``error`` and the traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    try:
        os.nice(NICENESS)  # the writer first (see the module's docstring)
    except (AttributeError, OSError):  # not on this platform, or not allowed: the same priority
        pass
    stdin = sys.stdin.buffer
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not break the messages
    name = _read(stdin)
    if name is None:
        return
    module, _, qualname = pickle.loads(name).partition(":")
    function: Callable[[object], Iterable] = importlib.import_module(module)
    for part in qualname.split("."):
        function = getattr(function, part)
    # Tasks are taken in as they come (a parent handing one out never waits on a busy worker), and
    # results sent by a thread while this one parses on (the parent may be writing another's file).
    tasks: queue.Queue = queue.Queue()
    out = _Outbox(QUEUED_BYTES)
    threading.Thread(target=_receive_loop, args=(stdin, tasks), daemon=True).start()
    sender = threading.Thread(target=_send_loop, args=(out, results), daemon=True)
    sender.start()
    dumps = marshal.dumps
    while True:
        task = tasks.get()
        if task is None:
            break
        try:
            for event in function(task):
                out.put(dumps(("event", event)))
            out.put(dumps(("done", None)))
        except BaseException:
            out.put(dumps(("error", traceback.format_exc())))
    out.put(None)
    sender.join()


# ---------------------------------------------------------------------------------------------
# The writer's side
# ---------------------------------------------------------------------------------------------
class _Worker:
    def __init__(self, function: str, number: int):
        self.name = f"worker {number}"
        self.errors = tempfile.TemporaryFile()
        # the package this module is in, importable in the worker whatever the caller's sys.path
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from ingest.load.workers import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, env=env, close_fds=True)
        _widen(self.proc.stdout)
        self.send(function)

    def send(self, message) -> None:
        _write(self.proc.stdin, pickle.dumps(message, _PROTOCOL))

    def receive(self) -> tuple:
        data = _read(self.proc.stdout)
        if data is None:
            self.proc.wait(5)
            self.errors.seek(0)
            said = self.errors.read().decode("utf-8", "replace").strip().splitlines()
            raise WorkerFailed(f"{self.name} ended unexpectedly (exit code {self.proc.returncode})"
                               + (f": {said[-1]}" if said else ""))
        return marshal.loads(data)

    def close(self, wait: bool) -> None:
        try:
            if wait:
                self.send(None)
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5 if wait else 0.2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.errors.close()


class Pool:
    """``jobs`` worker processes running ``function`` (a module-level generator function, given as
    ``"module:name"``, whose events are plain data) on tasks; :meth:`map` gives each task's events
    back in the order of the tasks."""

    def __init__(self, function: str, jobs: int):
        self._workers: list[_Worker] = []
        try:
            for i in range(jobs):
                self._workers.append(_Worker(function, i + 1))
        except BaseException:
            self.close(wait=False)
            raise

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close(wait=exc[0] is None)

    def map(self, tasks: list[tuple[object, int]]) -> Iterator[Iterator]:
        """For each ``(task, weight)`` in order, an iterator over the events its worker sends (to be
        read to its end before the next). A task goes to the worker with the least weight (bytes)
        handed out and not yet read back; a worker works ahead on its tasks while others are read."""
        jobs = len(self._workers)
        owner: list[int] = []
        load = [0] * jobs
        dispatched = ahead = 0
        for i, (_, weight) in enumerate(tasks):
            while dispatched < len(tasks) and (dispatched <= i or (
                    dispatched - i < LOOKAHEAD_TASKS and ahead < LOOKAHEAD_BYTES * jobs)):
                task, size = tasks[dispatched]
                worker = min(range(jobs), key=load.__getitem__)
                self._workers[worker].send(task)
                owner.append(worker)
                load[worker] += size
                ahead += size
                dispatched += 1
            yield self._events(self._workers[owner[i]])
            load[owner[i]] -= weight
            ahead -= weight

    @staticmethod
    def _events(worker: _Worker) -> Iterator:
        while True:
            kind, value = worker.receive()
            if kind == "event":
                yield value
            elif kind == "done":
                return
            else:
                last = value.strip().splitlines()[-1] if value.strip() else "no traceback"
                raise WorkerFailed(f"{worker.name} failed: {last}", value)

    def close(self, wait: bool = True) -> None:
        """Stop the workers: told to (and waited for) after a run, ended at once after a failure."""
        for worker in self._workers:
            worker.close(wait)
        self._workers = []
