"""Hook bench: wall time of `claude-ingest hook` per call against a database holding a large corpus.

Each call is a fresh process, as Claude Code runs it: the installed console script reading one payload
on stdin (PreToolUse, PostToolUse and UserPromptSubmit payloads of a live session, in that rhythm).
Its floor is measured in the same run, interleaved call by call so both see the same machine noise:
`python -c "import sqlite3, json"` (starting Python and the two modules any hook needs).

Prints p50 and p95 of both and their ratios. Target: hook p50 at most 2x the floor's p50. Then the
same for `claude-ingest statusline` (Claude Code's statusLine command, run after every message, which
also reads today's spend from the database to print its line), against the same floor.

Then what one tool call waits for with the hook settings `install-hooks` writes, against the old
all-synchronous ones, in the same run: the bench runs `claude-ingest install-hooks --settings` into
bench/out/, and for each tool call plays Claude Code on that file's PreToolUse and PostToolUse
handlers. Each handler is started the way Claude Code starts a command hook (`sh -c COMMAND`, the
payload on stdin); a synchronous one is waited for, an async one costs only its spawn and the write
of its stdin. "Before" is the same file with every `"async"` removed, which is what install-hooks
wrote until then. Between events the bench waits, untimed, for any async hook still running (the
tool, then the model's next request, outlast a hook), and before and after alternate call by call.
Prints the p50 and p95 of the wait per tool call (Pre + Post) and the before / after ratio.

Run:
    python bench/hook_bench.py              # ~300 MB corpus backfilled into the database first (reused)
    python bench/hook_bench.py --mb 1000 --calls 500
    python bench/hook_bench.py --mb 50 --calls 100 --tool-calls 100    # a quick one

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
ROOT = Path(__file__).resolve().parent.parent


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


def payloads(n: int, session: str | None = None):
    session = session or f"bench-{int(time.time())}"
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


def timed(cmd: list[str], stdin: bytes, lines: int = 0) -> float:
    """One run's wall time; it must exit 0 and print exactly ``lines`` lines (a hook none, the statusline one)."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or proc.stdout.count(b"\n") != lines or (lines == 0 and proc.stdout):
        raise SystemExit(f"{cmd[0]} failed or printed: rc={proc.returncode} stdout={proc.stdout[:200]!r}")
    return elapsed


STATUSLINE_PAYLOAD = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hooks" / \
    "statusline-docs-example-2026-08.json"


def statusline_payloads(n: int):
    """The documented statusline payload, as one session's messages go by: its cost and context grow,
    and the limits move; a few sessions take turns, as parallel ones do."""
    base = json.loads(STATUSLINE_PAYLOAD.read_text())
    stamp = int(time.time())
    for i in range(n):
        p = json.loads(json.dumps(base))
        p["session_id"] = f"bench-statusline-{stamp}-{i % 4}"
        p["cost"]["total_cost_usd"] = 0.01 * i
        p["context_window"]["used_percentage"] = i % 100
        p["rate_limits"]["five_hour"]["used_percentage"] = (i / 10) % 100
        yield json.dumps(p).encode()


def installed_settings(exe: str, db: Path) -> tuple[dict, dict]:
    """The settings ``install-hooks`` writes today (run for real into bench/out/), and the same
    with every handler synchronous: what it wrote before handlers had "async"."""
    path = corpus_tools.OUT / "hook-bench-settings.json"
    path.unlink(missing_ok=True)
    subprocess.run([exe, "install-hooks", "--settings", str(path), "--db", str(db)], check=True,
                   capture_output=True)
    after = json.loads(path.read_text())
    before = json.loads(path.read_text())
    for groups in before["hooks"].values():
        for group in groups:
            for handler in group["hooks"]:
                handler.pop("async", None)
    return before, after


