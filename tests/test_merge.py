"""Many machines, one archive: `claude-ingest merge` and `export` on real transcripts.

Two machines' archives of overlapping real fixtures (tests/helpers.py: two_machines: a synced
transcript, one copied while its session ran, a session each of their own), each backfilled under its
own machine name, merged into a third in both orders; the result checked against ccusage run on the
union of the two machines' transcripts, against itself merged again, and row by row against the
other order. Then a grown source, an archive written by an older claude-ingest (the real code of
commit 87df04c, schema 6, with a prune), sources that cannot be merged, and exports.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import PROJECTS, ROOT, SPOTTER_MAIN, claude_ingest, facts, load_expected, rows, two_machines
from ingest import schema

TOOL_HEAVY = "d6e0bada-1959-4eec-a9d2-0bfade768d8f"  # tool_heavy.jsonl's session (its lines' sessionId)
AI_MUSIC = "d3ad4cdc-5657-435d-98fa-0035d53e383d"
# What an archive keeps about its own reading and merging, not about what happened: not compared.
BOOKKEEPING_TABLES = {"ingest_files", "ingest_runs", "ingest_skips", "migrations", "merge_sources", "exports",
                      "archive", "prunes"}
TOKENS = {"inputTokens": "input_tokens", "outputTokens": "output_tokens",
          "cacheCreationTokens": "cache_creation_input_tokens", "cacheReadTokens": "cache_read_input_tokens"}


def backfill_as(machine: str, config: Path, db: Path) -> None:
    r = claude_ingest("backfill", config / "projects", "--db", db, "--machine", machine)
    assert r.returncode == 0, r.stderr


def merge(db: Path, *sources: Path) -> str:
    r = claude_ingest("merge", *sources, "--db", db)
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def tables(db: Path) -> dict:
    """Every table of what happened, row for row (sorted), as the database holds it."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for name in schema.TABLES:
            if name in BOOKKEEPING_TABLES:
                continue
            out[name] = sorted(repr(tuple(round(v, 9) if isinstance(v, float) else v for v in r))
                               for r in conn.execute(f"select {facts(conn, name)} from [{name}]"))
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    """The two machines' archives (the laptop's backfilled first: it saw the shared sessions first)."""
    tmp = tmp_path_factory.mktemp("machines")
    laptop, desktop = two_machines(tmp)
    a, b = tmp / "laptop.db", tmp / "desktop.db"
    backfill_as("laptop", laptop, a)
    backfill_as("desktop", desktop, b)
    return tmp, laptop, desktop, a, b


@pytest.fixture(scope="module")
def merged(machines):
    """laptop then desktop into one team database, and desktop then laptop into another."""
    tmp, _, _, a, b = machines
    forward, backward = tmp / "team-ab.db", tmp / "team-ba.db"
    merge(forward, a, b)
    merge(backward, b, a)
    return forward, backward


def test_both_orders_give_identical_tables(merged):
    forward, backward = merged
    left, right = tables(forward), tables(backward)
    assert left == right
    assert len(left["api_requests"]) == 244 and len(left["sessions"]) == 3 and len(left["tool_calls"]) == 308


def test_the_same_sessions_seen_on_two_machines_converge_and_keep_their_origin(machines, merged):
    _, laptop, desktop, a, b = machines
    # each machine's own archive says it is its own
    assert {r["id"]: r["host"] for r in rows(a, "select id, host from sessions")} == {
        SPOTTER_MAIN: "laptop", TOOL_HEAVY: "laptop"}
    assert {r["id"]: r["host"] for r in rows(b, "select id, host from sessions")} == {
        SPOTTER_MAIN: "desktop", TOOL_HEAVY: "desktop", AI_MUSIC: "desktop"}
    for team in merged:
        got = {r["id"]: r for r in rows(team, "select id, host, account, transcript_path from sessions")}
        # the shared ones are the laptop's (it saw them first), whichever archive came first
        assert {sid: r["host"] for sid, r in got.items()} == {
            SPOTTER_MAIN: "laptop", TOOL_HEAVY: "laptop", AI_MUSIC: "desktop"}
        assert got[SPOTTER_MAIN]["account"] == str(laptop) and got[AI_MUSIC]["account"] == str(desktop)
        assert got[SPOTTER_MAIN]["transcript_path"].startswith(str(laptop))
        # the merging machine's name is nowhere
        assert rows(team, "select count(*) n from sessions where host not in ('laptop', 'desktop')") == [{"n": 0}]


