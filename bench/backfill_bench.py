"""Backfill performance bench: throughput, a floor to compare it with, re-runs, memory, ccusage.

What it measures, on a corpus generated at run time from the real fixture transcripts in
tests/fixtures/claude/projects (N copies, every id made fresh per copy so nothing dedups, dates
spread over many days, copies spread over many project directories):

* full backfill: ``python -m ingest backfill CORPUS --db fresh.db -q --jobs N`` in a subprocess on N
  cores (``taskset``), for each N of ``--jobs`` (default 1 and the cores), interleaved over
  ``--repeat`` rounds: median wall time, MB/s, CPU time (the workers' included), the child's peak
  RSS and the peak of the summed RSS of all its processes; the speed-up of each N over the first;
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
    python bench/backfill_bench.py --quick --profile   # where the time goes, phase by phase, per --jobs
    python bench/backfill_bench.py --quick --cprofile  # cProfile of an in-process backfill instead
    python bench/backfill_bench.py --jobs 1,2 --repeat 3   # the --jobs values compared, interleaved

Standard library only. Everything written goes under bench/out/ (gitignored).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import marshal
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

TARGET_MBPS = 60.0  # full backfill with every core (issue 17; 30 MB/s on one core before it)
TARGET_RERUN_S = 0.3  # re-run over an unchanged 1 GB corpus
TARGET_RSS_MB = 250.0  # peak memory of the full backfill, all its processes together

CCUSAGE_FALLBACK = "20.0.24"  # used when @latest cannot run (e.g. its native binary is missing)
TOKENS = {  # ccusage totals key -> api_requests column
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheCreationTokens": "cache_creation_input_tokens",
    "cacheReadTokens": "cache_read_input_tokens",
}

# The tree's backfill takes --jobs (a tree from before issue 17 is benched with --jobs 1 only).
SUPPORTS_JOBS = "--jobs" in (ROOT / "ingest" / "cli" / "options.py").read_text()
COMPARED = ("sessions", "api_requests", "messages", "tool_calls", "file_events", "prompts", "errors")

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

    def mapping(self, k: int, days_back: int | None = None, digits: int = 4) -> dict[bytes, bytes]:
        """Copy ``k``'s tokens: its ids (the suffix ``b`` and k in ``digits`` digits), its dates
        ``days_back`` days back (default: k, modulo SPREAD_DAYS)."""
        # (k + 1) * odd constant mod 2^32 is a bijection: every copy gets its own mask, never 0.
        mask = ((k + 1) * 0x9E3779B1) & 0xFFFFFFFF
        suffix = b"b%0*d" % (digits, k)
        days = k if days_back is None else days_back
        return {t: self._map_token(t, days, mask, suffix) for t in self.tokens}

    def write_mapped(self, m: dict[bytes, bytes], dest: Path, directory, unique: str, only: str | None = None) -> int:
        """The fixtures (or the one named ``only``) with their tokens mapped by ``m``, each under
        ``dest / directory(project)``, its name's ids mapped too (a name with none gets ``-unique``);
        the bytes written."""
        written = 0
        for rel, parts in self.parts.items():
            if only and rel.name != only:
                continue
            project, *rest = rel.parts
            name = self.token_re.sub(lambda mo: m[mo.group(1)], "/".join(rest).encode()).decode()
            if name == "/".join(rest):  # no id in the name (tool_heavy.jsonl): make it unique
                stem, _, ext = name.partition(".")
                name = f"{stem}-{unique}.{ext}"
            target = dest / directory(project) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            out = parts[:]
            out[1::2] = [m[t] for t in parts[1::2]]
            data = b"".join(out)
            target.write_bytes(data)
            written += len(data)
        return written

    def write_copy(self, k: int, dest: Path, project_dirs: int = PROJECT_DIRS) -> int:
        """Write copy ``k`` under ``dest`` (a projects dir); return the bytes written."""
        return self.write_mapped(self.mapping(k), dest, lambda project: f"{project}-b{k % project_dirs:02d}",
                                 f"{k:04d}")


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
def pinned(cmd: list[str], cores: int = 1) -> list[str]:
    """``cmd`` on the first ``cores`` cores this process may use (``taskset``), if it can be."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not shutil.which("taskset") or not allowed:
        return cmd
    return ["taskset", "-c", ",".join(map(str, allowed[:cores]))] + cmd


