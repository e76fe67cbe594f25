"""Merge bench: a team of machines' archives merged into one team database, and that database queried.

What it builds, at run time under bench/out/ (kept and reused while the generator, the schema and
the fixtures are unchanged): M machines' archives of D days each. Machine m's day d is one copy of
the real fixture transcripts (tests/fixtures/claude/projects: 3 sessions, 244 API responses, 308
tool calls, 4.8 MB) with every id made fresh for (m, d) and its dates moved d days back, so every
machine covers the same D days; each machine from the second on also has the previous machine's
first-day tool_heavy session as it is (the same ids: a synced or copied transcript, one session shared
between two machines). Each machine's transcripts are backfilled into its archive under its own name
(``claude-ingest backfill --machine m``), then deleted.

What it measures:

* merge: ``claude-ingest merge`` of every archive into a fresh team database, in a subprocess pinned
  to one core (taskset): wall time, CPU time, peak RSS; rows read per second and MB of source per
  second; and, as a floor measured in the same run, reading every row the merge reads (the same
  queries, no writing); the team database's size;
* re-merge: the same command again, nothing new (median of 3);
* grown: one machine gains a day (backfilled into its archive), then every archive is merged again:
  only that machine's new sessions are read;
* queries: every canned query, the overview and the report pages through ``Datasette([db]).client`` (as query_bench
  does: median of 3 after a warm-up), over every day and narrowed to one machine; target: each
  under 500 ms;
* team server: a real ``datasette`` on the result, 127.0.0.1, a token; real hook payloads posted to
  /-/claude/hook one after another: latency per post, posts per second.

Run:
    python bench/merge_bench.py                  # 50 machines x 30 days (~3.5 GB team database)
    python bench/merge_bench.py --quick          # 10 machines x 7 days
    python bench/merge_bench.py --machines 20 --days 30
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

GENERATOR_VERSION = 1
FIXTURES = ROOT / "tests" / "fixtures" / "claude" / "projects"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backfill_bench = _module("backfill_bench")  # its fixture template (fresh ids per copy) and measuring


def write_copy(template, k: int, days_back: int, dest: Path, only: str | None = None) -> int:
    """Copy ``k`` of the fixtures (or of the one named ``only``) under ``dest``, its ids as
    backfill_bench makes them, its dates ``days_back`` days back."""
    return template.write_mapped(template.mapping(k, days_back=days_back, digits=5), dest, lambda project: project,
                                 f"{k:05d}", only)


def machine_name(m: int) -> str:
    return f"machine-{m:02d}"


def build_archive(template, m: int, days: int, db: Path, work: Path, extra_day: bool = False) -> int:
    """Machine m's transcripts (its days, and the shared session), backfilled into ``db``; bytes."""
    projects = work / machine_name(m) / ".claude" / "projects"
    shutil.rmtree(projects.parent.parent, ignore_errors=True)
    written = 0
    span = range(days, days + 1) if extra_day else range(days)
    for d in span:
        written += write_copy(template, m * 1000 + d, d if not extra_day else 0, projects)
    if m > 0 and not extra_day:  # the previous machine's first day's tool_heavy, as it is there
        written += write_copy(template, (m - 1) * 1000, 0, projects, only="tool_heavy.jsonl")
    r = backfill_bench.measure([sys.executable, "-m", "ingest", "backfill", str(projects), "--db", str(db), "-q",
                                "--machine", machine_name(m)])
    backfill_bench.check(r, f"backfill of {machine_name(m)}")
    shutil.rmtree(projects.parent.parent, ignore_errors=True)
    return written


def signature(machines: int, days: int) -> str:
    from ingest import schema

    h = hashlib.sha1(f"{GENERATOR_VERSION}:{machines}:{days}:{schema.SCHEMA_VERSION}".encode())
    for p in sorted(FIXTURES.rglob("*.jsonl")):
        h.update(p.name.encode() + str(p.stat().st_size).encode())
    return h.hexdigest()[:12]


def archives(machines: int, days: int) -> tuple[list[Path], int]:
    base = OUT / f"merge-{machines}x{days}"
    marker = base / "archives.json"
    dbs = [base / f"{machine_name(m)}.db" for m in range(machines)]
    sig = signature(machines, days)
    try:
        info = json.loads(marker.read_text())
        if info["signature"] == sig and all(p.exists() for p in dbs):
            print(f"archives: reusing {machines} under {base} ({info['transcript_bytes'] / 1e9:.2f} GB of transcripts)")
            return dbs, info["transcript_bytes"]
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    template = backfill_bench.Template(FIXTURES)
    started, total = time.perf_counter(), 0
    for m, db in enumerate(dbs):
        total += build_archive(template, m, days, db, base / "work")
        print(f"\rarchives: {m + 1}/{machines} built ({total / 1e9:.2f} GB of transcripts, "
              f"{time.perf_counter() - started:.0f}s)", end="", flush=True)
    print()
    marker.write_text(json.dumps({"signature": sig, "transcript_bytes": total}))
    return dbs, total