def test_token_totals_equal_ccusage_on_the_union_of_the_transcripts(merged):
    """ccusage 20.0.24 run over both machines' config directories at once (expected/, made by
    make_ccusage_references.py two-machines), per day and model."""
    reference = load_expected("ccusage-daily.two-machines.json")
    for team in merged:
        for day in reference["daily"]:
            for model in day["modelBreakdowns"]:
                (ours,) = rows(team, "select " + ", ".join(f"sum({c}) {c}" for c in TOKENS.values())
                               + ", sum(cost_usd) cost from api_requests where is_replay = 0 and date(timestamp) = ? "
                                 "and model = ?", (day["date"], model["modelName"]))
                assert {k: ours[v] for k, v in TOKENS.items()} == {k: model[k] for k in TOKENS}
                assert ours["cost"] == pytest.approx(model["cost"], abs=1e-9)
        # and the rollups every page and report reads were recomputed to the same totals
        (u,) = rows(team, "select sum(input_tokens) i, sum(output_tokens) o, sum(cache_creation_input_tokens) c, "
                          "sum(cache_read_input_tokens) r from usage_daily")
        t = reference["totals"]
        assert (u["i"], u["o"], u["c"], u["r"]) == (t["inputTokens"], t["outputTokens"], t["cacheCreationTokens"],
                                                    t["cacheReadTokens"])


def test_rollups_of_a_merge_are_what_the_detail_gives(merged):
    forward, _ = merged
    copy = forward.with_name("rebuilt.db")
    shutil.copy(forward, copy)
    conn = sqlite3.connect(copy)
    schema.rebuild_rollups(conn)
    conn.commit()
    conn.close()
    for rollup in schema.ROLLUPS:
        assert tables(forward)[rollup] == tables(copy)[rollup], rollup


def test_merging_again_or_a_copy_of_a_source_changes_nothing(machines, merged, tmp_path):
    _, _, _, a, b = machines
    forward, _ = merged
    team = tmp_path / "team.db"
    shutil.copy(forward, team)
    before = tables(team)
    out = merge(team, a, b)
    assert "laptop.db (laptop, schema 13) unchanged since its last merge" in out
    assert "desktop.db (desktop, schema 13) unchanged since its last merge" in out
    assert "rows added: none; rows changed: none" in out
    copied = tmp_path / "laptop-copy.db"  # the same archive under another name: the same source
    shutil.copy(a, copied)
    assert "unchanged since its last merge" in merge(team, copied)
    assert tables(team) == before
    assert rows(team, "select count(*) n from merge_sources") == [{"n": 2}]
    status = json.loads(claude_ingest("status", "--db", team, "--json").stdout)["merged_archives"]
    assert sorted((m["host"], m["sessions"], m["schema_version"]) for m in status) == [
        ("desktop", 3, 13), ("laptop", 2, 13)]
    assert "merged archives" in claude_ingest("status", "--db", team).stdout


def test_a_grown_source_is_read_from_where_its_last_merge_stopped(tmp_path):
    """The desktop's copy of the running session grows to the whole file; the next merge reads that
    session (whole) and nothing else, and ends where a first merge of the grown archive ends."""
    _, desktop = two_machines(tmp_path)
    db, team = tmp_path / "desktop.db", tmp_path / "team.db"
    backfill_as("desktop", desktop, db)
    merge(team, db)
    shutil.copy(PROJECTS / "-Users-marot-spotter" / f"{SPOTTER_MAIN}.jsonl",
                desktop / "projects" / "-Users-marot-spotter" / f"{SPOTTER_MAIN}.jsonl")
    backfill_as("desktop", desktop, db)
    out = merge(team, db)
    assert "read from where the last merge stopped: 1 sessions" in out, out
    assert _added(out)["api_requests"] > 0
    fresh = tmp_path / "fresh.db"
    merge(fresh, db)
    assert tables(team) == tables(fresh)


def _added(line: str) -> dict:
    from test_cli import _said

    return _said(line)["added"]


def test_every_row_counted_in_the_summary_is_in_the_database(machines, tmp_path):
    from test_cli import _diff, _said, _snapshot

    _, _, _, a, b = machines
    team = tmp_path / "team.db"
    merge(team, a)
    before = _snapshot(team)
    out = merge(team, b)
    assert _said(out) == _diff(before, _snapshot(team)), out
    (run,) = rows(team, "select files_read, lines, rows_json from ingest_runs where command = 'merge' "
                        "order by started_at desc limit 1")
    held = sum(rows(b, f"select count(*) n from [{t}]")[0]["n"] for t in (
        "sessions", "api_requests", "messages", "tool_calls", "file_events", "prompts", "subagents", "compactions"))
    assert run["files_read"] == 1 and run["lines"] == held  # every row of it read once
    assert {k: v for k, v in json.loads(run["rows_json"]).items() if v} == {k: v for k, v in _said(out).items() if v}


