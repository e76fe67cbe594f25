"""Backfill performance bench: throughput, a floor to compare it with, re-runs, memory, ccusage.

What it measures, on a corpus generated at run time from the real fixture transcripts in
tests/fixtures/claude/projects (N copies, every id made fresh per copy so nothing dedups, dates
spread over many days, copies spread over many project directories):

* full backfill: ``python -m ingest backfill CORPUS --db fresh.db -q`` in a subprocess pinned to one
  core (``taskset -c 0``): wall time, MB/s, CPU time and the child's peak RSS;
* floor: a subprocess (same pinning) that only reads every file line by line and ``json.loads`` each
  line; the report gives backfill time / floor time;
* re-run: the same command again over the unchanged corpus and database (median of 3), against
  ``python -c "import ingest.cli"`` (interpreter + import startup) as its floor;
* ccusage: ``npx --yes ccusage@latest daily --json --offline`` over the same corpus, same pinning
  (median of 2), its time / ours, and whether its token totals equal ours (api_requests where
  is_replay = 0). Skipped, with the reason, when npx or the registry is not usable.

Before measuring, a sanity check ingests a 3-copy corpus and asserts that its sum of output_tokens is
exactly 3x that of the original fixtures (the fresh ids work); the script exits 1 if it fails, and 0
otherwise whatever the figures (it is a report).

Run:
    python bench/backfill_bench.py            # ~1 GB corpus (generated once into bench/out/, reused)
    python bench/backfill_bench.py --quick    # ~100 MB
    python bench/backfill_bench.py --mb 500   # any size
    python bench/backfill_bench.py --quick --profile   # cProfile of an in-process backfill instead

Standard library only. Everything written goes under bench/out/ (gitignored).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "claude" / "projects"
OUT = ROOT / "bench" / "out"

GENERATOR_VERSION = 1  # bump when the generator changes: cached corpora are then rebuilt
PROJECT_DIRS = 20  # copies are spread over this many directories per fixture project (2 of them)
SPREAD_DAYS = 365  # copy k is shifted k % SPREAD_DAYS days into the past

TARGET_MBPS = 30.0  # full backfill, one core
TARGET_RERUN_S = 1.0  # re-run over an unchanged 1 GB corpus
TARGET_RSS_MB = 250.0  # peak memory of the full backfill

CCUSAGE_FALLBACK = "20.0.24"  # used when @latest cannot run (e.g. its native binary is missing)
TOKENS = {  # ccusage totals key -> api_requests column
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheCreationTokens": "cache_creation_input_tokens",
    "cacheReadTokens": "cache_read_input_tokens",
}

FLOOR_SCRIPT = """
import json, os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith(".jsonl"):
            with open(os.path.join(root, name), "rb") as f:
                for line in f:
                    if line.strip():
                        json.loads(line)
