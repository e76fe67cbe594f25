"""Backfill with worker processes (issue 17): the tables, the offsets, the skips and the summary are
the same whatever the number of workers; a worker that fails is one error and nothing half-written;
killing the backfill leaves no worker behind."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import EDGE, FIXTURES, PROJECTS, claude_ingest, copy_tree, environ, facts
from ingest.errors import IngestError
from ingest.load import workers
from ingest.load.codex import ingest_codex
from ingest.load.gemini import ingest_gemini
from ingest.load.transcripts import backfill

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_TABLES = ["sessions", "api_requests", "messages", "tool_calls", "file_events", "compactions", "subagents",
                  "prompts", "errors", "usage_daily", "usage_15min", "tool_daily", "file_daily"]


def dump(db: Path) -> dict:
    """Every product table row for row (in rowid order: the order rows were written in, too; without
    the times a run records), the files' offsets and the skips (without run ids and times)."""
    conn = sqlite3.connect(db)
    try:
        out = {t: conn.execute(f"select {facts(conn, t)} from [{t}] order by rowid").fetchall() for t in PRODUCT_TABLES}
        out["ingest_files"] = conn.execute(
            "select path, kind, session_id, agent_id, size, mtime_ns, offset, head_hash, lines, bad_lines, rereads "
            "from ingest_files order by path").fetchall()
        out["ingest_skips"] = conn.execute("select path, offset, reason, excerpt from ingest_skips "
                                           "order by path, offset").fetchall()
        out["fts"] = [conn.execute(f"select rowid, * from [{t}_fts] order by rowid").fetchall()
                      for t in ("prompts", "tool_calls", "errors")]
        return out
    finally:
        conn.close()


def summary_figures(s) -> tuple:
    return (s.files_seen, s.files_read, s.files_skipped, s.files_failed, s.bytes_read, s.lines, s.bad_lines,
            {k: dict(v) for k, v in s.rows.items()}, dict(s.unpriced))