# -- an archive of an older claude-ingest -----------------------------------------------------------
OLD_COMMIT = "87df04c"  # 2026-11-21: status, prune and reprice; schema 6 (no usage_15min, no prunes table)


@pytest.fixture(scope="module")
def old_archive(tmp_path_factory):
    """The fixture transcripts backfilled by claude-ingest as it was at OLD_COMMIT (its own code, from
    this repository's history), then pruned before 2026-02-12: the days before have rollups only."""
    tmp = tmp_path_factory.mktemp("old")
    listing = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", OLD_COMMIT, "ingest"],
                             capture_output=True)
    if listing.returncode != 0:
        pytest.skip(f"this checkout has no history back to {OLD_COMMIT}: {listing.stderr.decode()[:200]}")
    code = tmp / "code"
    code.mkdir()
    archive = tmp / "code.tar"
    archive.write_bytes(listing.stdout)
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    db = tmp / "old.db"
    env = {**os.environ, "PYTHONPATH": str(code)}
    for args in (["backfill", str(PROJECTS)], ["prune", "--before", "2026-02-12"]):
        r = subprocess.run([sys.executable, "-m", "ingest", *args, "--db", str(db)], cwd=code, env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert rows(db, "pragma user_version")[0]["user_version"] == 6
    return db


def test_an_archive_written_by_an_older_version_merges_with_its_pruned_days(old_archive, tmp_path):
    old_rollups = rows(old_archive, "select day, session_id, model, requests, total_tokens from usage_daily "
                                    "order by 1, 2, 3")
    assert {r["day"] for r in old_rollups} == {"2025-06-08", "2026-02-10", "2026-02-12"}
    assert rows(old_archive, "select count(*) n from api_requests where timestamp < '2026-02-12'") == [{"n": 0}]
    team = tmp_path / "team.db"
    hosts = {r["host"] for r in rows(old_archive, "select host from sessions")}  # that version: the host name
    r = claude_ingest("merge", old_archive, "--db", team, env={"CLAUDE_INGEST_MACHINE": "teamserver"})
    out = r.stdout
    assert r.returncode == 0 and f"old.db ({next(iter(hosts))}, schema 6) read whole" in out, out
    assert {r["host"] for r in rows(team, "select host from sessions")} == hosts != {"teamserver"}
    # the pruned days live on in the rollups, as they did in the old archive; the rest is the detail's
    assert rows(team, "select day, session_id, model, requests, total_tokens from usage_daily order by 1, 2, 3") \
        == old_rollups
    # and a report counts them (from usage_daily: the old archive had no 15-minute rollups)
    daily = load_expected("ccusage-daily.json")
    r = claude_ingest("report", "daily", "--db", team, "--timezone", "UTC", "--json")
    got = json.loads(r.stdout)
    assert {k: got["totals"][k] for k in TOKENS} == {k: daily["totals"][k] for k in TOKENS}
    # merged again: the old archive has no rev, so it is read whole, and nothing changes
    before = tables(team)
    assert "rows added: none; rows changed: none" in merge(team, old_archive)
    assert tables(team) == before


def test_an_old_archive_and_a_new_one_of_the_same_transcripts_converge(old_archive, tmp_path):
    new = tmp_path / "new.db"
    r = claude_ingest("backfill", PROJECTS, "--db", new, "--machine", "newbox")
    assert r.returncode == 0
    one, other = tmp_path / "one.db", tmp_path / "other.db"
    merge(one, old_archive, new)
    merge(other, new, old_archive)
    assert tables(one) == tables(other)
    assert rows(one, "select count(*) n from api_requests") == [{"n": 244}]


# -- sources that cannot be merged -----------------------------------------------------------------
def _corrupt_copy(source: Path, dest: Path, table: str | None = None) -> Path:
    """A real archive with pages overwritten: every third page, or (``table``) only the leaf pages of
    that table's rows, which a count (read from an index) never sees and a merge reading its rows does."""
    conn = sqlite3.connect(source)
    conn.execute("pragma wal_checkpoint(truncate)")
    pages = [r[0] for r in conn.execute("select pageno from dbstat where name = ? and pagetype = 'leaf'", (table,))]
    conn.close()
    data = bytearray(source.read_bytes())
    page = 4096
    for n in pages or range(3, len(data) // page - 1, 3):
        data[(n - 1) * page + 100:(n - 1) * page + 400] = b"\xff" * 300
    dest.write_bytes(bytes(data))
    return dest


def test_a_source_that_cannot_be_merged_is_one_line_and_changes_nothing(machines, tmp_path):
    _, _, _, a, b = machines
    team = tmp_path / "team.db"
    merge(team, a)
    before = tables(team)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 2\x00 not really" * 100)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table sessions (id text, name text)")
    conn.commit()
    conn.close()
    corrupt = _corrupt_copy(b, tmp_path / "corrupt.db")
    cases = {
        tmp_path / "missing.db": "no such file",
        junk: "is not a SQLite database",
        other: "is a SQLite database but not a claude-ingest archive (its tables: sessions)",
        tmp_path: "a directory, not a regular file",
        team: "is the database being merged into",
    }
    for source, said in cases.items():
        r = claude_ingest("merge", b, source, "--db", team)  # checked before anything is written: b is not merged
        assert r.returncode == 2, (source, r.stdout)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, (source, r.stderr)
        assert tables(team) == before, source
    # corrupt, found when its rows are counted before anything is written: nothing is merged
    r = claude_ingest("merge", b, corrupt, "--db", team)
    assert r.returncode == 2 and "corrupt.db is corrupt" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and tables(team) == before
    # corrupt only where its messages are read: its transaction is rolled back; each source is merged
    # whole or not at all, so one before it stays merged, and the line says so
    messages = _corrupt_copy(b, tmp_path / "messages.db", table="messages")
    r = claude_ingest("merge", messages, "--db", team)
    assert r.returncode == 2 and "messages.db is corrupt" in r.stderr and "nothing of it was merged" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and tables(team) == before, r.stderr
    fresh = tmp_path / "fresh.db"
    r = claude_ingest("merge", a, messages, "--db", fresh)
    assert r.returncode == 2 and "nothing of it was merged (laptop.db before it were)" in r.stderr, r.stderr
    assert tables(fresh) == before  # the laptop's archive, and nothing of the desktop's


def test_a_locked_source_is_one_line_and_changes_nothing(machines, tmp_path, monkeypatch):
    from ingest.load import merge as merge_module

    monkeypatch.setattr(merge_module, "BUSY_TIMEOUT_S", 0.2)
    _, _, _, a, _ = machines
    locked = tmp_path / "locked.db"
    source = sqlite3.connect(a)
    source.execute("pragma wal_checkpoint(truncate)")
    source.close()
    shutil.copy(a, locked)
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("pragma journal_mode = delete")
    holder.execute("begin exclusive")  # another process in the middle of writing it
    try:
        team = tmp_path / "team.db"
        r = claude_ingest("merge", locked, "--db", team)
        assert r.returncode == 2 and "is locked by another process" in r.stderr, r.stderr
        assert rows(team, "select count(*) n from sessions") == [{"n": 0}]
    finally:
        holder.execute("rollback")
        holder.close()


# -- export --------------------------------------------------------------------------------------
def test_export_ships_what_changed_and_merges_like_any_archive(tmp_path):
    _, desktop = two_machines(tmp_path)
    home = tmp_path / "desktop.db"
    backfill_as("desktop", desktop, home)
    first, second, dated = tmp_path / "day1.db", tmp_path / "day2.db", tmp_path / "since.db"
    r = claude_ingest("export", first, "--db", home)
    assert r.returncode == 0 and "everything (no export before): 3 sessions" in r.stdout, r.stdout
    # the desktop's copy of the running session grows; the next export holds that session alone
    shutil.copy(PROJECTS / "-Users-marot-spotter" / f"{SPOTTER_MAIN}.jsonl",
                desktop / "projects" / "-Users-marot-spotter" / f"{SPOTTER_MAIN}.jsonl")
    backfill_as("desktop", desktop, home)
    r = claude_ingest("export", second, "--db", home)
    assert r.returncode == 0 and "what changed since the last export: 1 sessions" in r.stdout, r.stdout
    assert rows(second, "select id, host from sessions") == [{"id": SPOTTER_MAIN, "host": "desktop"}]
    assert not Path(str(second) + "-wal").exists()  # one file to ship
    # the two exports, merged, are the grown archive merged whole
    team, whole = tmp_path / "team.db", tmp_path / "whole.db"
    merge(team, first, second)
    merge(whole, home)
    assert tables(team) == tables(whole)
    # --since: the sessions active or changed since a day (all of them changed today)
    r = claude_ingest("export", "--since", "2026-02-12", dated, "--db", home)
    assert r.returncode == 0 and "since 2026-02-12: 3 sessions" in r.stdout, r.stdout
    assert claude_ingest("export", dated, "--db", home).returncode == 2  # it exists: never overwritten
    assert claude_ingest("export", "--since", "yesterday", tmp_path / "x.db", "--db", home).returncode == 2
    assert rows(home, "select count(*) n from exports") == [{"n": 3}]