def run_event(settings: dict, event: str, payload: bytes) -> float:
    """Claude Code firing ``event``: every handler starts at once; the time until the agent may go
    on, i.e. until each synchronous handler has exited and each async one has been handed its stdin.
    Async hooks are then reaped, untimed, so that none overlaps the next measurement."""
    handlers = [h for g in settings["hooks"].get(event, []) for h in g["hooks"] if h.get("type") == "command"]
    started = time.perf_counter()
    procs = [(subprocess.Popen(h["command"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE), h.get("async") is True) for h in handlers]
    for proc, run_async in procs:
        if run_async:  # small payloads fit the pipe: this does not wait for the hook to read
            proc.stdin.write(payload)
            proc.stdin.close()
    outputs = {proc: proc.communicate(payload)[0] for proc, run_async in procs if not run_async}
    waited = time.perf_counter() - started
    for proc, run_async in procs:
        if run_async:
            with proc.stdout, proc.stderr:
                outputs[proc] = proc.stdout.read()
                proc.stderr.read()
    for proc, _ in procs:
        if proc.wait() != 0 or outputs[proc]:
            raise SystemExit(f"{event} hook failed or printed: rc={proc.returncode} stdout={outputs[proc][:200]!r}")
    return waited


def tool_call_waits(exe: str, db: Path, calls: int) -> tuple[list[float], list[float]]:
    """Per tool call, the wait for its PreToolUse and PostToolUse hooks: before, after."""
    before, after = installed_settings(exe, db)
    modes = [before, after]
    waits: list[list[float]] = [[], []]
    stamp = int(time.time())
    calls_of = [[json.dumps(p).encode() for p in payloads(calls * 3, f"bench-tool-{m}-{stamp}")
                 if p["hook_event_name"] != "UserPromptSubmit"] for m in (0, 1)]  # distinct: none a duplicate
    for m in (0, 1):  # warm both
        run_event(modes[m], "Stop", json.dumps({"session_id": f"warm-{m}", "hook_event_name": "Stop"}).encode())
    for n in range(calls):
        for m in ((0, 1) if n % 2 == 0 else (1, 0)):  # alternate which goes first
            pre, post = calls_of[m][2 * n], calls_of[m][2 * n + 1]
            waits[m].append(run_event(modes[m], "PreToolUse", pre) + run_event(modes[m], "PostToolUse", post))
    conn = sqlite3.connect(db)
    for m in (0, 1):  # an async hook not waited for still stored its event
        stored = conn.execute("select count(*) from tool_calls where session_id = ? and started_at is not null "
                              "and ended_at is not null", (f"bench-tool-{m}-{stamp}",)).fetchone()[0]
        if stored != calls:
            raise SystemExit(f"{('before', 'after')[m]}: {stored} of {calls} tool calls stored with both ends")
    conn.close()
    return waits[0], waits[1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=300, help="corpus size in the database (default 300)")
    parser.add_argument("--calls", type=int, default=300, help="hook calls to time (default 300)")
    parser.add_argument("--tool-calls", type=int, default=100,
                        help="tool calls to play through the installed settings, before and after (default 100)")
    args = parser.parse_args(argv)
    db = database_with_corpus(args.mb)
    exe = shutil.which("claude-ingest")
    if not exe:
        raise SystemExit("claude-ingest is not on PATH: pip install -e . first")
    hook_cmd = [exe, "hook", "--db", str(db)]
    floor_cmd = [sys.executable, "-c", "import sqlite3, json"]
    # Bytecode as an installed package has it (pip compiles it on install): a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module from source on every call.
    import compileall

    compileall.compile_dir(str(ROOT / "ingest"), quiet=1)
    for _ in range(5):  # warm the page cache
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

    status_cmd = [exe, "statusline", "--db", str(db)]
    timed(status_cmd, next(statusline_payloads(1)), lines=1)
    status_s, floor2_s = [], []
    for payload in statusline_payloads(args.calls):
        floor2_s.append(timed(floor_cmd, b""))
        status_s.append(timed(status_cmd, payload, lines=1))
    s50, s95, g50, g95 = pct(status_s, 0.5), pct(status_s, 0.95), pct(floor2_s, 0.5), pct(floor2_s, 0.95)
    print(f"\nstatusline calls: {args.calls} (one line printed each; today's spend read from the database)")
    print(f"floor  python -c 'import sqlite3, json':  p50 {ms(g50):6.1f} ms   p95 {ms(g95):6.1f} ms")
    print(f"status claude-ingest statusline:         p50 {ms(s50):6.1f} ms   p95 {ms(s95):6.1f} ms   "
          f"mean {ms(statistics.mean(status_s)):.1f} ms")
    print(f"ratio  statusline / floor:               p50 {s50 / g50:6.2f}x     p95 {s95 / g95:6.2f}x")
    print(f"target p50 <= {TARGET_RATIO:g}x floor: {'PASS' if s50 / g50 <= TARGET_RATIO else 'MISS'}")

    if args.tool_calls > 0:
        before, after = tool_call_waits(exe, db, args.tool_calls)
        b50, b95, a50, a95 = pct(before, 0.5), pct(before, 0.95), pct(after, 0.5), pct(after, 0.95)
        print(f"\none tool call waits for (PreToolUse + PostToolUse handlers, {args.tool_calls} tool calls):")
        print(f"before  all synchronous (install-hooks until now): p50 {ms(b50):6.1f} ms   p95 {ms(b95):6.1f} ms")
        print(f"after   as install-hooks writes them (async):      p50 {ms(a50):6.1f} ms   p95 {ms(a95):6.1f} ms")
        print(f"ratio   before / after:                            p50 {b50 / a50:6.1f}x     p95 {b95 / a95:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
