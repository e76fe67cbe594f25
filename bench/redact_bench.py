"""Redaction throughput on realistic text: every string value of the fixture transcripts.

Two figures, each the best of several passes over the same corpus:

* text: ``redact_text`` on every string value of every line of tests/fixtures/claude (what the store
  does for the text columns: prompts, messages, commands, tool outputs);
* json: ``redact_json_text`` on every line as a JSON document (what it does for the JSON columns:
  tool inputs and raw hook payloads).

MB is the UTF-8 size of what was redacted; times are CPU time (a busy machine's waits are not the
cost). ``--against REV`` loads ``ingest/redact.py`` as it is at that git revision too, runs the same
passes with it and prints the ratios (this tree / REV), so a before/after comparison is one command:

    python bench/redact_bench.py --against main

Standard library only; it writes nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "claude"


def strings(value, out):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            strings(v, out)
    elif isinstance(value, list):
        for v in value:
            strings(v, out)
    return out


def corpus():
    lines, texts = [], []
    for path in sorted(FIXTURES.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                lines.append(line)
                strings(json.loads(line), texts)
    return lines, texts


def load(rev: str | None):
    if rev is None:
        path = ROOT / "ingest" / "redact.py"
    else:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:ingest/redact.py"], check=True,
                                capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp()) / "redact_at_rev.py"
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"redact_{rev or 'here'}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best(fn, items, repeats):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for item in items:
            fn(item)
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also measure ingest/redact.py at this git revision")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lines, texts = corpus()
    mb_text = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    mb_json = sum(len(t.encode("utf-8", "surrogatepass")) for t in lines) / 1e6
    print(f"corpus: {len(texts)} strings ({mb_text:.1f} MB), {len(lines)} JSON lines ({mb_json:.1f} MB) "
          f"from {FIXTURES.relative_to(ROOT)}; python {sys.version.split()[0]}; best of {args.repeats}")
    results = {}
    for label, rev in [("this tree", None)] + ([(args.against, args.against)] if args.against else []):
        module = load(rev)
        t_text = best(module.redact_text, texts, args.repeats)
        t_json = best(module.redact_json_text, lines, args.repeats)
        results[label] = (mb_text / t_text, mb_json / t_json)
        print(f"{label:>12}: text {mb_text / t_text:7.1f} MB/s ({t_text * 1000:6.1f} ms)   "
              f"json {mb_json / t_json:7.1f} MB/s ({t_json * 1000:6.1f} ms)")
    if args.against:
        here, there = results["this tree"], results[args.against]
        print(f"{'ratio':>12}: text {here[0] / there[0]:.2f}x   json {here[1] / there[1]:.2f}x  "
              f"(this tree / {args.against}; above 1 is faster)")


if __name__ == "__main__":
    main()