"""


# ---------------------------------------------------------------------------------------------
# Corpus generation
# ---------------------------------------------------------------------------------------------
class Template:
    """The fixture files split once into literal bytes and id tokens, rewritten per copy.

    Tokens: UUIDs (session ids, line uuid/parentUuid, message ids of snapshots...), Anthropic ids
    (``msg_``, ``req_``, ``toolu_``, ``srvtoolu_``), the agent ids seen in ``agent-<id>.jsonl`` names
    and ``agentId`` values, and the date of every ``"timestamp":"YYYY-MM-DD``. Rewriting all of their
    occurrences (in text too) with one mapping per copy keeps every cross-reference consistent.
    """

    def __init__(self, fixtures: Path):
        self.fixtures = fixtures
        self.files = sorted(p for p in fixtures.rglob("*") if p.is_file()
                            and (p.name.endswith(".jsonl") or p.name.endswith(".meta.json")))
        agent_ids = set()
        for p in self.files:
            m = re.fullmatch(r"agent-(.+)\.(?:jsonl|meta\.json)", p.name)
            if m:
                agent_ids.add(m.group(1).encode())
            agent_ids.update(re.findall(rb'"agentId":"([^"\\]+)"', p.read_bytes()))
        agents = b"|".join(re.escape(a) for a in sorted(agent_ids, key=len, reverse=True))
        self.token_re = re.compile(
            rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
            rb"|(?<![A-Za-z0-9])(?:msg|req|toolu|srvtoolu)_[A-Za-z0-9]{12,}"
            rb'|"timestamp":"\d{4}-\d{2}-\d{2}'
            + (rb"|(?<![A-Za-z0-9])(?:" + agents + rb")(?![A-Za-z0-9])" if agents else b"")
            + rb")"
        )
        # relative path -> parts (even: literal bytes, odd: tokens)
        self.parts = {p.relative_to(fixtures): self.token_re.split(p.read_bytes()) for p in self.files}
        self.tokens = sorted({t for parts in self.parts.values() for t in parts[1::2]})
        self.bytes = sum(p.stat().st_size for p in self.files)

    @staticmethod
    def _map_token(tok: bytes, k: int, mask: int, suffix: bytes) -> bytes:
        if tok.startswith(b'"timestamp":"'):
            day = dt.date.fromisoformat(tok[-10:].decode()) - dt.timedelta(days=k % SPREAD_DAYS)
            return tok[:-10] + day.isoformat().encode()
        if len(tok) == 36 and tok[8:9] == b"-" and tok[13:14] == b"-":  # UUID: xor its first 8 hex
            return b"%08x" % (int(tok[:8], 16) ^ mask) + tok[8:]
        return tok + suffix  # msg_/req_/toolu_ ids and agent ids: a per-copy suffix

    def mapping(self, k: int) -> dict[bytes, bytes]:
        # (k + 1) * odd constant mod 2^32 is a bijection: every copy gets its own mask, never 0.
        mask = ((k + 1) * 0x9E3779B1) & 0xFFFFFFFF
        suffix = b"b%04d" % k
        return {t: self._map_token(t, k, mask, suffix) for t in self.tokens}

    def write_copy(self, k: int, dest: Path, project_dirs: int = PROJECT_DIRS) -> int:
        """Write copy ``k`` under ``dest`` (a projects dir); return the bytes written."""
        m = self.mapping(k)
        written = 0
        for rel, parts in self.parts.items():
            project, *rest = rel.parts
            new_rest = self.token_re.sub(lambda mo: m[mo.group(1)], "/".join(rest).encode()).decode()
            if new_rest == "/".join(rest):  # no id in the name (tool_heavy.jsonl): make it unique
                stem, _, ext = new_rest.partition(".")
                new_rest = f"{stem}-{k:04d}.{ext}"
            target = dest / f"{project}-b{k % project_dirs:02d}" / new_rest
            target.parent.mkdir(parents=True, exist_ok=True)
            out = parts[:]
            out[1::2] = [m[t] for t in parts[1::2]]
            data = b"".join(out)
            target.write_bytes(data)
            written += len(data)
        return written


def copies_for(mb: float, template: Template) -> int:
    return max(1, round(mb * 1e6 / template.bytes))


def generate(template: Template, copies: int, dest: Path) -> tuple[int, int]:
    """Write ``copies`` copies into the projects dir ``dest``; return (bytes, files)."""
    total = 0
    for k in range(copies):
        total += template.write_copy(k, dest)
    return total, copies * len(template.files)


def corpus(template: Template, mb: float) -> tuple[Path, dict]:
    """The projects dir of a corpus of ~``mb`` MB under bench/out/, generated unless already there."""
    copies = copies_for(mb, template)
    base = OUT / f"corpus-{mb:g}mb"
    marker = base / "corpus.json"
    projects = base / "projects"
    try:
        info = json.loads(marker.read_text())
        if info.get("version") == GENERATOR_VERSION and info.get("copies") == copies:
            print(f"corpus: reusing {projects} ({info['bytes'] / 1e6:.1f} MB, {info['files']} files)")
            return projects, info
    except (OSError, ValueError):
        pass
    shutil.rmtree(base, ignore_errors=True)
    started = time.perf_counter()
    size, files = generate(template, copies, projects)
    seconds = time.perf_counter() - started
    info = {"version": GENERATOR_VERSION, "copies": copies, "bytes": size, "files": files,
            "project_dirs": len(list(projects.iterdir())), "generate_seconds": round(seconds, 2)}
    marker.write_text(json.dumps(info, indent=1))
    print(f"corpus: generated {projects}: {copies} copies, {size / 1e6:.1f} MB, {files} files, "
          f"in {seconds:.1f}s ({size / 1e6 / seconds:.0f} MB/s)")
    return projects, info


# ---------------------------------------------------------------------------------------------
# Database helpers
# ---------------------------------------------------------------------------------------------
def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def token_sums(db: Path, where: str = "1") -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        cols = ", ".join(f"coalesce(sum({c}), 0)" for c in TOKENS.values())
        row = conn.execute(f"select {cols} from api_requests where {where}").fetchone()
        return dict(zip(TOKENS.values(), row))
    finally:
        conn.close()


def table_counts(db: Path, tables: tuple[str, ...]) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}
    finally:
        conn.close()


def distinct_days(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select count(distinct date(timestamp)) from api_requests").fetchone()[0]
    finally:
        conn.close()


def last_run(db: Path) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("select * from ingest_runs order by started_at desc limit 1").fetchone()
        return dict(row) if row else {}
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Sanity check: fresh ids mean 3 copies hold exactly 3x the usage
# ---------------------------------------------------------------------------------------------
def sanity_check(template: Template) -> bool:
    from ingest import backfill

    tables = ("api_requests", "messages", "tool_calls", "sessions", "subagents")
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        tmp = Path(tmp)
        projects = tmp / "projects"
        generate(template, 3, projects)
        for path in projects.rglob("*.jsonl"):  # every generated line is still valid JSON
            with open(path, "rb") as f:
                for line in f:
                    json.loads(line)
        backfill(tmp / "orig.db", [template.fixtures])
        summary = backfill(tmp / "copies.db", [projects])
        orig = token_sums(tmp / "orig.db")["output_tokens"]
        got = token_sums(tmp / "copies.db")["output_tokens"]
        counts_orig = table_counts(tmp / "orig.db", tables)
        counts = table_counts(tmp / "copies.db", tables)
    ok = got == 3 * orig
    print(f"sanity: 3 copies: sum(output_tokens) = {got:,}, fixtures x3 = {3 * orig:,}: "
          f"{'OK' if ok else 'FAILED'}; bad lines {summary.bad_lines}")
    print("sanity: rows copies/fixtures: " + ", ".join(
        f"{t} {counts[t]}/{counts_orig[t]} ({counts[t] / counts_orig[t]:.2f}x)" for t in tables))
    return ok


# ---------------------------------------------------------------------------------------------
# Measuring subprocesses
# ---------------------------------------------------------------------------------------------
def pinned(cmd: list[str]) -> list[str]:
    return (["taskset", "-c", "0"] + cmd) if shutil.which("taskset") else cmd


class Result:
    def __init__(self, seconds, cpu, maxrss_mb, code, stdout, stderr):
        self.seconds, self.cpu, self.maxrss_mb = seconds, cpu, maxrss_mb
        self.code, self.stdout, self.stderr = code, stdout, stderr


def measure(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> Result:
    """Run ``cmd``; wall time, CPU time and peak RSS of that child alone (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Result(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
                      out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def check(result: Result, what: str) -> Result:
    if result.code != 0:
        raise SystemExit(f"{what} failed (exit {result.code}):\n{result.stderr[-3000:]}")
    return result


def warm_cache(projects: Path) -> None:
    """Read every file once so that all timed runs see the same (warm) page cache."""
    for path in projects.rglob("*.jsonl"):
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


# ---------------------------------------------------------------------------------------------
# ccusage
# ---------------------------------------------------------------------------------------------
def ccusage_runnable(config_dir: Path, version: str) -> tuple[str | None, str]:
    """The ccusage package spec that runs here, or None and why not."""
    if not shutil.which("npx"):
        return None, "npx not found"
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(config_dir))
    tried = []
    for spec in dict.fromkeys([f"ccusage@{version}", f"ccusage@{CCUSAGE_FALLBACK}"]):
        # The first run installs into npx's cache: not timed.
        r = measure(["npx", "--yes", spec, "daily", "--json", "--offline"], env=env, timeout=600)
        if r.code == 0:
            try:
                json.loads(r.stdout)["totals"]
                return spec, "; ".join(tried)
            except (ValueError, KeyError):
                tried.append(f"{spec}: output is not the expected JSON")
                continue
        reason = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip() and "npm warn" not in ln]
        tried.append(f"{spec}: exit {r.code}: {reason[-1][:200] if reason else '?'}")
    return None, "; ".join(tried)


