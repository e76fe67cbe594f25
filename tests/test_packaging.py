"""The built wheel carries what an installed plugin and CLI need, not only a checkout."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )
    (path,) = out.glob("datasette_claude-*.whl")
    return path


def test_wheel_contains_metadata_queries_prices_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "datasette_claude/metadata.yml" in names
    queries = {n for n in names if n.startswith("datasette_claude/canned_queries/") and n.endswith(".sql")}
    assert {Path(q).name for q in queries} == {p.name for p in (ROOT / "canned_queries").glob("*.sql")}
    assert "ingest/data/prices.json" in names
    # the pages' templates, SQL and scripts, each file of the package's own folders
    for folder in ("templates", "static", "sql"):
        shipped = {n for n in names if n.startswith(f"datasette_claude/{folder}/")}
        assert shipped == {f"datasette_claude/{folder}/{p.name}" for p in (ROOT / "datasette_claude" / folder).iterdir()
                           if p.is_file()}, folder
    assert any(n.startswith("ingest/samples/claude/projects/") and n.endswith(".jsonl") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "claude-ingest = ingest.entry:main" in entry_points
    assert "[datasette]" in entry_points and "claude = datasette_claude" in entry_points


def test_installed_wheel_finds_its_files_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import json, ingest, datasette_claude.resources as r, ingest.paths as p, ingest.pricing as pr;"
        "print(json.dumps([ingest.__file__, str(r.resource('metadata.yml')), sorted(r.canned_queries()),"
        " str(p.samples_dir()), str(pr.PRICES_PATH), r.metadata()['title']]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    module, metadata, queries, samples, prices, title = json.loads(out.stdout)
    for path in (module, metadata, samples, prices):
        assert path.startswith(str(site)), path
    assert "daily_usage" in queries and title
    assert any(Path(samples).rglob("*.jsonl"))
