"""Soak: 4 concurrent hook writers and a backfill over growing transcripts, for minutes, on one database.

What runs at once, for ``--seconds`` (default 180):

* 4 hook writers: each a loop running the real hook command (``python -m ingest hook --db DB``, one
  process per payload, as Claude Code runs it) with its own session and a known sequence of
  payloads: a UserPromptSubmit every 5th turn, and a PreToolUse then PostToolUse per turn;
* a backfill loop: ``python -m ingest backfill PROJECTS --db DB -q`` again and again;
* an appender growing the transcripts under PROJECTS while the backfills read them: copies of the
  real fixture transcripts (fresh ids per copy, bench/backfill_bench.py's generator) written a few
  lines at a time into new and existing files, often leaving a last line half written until the
  next tick, as Claude Code does.

Then: the appender finishes every line, one last backfill runs (it replays any spool first), and
the checks, each PASS or FAIL:

* every hook exited 0 with nothing on stdout or stderr; every backfill exited 0;
* hook_events holds exactly the payloads sent (none lost, none doubled), prompts and tool calls
  are exact, every tool call paired (start, end, output); no spool is left;
* no line was ever counted bad (a half-written line waits, it is not a bad line);
* the transcript tables (everything but the hook writers' sessions) equal, row for row, those of
  one clean backfill of the final files into a fresh database;
* ``pragma integrity_check`` and the FTS indexes' integrity checks pass.

Figures: payloads sent, hook latency under contention (p50, p95, max), spooled payloads (stored
later by a replay), backfill runs completed, bytes appended.

Run:
    python bench/soak.py                 # 180 s
    python bench/soak.py --seconds 30    # a quick one

Exits 0 when every check passes, 1 otherwise. Writes only under bench/out/soak/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backfill_bench as corpus_tools  # noqa: E402

ROOT = corpus_tools.ROOT
OUT = corpus_tools.OUT / "soak"
WRITERS = 4
INITIAL_COPIES = 2  # written whole before the start (~9 MB): the first backfill has real work
HOOK_PREFIX = "soak-hook-"  # the hook writers' session ids
HOOK_SESSIONS = "soak-%"  # theirs and the first call's (soak-init): not in the transcripts
PRODUCT_TABLES = ["sessions", "api_requests", "messages", "tool_calls", "file_events", "compactions", "subagents",
                  "prompts", "errors", "usage_daily", "usage_15min", "tool_daily", "file_daily"]


def command(*args: str) -> list[str]:
    # The working tree's code (python -m ingest goes through the console script's own entry point).
    return [sys.executable, "-m", "ingest", *args]


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_INGEST_DEBUG"}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XDG_STATE_HOME"] = str(OUT / "state")  # spool fallbacks stay inside the soak's directory
    env["TMPDIR"] = str(OUT / "tmp")
    return env


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


# ---------------------------------------------------------------------------------------------
# Hook writers
# ---------------------------------------------------------------------------------------------
class Writer(threading.Thread):
    def __init__(self, n: int, db: Path, stop: threading.Event, env: dict):
        super().__init__(name=f"writer-{n}", daemon=True)
        self.n, self.db, self.stop, self.env = n, db, stop, env
        self.session = f"{HOOK_PREFIX}{n}"
        self.sent: list[bytes] = []
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.prompts = self.calls = 0

    def payloads(self, turn: int):
        base = {"session_id": self.session, "transcript_path": f"/soak/{self.session}.jsonl", "cwd": "/soak",
                "permission_mode": "default"}
        if turn % 5 == 0:
            yield {**base, "hook_event_name": "UserPromptSubmit", "prompt": f"writer {self.n} prompt {turn}"}
        call = {**base, "tool_name": "Bash", "tool_use_id": f"toolu_{self.session}_{turn}",
                "tool_input": {"command": f"echo {self.n} {turn}", "description": "soak"}}
        yield {**call, "hook_event_name": "PreToolUse"}
        yield {**call, "hook_event_name": "PostToolUse", "duration_ms": 12,
               "tool_response": {"stdout": f"{self.n} {turn}", "stderr": "", "interrupted": False}}

    def run(self) -> None:
        turn = 0
        while not self.stop.is_set():
            for payload in self.payloads(turn):
                raw = json.dumps(payload).encode()
                started = time.perf_counter()
                proc = subprocess.run(command("hook", "--db", str(self.db)), input=raw, capture_output=True,
                                      env=self.env, cwd=ROOT, timeout=60)
                self.latencies.append(time.perf_counter() - started)
                self.sent.append(raw)
                if proc.returncode != 0 or proc.stdout or proc.stderr:
                    self.failures.append(f"rc={proc.returncode} stdout={proc.stdout[:100]!r} "
                                         f"stderr={proc.stderr[-300:]!r}")
                self.prompts += payload["hook_event_name"] == "UserPromptSubmit"
                self.calls += payload["hook_event_name"] == "PreToolUse"
            turn += 1


# ---------------------------------------------------------------------------------------------
# Backfill loop
# ---------------------------------------------------------------------------------------------
class Backfills(threading.Thread):
    def __init__(self, db: Path, projects: Path, stop: threading.Event, env: dict):
        super().__init__(name="backfill", daemon=True)
        self.db, self.projects, self.stop, self.env = db, projects, stop, env
        self.runs: list[float] = []
        self.failures: list[str] = []

    def once(self) -> None:
        started = time.perf_counter()
        proc = subprocess.run(command("backfill", str(self.projects), "--db", str(self.db), "-q"),
                              capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=600)
        self.runs.append(time.perf_counter() - started)
        if proc.returncode != 0:
            self.failures.append(f"rc={proc.returncode} {proc.stderr[-500:]}")

    def run(self) -> None:
        while not self.stop.is_set():
            self.once()


# ---------------------------------------------------------------------------------------------
# Growing transcripts
# ---------------------------------------------------------------------------------------------
class Appender(threading.Thread):
    """Streams fixture copies (fresh ids each) into PROJECTS at ``rate`` bytes/s, a few lines per
    file per tick, every file of a copy growing together; a last line is often left half written."""

    TICK = 0.05

    def __init__(self, template, projects: Path, staging: Path, first_copy: int, rate: float,
                 stop: threading.Event, seed: int):
        super().__init__(name="appender", daemon=True)
        self.template, self.projects, self.staging = template, projects, staging
        self.next_copy, self.rate, self.stop = first_copy, rate, stop
        self.random = random.Random(seed)
        self.streams: list[list] = []  # [target, data, written]
        self.appended = self.files = self.copies = self.torn_ticks = 0

    def _start_copy(self) -> None:
        k = self.next_copy
        self.next_copy += 1
        self.copies += 1
        staged = self.staging / f"copy{k}"
        self.template.write_copy(k, staged)
        for src in sorted(staged.rglob("*")):
            if not src.is_file():
                continue
            target = self.projects / src.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.name.endswith(".meta.json"):  # Claude Code writes the sidecar before the transcript
                shutil.copyfile(src, target)
                continue
            self.streams.append([target, src.read_bytes(), 0])
            self.files += 1
        shutil.rmtree(staged)

    def _tick(self, budget: int) -> None:
        if not self.streams:
            self._start_copy()
        share = max(1, budget // len(self.streams))
        for stream in list(self.streams):
            target, data, written = stream
            end = min(len(data), written + share)
            newline = data.find(b"\n", end)  # whole lines, up to the budget...
            end = len(data) if newline == -1 else newline + 1
            if end < len(data) and self.random.random() < 0.3:  # ...or half of the next one too
                next_end = data.find(b"\n", end)
                end = end + max(1, ((len(data) if next_end == -1 else next_end) - end) // 2)
                self.torn_ticks += 1
            with open(target, "ab") as f:
                f.write(data[written:end])
            self.appended += end - written
            stream[2] = end
            if end >= len(data):
                self.streams.remove(stream)

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stop.is_set():
            behind = int(self.rate * (time.perf_counter() - started)) - self.appended  # whole lines overshoot
            if behind > 0:
                self._tick(behind)
            time.sleep(self.TICK)

    def finish(self) -> int:
        """Write what is left of every file that was started (no half line remains); return its size."""
        rest = 0
        for target, data, written in self.streams:
            with open(target, "ab") as f:
                f.write(data[written:])
            rest += len(data) - written
        self.streams = []
        return rest


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
def transcript_tables(db: Path) -> dict:
    """Every product table, row for row, without the hook writers' sessions."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for t in PRODUCT_TABLES:
            key = "id" if t == "sessions" else "session_id"
            columns = [r[1] for r in conn.execute(f"pragma table_info([{t}])")]
            where = f"where coalesce([{key}], '') not like '{HOOK_SESSIONS}'" if key in columns else ""
            # (costs summed in the daily rollups differ in their last bits with the order of addition)
            out[t] = sorted(repr(tuple(round(v, 9) if isinstance(v, float) else v for v in row))
                            for row in conn.execute(f"select * from [{t}] {where}"))
        return out
    finally:
        conn.close()