def bench_ccusage(projects: Path, db: Path, ours_seconds: float, version: str) -> dict:
    config_dir = projects.parent  # ccusage scans $CLAUDE_CONFIG_DIR/projects
    small = OUT / "ccusage-probe"
    if not (small / "projects").exists():
        small.mkdir(parents=True, exist_ok=True)
        (small / "projects").symlink_to(FIXTURES)
    spec, why = ccusage_runnable(small, version)
    if why:
        print(f"ccusage: {why}")
    if not spec:
        return {"skipped": why}
    env = dict(os.environ, CLAUDE_CONFIG_DIR=str(config_dir))
    cmd = ["npx", "--yes", spec, "daily", "--json", "--offline"]
    startup = measure(pinned(["npx", "--yes", spec, "--version"]), env=env).seconds
    runs = [check(measure(pinned(cmd), env=env, timeout=1800), "ccusage") for _ in range(2)]
    seconds = statistics.median(r.seconds for r in runs)
    totals = json.loads(runs[-1].stdout)["totals"]
    ours = token_sums(db, "is_replay = 0")
    diffs = {k: (totals.get(k), ours[c]) for k, c in TOKENS.items() if totals.get(k) != ours[c]}
    print(f"ccusage: {spec}: {[round(r.seconds, 2) for r in runs]} s, peak RSS {runs[-1].maxrss_mb:.0f} MB, "
          f"npx startup ({spec} --version) {startup:.2f}s")
    print("ccusage totals: " + ", ".join(f"{k} {totals.get(k):,}" for k in TOKENS))
    print("ours (is_replay=0): " + ", ".join(f"{k} {ours[c]:,}" for k, c in TOKENS.items()))
    if diffs:
        print("ccusage vs ours differ: " + ", ".join(f"{k}: ccusage {a:,} ours {b:,} ({b - a:+,})"
                                                   for k, (a, b) in diffs.items()))
    return {"spec": spec, "seconds": seconds, "ratio": seconds / ours_seconds, "equal": not diffs,
            "startup": startup}


