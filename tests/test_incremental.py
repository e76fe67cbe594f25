"""Re-running backfill: unchanged files unopened, grown files read from their offset, partial last
lines wait, rewritten files re-read without losing rows."""

import os
import sqlite3

import ingest.load.transcripts as backfill_module
from helpers import PROJECTS, copy_tree, facts, rows
from ingest import backfill

TABLES = ["sessions", "api_requests", "messages", "tool_calls", "file_events", "compactions",
          "subagents", "prompts", "errors"]


def dump(db):
    conn = sqlite3.connect(db)
    try:
        return {t: sorted(map(repr, conn.execute(f"select {facts(conn, t)} from {t}"))) for t in TABLES}
    finally:
        conn.close()


def test_backfill_twice_gives_identical_tables_and_opens_nothing(tmp_path, monkeypatch):
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    db = tmp_path / "t.db"
    first = backfill(db, [projects])
    assert first.files_read == 6 and first.files_skipped == 0
    before = dump(db)

    opened = []
    real_open = open
    monkeypatch.setattr(backfill_module, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k),
                        raising=False)
    second = backfill(db, [projects])
    assert opened == []
    assert (second.files_read, second.files_skipped, second.bytes_read, second.lines) == (0, 6, 0, 0)
    assert dump(db) == before
    assert len(rows(db, "select * from ingest_runs")) == 2


def _split(path, at_line):
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(lines[:at_line]), b"".join(lines[at_line:])


def test_appended_file_is_read_from_its_offset(tmp_path):
    src = PROJECTS / "-Users-marot-spotter" / "tool_heavy.jsonl"
    head, tail = _split(src, 20)
    f = tmp_path / "p" / src.name
    f.parent.mkdir()
    f.write_bytes(head)
    db = tmp_path / "t.db"
    one = backfill(db, [f])
    assert one.bytes_read == len(head)
    with open(f, "ab") as out:
        out.write(tail)
    two = backfill(db, [f])
    assert (two.files_read, two.bytes_read) == (1, len(tail))
    # same rows as reading the whole file at once
    whole = tmp_path / "whole.db"
    backfill(whole, [src])
    assert dump(db)["api_requests"] == dump(whole)["api_requests"]
    assert dump(db)["tool_calls"] == dump(whole)["tool_calls"]
    assert rows(db, "select offset, size from ingest_files") == [{"offset": len(head + tail), "size": len(head + tail)}]


def test_partial_last_line_waits_for_the_next_run(tmp_path):
    src = PROJECTS / "-Users-marot-spotter" / "tool_heavy.jsonl"
    head, tail = _split(src, 20)
    cut = tail.index(b"\n") // 2  # half of the next line, as if Claude Code were writing it
    f = tmp_path / src.name
    f.write_bytes(head + tail[:cut])
    db = tmp_path / "t.db"
    one = backfill(db, [f])
    assert one.bad_lines == 0 and one.bytes_read == len(head)
    assert rows(db, "select offset from ingest_files")[0]["offset"] == len(head)
    f.write_bytes(head + tail)
    two = backfill(db, [f])
    assert two.bad_lines == 0 and two.bytes_read == len(tail)
    whole = tmp_path / "whole.db"
    backfill(whole, [f])  # the same file (its place names the account), read in one go
    assert dump(db) == dump(whole)


def test_truncated_or_rewritten_file_is_reread_without_deleting(tmp_path):
    src = PROJECTS / "-Users-marot-spotter" / "tool_heavy.jsonl"
    f = tmp_path / src.name
    f.write_bytes(src.read_bytes())
    db = tmp_path / "t.db"
    backfill(db, [f])
    full = dump(db)
    # Claude Code rewrote the transcript, dropping lines (a rewind or a streaming-error rewrite)
    head, _ = _split(src, 15)
    f.write_bytes(head)
    again = backfill(db, [f])
    assert again.files_read == 1 and again.bytes_read == len(head)
    assert dump(db) == full  # nothing learned is deleted
    assert rows(db, "select rereads, offset from ingest_files") == [{"rereads": 1, "offset": len(head)}]
    # same size, different head: re-read from the start too
    data = bytearray(src.read_bytes())
    f.write_bytes(bytes(data))
    backfill(db, [f])
    data[data.index(b'"isSidechain":false')] = ord(b" ")  # still a file of the same length
    f.write_bytes(bytes(data))
    os.utime(f, ns=(1, 1))
    third = backfill(db, [f])
    assert third.files_read == 1 and third.bytes_read == len(data)


def test_killed_midway_resumes_from_last_commit(tmp_path, monkeypatch):
    """Offsets are committed with the rows they cover: a crash loses at most the uncommitted batch."""
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    db = tmp_path / "t.db"
    monkeypatch.setattr(backfill_module, "COMMIT_EVERY_BYTES", 200_000)
    calls = {"n": 0}
    real = backfill_module.Backfill._commit

    def crash_on_third(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(backfill_module.Backfill, "_commit", crash_on_third)
    try:
        backfill(db, [projects])
    except KeyboardInterrupt:
        pass
    assert calls["n"] == 3 and 0 < rows(db, "select count(*) n from ingest_files")[0]["n"] < 6
    monkeypatch.setattr(backfill_module.Backfill, "_commit", real)
    backfill(db, [projects])
    clean = tmp_path / "clean.db"
    backfill(clean, [projects])
    assert dump(db) == dump(clean)