def integrity(db: Path) -> list[str]:
    problems = []
    conn = sqlite3.connect(db)
    try:
        result = conn.execute("pragma integrity_check").fetchall()
        if result != [("ok",)]:
            problems.append(f"integrity_check: {result[:5]}")
        for fts in ("prompts_fts", "tool_calls_fts", "errors_fts"):
            try:
                conn.execute(f"insert into {fts}({fts}) values('integrity-check')")
            except sqlite3.Error as e:
                problems.append(f"{fts}: {e}")
    finally:
        conn.close()
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long everything runs together (180)")
    parser.add_argument("--grow-mb", type=float, default=20, help="transcript bytes appended over the run (20)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args(argv)

    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "tmp").mkdir(parents=True)
    projects, db, clean = OUT / "projects", OUT / "soak.db", OUT / "clean.db"
    env = environment()
    template = corpus_tools.Template(corpus_tools.FIXTURES)
    size, files = corpus_tools.generate(template, INITIAL_COPIES, projects)
    print(f"soak: {args.seconds:g}s, {WRITERS} hook writers, a backfill loop, transcripts growing by "
          f"~{args.grow_mb:g} MB; start: {files} files, {size / 1e6:.1f} MB; cpus: {os.cpu_count()}; "
          f"load before: {os.getloadavg()[0]:.2f}")
    subprocess.run(command("hook", "--db", str(db)), input=b'{"hook_event_name": "Setup", "session_id": "soak-init"}',
                   env=env, cwd=ROOT, check=True)  # the database exists before the writers race

    stop = threading.Event()
    writers = [Writer(n, db, stop, env) for n in range(WRITERS)]
    backfills = Backfills(db, projects, stop, env)
    appender = Appender(template, projects, OUT / "staging", INITIAL_COPIES, args.grow_mb * 1e6 / args.seconds,
                        stop, args.seed)
    started = time.perf_counter()
    for thread in (*writers, backfills, appender):
        thread.start()
    try:
        while time.perf_counter() - started < args.seconds:
            time.sleep(min(10.0, args.seconds - (time.perf_counter() - started)))
            sent = sum(len(w.sent) for w in writers)
            print(f"  {time.perf_counter() - started:5.0f}s: {sent} payloads, {len(backfills.runs)} backfills, "
                  f"{appender.appended / 1e6:.1f} MB appended", flush=True)
    finally:
        stop.set()
        for thread in (*writers, backfills, appender):
            thread.join()
    elapsed = time.perf_counter() - started
    rest = appender.finish()
    backfills.once()  # the final files, and a final replay of any spool
    final_files = list(projects.rglob("*.jsonl"))
    final_bytes = sum(p.stat().st_size for p in final_files)
    clean_run = subprocess.run(command("backfill", str(projects), "--db", str(clean), "-q"), env=env, cwd=ROOT,
                               capture_output=True, text=True)

    sent = [raw for w in writers for raw in w.sent]
    latencies = [s for w in writers for s in w.latencies]
    prompts, calls = sum(w.prompts for w in writers), sum(w.calls for w in writers)
    conn = sqlite3.connect(db)
    q = lambda sql, *p: conn.execute(sql, p).fetchone()[0]  # noqa: E731
    like = HOOK_PREFIX + "%"
    stored = q("select count(*) from hook_events where session_id like ?", like)
    distinct_ids = q("select count(distinct id) from hook_events where session_id like ?", like)
    spooled = q("select count(*) from hook_events where session_id like ? and source = 'spool'", like)
    prompts_stored = q("select count(*) from prompts where session_id like ?", like)
    calls_stored = q("select count(*) from tool_calls where session_id like ?", like)
    calls_paired = q("select count(*) from tool_calls where session_id like ? and started_at is not null "
                     "and ended_at is not null and output_preview is not null", like)
    bad_lines = q("select coalesce(sum(bad_lines), 0) from ingest_runs")
    skips = q("select count(*) from ingest_skips")
    runs_recorded = q("select count(*) from ingest_runs")
    conn.close()
    leftover = sorted(str(p) for p in OUT.rglob("*") if ".spool.jsonl" in p.name or p.name.startswith("spool.jsonl"))
    hook_failures = [f for w in writers for f in w.failures]
    problems = integrity(db)
    same = clean_run.returncode == 0 and transcript_tables(db) == transcript_tables(clean)
    if not same and clean_run.returncode == 0:
        a, b = transcript_tables(db), transcript_tables(clean)
        for t in PRODUCT_TABLES:
            if a[t] != b[t]:
                print(f"  differs: {t}: soak {len(a[t])} rows, clean {len(b[t])} rows; "
                      f"only in soak {len(set(a[t]) - set(b[t]))}, only in clean {len(set(b[t]) - set(a[t]))}")

    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print(f"\nran {elapsed:.0f}s; load after: {os.getloadavg()[0]:.2f}")
    print(f"hook payloads sent: {len(sent)} ({prompts} prompts, {calls} tool calls) by {WRITERS} writers, "
          f"{len(sent) / elapsed:.1f}/s")
    print(f"hook latency under contention: p50 {ms(pct(latencies, .5))}, p95 {ms(pct(latencies, .95))}, "
          f"max {ms(max(latencies))}; mean {ms(statistics.mean(latencies))}")
    print(f"spooled then replayed: {spooled}")
    print(f"backfill runs completed: {len(backfills.runs)} (incl. the final one; ingest_runs rows: {runs_recorded}); "
          f"run time p50 {pct(backfills.runs, .5):.2f}s, max {max(backfills.runs):.2f}s")
    print(f"transcripts: {appender.appended / 1e6:.1f} MB appended while running, in {appender.copies} copies "
          f"({appender.files} files grown, {appender.torn_ticks} times a line left half written until the next "
          f"tick), {rest / 1e6:.1f} MB more to finish them; final {len(final_files)} files, {final_bytes / 1e6:.1f} MB")

    checks = [
        ("every hook exited 0, printed nothing", not hook_failures, f"{len(hook_failures)} failures "
         + (hook_failures[0] if hook_failures else "")),
        ("every backfill exited 0", not backfills.failures and clean_run.returncode == 0,
         "; ".join(backfills.failures[:2]) or clean_run.stderr[-300:]),
        ("hook_events == payloads sent (none lost, none doubled)", stored == distinct_ids == len(sent),
         f"{stored} rows, {distinct_ids} distinct, {len(sent)} sent"),
        ("prompts exact", prompts_stored == prompts, f"{prompts_stored} of {prompts}"),
        ("tool calls exact and all paired", calls_stored == calls_paired == calls,
         f"{calls_stored} rows, {calls_paired} paired, {calls} sent"),
        ("no spool left after the final replay", not leftover, ", ".join(leftover[:3])),
        ("no line counted bad (half-written lines wait)", bad_lines == 0 and skips == 0,
         f"{bad_lines} bad lines, {skips} skips"),
        ("transcript tables == one clean backfill of the final files", same, ""),
        ("integrity_check and FTS integrity", not problems, "; ".join(problems)),
    ]
    print()
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + ("" if ok or not detail else f": {detail}"))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