def config_dir(dest: Path) -> Path:
    """A Claude Code config dir: the real transcripts and the edge cases, prompt history, and
    hand-made lines the real files lack (marked): a model no price source knows, a line that is not
    JSON, one cut off by a crash mid-file and a last line still being written."""
    projects = copy_tree(PROJECTS, dest / "projects")
    edge = projects / "-edge-cases"
    edge.mkdir()
    for f in EDGE.glob("*.jsonl"):
        shutil.copy(f, edge / f.name)
    shutil.copy(FIXTURES / "claude-history" / "history.jsonl", dest / "history.jsonl")
    real = (EDGE / "claude-code-log_edge_cases.jsonl").read_text()
    # hand-made: an unknown model, then bad lines, then a partial last line
    text = real.replace("claude-3-sonnet-20240229", "claude-opus-9").replace(
        '"sessionId":"', '"sessionId":"hand-made-')
    head, _, tail = text.partition("\n")
    (edge / "hand-made-bad-lines.jsonl").write_text(
        head + "\n{not json\n" + tail[: len(tail) // 2] + "\n" + tail + '{"type": "user", "mess')
    return projects


def test_one_and_two_workers_give_the_same_tables_offsets_skips_and_summary(tmp_path):
    projects = config_dir(tmp_path / "config")
    dbs, summaries = {}, {}
    for jobs in (1, 2):
        dbs[jobs] = tmp_path / f"jobs{jobs}.db"
        summaries[jobs] = backfill(dbs[jobs], [projects], jobs=jobs)
    one, two = dump(dbs[1]), dump(dbs[2])
    assert one == two
    assert summary_figures(summaries[1]) == summary_figures(summaries[2])
    # what the comparison covers is really there
    assert summaries[1].bad_lines >= 2 and summaries[1].unpriced.get("claude-opus-9")
    assert len(one["api_requests"]) > 200 and one["ingest_skips"]
    assert any(r[0].endswith("history.jsonl") for r in one["ingest_files"])

    # The files grow (a session goes on): read from their offsets, with and without workers, the same.
    for f in sorted(projects.rglob("*.jsonl"))[:3]:
        lines = f.read_bytes().splitlines(keepends=True)
        with open(f, "ab") as out:
            out.write(b"".join(lines[: len(lines) // 3]).replace(b'"uuid":"', b'"uuid":"grown-'))
    again = {jobs: backfill(dbs[jobs], [projects], jobs=jobs) for jobs in (1, 2)}
    assert again[1].files_read == 4 and again[1].files_skipped > 5  # 3 grown, and the partial last line
    assert summary_figures(again[1]) == summary_figures(again[2])
    assert dump(dbs[1]) == dump(dbs[2])


@pytest.mark.parametrize("ingest,source", [(ingest_codex, FIXTURES / "codex"), (ingest_gemini, FIXTURES / "gemini")],
                         ids=["codex", "gemini"])
def test_codex_and_gemini_with_workers_give_the_same_tables(tmp_path, ingest, source):
    src = copy_tree(source, tmp_path / "src")
    summaries = {jobs: ingest(tmp_path / f"jobs{jobs}.db", [src], jobs=jobs) for jobs in (1, 2)}
    assert summaries[1].files_read > 1 and summaries[1].lines > 0
    assert summary_figures(summaries[1]) == summary_figures(summaries[2])
    assert dump(tmp_path / "jobs1.db") == dump(tmp_path / "jobs2.db")


def test_pool_gives_events_in_the_order_of_the_tasks_and_a_failure_is_one_error():
    # builtins.iter is a function of one task whose events are plain data: the pool's own behaviour
    tasks = [(tuple(range(i, i + i % 5)), i % 5) for i in range(40)]
    with workers.Pool("builtins:iter", 2) as pool:
        assert [list(events) for events in pool.map(tasks)] == [list(t) for t, _ in tasks]
    with pytest.raises(workers.WorkerFailed) as failed:
        with workers.Pool("builtins:iter", 2) as pool:
            for events in pool.map([((1, 2), 2), (5, 1)]):  # iter(5) raises in the worker
                list(events)
    assert isinstance(failed.value, IngestError)  # the command line says it in one line, exit 2
    assert "\n" not in str(failed.value) and "TypeError: 'int' object is not iterable" in str(failed.value)
    assert "Traceback" in failed.value.details


def test_workers_run_below_the_writer_and_send_through_a_wide_pipe():
    # the writer is the pipeline's narrowest part: a worker yields the cores to it (module docstring)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with workers.Pool("builtins:iter", 2) as pool:
        assert [list(events) for events in pool.map([((1,), 1), ((2,), 1)])] == [[1], [2]]  # both have started
        for worker in pool._workers:
            assert os.getpriority(os.PRIO_PROCESS, worker.proc.pid) == min(19, mine + workers.NICENESS)
            if int(Path("/proc/sys/fs/pipe-max-size").read_text()) >= workers.PIPE_BYTES:
                import fcntl

                assert fcntl.fcntl(worker.proc.stdout.fileno(), fcntl.F_GETPIPE_SZ) == workers.PIPE_BYTES


def _wal_frames(db: Path) -> tuple[int, int]:
    """The WAL's frames, and how many of them are in the database file: mxFrame in the wal-index
    header and nBackfill in its checkpoint info (https://sqlite.org/walformat.html)."""
    import struct

    shm = (db.parent / (db.name + "-shm")).read_bytes()[:136]
    return struct.unpack_from("=I", shm, 16)[0], struct.unpack_from("=I", shm, 96)[0]


def _at_each_commit(monkeypatch, sql: str) -> list:
    """The first value ``sql`` gives on the store's connection at each commit from now on."""
    from ingest import store

    seen, original = [], store.Store.commit

    def commit(self):
        seen.append(self.conn.execute(sql).fetchone()[0])
        original(self)

    monkeypatch.setattr(store.Store, "commit", commit)
    return seen


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_backfill_checkpoints_less_often_then_puts_the_setting_back_with_the_wal_checkpointed(
        tmp_path, jobs, monkeypatch):
    """A backfill's writer lets the WAL grow to store.BULK_CHECKPOINT_PAGES before copying it into
    the database; after the run its connection checkpoints as it did before, and nothing it wrote
    waits in the WAL for the next writer (a hook) to copy."""
    from ingest import store

    db = tmp_path / "t.db"
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    conn = store.connect(db)
    try:
        # one file first: the run below is not a cold load (whose deferred indexes are built after it)
        backfill(conn, [min(projects.rglob("*.jsonl"), key=lambda p: p.stat().st_size)], jobs=1)
        conn.execute("pragma wal_autocheckpoint = 777")
        seen = _at_each_commit(monkeypatch, "pragma wal_autocheckpoint")
        summary = backfill(conn, [projects], jobs=jobs)
        assert summary.files_read == 5
        # every commit of the run at the bulk setting, but the last: the run's own record, after it
        assert set(seen[:-1]) == {store.BULK_CHECKPOINT_PAGES} and seen[-1] == 777
        assert conn.execute("pragma wal_autocheckpoint").fetchone()[0] == 777
        # what the run wrote (never enough to reach the bulk setting) was checkpointed at its end, so
        # the WAL started over: it holds the run's record only, a few pages of a database of hundreds
        frames, copied = _wal_frames(db)
        assert 0 < frames <= 16 and copied == 0
        assert conn.execute("pragma page_count").fetchone()[0] > 300
    finally:
        conn.close()


def _full_text(conn) -> dict:
    """Each full-text index's rows, and the triggers that keep it in step, as the database holds them."""
    return {t: (conn.execute(f"select rowid, * from [{t}_fts] order by rowid").fetchall(),
                dict(conn.execute("select name, sql from sqlite_master where type = 'trigger' and tbl_name = ? "
                                  "and name like ? escape '!' order by name", (t, f"{t}!_a_"))))
            for t in ("tool_calls", "prompts", "errors")}


def test_a_first_backfill_builds_its_full_text_indexes_at_the_end_and_a_killed_one_is_finished_by_the_next(
        tmp_path, monkeypatch):
    """A cold load writes without the full-text triggers (store.start_cold_load), then rebuilds each
    index from its table and puts its triggers back, as sqlite-utils and migration m002 write them:
    the indexes equal those of a database whose triggers were live. A cold load that never got to
    its end (killed: its triggers are missing) is finished by the next backfill."""
    from ingest import migrations, schema, store

    projects = copy_tree(PROJECTS, tmp_path / "projects")
    live = store.connect(tmp_path / "live.db")  # triggers live all along: not a cold load (one row first)
    live.execute("insert into errors (id, session_id, kind) values ('x', 'x', 'x')")
    backfill(live, [projects], jobs=1)
    live.execute("delete from errors where id = 'x'")
    expected = _full_text(live)
    assert len(expected["tool_calls"][0]) > 100 and len(expected["prompts"][0]) > 5
    for table, (_, triggers) in expected.items():  # what schema.ensure made, sqlite-utils' text and m002's
        assert triggers == migrations.fts_triggers(table, schema.TABLES[table].fts)

    cold = store.connect(tmp_path / "cold.db")
    seen = _at_each_commit(monkeypatch, "select count(*) from sqlite_master where type = 'trigger' and tbl_name "
                                        "in ('tool_calls', 'prompts', 'errors') and name like '%!_a_' escape '!'")
    backfill(cold, [projects], jobs=2)
    assert seen[0] == 0 and seen[-1] == 3 * len(expected)  # none while it loaded; all back for its record
    assert _full_text(cold) == expected
    assert cold.execute("select count(*) from tool_calls_fts where tool_calls_fts match 'ecto'").fetchone()[0] > 0
    cold.execute("insert into tool_calls_fts(tool_calls_fts, rank) values ('integrity-check', 1)")

    killed = store.connect(tmp_path / "killed.db")
    assert store.start_cold_load(killed)  # ... and killed here: no index, no trigger
    assert _full_text(killed)["tool_calls"][1] == {}
    backfill(killed, [projects], jobs=1)
    assert _full_text(killed) == expected
    backfill(killed, [projects], jobs=1)  # a warm run leaves them be
    assert _full_text(killed) == expected
    for conn in (live, cold, killed):
        conn.close()


def _bench_module():
    spec = importlib.util.spec_from_file_location("backfill_bench", ROOT / "bench" / "backfill_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_workers_end_when_the_backfill_is_killed(tmp_path):
    bench = _bench_module()
    corpus = tmp_path / "corpus"
    bench.generate(bench.Template(PROJECTS), 4, corpus)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "backfill", str(corpus), "--db", str(tmp_path / "k.db"),
                             "-q", "--jobs", "2"], env=environ(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    started = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(started) == 2, "the backfill ended before its workers could be seen"
    deadline = time.monotonic() + 10
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, started)), "a worker outlived the backfill"


def test_jobs_option(tmp_path):
    projects = copy_tree(PROJECTS, tmp_path / "projects")
    bad = claude_ingest("backfill", projects, "--db", tmp_path / "t.db", "--jobs", "0")
    assert bad.returncode == 2 and "--jobs" in bad.stderr and "Traceback" not in bad.stderr
    ran = claude_ingest("backfill", projects, "--db", tmp_path / "t.db", "-j", "2")
    assert ran.returncode == 0, ran.stderr
    assert "6 files read" in ran.stdout
    assert workers.available_cores() == len(os.sched_getaffinity(0))


def test_a_hook_beside_a_cold_backfill_with_workers_waits_less_than_its_busy_timeout(tmp_path):
    """Real hook payloads written while a first backfill with two workers runs: each call returns
    within the hook's busy timeout (stored, or spooled when the backfill held the lock), and after
    the next backfill every payload is in the database once."""
    import json

    from hook_payloads import payloads_for_session
    from ingest.load import hooks as hook_module

    bench = _bench_module()
    corpus = tmp_path / "corpus"
    bench.generate(bench.Template(PROJECTS), 10, corpus)
    db = tmp_path / "cold.db"
    payloads = [json.dumps(p).encode() for p in
                payloads_for_session(PROJECTS / "-Users-marot-spotter" / "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl")]
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "backfill", str(corpus), "--db", str(db), "-q",
                             "--jobs", "2"], env=environ(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not db.exists() and proc.poll() is None:
        time.sleep(0.01)
    seconds, outcomes, sent = [], [], []
    for raw in payloads:
        if proc.poll() is not None:
            break
        started = time.perf_counter()
        outcomes.append(hook_module.handle(raw, db, replay_budget=0))
        seconds.append(time.perf_counter() - started)
        sent.append(raw)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    print(f"{len(sent)} hook calls beside the backfill, slowest {max(seconds):.3f} s: "
          f"{ {o: outcomes.count(o) for o in set(outcomes)} }")
    assert len(sent) >= 5, "the backfill ended before the hooks could run beside it"
    assert max(seconds) < hook_module.BUSY_TIMEOUT_S + 0.5, max(seconds)
    assert set(outcomes) <= {"stored", "spooled", "duplicate"}, outcomes
    backfill(db, [corpus], jobs=1)  # replays what was spooled
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("select count(*) from hook_events").fetchone()[0]
    finally:
        conn.close()
    assert stored == len({hashlib_id(raw) for raw in sent})


def hashlib_id(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()