class Result:
    def __init__(self, seconds, cpu, maxrss_mb, code, stdout, stderr, tree_rss_mb=0.0):
        self.seconds, self.cpu, self.maxrss_mb = seconds, cpu, maxrss_mb
        self.code, self.stdout, self.stderr = code, stdout, stderr
        # peak of the summed RSS of the child and all its descendants (its worker processes)
        self.tree_rss_mb = max(tree_rss_mb, maxrss_mb)


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and every process below it, from /proc (0 where there is no /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in os.listdir(f"/proc/{p}/task"):
                todo += map(int, Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def measure(cmd: list[str], env: dict | None = None, timeout: float | None = None) -> Result:
    """Run ``cmd``; wall time, CPU time (with its waited-for workers') and peak RSS of the child
    (``os.wait4``), and the peak of the summed RSS of its process tree (sampled every 20 ms)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        deadline = None if timeout is None else started + timeout
        tree_peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            tree_peak = max(tree_peak, _tree_rss_kb(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Result(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
                      out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                      tree_peak / 1024)


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
def _jobs_flag(jobs: int) -> list[str]:
    return ["--jobs", str(jobs)] if SUPPORTS_JOBS else []


def run_bench(projects: Path, info: dict, mb: float, args) -> None:
    python = sys.executable
    size_mb = info["bytes"] / 1e6
    jobs_list = args.jobs
    print(f"bench: {size_mb:.1f} MB, {info['files']} files; full backfills with --jobs {', '.join(map(str, jobs_list))}"
          f" (each on that many cores{'' if shutil.which('taskset') else ': no taskset, unpinned'}), "
          f"{args.repeat} rounds interleaved; python {sys.version.split()[0]}; "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores")

    load_before = os.getloadavg()[0]
    warm_cache(projects)
    floor = check(measure(pinned([python, "-c", FLOOR_SCRIPT, str(projects)])), "floor")
    print(f"floor (read + json.loads, 1 core): {floor.seconds:.2f}s, {size_mb / floor.seconds:.0f} MB/s")

    def db_for(jobs):
        return OUT / f"bench-{mb:g}mb-jobs{jobs}.db"

    runs: dict[int, list[Result]] = {j: [] for j in jobs_list}
    loads: list[float] = []
    for round_ in range(args.repeat):
        # Interleaved, each round in turn starting with another: a colleague's load hits all alike.
        order = jobs_list[round_ % len(jobs_list):] + jobs_list[:round_ % len(jobs_list)]
        for jobs in order:
            db = db_for(jobs)
            remove_db(db)
            cmd = pinned([python, "-m", "ingest", "backfill", str(projects), "--db", str(db), "-q",
                          *_jobs_flag(jobs)], cores=jobs)
            r = check(measure(cmd), f"full backfill --jobs {jobs}")
            runs[jobs].append(r)
            loads.append(os.getloadavg()[0])
            print(f"  round {round_ + 1} --jobs {jobs}: {r.seconds:.2f}s wall, {r.cpu:.2f}s cpu, "
                  f"{size_mb / r.seconds:.1f} MB/s, peak RSS {r.tree_rss_mb:.0f} MB all processes "
                  f"({r.maxrss_mb:.0f} MB the largest); load {loads[-1]:.2f}")
    first = jobs_list[0]
    run = last_run(db_for(first))
    print(f"rows: {run.get('rows_json')}; {distinct_days(db_for(first))} distinct days in api_requests; "
          f"db {sum(p.stat().st_size for p in OUT.glob(db_for(first).name + '*')) / 1e6:.0f} MB")
    same = [token_sums(db_for(j)) == token_sums(db_for(first)) and
            table_counts(db_for(j), COMPARED) == table_counts(db_for(first), COMPARED) for j in jobs_list]
    print(f"token sums and row counts equal whatever --jobs: {'yes' if all(same) else 'NO'}")

    best = max(jobs_list)
    db = db_for(best)
    rerun_cmd = pinned([python, "-m", "ingest", "backfill", str(projects), "--db", str(db), "-q"], cores=best)
    reruns = [check(measure(rerun_cmd), "re-run") for _ in range(3)]
    rerun = statistics.median(r.seconds for r in reruns)
    run = last_run(db)
    startups = [check(measure(pinned([python, "-c", "import ingest.cli"])), "startup") for _ in range(3)]
    startup = statistics.median(r.seconds for r in startups)
    print(f"re-run (unchanged, default --jobs): {[round(r.seconds, 3) for r in reruns]} s, files read "
          f"{run.get('files_read')}, skipped {run.get('files_skipped')}; startup floor "
          f"{[round(r.seconds, 3) for r in startups]} s")

    median = {j: statistics.median(r.seconds for r in runs[j]) for j in jobs_list}
    cpu = {j: statistics.median(r.cpu for r in runs[j]) for j in jobs_list}
    peak = {j: max(r.tree_rss_mb for r in runs[j]) for j in jobs_list}
    cc = {"skipped": "--no-ccusage"} if args.no_ccusage else bench_ccusage(
        projects, db, median[best], args.ccusage_version)

    rows = [("corpus", f"{size_mb:.1f} MB, {info['files']} files ({info['copies']} copies, "
                       f"{info['project_dirs']} project dirs)")]
    for j in jobs_list:
        rows.append((f"backfill --jobs {j}", f"{median[j]:.2f} s median of {len(runs[j])}, "
                                             f"{size_mb / median[j]:.1f} MB/s; cpu {cpu[j]:.2f} s "
                                             f"({size_mb / cpu[j]:.1f} MB/s of cpu); "
                                             f"{median[j] / floor.seconds:.2f}x the floor; "
                                             f"peak RSS {peak[j]:.0f} MB"))
    if len(jobs_list) > 1:
        rows.append(("speed-up", ", ".join(f"--jobs {j}: {median[first] / median[j]:.2f}x" for j in jobs_list[1:])
                     + f" (medians; vs --jobs {first})"))
    rows += [
        ("floor (read+json)", f"{floor.seconds:.2f} s, {size_mb / floor.seconds:.0f} MB/s, 1 core "
                              f"(cpu {floor.cpu:.2f} s)"),
        ("re-run unchanged", f"{rerun:.3f} s median of 3; startup floor {startup:.3f} s "
                             f"(re-run/startup {rerun / startup:.2f}x)"),
    ]
    if "skipped" in cc:
        rows.append(("ccusage", f"not run: {cc['skipped']}"))
    else:
        rows.append(("ccusage", f"{cc['seconds']:.2f} s median of 2 ({cc['spec']}, 1 core; npx startup "
                                f"{cc['startup']:.2f} s); ccusage/backfill --jobs {best} {cc['ratio']:.2f}x; "
                                f"token totals equal: {'yes' if cc['equal'] else 'NO'}"))
    mbps = size_mb / median[best]
    targets = [
        (f"full backfill >= {TARGET_MBPS:g} MB/s (--jobs {best})", f"{mbps:.1f} MB/s", mbps >= TARGET_MBPS),
        (f"re-run over unchanged 1 GB < {TARGET_RERUN_S:g} s", f"{rerun:.3f} s", rerun < TARGET_RERUN_S),
        (f"peak memory < {TARGET_RSS_MB:g} MB (all processes)", f"{max(peak.values()):.1f} MB",
         max(peak.values()) < TARGET_RSS_MB),
    ]
    load_after = os.getloadavg()[0]
    load = (f"{load_before:.2f} before, {load_after:.2f} after, median {statistics.median(loads):.2f} "
            f"over the runs")
    rows.append(("load average (1 min)", load + ("" if max(load_before, load_after, *loads) < 1.5 else
                 f"; other work shares the {os.cpu_count()} cpus: wall times are inflated, cpu times less so")))
    print()
    print(f"=== backfill bench: {size_mb:.0f} MB corpus ===")
    for label, value in rows:
        print(f"{label:<20} {value}")
    print("targets:")
    for label, value, ok in targets:
        print(f"  {label:<46} {value:>12}  {'PASS' if ok else 'MISS'}")
    if abs(size_mb - 1000) > 100:
        print(f"  (the targets are set for a 1 GB corpus; this one is {size_mb:.0f} MB)")


# ---------------------------------------------------------------------------------------------
# --profile: where the time of one backfill goes, phase by phase
# ---------------------------------------------------------------------------------------------
PHASES = ("reading", "decoding", "parsing into records", "redaction", "building SQL rows", "SQLite inserts",
          "FTS", "indexes", "row counting", "derivations", "rollups", "commits", "other SQL",
          "waiting for workers", "other")


class PhaseTimer:
    """Exclusive time per phase, wall and CPU (of this thread): a wrapped call's time minus that of
    the wrapped calls inside it. CPU time is what the shares are of: on a machine others load too,
    wall time includes the waits for a core."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.cpu = dict.fromkeys(PHASES, 0.0)
        self._stack = []  # [wall start, cpu start, wall and cpu spent in wrapped calls inside]

    def enter(self):
        self._stack.append([time.perf_counter(), time.thread_time(), 0.0, 0.0])

    def leave(self, phase):
        cpu = time.thread_time()
        wall = time.perf_counter()
        start, cpu_start, inner, inner_cpu = self._stack.pop()
        elapsed, elapsed_cpu = wall - start, cpu - cpu_start
        self.seconds[phase] += elapsed - inner
        self.cpu[phase] += elapsed_cpu - inner_cpu
        if self._stack:
            self._stack[-1][2] += elapsed
            self._stack[-1][3] += elapsed_cpu

    def wrap(self, phase, fn):
        def timed(*args, **kwargs):
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave(phase)
        timed.__wrapped__ = fn
        return timed

    def wrap_generator(self, phase, fn):
        def timed(*args, **kwargs):
            it = fn(*args, **kwargs)
            while True:
                self.enter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    self.leave(phase)
                yield item
        return timed


class TimedConnection:
    """A sqlite3 connection as the store sees it, each statement timed as the phase it serves; with
    ``capture``, every executemany (and each commit) is also written to a file to be replayed."""

    def __init__(self, conn, timer, rollup_sql, derivation_sql, capture=None):
        self._conn, self._timer, self._capture = conn, timer, capture
        self._rollups, self._derivations = rollup_sql, derivation_sql

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execute(self, sql, *args):
        phase = ("rollups" if sql in self._rollups else "derivations" if sql in self._derivations
                 else "commits" if sql in ("commit", "begin immediate")
                 else "indexes" if sql.startswith("create index")
                 else "FTS" if "values ('rebuild')" in sql or sql.startswith("CREATE TRIGGER") else "other SQL")
        if sql == "commit" and self._capture:
            marshal.dump(("commit", None), self._capture)
        self._timer.enter()
        try:
            return self._conn.execute(sql, *args)
        finally:
            self._timer.leave(phase)

    def executemany(self, sql, rows):
        if self._capture:
            rows = rows if isinstance(rows, list) else list(rows)
            marshal.dump((sql, rows), self._capture)
        self._timer.enter()
        try:
            return self._conn.executemany(sql, rows)
        finally:
            self._timer.leave("SQLite inserts")


@contextlib.contextmanager
def instrumented(timer: PhaseTimer, capture=None):
    """The backfill's functions wrapped with ``timer`` (and put back after), by phase."""
    from ingest import redact, schema, store
    from ingest.load import files, transcripts
    from ingest.parse import transcripts as parse

    rollups = {sql for tables, sql in schema.DERIVATIONS[len(schema.DERIVATIONS) - 2 * len(schema.ROLLUPS):]}
    derivations = {sql for tables, sql in schema.DERIVATIONS} - rollups
    patches = [
        (files, "lines", timer.wrap_generator("reading", files.lines)),
        (files, "open_regular", timer.wrap("reading", files.open_regular)),
        (files, "head_hash", timer.wrap("reading", files.head_hash)),
        # the check that lets a live-progress line go undecoded counts as reading it
        (transcripts, "_is_live_progress", timer.wrap("reading", transcripts._is_live_progress)),
        (transcripts, "json_loads", timer.wrap("decoding", transcripts.json_loads)),
        (parse.TranscriptParser, "feed", timer.wrap("parsing into records", parse.TranscriptParser.feed)),
        (parse.TranscriptParser, "finish", timer.wrap("parsing into records", parse.TranscriptParser.finish)),
        (redact, "redact_text", timer.wrap("redaction", redact.redact_text)),
        (redact, "redact_json_text", timer.wrap("redaction", redact.redact_json_text)),
        (store.Store, "add", timer.wrap("building SQL rows", store.Store.add)),
    ]
    if hasattr(store.Store, "put"):  # rows a worker made ready, and the wait for them
        from ingest.load import workers

        patches += [(store.Store, "put", timer.wrap("building SQL rows", store.Store.put)),
                    (workers._Worker, "receive", timer.wrap("waiting for workers", workers._Worker.receive))]
    # a cold load's indexes and full-text indexes, built at its end (this tree on; not before it)
    for name in ("start_cold_load", "finish_cold_load"):
        if hasattr(store, name):
            function = getattr(store, name)
            patches.append((store, name, lambda conn, f=function: f(
                TimedConnection(conn, timer, rollups, derivations))))
    patches += [(schema, "ensure", timer.wrap("other SQL", schema.ensure))]
    original_init = store.Store.__init__

    def init(self, conn, *args, **kwargs):
        original_init(self, conn, *args, **kwargs)
        self.conn = TimedConnection(conn, timer, rollups, derivations, capture)

    patches.append((store.Store, "__init__", init))
    saved = [(owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name))
             for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def replay(capture_path: Path, db: Path, variant: str) -> float:
    """Seconds of executemany when the captured writes are replayed into a fresh database: ``full``
    (the schema and the row counter, as the backfill ran), ``uncounted`` (no row counter), ``no-fts``
    (nor FTS triggers), ``bare`` (nor secondary indexes: only the keys the upserts need)."""
    from ingest import schema, store

    remove_db(db)
    conn = store.connect(db)
    if hasattr(store, "start_cold_load"):  # the database as a first backfill writes into it
        store.start_cold_load(conn)
    if variant == "full":
        store.RowCounter(conn)
    if variant in ("no-fts", "bare"):
        for t in schema.TABLES.values():
            if t.fts:
                for suffix in ("ai", "ad", "au"):
                    conn.execute(f"drop trigger if exists [{t.name}_{suffix}]")
    if variant == "bare":
        for (name,) in conn.execute("select name from sqlite_master where type = 'index' "
                                    "and name not like 'sqlite_autoindex%'").fetchall():
            conn.execute(f"drop index [{name}]")
    seconds = 0.0
    conn.execute("begin immediate")
    with open(capture_path, "rb") as f:
        while True:
            try:
                sql, rows = marshal.load(f)
            except EOFError:
                break
            if sql == "commit":
                conn.execute("commit")
                conn.execute("begin immediate")
                continue
            started = time.perf_counter()
            conn.executemany(sql, rows)
            seconds += time.perf_counter() - started
    conn.execute("commit")
    conn.close()
    remove_db(db)
    return seconds


def run_profile(projects: Path, info: dict, mb: float, args) -> None:
    """Where the time of an in-process backfill of the corpus goes, for each ``--jobs`` value (on
    that many cores if possible), as a table of seconds and shares of this process's CPU; SQLite's
    insert time split into FTS, indexes and row counting by replaying the same writes into databases
    without them. With workers, the table is the writer's (reading, parsing and redaction happen in
    the workers: their CPU time is given below it)."""
    import inspect
    import resource

    from ingest import backfill

    has_jobs = "jobs" in inspect.signature(backfill).parameters
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    size_mb = info["bytes"] / 1e6
    warm_cache(projects)
    for jobs in (args.jobs if has_jobs else [1]):
        if allowed:
            os.sched_setaffinity(0, set(allowed[:jobs]))
        db = OUT / f"profile-{mb:g}mb.db"
        capture_path = OUT / f"profile-{mb:g}mb.writes"
        remove_db(db)
        timer = PhaseTimer()
        load_before = os.getloadavg()[0]
        cpu_before = time.process_time()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(capture_path, "wb") as capture, instrumented(timer, capture):
            started = time.perf_counter()
            summary = backfill(db, [projects], **({"jobs": jobs} if has_jobs else {}))
            wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
        print(summary.line())
        replays = {}
        for variant in ("full", "uncounted", "no-fts", "bare"):
            replays[variant] = replay(capture_path, OUT / "profile-replay.db", variant)
        capture_path.unlink()
        remove_db(db)
        table = {}
        for clock, measured, total in (("wall", timer.seconds, wall), ("cpu", timer.cpu, cpu)):
            seconds = dict(measured)
            inserts, full = seconds["SQLite inserts"], replays["full"] or 1e-9
            # what the inserts spent keeping each up to date, estimated from the replays, added to
            # what was timed directly (a cold load's index builds and full-text rebuilds at its end)
            kept = {"row counting": replays["full"] - replays["uncounted"],
                    "FTS": replays["uncounted"] - replays["no-fts"], "indexes": replays["no-fts"] - replays["bare"]}
            for phase, replayed in kept.items():
                kept[phase] = inserts * max(0.0, replayed) / full
                seconds[phase] += kept[phase]
            seconds["SQLite inserts"] = inserts - sum(kept.values())
            seconds["other"] = max(0.0, total - sum(v for k, v in seconds.items() if k != "other"))
            table[clock] = seconds
        print()
        who = "1 process" if jobs == 1 else f"the writer, beside {jobs} worker processes, on {jobs} cores"
        print(f"=== where the time goes: backfill of {size_mb:.0f} MB, --jobs {jobs}: {who} "
              f"(python {sys.version.split()[0]}) ===")
        print(f"{'phase':<22} {'cpu s':>7} {'share':>7} {'wall s':>7}")
        for phase in PHASES:
            if table["wall"][phase] or phase != "waiting for workers":
                print(f"{phase:<22} {table['cpu'][phase]:7.2f} {table['cpu'][phase] / cpu:7.1%} "
                      f"{table['wall'][phase]:7.2f}")
        print(f"{'total':<22} {cpu:7.2f} {1:7.1%} {wall:7.2f}   {size_mb / wall:.1f} MB/s, "
              f"{size_mb / (cpu + workers_cpu):.1f} MB/s of cpu")
        if jobs > 1:
            print(f"workers' cpu: {workers_cpu:.2f} s ({jobs} processes); all processes {cpu + workers_cpu:.2f} s")
        print("replayed writes (executemany only, no derivations): " + ", ".join(
            f"{k} {v:.2f} s" for k, v in replays.items()))
        print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        print()
    if allowed:
        os.sched_setaffinity(0, set(allowed))


def run_cprofile(projects: Path, mb: float, top: int = 15) -> None:
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
                        help="instead of the bench, time one in-process backfill of the corpus phase by phase")
    parser.add_argument("--cprofile", action="store_true",
                        help="instead of the bench, cProfile one in-process backfill of the corpus")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--jobs", default=f"1,{cores}" if cores > 1 else "1",
                        help="comma-separated --jobs values to compare, interleaved (default: 1 and the cores, "
                             f"here 1,{cores})")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of full backfills (default 3; medians)")
    args = parser.parse_args(argv)
    args.jobs = list(dict.fromkeys(int(j) for j in str(args.jobs).split(",") if j.strip()))
    mb = 100 if args.quick else args.mb

    OUT.mkdir(parents=True, exist_ok=True)
    template = Template(FIXTURES)
    print(f"fixtures: {len(template.files)} files, {template.bytes / 1e6:.2f} MB, "
          f"{len(template.tokens)} distinct id/date tokens")
    if not sanity_check(template):
        return 1
    projects, info = corpus(template, mb)
    if args.profile:
        run_profile(projects, info, mb, args)
    elif args.cprofile:
        run_cprofile(projects, mb)
    else:
        run_bench(projects, info, mb, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
