"""ccusage's reports from the archive equal ccusage's own on the same real transcripts.

The references are ccusage 20.0.24's output (tests/fixtures/expected/make_ccusage_references.py made
them; ccusage-references.json says with which arguments): tokens must be equal to the token, costs
to 1e-9 (the prices agree for these models: see test_ccusage_parity.py), and the JSON must have
ccusage's shape, key for key, so that a script written for ccusage keeps working.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from helpers import (BOUNDARY_TIMES, EDGE, EXPECTED, FIXTURES, MANIFEST, PLAIN, PROJECTS, as_ccusage,
                     boundary_transcript, claude_ingest, options, rows, same, shift_times)
from ingest import backfill, reports
from ingest.ops import prune

@pytest.mark.parametrize("name", sorted(PLAIN))
def test_report_equals_ccusage(fixture_db, name):
    ref = PLAIN[name]
    result = reports.report(ref["report"], fixture_db, **options(ref))
    same(as_ccusage(fixture_db, result), json.loads((EXPECTED / name).read_text()))


def test_the_fixtures_cross_days_in_the_zones_chosen():
    """The zone references are worth having: each moves or splits a day that UTC does not."""
    utc = [d["date"] for d in json.loads((EXPECTED / "ccusage-daily.json").read_text())["daily"]]
    for name in ("ccusage-daily.Pacific-Chatham.json", "ccusage-daily.Asia-Tokyo.json"):
        assert [d["date"] for d in json.loads((EXPECTED / name).read_text())["daily"]] != utc
    chatham = json.loads((EXPECTED / "ccusage-daily.Pacific-Chatham.json").read_text())["daily"]
    assert [d["date"] for d in chatham][:2] == ["2025-06-08", "2025-06-09"]  # one session, two days


def test_active_block_burn_rate_and_projection_equal_ccusage(tmp_path):
    """The fixtures moved in time (whole hours) so that their newest block was active when ccusage
    ran; the report is asked for that moment."""
    ref = MANIFEST["references"]["ccusage-blocks.active.json"]
    moved = shift_times(FIXTURES / "claude", tmp_path / "claude", ref["shift_hours"])
    db = tmp_path / "moved.db"
    backfill(db, [moved / "projects"])
    result = reports.blocks(db, timezone="UTC", now=ref["now_ms"])
    theirs = json.loads((EXPECTED / "ccusage-blocks.active.json").read_text())
    same(reports.ccusage_json(result), theirs)
    active = [b for b in result["blocks"] if b["isActive"]]
    assert len(active) == 1 and active[0]["burnRate"]["tokensPerMinute"] > 0
    assert active[0]["projection"]["remainingMinutes"] > 0

    assert [b["id"] for b in reports.blocks(db, timezone="UTC", now=ref["now_ms"], active=True)["blocks"]] == [
        active[0]["id"]]
    recent = reports.blocks(db, timezone="UTC", now=ref["now_ms"], recent=True)["blocks"]
    assert recent and all(b["startTime"] >= reports.iso_ms(ref["now_ms"] - 3 * 86_400_000) or b["isActive"]
                          for b in recent)
    # a day later nothing is active and no block has a burn rate
    later = reports.blocks(db, timezone="UTC", now=ref["now_ms"] + 86_400_000)["blocks"]
    assert not any(b["isActive"] or b["burnRate"] or b["projection"] for b in later)
    text = reports.report_text(result)
    assert "ACTIVE" in text and "tokens/min" in text and "projected to" in text


def test_requests_on_a_blocks_last_millisecond_end_it(tmp_path):
    """Hand-made from tool_heavy.jsonl (helpers.BOUNDARY_TIMES): two requests exactly five hours
    after the block's start stay in it; the next one, seven minutes later in the same 15 minutes,
    starts a block. ccusage made the reference from the same file."""
    db = tmp_path / "edge.db"
    backfill(db, [boundary_transcript(tmp_path / "edge") / "projects"])
    theirs = json.loads((EXPECTED / "ccusage-blocks.boundary.json").read_text())
    same(reports.ccusage_json(reports.blocks(db, timezone="UTC")), theirs)
    assert [b["entries"] for b in theirs["blocks"]] == [3, 1]
    assert theirs["blocks"][0]["actualEndTime"] == BOUNDARY_TIMES[1]

    # Once the detail of that day is pruned, the instant is gone: the report says what it did.
    prune(db, "2026-02-12")
    after = reports.blocks(db, timezone="UTC")
    assert [b["entries"] for b in after["blocks"]] == [1, 3]
    assert any("millisecond of a pruned request" in n for n in after["report"]["notes"])
    assert sum(b["totalTokens"] for b in after["blocks"]) == sum(b["totalTokens"] for b in theirs["blocks"])


@pytest.fixture
def pruned_db(fixture_db, tmp_path):
    """A copy of the fixture database whose detail before 2026-02-12 is pruned (rollups kept)."""
    db = tmp_path / "pruned.db"
    conn = sqlite3.connect(fixture_db)
    conn.execute("vacuum into ?", (str(db),))
    conn.close()
    prune(db, "2026-02-12")
    assert rows(db, "select count(*) n from api_requests where timestamp < '2026-02-12'")[0]["n"] == 0
    return db


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_pruned_days_still_count(pruned_db, name):
    ref = PLAIN[name]
    result = reports.report(ref["report"], pruned_db, **options(ref))
    same(as_ccusage(pruned_db, result), json.loads((EXPECTED / name).read_text()))
    assert result["report"]["notes"] == []


def test_a_database_pruned_before_the_15_minute_rollup_existed(pruned_db):
    """An older claude-ingest pruned it: usage_15min was not there to keep the pruned days (the state
    such a database is in, made here by dropping the table and the schema version)."""
    conn = sqlite3.connect(pruned_db)
    conn.execute("drop table usage_15min")
    conn.execute("pragma user_version = 8")
    conn.commit()
    conn.close()
    utc = reports.daily(pruned_db, timezone="UTC")  # brings the schema up to date first
    same(reports.ccusage_json(utc), json.loads((EXPECTED / "ccusage-daily.json").read_text()))
    assert any("counted by their UTC day" in n for n in utc["report"]["notes"])
    sessions = reports.session(pruned_db, timezone="UTC")
    assert sessions["totals"] == pytest.approx(json.loads((EXPECTED / "ccusage-session.json").read_text())["totals"])
    # In another zone the pruned days stay on their UTC day (their times are gone); the rest moves.
    tokyo = reports.daily(pruned_db, timezone="Asia/Tokyo")
    assert [d["date"] for d in tokyo["daily"]] == ["2025-06-08", "2026-02-10", "2026-02-13"]
    assert tokyo["totals"] == pytest.approx(utc["totals"])
    blocks = reports.blocks(pruned_db, timezone="UTC")
    assert [b["startTime"] for b in blocks["blocks"]] == ["2026-02-12T15:00:00.000Z"]
    assert any("in no block" in n for n in blocks["report"]["notes"])


def test_project_and_agent_filters(fixture_db):
    sessions = json.loads((EXPECTED / "ccusage-session.json").read_text())["sessions"]
    by_dir = {}
    for s in sessions:
        by_dir.setdefault(s["projectPath"], []).append(s)
    # ccusage's project name (the transcripts' directory) and a part of the session's own directory
    for project, expected in (("-Users-chip-dev-ai-music", by_dir["-Users-chip-dev-ai-music"]),
                              ("-Users-marot-spotter", by_dir["-Users-marot-spotter"]),
                              ("ai-music", by_dir["-Users-chip-dev-ai-music"])):
        result = reports.session(fixture_db, timezone="UTC", project=project)
        assert sorted(s["totalTokens"] for s in result["sessions"]) == sorted(s["totalTokens"] for s in expected)
        daily = reports.daily(fixture_db, timezone="UTC", project=project)
        assert daily["totals"]["totalTokens"] == sum(s["totalTokens"] for s in expected)
        assert daily["totals"]["totalCost"] == pytest.approx(sum(s["totalCost"] for s in expected), abs=1e-9)
    assert reports.daily(fixture_db, timezone="UTC", project="no-such-project")["daily"] == []
    claude = reports.daily(fixture_db, timezone="UTC", agent="claude")
    assert claude["totals"]["totalTokens"] == json.loads((EXPECTED / "ccusage-daily.json").read_text())[
        "totals"]["totalTokens"]
    none = reports.daily(fixture_db, timezone="UTC", agent="opencode")
    assert none["daily"] == [] and none["totals"]["totalTokens"] == 0 and none["totals"]["totalCost"] == 0


def test_opencode_sessions_are_an_agent_of_their_own(tmp_path):
    from test_opencode import build_db  # the recorded OpenCode store those tests read, written out

    data = tmp_path / "opencode"
    data.mkdir()
    build_db(data / "opencode.db")
    db = tmp_path / "both.db"
    backfill(db, [PROJECTS])
    claude_ingest("opencode", data, "--db", db)
    theirs = rows(db, "select sum(input_tokens) i, sum(output_tokens) o, count(*) n from api_requests a "
                      "join sessions s on s.id = a.session_id where s.source = 'opencode' and is_replay = 0")[0]
    assert theirs["n"] > 0
    opencode = reports.daily(db, timezone="UTC", agent="opencode")
    assert (opencode["totals"]["inputTokens"], opencode["totals"]["outputTokens"]) == (theirs["i"], theirs["o"])
    everything = reports.daily(db, timezone="UTC")
    claude = reports.daily(db, timezone="UTC", agent="claude")
    assert everything["totals"]["totalTokens"] == claude["totals"]["totalTokens"] + opencode["totals"]["totalTokens"]


def test_unpriced_models_are_flagged_never_zero(tmp_path):
    """claude-code-log's edge cases, their claude-3-sonnet-20240229 (which genai-prices knows) named as
    a model no price source knows (a stand-in)."""
    db = tmp_path / "edge.db"
    edge = tmp_path / "edge.jsonl"
    edge.write_text((EDGE / "claude-code-log_edge_cases.jsonl").read_text().replace("claude-3-sonnet-20240229",
                                                                                  "claude-opus-9"))
    backfill(db, [edge])
    unpriced = rows(db, "select date(timestamp) day, count(*) n from api_requests where priced = 0 group by 1")
    assert unpriced and all(r["n"] for r in unpriced)
    result = reports.daily(db, timezone="UTC")
    day = next(d for d in result["daily"] if d["date"] == unpriced[0]["day"])
    sonnet3 = next(m for m in day["modelBreakdowns"] if m["modelName"] == "claude-opus-9")
    assert sonnet3["cost"] is None and sonnet3["unpricedRequests"] == unpriced[0]["n"]
    assert day["unpricedRequests"] == unpriced[0]["n"]
    assert result["totals"]["unpricedRequests"] == sum(r["n"] for r in unpriced)
    text = reports.report_text(result, breakdown=True)
    assert "unpriced" in text and "* excludes" in text
    # the fixtures' own days have no such key: ccusage's shape is unchanged where all is priced
    clean = reports.daily(tmp_path / "edge.db", timezone="UTC", since="2026-01-01")
    assert all("unpricedRequests" not in d for d in clean["daily"])


def test_the_system_time_zone_is_the_default(fixture_db, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        result = reports.daily(fixture_db)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert result["report"]["timezone"] == "Asia/Tokyo" and result["report"]["system_timezone"]
    same(reports.ccusage_json(result), json.loads((EXPECTED / "ccusage-daily.Asia-Tokyo.json").read_text()))


def test_reports_read_only(fixture_db, tmp_path):
    before = fixture_db.stat().st_mtime_ns, fixture_db.stat().st_size
    for kind in reports.KINDS:
        reports.report(kind, fixture_db, timezone="UTC")
    assert (fixture_db.stat().st_mtime_ns, fixture_db.stat().st_size) == before
    missing = tmp_path / "none.db"
    with pytest.raises(reports.ReportError, match="no database"):
        reports.daily(missing)
    assert not missing.exists()


def test_report_on_an_open_connection(fixture_db):
    """As the dashboard will call it: on a connection it holds (Datasette's rows are sqlite3.Row)."""
    conn = sqlite3.connect(fixture_db)
    conn.row_factory = sqlite3.Row
    try:
        result = reports.daily(conn, timezone="UTC")
    finally:
        conn.close()
    same(reports.ccusage_json(result), json.loads((EXPECTED / "ccusage-daily.json").read_text()))


def test_chart_rows_are_flat_and_add_up(fixture_db):
    result = reports.daily(fixture_db, timezone="UTC")
    flat = reports.chart_rows(result, breakdown=True)
    periods = [r for r in flat if r["model"] is None]
    assert [r["label"] for r in periods] == [d["date"] for d in result["daily"]]
    for period in periods:
        models = [r for r in flat if r["label"] == period["label"] and r["model"] is not None]
        assert sum(r["total_tokens"] for r in models) == period["total_tokens"]
        assert sum(r["cost_usd"] for r in models) == pytest.approx(period["cost_usd"])
    blocks = reports.chart_rows(reports.blocks(fixture_db, timezone="UTC"))
    assert [r["is_gap"] for r in blocks] == [False, True, False, True, False]


# -- the command line ----------------------------------------------------------------------------
def test_cli_json_is_ccusages(fixture_db):
    for name in ("ccusage-daily.json", "ccusage-weekly.monday.Pacific-Chatham.json",
                 "ccusage-daily.Asia-Kolkata.since-until.json", "ccusage-blocks.json"):
        ref = PLAIN[name]
        args = [a for a in ref["args"] if a != "--breakdown"]
        r = claude_ingest("report", ref["report"], "--db", fixture_db, "--json", "-z", ref["timezone"], *args)
        assert r.returncode == 0, r.stderr
        same(json.loads(r.stdout), json.loads((EXPECTED / name).read_text()))
    r = claude_ingest("report", "session", "--db", fixture_db, "--json", "--timezone", "UTC")
    same(as_ccusage(fixture_db, {**json.loads(r.stdout), "report": {}}),
         json.loads((EXPECTED / "ccusage-session.json").read_text()))


def test_cli_tables_have_totals_and_formatted_numbers(fixture_db):
    r = claude_ingest("report", "daily", "--db", fixture_db, "-z", "UTC", "--breakdown")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    total = next(line for line in lines if line.startswith("Total"))
    assert "20,626,116" in total and "$12.77" in total and "1,795" in total
    assert any("└ opus-4-6" in line and "$10.33" in line for line in lines)
    assert "17421406" not in r.stdout and "12.7716" not in r.stdout
    for kind in ("weekly", "monthly", "session", "blocks"):
        r = claude_ingest("report", kind, "--db", fixture_db, "--timezone", "UTC")
        assert r.returncode == 0 and any(line.startswith("Total") for line in r.stdout.splitlines()), r.stdout
        assert "$12.77" in r.stdout
    gaps = claude_ingest("report", "blocks", "--db", fixture_db, "--timezone", "UTC").stdout
    assert "gap (5,934h)" in gaps and "gap (35h)" in gaps


@pytest.mark.parametrize("args,message", [
    (["daily", "--since", "2026-13-01"], "--since takes a day"),
    (["daily", "--since", "20260301", "--until", "20260201"], "is after --until"),
    (["weekly", "--timezone", "Mars/Olympus_Mons"], "unknown time zone"),
    (["session", "--agent", "cursor"], "Invalid value for '--agent'"),
])
def test_cli_bad_options_are_one_line_and_exit_2(fixture_db, args, message):
    r = claude_ingest("report", *args, "--db", fixture_db)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_cli_no_database(tmp_path):
    r = claude_ingest("report", "daily", "--db", tmp_path / "missing.db")
    assert r.returncode == 2 and "no database at" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()


def test_cli_empty_database_says_what_to_run(tmp_path):
    db = tmp_path / "empty.db"
    (tmp_path / "no-transcripts").mkdir()
    backfill(db, [tmp_path / "no-transcripts"])
    r = claude_ingest("report", "daily", "--db", db, "-z", "UTC")
    assert r.returncode == 0 and "No usage" in r.stdout and "claude-ingest backfill" in r.stdout
    assert json.loads(claude_ingest("report", "blocks", "--db", db, "--json").stdout) == {"blocks": []}


def test_reprice_keeps_the_15_minute_rollup_in_step(tmp_path):
    db = tmp_path / "claude.db"
    shutil.copytree(PROJECTS, tmp_path / "projects")
    backfill(db, [tmp_path / "projects"])
    prices = json.loads((Path(reports.__file__).parent / "data" / "prices.json").read_text())
    prices["models"]["claude-opus-4-6"] = dict(prices["models"]["claude-opus-4-6"], output=125)
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    claude_ingest("reprice", "--db", db, "--prices", tmp_path / "prices.json")
    detail = rows(db, "select round(total(cost_usd), 9) c from api_requests where is_replay = 0")[0]["c"]
    assert rows(db, "select round(total(cost_usd), 9) c from usage_15min")[0]["c"] == detail
    assert reports.daily(db, timezone="UTC")["totals"]["totalCost"] == pytest.approx(detail, abs=1e-9)