DRIVER = """
import json, sys, time
from ingest.load.merge import merge
started = time.perf_counter()
s = merge(sys.argv[1], sys.argv[2:])
print(json.dumps({"seconds": time.perf_counter() - started, "rows_read": s.rows_read, "bytes": s.bytes,
                  "added": sum(s.rows["added"].values()), "changed": sum(s.rows["changed"].values()),
                  "read": sum(1 for x in s.sources if x.rows_read), "line": s.line()[-300:]}))
"""

FLOOR = """
import json, sys, time
from pathlib import Path
from ingest.load.merge import open_archive, plan, selection_for
started, n = time.perf_counter(), 0
for path in sys.argv[1:]:
    a = open_archive(Path(path))
    queries, _, _ = plan(a, selection_for(a, None))
    for table, columns, sql, params in queries:
        for row in a.conn.execute(sql, params):
            n += 1
    a.close()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": n}))
"""


def run_merge(team: Path, dbs: list[Path]) -> tuple[dict, object]:
    r = backfill_bench.measure(backfill_bench.pinned([sys.executable, "-c", DRIVER, str(team), *map(str, dbs)]))
    backfill_bench.check(r, "merge")
    return json.loads(r.stdout.strip().splitlines()[-1]), r


def size(path: Path) -> int:
    return sum(os.stat(str(path) + s).st_size for s in ("", "-wal") if os.path.exists(str(path) + s))


async def queries(db: Path, runs: int, machine: str) -> list[tuple[str, float, int]]:
    import logging

    from datasette.app import Datasette

    from datasette_claude import resources

    query_bench = _module("query_bench")
    ds = Datasette([str(db)], settings={"sql_time_limit_ms": 5000})
    name = db.stem
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the MCP SDK's import turns request logging on
    out = []
    for query_name in resources.canned_queries():
        params = {"q": "bead"} if query_name == "search_prompts" else {}
        if query_name.startswith("jobs_"):
            params = {"file": "README", "tool": "Bash"}
        path = f"/{name}/{query_name}.json?_shape=array&" + "&".join(f"{k}={v}" for k, v in params.items())
        out.append((query_name, *await query_bench.timed(ds.client, path, runs)))
        if "machine" in (resources.canned_queries()[query_name].get("params") or []):
            out.append((f"{query_name} (machine)", *await query_bench.timed(ds.client, f"{path}&machine={machine}",
                                                                             runs)))
    for label, path in (("overview /-/claude (30 days)", "/-/claude"),
                        ("overview, one machine", f"/-/claude?machine={machine}"),
                        ("overview, every day (days=3660)", "/-/claude?days=3660"),
                        ("report page: daily", "/-/claude/report/daily"),
                        ("report page: daily, one machine", f"/-/claude/report/daily?machine={machine}"),
                        ("report page: sessions (every session summed)", "/-/claude/report/session"),
                        ("report page: 5-hour blocks", "/-/claude/report/blocks")):
        out.append((label, *await query_bench.timed(ds.client, path, runs)))
    return out