# ---------------------------------------------------------------------------------------------
# The bench
# ---------------------------------------------------------------------------------------------
def run_bench(projects: Path, info: dict, mb: float, args) -> None:
    python = sys.executable
    db = OUT / f"bench-{mb:g}mb.db"
    remove_db(db)
    backfill_cmd = pinned([python, "-m", "ingest", "backfill", str(projects), "--db", str(db), "-q"])
    size_mb = info["bytes"] / 1e6
    core = "1 core (taskset -c 0)" if shutil.which("taskset") else "unpinned (no taskset)"
    print(f"bench: {size_mb:.1f} MB, {info['files']} files; {core}; python {sys.version.split()[0]}")

    load_before = os.getloadavg()[0]
    warm_cache(projects)
    floor = check(measure(pinned([python, "-c", FLOOR_SCRIPT, str(projects)])), "floor")
    print(f"floor (read + json.loads): {floor.seconds:.2f}s, {size_mb / floor.seconds:.0f} MB/s")

    full = check(measure(backfill_cmd), "full backfill")
    run = last_run(db)
    print(f"full backfill: {full.seconds:.2f}s wall, {full.cpu:.2f}s cpu, {size_mb / full.seconds:.1f} MB/s, "
          f"peak RSS {full.maxrss_mb:.0f} MB; files read {run.get('files_read')}, "
          f"lines {run.get('lines'):,}, bad lines {run.get('bad_lines')}; "
          f"db {sum(p.stat().st_size for p in db.parent.glob(db.name + '*')) / 1e6:.0f} MB")
    print(f"rows: {run.get('rows_json')}; {distinct_days(db)} distinct days in api_requests")

    reruns = [check(measure(backfill_cmd), "re-run") for _ in range(3)]
    rerun = statistics.median(r.seconds for r in reruns)
    run = last_run(db)
    startups = [check(measure(pinned([python, "-c", "import ingest.cli"])), "startup") for _ in range(3)]
    startup = statistics.median(r.seconds for r in startups)
    print(f"re-run (unchanged): {[round(r.seconds, 3) for r in reruns]} s, files read {run.get('files_read')}, "
          f"skipped {run.get('files_skipped')}; startup floor {[round(r.seconds, 3) for r in startups]} s")

    cc = {"skipped": "--no-ccusage"} if args.no_ccusage else bench_ccusage(
        projects, db, full.seconds, args.ccusage_version)

    mbps = size_mb / full.seconds
    rows = [
        ("corpus", f"{size_mb:.1f} MB, {info['files']} files ({info['copies']} copies, "
                   f"{info['project_dirs']} project dirs)"),
        ("full backfill", f"{full.seconds:.2f} s, {mbps:.1f} MB/s (cpu {full.cpu:.2f} s, "
                          f"{size_mb / full.cpu:.1f} MB/s of cpu)"),
        ("floor (read+json)", f"{floor.seconds:.2f} s, {size_mb / floor.seconds:.0f} MB/s; "
                              f"backfill/floor {full.seconds / floor.seconds:.2f}x "
                              f"(cpu {floor.cpu:.2f} s, ratio {full.cpu / floor.cpu:.2f}x)"),
        ("re-run unchanged", f"{rerun:.3f} s median of 3; startup floor {startup:.3f} s "
                             f"(re-run/startup {rerun / startup:.2f}x)"),
        ("peak RSS", f"{full.maxrss_mb:.1f} MB"),
    ]
    if "skipped" in cc:
        rows.append(("ccusage", f"not run: {cc['skipped']}"))
    else:
        rows.append(("ccusage", f"{cc['seconds']:.2f} s median of 2 ({cc['spec']}, same pinning; npx startup "
                                f"{cc['startup']:.2f} s); ccusage/backfill {cc['ratio']:.2f}x; "
                                f"token totals equal: {'yes' if cc['equal'] else 'NO'}"))
    targets = [
        (f"full backfill >= {TARGET_MBPS:g} MB/s on one core", f"{mbps:.1f} MB/s", mbps >= TARGET_MBPS),
        (f"re-run over unchanged 1 GB < {TARGET_RERUN_S:g} s", f"{rerun:.3f} s", rerun < TARGET_RERUN_S),
        (f"peak memory < {TARGET_RSS_MB:g} MB", f"{full.maxrss_mb:.1f} MB", full.maxrss_mb < TARGET_RSS_MB),
    ]
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    rows.append(("load average (1 min)", load + ("" if max(load_before, os.getloadavg()[0]) < 1.5 else
                 f"; other work shares the {os.cpu_count()} cpus: wall times are inflated, cpu times less so")))
    print()
    print(f"=== backfill bench: {size_mb:.0f} MB corpus ===")
    for label, value in rows:
        print(f"{label:<20} {value}")
    print("targets:")
    for label, value, ok in targets:
        print(f"  {label:<42} {value:>12}  {'PASS' if ok else 'MISS'}")
    if abs(size_mb - 1000) > 100:
        print(f"  (the targets are set for a 1 GB corpus; this one is {size_mb:.0f} MB)")


