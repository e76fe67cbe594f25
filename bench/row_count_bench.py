"""What the summary line's row counting and the usage_15min rollup cost a full backfill.

Backfills the backfill bench's corpus (made from the fixtures, under bench/out/, reused) into fresh
databases, in turn: as it is ("full"), with the store's row counter off ("no-count"), and without
the usage_15min rollup's statements ("no-15min"); --rounds times each, interleaved, in this one
process. Prints the median CPU and wall seconds and the ratios: CPU time is the figure to read on
a shared machine. Run it pinned to one core for steadier numbers:

    taskset -c 0 python bench/row_count_bench.py            # the ~100 MB corpus, 4 rounds
    python bench/row_count_bench.py --mb 300 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import backfill_bench as corpus_tools  # noqa: E402
from ingest import schema, store  # noqa: E402
from ingest.load import transcripts  # noqa: E402

ORIGINAL_STORE, ORIGINAL_DERIVATIONS = store.Store, schema.DERIVATIONS


class _Uncounted(ORIGINAL_STORE):
    """The store as it was before it counted rows."""

    def __init__(self, *args, count_rows=False, **kwargs):
        super().__init__(*args, **kwargs)

    def counts(self):
        return {"added": {}, "changed": {}, "removed": {}}


def use(variant: str) -> None:
    store.Store, schema.DERIVATIONS = ORIGINAL_STORE, ORIGINAL_DERIVATIONS
    if variant == "no-count":
        store.Store = _Uncounted
    elif variant == "no-15min":
        schema.DERIVATIONS = tuple(d for d in ORIGINAL_DERIVATIONS if "usage_15min" not in d[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    projects, info = corpus_tools.corpus(corpus_tools.Template(corpus_tools.FIXTURES), args.mb)
    out = corpus_tools.OUT / "row-count-bench"
    out.mkdir(parents=True, exist_ok=True)
    samples = {v: [] for v in ("full", "no-count", "no-15min")}
    for _ in range(args.rounds):
        for variant in samples:
            use(variant)
            db = out / f"{variant}.db"
            corpus_tools.remove_db(db)
            cpu, wall = time.process_time(), time.perf_counter()
            transcripts.backfill(db, [projects])
            samples[variant].append((time.process_time() - cpu, time.perf_counter() - wall))
    use("full")
    median = {v: (statistics.median(s[0] for s in got), statistics.median(s[1] for s in got))
              for v, got in samples.items()}
    print(f"corpus {info['bytes'] / 1e6:.1f} MB, {args.rounds} rounds")
    for variant, (cpu, wall) in median.items():
        print(f"{variant:<9} cpu {cpu:.2f} s  wall {wall:.2f} s  (cpu of each round: "
              f"{', '.join(f'{s[0]:.2f}' for s in samples[variant])})")
    print(f"row counting: {(median['full'][0] / median['no-count'][0] - 1) * 100:+.1f}% cpu; "
          f"usage_15min rollup: {(median['full'][0] / median['no-15min'][0] - 1) * 100:+.1f}% cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
