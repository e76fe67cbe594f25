"""``claude-ingest gemini``: Gemini CLI sessions and prompt logs into the database, incrementally.

Gemini CLI keeps, per project, ``~/.gemini/tmp/<project>/chats/session-*.json`` (one object, rewritten
whole: read again whenever its size or mtime changes), ``session-*.jsonl`` (appended: read from where
the last run stopped, as backfill reads transcripts) and ``logs.json`` (every prompt typed, with its
session). ``<project>`` is the SHA-256 of the project's path (before 0.2x) or a short name
(``~/.gemini/projects.json`` maps paths to names, and ``<project>/.project_root`` holds the path); the
path is the session's ``project_path`` where one of those says it, else the folder's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from .. import store as store_mod
from ..parse.common import BadLine
from ..parse.gemini import GeminiParser, log_prompts
from . import files, runs
from .transcripts import Backfill, RunSummary, TranscriptFile

DATA_ENV = "GEMINI_DATA_DIR"  # ccusage's variable: the tmp/ directory itself
MAX_JSON_BYTES = 64 * 1024 * 1024  # a session-*.json is read whole


def default_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or "~/.gemini/tmp").expanduser()


def _tmp_root(path: Path) -> Path:
    """``~/.gemini/tmp`` for ``~/.gemini`` (a home given as PATH), else the path itself."""
    return path / "tmp" if (path / "tmp").is_dir() and not (path / "chats").is_dir() else path


def discover(paths: Iterable[Path]) -> list[TranscriptFile]:
    found: dict[Path, TranscriptFile] = {}
    for path in paths:
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            root = _tmp_root(path)
            candidates = [p for p in root.rglob("*.json*") if p.name.startswith("session-") and "chats" in p.parts]
            candidates += [p for p in root.rglob("logs.json")]
        else:
            candidates = [path]
        for p in candidates:
            if p in found or not p.name.endswith((".json", ".jsonl")):
                continue
            kind = "gemini-logs" if p.name == "logs.json" else "gemini" if p.name.endswith(".jsonl") else "gemini-json"
            found[p] = TranscriptFile(p, kind, None, None)
    # logs.json last: a prompt the chat file has is then met by the chat's own row first
    return sorted(found.values(), key=lambda f: (f.kind == "gemini-logs", str(f.path)))


class GeminiRun(Backfill):
    def __init__(self, conn, **kwargs):
        super().__init__(conn, command="gemini", **kwargs)
        self._projects: dict[Path, str | None] = {}

    def project_of(self, file: Path) -> str | None:
        """The project folder's path: its .project_root, projects.json's entry, else its name."""
        folder = file.parent.parent if file.parent.name == "chats" else file.parent
        if folder not in self._projects:
            root = files.read_small(folder / ".project_root", 64 * 1024)
            project = root.decode("utf-8", "replace").strip() if root else None
            if not project:
                mapping = files.read_json(folder.parent.parent / "projects.json")
                names = mapping.get("projects") if isinstance(mapping, dict) else None
                if isinstance(names, dict):
                    project = next((p for p, n in names.items() if n == folder.name), None)
            self._projects[folder] = project or folder.name
        return self._projects[folder]

    def make_parser(self, tf: TranscriptFile):
        return GeminiParser(str(tf.path), project=self.project_of(tf.path), host=self.host)

    @staticmethod
    def skip_raw(raw: bytes) -> bool:
        return False

    def reads_in_worker(self, tf: TranscriptFile) -> bool:
        return tf.kind == "gemini"  # the whole-JSON files are read here, below

    def ingest_file(self, tf: TranscriptFile, st) -> None:
        if tf.kind == "gemini":
            return super().ingest_file(tf, st)
        path = str(tf.path)  # a whole JSON file: read again whenever it changed
        if st is None:
            self._file_failed(path, "file vanished or cannot be read")
            return
        data = files.read_small(tf.path, MAX_JSON_BYTES)
        if data is None:
            self._file_failed(path, f"not read: not a regular file, or larger than {MAX_JSON_BYTES:,} bytes")
            return
        self.summary.files_read += 1
        bad, records, session = 0, [], None
        try:
            obj = json.loads(data)
            if tf.kind == "gemini-logs":
                records = log_prompts(obj, project=self.project_of(tf.path), host=self.host)
            else:
                parser = self.make_parser(tf)
                records = parser.session(obj) + parser.finish()
                session = parser.session_id
                for model, keys in parser.unpriced.items():
                    self.summary.unpriced[model] += len(keys)
        except (ValueError, BadLine, RecursionError, UnicodeDecodeError) as e:
            bad = 1
            self._skip(path, 0, f"{type(e).__name__}: {e}", data[:4096])
        self.store.write(records)
        self.summary.lines += 1
        self.summary.bad_lines += bad
        head = hashlib.sha1(data[: files.HEAD_BYTES]).hexdigest()
        self.store.add("ingest_files", runs.file_row(path, tf.kind, st, st.st_size, head, lines=1, bad_lines=bad,
                                                     rereads=0, session_id=session))
        self._known[path] = (st.st_size, st.st_mtime_ns, st.st_size, head, 0, 1, bad)
        self._read(len(data))


def ingest_gemini(db, paths: Iterable[Path] | None = None, *, progress=None, host=None,
                  jobs: int | None = None) -> RunSummary:
    """Read Gemini CLI's sessions and logs under ``paths`` (default ``$GEMINI_DATA_DIR``, else
    ``~/.gemini/tmp``) into ``db``, a database path or an open connection; ``jobs`` as for
    ``backfill`` (the appended ``.jsonl`` sessions are read in the workers)."""
    paths = list(paths) if paths else [default_dir()]
    with store_mod.opened(db) as conn:
        return GeminiRun(conn, host=host, jobs=jobs).run_found(discover(paths), progress)
