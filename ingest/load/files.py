"""Reading input files that anyone could have put there: regular files only, lines of bounded length.

Every loader reads through here, so a FIFO named ``x.jsonl`` never blocks a run (opened
non-blocking, then refused), a ``.jsonl`` symlink to ``/dev/zero`` never fills memory (not a
regular file), and a line too long to be a record is counted and skipped with bounded memory.
It also holds the incremental-reading parts every loader shares: the hash of a file's head (to
notice a file rewritten in place) and lines with their byte offsets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import urllib.parse
from pathlib import Path
from typing import IO, Iterator

HEAD_BYTES = 4096  # hashed to notice a file rewritten in place
MAX_LINE_BYTES = 32 * 1024 * 1024  # no record Claude Code writes is near this; longer is not a record
MAX_SIDECAR_BYTES = 16 * 1024 * 1024  # a .meta.json or OpenCode .json file
_CHUNK = 1024 * 1024


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a directory: not something to read as input."""

    def __init__(self, path, kind: str):
        super().__init__(f"{kind}, not a regular file")
        self.filename, self.kind = str(path), kind

    def __str__(self) -> str:
        return f"{self.kind}, not a regular file"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path) -> tuple[IO[bytes], os.stat_result]:
    """The file opened for reading, and its stat, if it is a regular file (through symlinks).
    Opened non-blocking, so that a FIFO is refused at once instead of waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, _kind(st.st_mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise


def read_small(path, limit: int = MAX_SIDECAR_BYTES) -> bytes | None:
    """A small regular file's bytes; None if it is missing, not regular, or larger than ``limit``."""
    try:
        f, st = open_regular(path)
    except OSError:
        return None
    with f:
        if st.st_size > limit:
            return None
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def read_json(path, limit: int = MAX_SIDECAR_BYTES):
    data = read_small(path, limit)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def head_hash(f: IO[bytes], length: int) -> str:
    """SHA-1 of the first ``length`` bytes (at most HEAD_BYTES): a changed head means a rewrite."""
    f.seek(0)
    return hashlib.sha1(f.read(min(length, HEAD_BYTES))).hexdigest()


LINE, PARTIAL, TOO_LONG = "line", "partial", "too_long"


def lines(f: IO[bytes], offset: int, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[str, int, bytes, int]]:
    """``(kind, line offset, bytes, size)`` from ``offset`` on: ``line`` a whole line (with its
    newline); ``partial`` the last line, not ended yet (it may still be being written); ``too_long``
    a line over ``max_line`` bytes, read past in chunks (its first bytes given, ``size`` its length)."""
    f.seek(offset)
    while True:
        raw = f.readline(max_line + 1)
        if not raw:
            return
        if raw.endswith(b"\n"):
            yield LINE, offset, raw, len(raw)
            offset += len(raw)
            continue
        if len(raw) <= max_line:
            yield PARTIAL, offset, raw, len(raw)
            return
        size = len(raw)
        head = raw[:4096]
        while True:
            chunk = f.readline(_CHUNK)
            size += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
        yield TOO_LONG, offset, head, size
        offset += size


STORE_BUSY_TIMEOUT_MS = 5000  # what OpenCode itself sets


class SqliteSource:
    """An agent's own SQLite store (``opencode.db``, ``crush.db``): how to tell it changed, and how
    to open it without disturbing the agent that has it open."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self._copy: Path | None = None

    def fingerprint(self) -> str:
        parts = []
        for p in (self.path, Path(str(self.path) + "-wal")):
            try:
                st = p.stat()
            except OSError:
                continue
            if st.st_size:  # an empty -wal (a reader, ours included, may leave one) holds nothing new
                parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
        return "|".join(parts)

    def connect(self) -> sqlite3.Connection:
        """Read-only, beside the live OpenCode: a ``mode=ro`` URI, its busy timeout, never immutable.
        A database that cannot be opened so (a WAL database whose directory is read-only, with no
        ``-shm`` yet) is read from a copy."""
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=STORE_BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"pragma busy_timeout = {STORE_BUSY_TIMEOUT_MS}")
            conn.execute("select count(*) from sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            tmp = Path(tempfile.mkdtemp(prefix="claude-ingest-opencode-"))
            for suffix in ("", "-wal"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    shutil.copyfile(src, tmp / (self.path.name + suffix))
            self._copy = tmp
            conn = sqlite3.connect(tmp / self.path.name, timeout=STORE_BUSY_TIMEOUT_MS / 1000)
            return conn

    def close(self) -> None:
        if self._copy:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None
