"""Codex and Gemini ingest throughput, against a floor measured in the same run.

Builds, under bench/out/agents/, N copies of the real Codex rollouts (tests/fixtures/codex) with a
fresh session id per copy (the id is rewritten in the file name and in every line, so nothing
converges across copies), then times, each --repeat times on a fresh database:

* the floor: reading every line and json.loads-ing it (what any reader must do);
* ``ingest_codex`` over the corpus; and the same again over the unchanged corpus (nothing opened);
* ``ingest_gemini`` over the Gemini fixtures (small: a figure of the per-file cost, not throughput).

Prints medians and the ratio to the floor. Standard library only; exits 0 whatever the figures.

    python bench/agents_bench.py              # 40 copies, ~100 MB
    python bench/agents_bench.py --copies 10 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.load.codex import ingest_codex  # noqa: E402
from ingest.load.gemini import ingest_gemini  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "bench" / "out" / "agents"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def build(copies: int) -> Path:
    corpus = OUT / f"codex-{copies}"
    if corpus.is_dir():
        return corpus
    for k in range(copies):
        for src in sorted((FIXTURES / "codex").rglob("rollout-*.jsonl")):
            old = UUID.search(src.name.encode()).group(0)
            new = str(uuid.UUID(int=uuid.UUID(old.decode()).int ^ (k + 1))).encode()
            rel = src.relative_to(FIXTURES / "codex")
            dest = corpus / rel.parent / f"copy{k:03d}" / src.name.replace(old.decode(), new.decode())
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes().replace(old, new))
    return corpus


def floor(corpus: Path) -> float:
    started = time.perf_counter()
    for path in corpus.rglob("*.jsonl"):
        with path.open("rb") as f:
            for line in f:
                if line.strip():
                    json.loads(line)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = build(args.copies)
    size = sum(p.stat().st_size for p in corpus.rglob("*.jsonl")) / 1e6
    floors, runs, reruns, geminis = [], [], [], []
    for i in range(args.repeat):
        db = OUT / f"bench-{i}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        floors.append(floor(corpus))
        started = time.perf_counter()
        summary = ingest_codex(db, [corpus])
        runs.append(time.perf_counter() - started)
        started = time.perf_counter()
        again = ingest_codex(db, [corpus])
        reruns.append(time.perf_counter() - started)
        assert again.files_read == 0
        started = time.perf_counter()
        ingest_gemini(db, [FIXTURES / "gemini"])
        geminis.append(time.perf_counter() - started)
    f, r = statistics.median(floors), statistics.median(runs)
    print(f"codex corpus: {args.copies} copies, {summary.files_read} rollouts, {size:.1f} MB, "
          f"{summary.rows['api_requests']:,} API requests, {summary.rows['tool_calls']:,} tool-call rows")
    print(f"floor (read + json.loads): median {f:.2f}s ({size / f:.1f} MB/s)   runs: {', '.join(f'{x:.2f}' for x in floors)}")
    print(f"ingest_codex:              median {r:.2f}s ({size / r:.1f} MB/s), {r / f:.2f}x the floor   "
          f"runs: {', '.join(f'{x:.2f}' for x in runs)}")
    print(f"re-run, nothing changed:   median {statistics.median(reruns):.3f}s")
    print(f"ingest_gemini (4 files):   median {statistics.median(geminis):.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
