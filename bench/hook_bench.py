"""Hook bench: wall time of `claude-ingest hook` per call against a database holding a large corpus.

Each call is a fresh process, as Claude Code runs it: the installed console script reading one payload
on stdin (PreToolUse, PostToolUse and UserPromptSubmit payloads of a live session, in that rhythm).
Its floor is measured in the same run, interleaved call by call so both see the same machine noise:
`python -c "import sqlite3, json"` (starting Python and the two modules any hook needs).

Prints p50 and p95 of both and their ratios. Target: hook p50 at most 2x the floor's p50.

Run:
    python bench/hook_bench.py              # ~300 MB corpus backfilled into the database first (reused)
    python bench/hook_bench.py --mb 1000 --calls 500

The corpus and database live under bench/out/ (gitignored); the corpus generator is the backfill
bench's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backfill_bench as corpus_tools  # noqa: E402

TARGET_RATIO = 2.0


def database_with_corpus(mb: float) -> Path:
    projects, info = corpus_tools.corpus(corpus_tools.Template(corpus_tools.FIXTURES), mb)
    db = corpus_tools.OUT / f"hook-bench-{mb:g}mb.db"
    marker = db.with_suffix(".json")
    if not (db.exists() and marker.exists() and json.loads(marker.read_text()) == info):
        corpus_tools.remove_db(db)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ingest", "backfill", str(projects), "--db", str(db), "-q"], check=True)
        print(f"database: backfilled {info['bytes'] / 1e6:.0f} MB in {time.perf_counter() - started:.1f}s")
        marker.write_text(json.dumps(info))
    conn = sqlite3.connect(db)
    counts = {t: conn.execute(f"select count(*) from {t}").fetchone()[0]
              for t in ("api_requests", "tool_calls", "messages", "hook_events")}
    conn.close()
    print(f"database: {db} ({db.stat().st_size / 1e6:.0f} MB): " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    return db


def payloads(n: int):
    session = f"bench-{int(time.time())}"
    for i in range(n):
        call = f"toolu_bench_{session}_{i // 3}"
        base = {"session_id": session, "transcript_path": "/tmp/x.jsonl", "cwd": "/work/project",
                "permission_mode": "default"}
        kind = i % 3
        if kind == 0:
            yield {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": f"pytest -q tests/test_{i}.py", "description": "Run tests"},
                   "tool_use_id": call}
        elif kind == 1:
            yield {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_input": {"command": f"pytest -q tests/test_{i}.py"}, "tool_use_id": call,
                   "tool_response": {"stdout": "." * 200 + f"\n{i} passed", "stderr": "", "interrupted": False},
                   "duration_ms": 1234}
        else:
            yield {**base, "hook_event_name": "UserPromptSubmit", "prompt": f"now fix test {i} please"}


def timed(cmd: list[str], stdin: bytes) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or proc.stdout:
        raise SystemExit(f"{cmd[0]} failed or printed: rc={proc.returncode} stdout={proc.stdout[:200]!r}")
    return elapsed


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=300, help="corpus size in the database (default 300)")
    parser.add_argument("--calls", type=int, default=300, help="hook calls to time (default 300)")
    args = parser.parse_args(argv)
    db = database_with_corpus(args.mb)
    exe = shutil.which("claude-ingest")
    if not exe:
        raise SystemExit("claude-ingest is not on PATH: pip install -e . first")
    hook_cmd = [exe, "hook", "--db", str(db)]
    floor_cmd = [sys.executable, "-c", "import sqlite3, json"]
    for _ in range(5):  # warm the page cache and the .pyc files
        timed(floor_cmd, b"")
    timed(hook_cmd, json.dumps({"session_id": "warm", "hook_event_name": "Stop"}).encode())

    hook_s, floor_s = [], []
    for payload in payloads(args.calls):
        floor_s.append(timed(floor_cmd, b""))
        hook_s.append(timed(hook_cmd, json.dumps(payload).encode()))

    conn = sqlite3.connect(db)
    stored = conn.execute("select count(*) from hook_events where session_id like 'bench-%'").fetchone()[0]
    conn.close()
    ms = lambda s: s * 1000  # noqa: E731
    p50, p95 = pct(hook_s, 0.5), pct(hook_s, 0.95)
    f50, f95 = pct(floor_s, 0.5), pct(floor_s, 0.95)
    print(f"\nhook calls: {args.calls} (stored so far in this database by the bench: {stored})")
    print(f"floor  python -c 'import sqlite3, json':  p50 {ms(f50):6.1f} ms   p95 {ms(f95):6.1f} ms")
    print(f"hook   claude-ingest hook:               p50 {ms(p50):6.1f} ms   p95 {ms(p95):6.1f} ms   "
          f"mean {ms(statistics.mean(hook_s)):.1f} ms")
    print(f"ratio  hook / floor:                     p50 {p50 / f50:6.2f}x     p95 {p95 / f95:6.2f}x")
    verdict = "PASS" if p50 / f50 <= TARGET_RATIO else "MISS"
    print(f"target p50 <= {TARGET_RATIO:g}x floor: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
