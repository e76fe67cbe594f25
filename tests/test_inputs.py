"""Loaders read only what they should (issue 9, section 4): regular files, lines of bounded length,
and no write lock held while input is read."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import PROJECTS, copy_tree, rows
from ingest import backfill
from ingest import store as store_module
from ingest.parse import transcripts

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024 ** 3


def _run(args, *, memory_limit: int | None = None, timeout: float = 60):
    """The real command, with an address-space limit (a runaway read fails fast instead of
    swapping the machine) and a timeout (a blocked read fails the test instead of hanging it)."""
    def limit():
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "ingest", *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"claude-ingest {args[0]} did not finish in {timeout} s")
    return r, time.perf_counter() - started


def test_a_fifo_named_like_a_transcript_is_skipped_not_waited_on(tmp_path):
    """A FIFO named x.jsonl in a projects directory hung backfill while it held the write lock."""
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    os.mkfifo(projects / "-Users-marot-spotter" / "x.jsonl")
    db = tmp_path / "claude.db"
    r, seconds = _run(["backfill", projects, "--db", db], timeout=30)
    assert r.returncode == 0, r.stderr
    assert seconds < 20
    assert "1 unreadable" in r.stdout
    (skip,) = rows(db, "select reason from ingest_skips where path like '%x.jsonl'")
    assert "FIFO" in skip["reason"]
    assert rows(db, "select count(*) n from sessions")[0]["n"] >= 3  # everything else was read


def test_a_symlink_to_dev_zero_does_not_grow_memory(tmp_path):
    """A .jsonl symlink to /dev/zero grew backfill's memory to 5.7 GB in 20 s."""
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    (projects / "-Users-marot-spotter" / "zero.jsonl").symlink_to("/dev/zero")
    (projects / "-Users-marot-spotter" / "regular-link.jsonl").symlink_to(
        projects / "-Users-marot-spotter" / "tool_heavy.jsonl")  # a link to a regular file is read
    db = tmp_path / "claude.db"
    r, _ = _run(["backfill", projects, "--db", db], memory_limit=2 * GIB, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    (skip,) = rows(db, "select reason from ingest_skips where path like '%zero.jsonl'")
    assert "character device" in skip["reason"]
    assert rows(db, "select count(*) n from ingest_files where path like '%regular-link.jsonl'") == [{"n": 1}]


def test_a_line_longer_than_any_record_is_counted_and_skipped_with_memory_bounded(tmp_path):
    project = tmp_path / "projects" / "-tmp-long"
    project.mkdir(parents=True)
    lines = [{"type": "user", "uuid": f"u{i}", "sessionId": "long", "timestamp": "2026-01-01T00:00:00.000Z",
              "message": {"role": "user", "content": f"prompt {i}"}} for i in range(2)]
    huge = dict(lines[0], uuid="huge", message={"role": "user", "content": "x" * (40 * 1024 * 1024)})
    (project / "long.jsonl").write_text("\n".join(json.dumps(x) for x in (lines[0], huge, lines[1])) + "\n")
    db = tmp_path / "claude.db"
    r, _ = _run(["backfill", project, "--db", db], memory_limit=int(1.5 * GIB))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 bad lines skipped" in r.stdout
    assert sorted(p["text"] for p in rows(db, "select text from prompts")) == ["prompt 0", "prompt 1"]
    (skip,) = rows(db, "select reason, length(excerpt) n from ingest_skips")
    assert "longer than any record" in skip["reason"] and skip["n"] <= 300


def test_no_write_lock_is_held_while_transcripts_are_read(tmp_path, monkeypatch):
    """Backfill held its write transaction while it read and parsed files: whatever made reading
    slow (a FIFO, a slow disk) made every hook wait its busy timeout, then spool."""
    opened = []
    real_connect = store_module.connect

    def connect(path, **kwargs):
        conn = real_connect(path, **kwargs)
        opened.append(conn)
        return conn

    seen = []
    real_feed = transcripts.TranscriptParser.feed

    def feed(self, obj):
        seen.append(any(c.in_transaction for c in opened))
        return real_feed(self, obj)

    monkeypatch.setattr(store_module, "connect", connect)
    monkeypatch.setattr(transcripts.TranscriptParser, "feed", feed)
    db = tmp_path / "claude.db"
    summary = backfill(db, [PROJECTS])
    assert summary.lines > 1000 and len(seen) > 500
    assert not any(seen), f"{sum(seen)} of {len(seen)} lines parsed inside a write transaction"
    assert rows(db, "select count(*) n from api_requests")[0]["n"] > 0


def test_a_fifo_given_to_jsonl_is_a_clear_error(tmp_path):
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    r, seconds = _run(["jsonl", fifo, "--table", "routing", "--db", tmp_path / "claude.db"], timeout=30)
    assert r.returncode == 2 and seconds < 20
    assert "FIFO" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_opencode_json_storage_reads_no_fifo(tmp_path):
    storage = tmp_path / "opencode" / "storage"
    (storage / "session" / "proj").mkdir(parents=True)
    (storage / "session" / "proj" / "ses_1.json").write_text(json.dumps(
        {"id": "ses_1", "projectID": "proj", "directory": "/w", "time": {"created": 1767225600000}}))
    os.mkfifo(storage / "session" / "proj" / "ses_fifo.json")
    r, seconds = _run(["opencode", tmp_path / "opencode", "--db", tmp_path / "claude.db"], timeout=30)
    assert r.returncode == 0 and seconds < 20, r.stderr
    assert rows(tmp_path / "claude.db", "select id from sessions") == [{"id": "ses_1"}]