def team_server(db: Path, posts: int) -> dict:
    """``datasette DB`` on 127.0.0.1 with a token, and ``posts`` real hook payloads (the fixtures')
    posted to /-/claude/hook one after another, as Claude Code posts them: latency per post and posts
    per second, on the team database just merged."""
    import socket
    import subprocess
    import tempfile
    import urllib.request

    payloads = []
    for path in sorted((ROOT / "tests" / "fixtures" / "hooks").glob("real-*.json")):
        payloads += json.loads(path.read_text())
    token = "bench-token"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"plugins": {"datasette-claude": {"tokens": {
            "bench-laptop": hashlib.sha256(token.encode()).hexdigest()}}}}))
        proc = subprocess.Popen([sys.executable, "-m", "datasette", str(db), "-h", "127.0.0.1", "-p", str(port),
                                 "-m", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/-/versions.json", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            samples = []
            started = time.perf_counter()
            for i in range(posts):
                payload = dict(payloads[i % len(payloads)], session_id=f"bench-{i // 50:05d}")  # new events
                body = json.dumps({**payload, "bench_post": i}, separators=(",", ":")).encode()
                request = urllib.request.Request(f"{url}/-/claude/hook", data=body, method="POST", headers={
                    "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
                t = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as r:
                    assert r.status == 200 and r.read() == b""
                samples.append((time.perf_counter() - t) * 1000)
            seconds = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(10)
    samples.sort()
    return {"posts": posts, "p50": statistics.median(samples), "p95": samples[int(len(samples) * 0.95)],
            "per_second": posts / seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 machines x 7 days")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--posts", type=int, default=500, help="hook payloads posted to the team server")
    args = parser.parse_args(argv)
    if args.quick:
        args.machines, args.days = 10, 7
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    dbs, transcript_bytes = archives(args.machines, args.days)
    source_bytes = sum(size(p) for p in dbs)
    print(f"sources: {len(dbs)} archives, {source_bytes / 1e9:.2f} GB ({transcript_bytes / 1e9:.2f} GB of transcripts "
          f"went into them)")
    team = OUT / f"team-{args.machines}x{args.days}.db"
    for s in ("", "-wal", "-shm"):
        Path(str(team) + s).unlink(missing_ok=True)
    for p in dbs:  # the same (warm) page cache for the floor and the merge
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass
    floor = backfill_bench.measure(backfill_bench.pinned([sys.executable, "-c", FLOOR, *map(str, dbs)]))
    backfill_bench.check(floor, "read floor")
    floor_info = json.loads(floor.stdout.strip().splitlines()[-1])
    first, r = run_merge(team, dbs)
    print(f"merge: {first['line']}")
    again = []
    for _ in range(args.runs):
        info, rr = run_merge(team, dbs)
        again.append(rr.seconds)
    assert info["added"] == 0 and info["changed"] == 0, info
    team_size = size(team)
    conn = sqlite3.connect(team)
    counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0]
              for t in ("sessions", "api_requests", "tool_calls", "messages")}
    hosts = conn.execute("select count(distinct host) from sessions").fetchone()[0]
    conn.close()
    held = sum(sqlite3.connect(p).execute("select count(*) from sessions").fetchone()[0] for p in dbs)
    shared = held - counts["sessions"]  # the sessions two machines had, one row each here
    # one machine gains a day (in a copy of its archive: the same archive to merge, the cache kept);
    # every archive merged again
    grown_db = OUT / f"merge-{args.machines}x{args.days}" / "grown.db"
    for s in ("", "-wal", "-shm"):
        Path(str(grown_db) + s).unlink(missing_ok=True)
    shutil.copy(dbs[0], grown_db)
    template = backfill_bench.Template(FIXTURES)
    build_archive(template, 0, args.days, grown_db, OUT / f"merge-{args.machines}x{args.days}" / "work",
                  extra_day=True)
    grown, rg = run_merge(team, [grown_db, *dbs[1:]])
    results = asyncio.run(queries(team, args.runs, machine_name(1)))
    server = team_server(team, args.posts)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    print(f"\nteam database: {team_size / 1e9:.2f} GB; {hosts} machines, " + ", ".join(
        f"{t} {n:,}" for t, n in counts.items()) + f"; {shared:,} sessions were on two machines: one row each")
    print(f"merge of {len(dbs)} archives: {r.seconds:.1f}s wall, {r.cpu:.1f}s CPU, peak RSS {r.maxrss_mb:.0f} MB; "
          f"{first['rows_read']:,} rows read: {first['rows_read'] / r.seconds:,.0f} rows/s, "
          f"{first['bytes'] / 1e6 / r.seconds:.1f} MB/s of source")
    print(f"  floor (reading the same rows, writing nothing): {floor.seconds:.1f}s ({floor_info['rows']:,} rows, "
          f"{floor_info['rows'] / floor.seconds:,.0f} rows/s); merge / floor = {r.seconds / floor.seconds:.1f}x")
    print(f"re-merge, nothing new: median {statistics.median(again):.2f}s of {len(again)} "
          f"({', '.join(f'{s:.2f}' for s in again)}); {info['read']} archives read")
    print(f"one machine a day older: {rg.seconds:.2f}s; {grown['read']} archive read, {grown['rows_read']:,} rows, "
          f"{grown['added']:,} rows added")
    print(f"team server: {server['posts']:,} real hook payloads posted to /-/claude/hook one after another "
          f"(a real datasette on 127.0.0.1, a token): p50 {server['p50']:.1f} ms, p95 {server['p95']:.1f} ms a post, "
          f"{server['per_second']:.0f} posts/s")
    _module("query_bench").print_results(results, "query (team database)")
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
