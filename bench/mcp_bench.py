"""MCP bench: each of our MCP tools (and one canned query as a tool) through a real ``datasette`` on
127.0.0.1 and the MCP Python SDK's own client over Streamable HTTP, on query_bench's database
(1,000,000 tool calls; built into bench/out/ by query_bench.build, or reused when there).

Each call is made once to warm up, then ``--runs`` times; the median milliseconds are printed with
their ratio to datasette-mcp's own ``list_databases`` measured in the same run (the floor: HTTP, the
MCP session and Datasette's permission checks, no SQL), so that the figures compare on a noisy
machine. Target: each under 500 ms, as query_bench's. Needs the [mcp] extra.

Run:
    python bench/mcp_bench.py                 # 1,000,000 tool calls
    python bench/mcp_bench.py --tool-calls 200000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import query_bench  # noqa: E402

TARGET_MS = query_bench.TARGET_MS


def database(tool_calls: int) -> Path:
    query_bench.OUT.mkdir(parents=True, exist_ok=True)
    db = query_bench.OUT / "querybench.db"
    marker = query_bench.OUT / "querybench.signature"
    sig = query_bench.signature(tool_calls)
    if not (db.exists() and marker.exists() and marker.read_text() == sig):
        query_bench.build(db, tool_calls)
        marker.write_text(sig)
    return db


def serve(db: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the time limit raised as query_bench raises it, so that a slow tool is timed rather than stopped
    proc = subprocess.Popen([sys.executable, "-m", "datasette", str(db), "-h", "127.0.0.1", "-p", str(port),
                             "--setting", "sql_time_limit_ms", "5000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:])
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("datasette did not start")


def cases(db: Path) -> list[tuple[str, str, dict]]:
    conn = sqlite3.connect(db)
    latest = conn.execute("select max(timestamp) from api_requests").fetchone()[0][:10]
    normal = conn.execute("select session_id from tool_calls where session_id like ? group by 1 limit 1",
                          (query_bench.SPOTTER + "~%",)).fetchone()[0]
    hot = conn.execute("select file_path from file_events where file_path like '%/p7/%pane_list_live.ex' "
                       "limit 1").fetchone()[0]
    conn.close()
    month = f"{latest[:7]}"
    project = "spotter-a0y/p7"
    return [
        ("list_databases (floor)", "list_databases", {}),
        ("search_history 'upstream branch'", "search_history", {"text": "upstream branch"}),
        ("search_history 'bead' (prompts, common)", "search_history", {"text": "bead"}),
        ("search_history 'test' (a word in 1 call of 13)", "search_history", {"text": "test"}),
        ("search_history 'test', project, since 30d", "search_history",
         {"text": "test", "project": project, "since": "30d"}),
        ("session_summary, a session of 308 calls", "session_summary", {"session_id": normal}),
        ("session_summary, the longest session", "session_summary", {"session_id": query_bench.BIG}),
        ("file_history 'pane_list_live.ex' (every copy)", "file_history", {"path": "pane_list_live.ex"}),
        ("file_history, an absolute path", "file_history", {"path": hot}),
        ("file_history, the end of a path, project", "file_history",
         {"path": "live/p7/pane_list_live.ex", "project": project}),  # the bench puts /pN/ at every /
        ("usage all (totals)", "usage", {"period": "all", "timezone": "UTC"}),
        ("usage all, by day", "usage", {"period": "all", "group_by": "day", "timezone": "UTC"}),
        ("usage all, by model", "usage", {"period": "all", "group_by": "model", "timezone": "UTC"}),
        (f"usage {month}, by session", "usage", {"period": month, "group_by": "session", "timezone": "UTC"}),
        (f"usage {latest} (one day), by block", "usage",
         {"period": f"{latest}", "group_by": "block", "timezone": "UTC"}),
        ("usage all, by week, project, Europe/Paris", "usage",
         {"period": "all", "group_by": "week", "project": project, "timezone": "Europe/Paris"}),
        ("execute_canned_query hot_files", "execute_canned_query",
         {"database": db.stem, "query": "hot_files", "parameters": {"project": project}}),
    ]


async def measure(url: str, db: Path, runs: int) -> list[tuple[str, float, int, str]]:
    from mcp import Client

    results = []
    async with Client(url + "/-/mcp", cache=None) as client:
        for label, tool, args in cases(db):
            first = await client.call_tool(tool, args)  # warm-up
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                result = await client.call_tool(tool, args)
                samples.append((time.perf_counter() - started) * 1000)
            size = len(json.dumps(result.structured_content or {}))
            status = "error: " + result.content[0].text[:80] if result.is_error or first.is_error else "ok"
            results.append((label, statistics.median(samples), size, status))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool-calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    db = database(args.tool_calls)
    conn = sqlite3.connect(db)
    print("database:", db, ", ".join(f"{t} {conn.execute(f'select count(*) from [{t}]').fetchone()[0]:,}"
                                     for t in ("tool_calls", "api_requests", "file_events", "prompts")))
    conn.close()
    proc, url = serve(db)
    try:
        results = asyncio.run(measure(url, db, args.runs))
    finally:
        proc.terminate()
        proc.wait(10)
    floor = results[0][1]
    print(f"\n{'tool call':<50} {'median ms':>10} {'x floor':>8} {'answer':>9}  status")
    worst = 0.0
    for label, ms, size, status in results:
        miss = status != "ok" or ms >= TARGET_MS
        worst = max(worst, ms if status == "ok" else float("inf"))
        print(f"{label:<50} {ms:>10.1f} {ms / floor:>8.1f} {size / 1e3:>7.1f}KB  {status}{'  <-- MISS' if miss else ''}")
    print(f"\nslowest: {worst:.0f} ms; target: every tool call under {TARGET_MS} ms: "
          f"{'PASS' if worst < TARGET_MS else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