def run_profile(projects: Path, mb: float, top: int = 15) -> None:
    """cProfile of one in-process backfill of the corpus into a fresh database (pinned if possible)."""
    from ingest import backfill

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    db = OUT / f"profile-{mb:g}mb.db"
    remove_db(db)
    profiler = cProfile.Profile()
    profiler.enable()
    summary = backfill(db, [projects])
    profiler.disable()
    print(summary.line())
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(top)
        text = buf.getvalue()
        print(f"--- top {top} by {key} ---")
        print(text[text.index("   ncalls"):].rstrip() if "   ncalls" in text else text)
    remove_db(db)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--mb", type=float, default=1000, help="corpus size in MB (default 1000)")
    size.add_argument("--quick", action="store_true", help="a ~100 MB corpus")
    parser.add_argument("--no-ccusage", action="store_true", help="skip the ccusage comparison")
    parser.add_argument("--ccusage-version", default="latest",
                        help=f"ccusage version for npx (falls back to {CCUSAGE_FALLBACK} if it fails)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the bench, cProfile one in-process backfill of the corpus")
    args = parser.parse_args(argv)
    mb = 100 if args.quick else args.mb

    OUT.mkdir(parents=True, exist_ok=True)
    template = Template(FIXTURES)
    print(f"fixtures: {len(template.files)} files, {template.bytes / 1e6:.2f} MB, "
          f"{len(template.tokens)} distinct id/date tokens")
    if not sanity_check(template):
        return 1
    projects, info = corpus(template, mb)
    if args.profile:
        run_profile(projects, mb)
    else:
        run_bench(projects, info, mb, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
