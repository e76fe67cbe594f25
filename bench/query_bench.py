"""Canned query bench: every canned query, its chart, the overview, the session and job pages and the
report pages, through Datasette, and every report of ``claude-ingest report`` (ingest.reports), on a
large database.

The database holds at least 1,000,000 tool calls and 300,000 API requests. It is built at run time
(into bench/out/, reused while the schema and the fixtures are unchanged) by ingesting the real
fixture transcripts once, then copying their rows many times with fresh keys, spread over a year of
days and 40 projects: the rows have the shapes and value distributions of real sessions.

Each query is requested through `Datasette([db]).client` (so Datasette's own work is counted),
3 times after a warm-up, with no parameters (the whole year) and again narrowed the way the overview
narrows it (30 days, one project). Prints the median milliseconds per query and page. Target: each
under 500 ms (Datasette stops a query at 1 s by default). The reports are called as the command line
calls them (a database path, opened read-only each time): the whole year, the last 30 days of one
project, and days in zones other than UTC (one a half hour off it), blocks with the latest request
as "now" (an active block, so its burn rate and projection are computed).

Run:
    python bench/query_bench.py              # 1,000,000 tool calls
    python bench/query_bench.py --tool-calls 200000 --quick
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from datasette.app import Datasette  # noqa: E402

from datasette_claude import resources  # noqa: E402
from ingest import backfill, schema  # noqa: E402

TARGET_MS = 500
FIXTURES = ROOT / "tests" / "fixtures" / "claude" / "projects"
PROJECTS = 40
DAYS = 365


def _key_columns(table: str) -> set[str]:
    """Columns holding ids that must be fresh in every copy (keys and the ids that join them)."""
    ids = {"id", "session_id", "message_id", "request_id", "uuid", "parent_uuid", "tool_use_id", "agent_id",
           "message_uuid", "prompt_id"}
    return {c for c in schema.TABLES[table].columns if c in ids}


def _time_columns(table: str) -> set[str]:
    return {c for c in schema.TABLES[table].columns
            if c in ("timestamp", "started_at", "ended_at", "received_at", "first_read_at")}


COPIED = ("sessions", "api_requests", "tool_calls", "file_events", "compactions", "subagents", "prompts", "errors",
          "messages", "jobs")
BIG = "bench-big-session"  # one session of over 5,000 tool calls: the spotter session's main conversation
BIG_COPIES = 26  # (197 calls) 26 times over, a day apart: 5,122 calls
SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
STREAM = ROOT / "tests" / "fixtures" / "headless" / "claude-p-stream-json.sequence.composite.jsonl"


def build(db: Path, tool_calls: int) -> dict:
    seed = OUT / "query-bench-seed.db"
    for p in (seed, db):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    backfill(seed, [FIXTURES])
    from ingest.load.jobs import ingest_job_file

    ingest_job_file(seed, STREAM, job_id="bench-job", prompt="Fix the flaky login test")
    conn = sqlite3.connect(seed)
    per_copy = conn.execute("select count(*) from tool_calls").fetchone()[0]
    conn.close()
    copies = -(-tool_calls // per_copy)
    shutil.copy(seed, db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("pragma journal_mode = wal")
    conn.execute("pragma synchronous = off")
    conn.execute("attach ? as seed", (str(seed),))
    started = time.perf_counter()
    conn.execute("begin")
    for table in COPIED:
        conn.execute(f"delete from [{table}]")
    conn.execute("create temp table copies (k integer primary key)")
    conn.execute(f"with recursive n(k) as (select 0 union all select k + 1 from n where k < {copies - 1}) "
                 "insert into copies select k from n")
    for table in COPIED:
        columns = list(schema.TABLES[table].columns)
        select = []
        for c in columns:
            if c in _key_columns(table):
                select.append(f"case when s.[{c}] is null then null else s.[{c}] || '~' || copies.k end")
            elif c in _time_columns(table):
                # copy k lands (k mod 365) days before 2026-11-20, at the seed row's time of day
                select.append(f"case when s.[{c}] is null then null else strftime('%Y-%m-%dT%H:%M:%fZ', "
                              f"'2026-11-20T' || substr(s.[{c}], 12, 12), '-' || (copies.k % {DAYS}) || ' days') end")
            elif c == "project_path" or c == "cwd":
                select.append(f"s.[{c}] || '/p' || (copies.k % {PROJECTS})")
            elif c == "file_path":
                select.append(f"replace(s.[{c}], '/', '/p' || (copies.k % {PROJECTS}) || '/')")
            else:
                select.append(f"s.[{c}]")
        names = ", ".join(f"[{c}]" for c in columns)
        conn.execute(f"insert into [{table}] ({names}) select {', '.join(select)} from seed.[{table}] s, copies")
    _big_session(conn)
    conn.execute("update sessions set label = coalesce(custom_title, ai_title, title, summary, slug, 'session ' || substr(id, 1, 8))")
    schema.rebuild_rollups(conn)  # what per-session recomputation gives, in one pass over the copies
    conn.execute("commit")
    conn.execute("analyze")
    counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in COPIED}
    conn.close()
    print(f"database: {copies} copies of the fixtures in {time.perf_counter() - started:.0f}s, "
          f"{db.stat().st_size / 1e6:.0f} MB: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return counts


def _big_session(conn) -> None:
    """The longest session the page must show: the spotter session's lines and calls BIG_COPIES
    times in one session, each copy a day later, chained so that the branch runs through all."""
    for table, ids in (("messages", ("uuid", "parent_uuid", "logical_parent_uuid", "message_id")),
                       ("tool_calls", ("tool_use_id", "message_uuid")), ("api_requests", ("message_id", "request_id")),
                       ("compactions", ("id",)), ("prompts", ("id", "uuid", "prompt_id"))):
        columns = list(schema.TABLES[table].columns)
        select = []
        for c in columns:
            if c == "session_id":
                select.append(f"'{BIG}'")
            elif c in ids:
                select.append(f"case when s.[{c}] is null then null else s.[{c}] || '~big' || copies.k end")
            elif c in _time_columns(table):
                select.append(f"case when s.[{c}] is null then null else strftime('%Y-%m-%dT%H:%M:%fZ', "
                              f"s.[{c}], '+' || copies.k || ' days') end")
            else:
                select.append(f"s.[{c}]")
        names = ", ".join(f"[{c}]" for c in columns)
        # the main conversation's rows (prompts and compactions: all of them)
        main_only = "s.agent_id is null" if table not in ("prompts", "compactions") else "1"
        conn.execute(f"insert into [{table}] ({names}) select {', '.join(select)} from seed.[{table}] s, copies "
                     f"where s.session_id = '{SPOTTER}' and {main_only} and copies.k < {BIG_COPIES}")
    # each copy's first line continues the copy before it
    conn.execute(f"""
update messages set parent_uuid = (
  select m.uuid from messages m where m.session_id = '{BIG}' and m.uuid like '%~big' || (cast(substr(messages.uuid,
         instr(messages.uuid, '~big') + 4) as integer) - 1) order by m.timestamp desc limit 1)
 where session_id = '{BIG}' and parent_uuid is null and logical_parent_uuid is null
   and uuid not like '%~big0'""")
    conn.execute(f"insert into sessions (id, source, project_path, cwd, model, started_at, ended_at, slug) "
                 f"select '{BIG}', source, project_path, cwd, model, started_at, "
                 f"strftime('%Y-%m-%dT%H:%M:%fZ', ended_at, '+{BIG_COPIES - 1} days'), 'the-longest-session' "
                 f"from seed.sessions where id = '{SPOTTER}'")


def signature(tool_calls: int) -> str:
    h = hashlib.sha1(str(tool_calls).encode())
    h.update(str(schema.SCHEMA_VERSION).encode() + str(BIG_COPIES).encode())
    for p in sorted(FIXTURES.rglob("*.jsonl")):
        h.update(p.name.encode() + str(p.stat().st_size).encode())
    return h.hexdigest()[:12]


async def timed(client, path: str, runs: int) -> tuple[float, int]:
    response = await client.get(path)  # warm-up
    if response.status_code != 200:
        return float("nan"), response.status_code
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), response.status_code


async def measure(db: Path, runs: int) -> list[tuple[str, float, int]]:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the MCP SDK's import turns request logging on
    ds = Datasette([str(db)], settings={"sql_time_limit_ms": 5000})
    name = db.stem
    conn = sqlite3.connect(db)
    latest = conn.execute("select max(timestamp) from api_requests").fetchone()[0][:10]
    conn.close()
    narrow = {"start": "2026-10-22", "end": latest, "project": "spotter-a0y/p7"}
    results = []
    for query_name, q in resources.canned_queries().items():
        params = {"q": "bead"} if query_name == "search_prompts" else {}
        if query_name.startswith("jobs_"):
            params = {"file": "README", "tool": "Bash"}
        path = f"/{name}/{query_name}.json?_shape=array&" + "&".join(f"{k}={v}" for k, v in params.items())
        results.append((query_name, *await timed(ds.client, path, runs)))
        wanted = [p for p in (q.get("params") or []) if p in narrow]
        if wanted:
            path += "&" + "&".join(f"{k}={narrow[k]}" for k in wanted)
            results.append((f"{query_name} ({', '.join(wanted)})", *await timed(ds.client, path, runs)))
    results.append(("overview /-/claude (30 days)", *await timed(ds.client, "/-/claude", runs)))
    results.append(("overview /-/claude?days=365", *await timed(ds.client, "/-/claude?days=365", runs)))
    big_calls = sqlite3.connect(db).execute("select count(*) from tool_calls where session_id = ?", (BIG,)).fetchone()[0]
    for label, path in ((f"session page, {big_calls:,} tool calls, page 1", f"/-/claude/session/{BIG}"),
                        ("  the same, ?at= its last call (last page)",
                         f"/-/claude/session/{BIG}?at=" + sqlite3.connect(db).execute(
                             "select tool_use_id from tool_calls where session_id = ? order by started_at desc limit 1",
                             (BIG,)).fetchone()[0]),
                        ("  a tool call's card, folded out", "/-/claude/session/" + BIG + "/call/" + sqlite3.connect(
                            db).execute("select tool_use_id from tool_calls where session_id = ? and output_size > 2000 "
                                        "limit 1", (BIG,)).fetchone()[0]),
                        ("job page", "/-/claude/job/bench-job~0"),
                        *((f"report page {kind} (per model)", f"/-/claude/report/{kind}?timezone=UTC&breakdown=1")
                          for kind in ("daily", "weekly", "monthly", "session", "blocks")),
                        ("report page daily, one project's month",
                         f"/-/claude/report/daily?timezone=UTC&since={narrow['start']}&project={narrow['project']}"),
                        ("report page session .json (ccusage's shape)", "/-/claude/report/session.json?timezone=UTC")):
        ms, status = await timed(ds.client, path, runs)
        size = len((await ds.client.get(path)).content)
        results.append((f"{label} ({size / 1e3:,.0f} KB)", ms, status))
    for query_name, q in resources.canned_queries().items():  # the chart each canned query page shows
        if q.get("chart"):
            params = "?q=bead" if query_name == "search_prompts" else "?file=README&tool=Bash" if query_name.startswith(
                "jobs_") else ""
            results.append((f"chart of {query_name}", *await timed(ds.client, f"/-/claude/chart/{name}/{query_name}.svg"
                                                                   + params, runs)))
    return results


def measure_reports(db: Path, runs: int) -> list[tuple[str, float, int]]:
    from ingest import reports

    conn = sqlite3.connect(db)
    latest = conn.execute("select max(timestamp) from api_requests").fetchone()[0]
    conn.close()
    month = (date.fromisoformat(latest[:10]) - timedelta(days=30)).isoformat()
    narrow = {"since": month, "project": "spotter-a0y/p7"}
    cases = []
    for kind in reports.KINDS:
        extra = {"now": latest} if kind == "blocks" else {}
        cases.append((f"report {kind}", kind, {"timezone": "UTC", **extra}))
        cases.append((f"report {kind} (since, project)", kind, {"timezone": "UTC", **narrow, **extra}))
        cases.append((f"report {kind} (America/New_York)", kind, {"timezone": "America/New_York", **extra}))
    cases.append(("report daily (Asia/Kolkata, +5:30)", "daily", {"timezone": "Asia/Kolkata"}))
    cases.append(("report weekly --breakdown text", "weekly", {"timezone": "UTC", "text": True}))
    results = []
    for label, kind, options in cases:
        text = options.pop("text", False)

        def run():
            result = reports.report(kind, db, **options)
            if text:
                reports.report_text(result, breakdown=True)
            return result

        run()  # warm-up
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            result = run()
            samples.append((time.perf_counter() - started) * 1000)
        rows = result.get(kind if kind != "session" else "sessions")
        results.append((f"{label} [{len(rows):,} rows]", statistics.median(samples), 200))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool-calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "querybench.db"
    marker = OUT / "querybench.signature"
    sig = signature(args.tool_calls)
    if not (db.exists() and marker.exists() and marker.read_text() == sig):
        build(db, args.tool_calls)
        marker.write_text(sig)
    else:
        conn = sqlite3.connect(db)
        print("database: reusing", db, ", ".join(f"{t} {conn.execute(f'select count(*) from [{t}]').fetchone()[0]:,}"
                                                 for t in ("tool_calls", "api_requests")))
        conn.close()
    print_results(asyncio.run(measure(db, args.runs)) + measure_reports(db, args.runs))
    return 0


def print_results(results: list[tuple[str, float, int]], heading: str = "query") -> None:
    """The table of (label, median ms, status), each marked against the target, and the slowest."""
    print(f"\n{heading:<56} {'median ms':>10}  status")
    worst = 0.0
    for label, ms, status in results:
        flag = "" if status == 200 and ms < TARGET_MS else "  <-- MISS"
        worst = max(worst, ms if status == 200 else float("inf"))
        print(f"{label:<56} {ms:>10.0f}  {status}{flag}")
    print(f"\nslowest: {worst:.0f} ms; target: every query and page under {TARGET_MS} ms: "
          f"{'PASS' if worst < TARGET_MS else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
