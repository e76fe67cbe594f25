"""Machine and account identity, and the filters that use them: a team database merged from a laptop
(two Claude Code accounts: ~/.claude and ~/.claude-work) and a desktop, filtered by machine and by
account on the overview, the canned queries, the reports and the facets; every figure checked against
the database's own detail rows, and the ai-music session's against ccusage."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

import pytest
from datasette.app import Datasette

from helpers import PROJECTS, claude_ingest, copy_tree, load_expected, rows
from datasette_claude import format as fmt
from datasette_claude import resources

SPOTTER = PROJECTS / "-Users-marot-spotter"
AI_MUSIC = "d3ad4cdc-5657-435d-98fa-0035d53e383d"


@pytest.fixture
def team(tmp_path):
    """The laptop's two accounts (the long spotter session in ~/.claude, ai-music in ~/.claude-work)
    and the desktop's one (tool_heavy), each machine backfilled under its name, merged."""
    home = Path(os.environ["HOME"])  # the test's own home (conftest)
    personal, work = home / ".claude" / "projects", home / ".claude-work" / "projects"
    copy_tree(SPOTTER / "fa812bfe-b295-4cca-9c2f-fdf01028cb46", personal / SPOTTER.name / "fa812bfe-b295-4cca-9c2f-fdf01028cb46")
    (personal / SPOTTER.name / "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl").write_bytes(
        (SPOTTER / "fa812bfe-b295-4cca-9c2f-fdf01028cb46.jsonl").read_bytes())
    copy_tree(PROJECTS / "-Users-chip-dev-ai-music", work / "-Users-chip-dev-ai-music")
    desktop = tmp_path / "desktop" / ".claude" / "projects" / SPOTTER.name
    desktop.mkdir(parents=True)
    (desktop / "tool_heavy.jsonl").write_bytes((SPOTTER / "tool_heavy.jsonl").read_bytes())
    laptop_db, desktop_db, team_db = tmp_path / "laptop.db", tmp_path / "desktop.db", tmp_path / "team.db"
    assert claude_ingest("backfill", personal, work, "--db", laptop_db, "--machine", "laptop").returncode == 0
    assert claude_ingest("backfill", desktop.parent, "--db", desktop_db, "--machine", "desktop").returncode == 0
    assert claude_ingest("merge", laptop_db, desktop_db, "--db", team_db).returncode == 0
    return team_db, str(tmp_path / "desktop" / ".claude")


def test_every_session_knows_its_machine_and_account(team):
    db, desktop_account = team
    assert {(r["host"], r["account"]) for r in rows(db, "select host, account from sessions")} == {
        ("laptop", "~/.claude"), ("laptop", "~/.claude-work"), ("desktop", desktop_account)}


def _figures(html: str) -> dict:
    from test_plugin import _figures as figures

    return figures(html)


def _filters(db: Path, desktop_account: str):
    return [("machine", "laptop", "host = 'laptop'"), ("machine", "desktop", "host = 'desktop'"),
            ("account", "~/.claude", "account = '~/.claude'"), ("account", "~/.claude-work", "account = '~/.claude-work'"),
            ("account", desktop_account, f"account = '{desktop_account}'")]


async def test_the_overview_filters_by_machine_and_by_account(team):
    db, desktop_account = team
    ds = Datasette([str(db)])
    await ds.invoke_startup()
    conn = sqlite3.connect(db)
    page = (await ds.client.get("/-/claude", params={"days": "3660"})).text
    assert '<select name="machine">' in page and '<select name="account">' in page
    assert '<option value="~/.claude-work">~/.claude-work (1)</option>' in page
    for key, value, where in _filters(db, desktop_account):
        html = (await ds.client.get("/-/claude", params={"days": "3660", key: value})).text
        chosen = f"select id from sessions where {where}"
        cost = conn.execute(f"select coalesce(sum(cost_usd), 0) from api_requests where session_id in ({chosen})"
                            ).fetchone()[0]
        calls, failed = conn.execute(f"select count(*), coalesce(sum(is_error), 0) from tool_calls "
                                     f"where session_id in ({chosen})").fetchone()
        shown = _figures(html)
        assert shown["estimated"] == fmt.money(cost), (key, value)
        assert shown["tool"] == f"{calls:,}" and shown["failed"] == f"{failed:,}", (key, value)
        assert f" {'on' if key == 'machine' else 'account'} {value}" in html
    both = (await ds.client.get("/-/claude", params={"days": "3660", "machine": "desktop",
                                                    "account": "~/.claude"})).text
    assert "Nothing in this period for these filters" in both


async def test_the_canned_queries_take_machine_and_account_as_they_take_agent(team):
    db, desktop_account = team
    ds = Datasette([str(db)])
    await ds.invoke_startup()
    conn = sqlite3.connect(db)
    taking = [name for name, q in resources.canned_queries().items() if "agent" in (q.get("params") or [])]
    assert len(taking) == 12
    for name in taking:
        assert {"machine", "account"} <= set(resources.canned_queries()[name]["params"]), name
        everything = (await ds.client.get(f"/team/{name}.json", params={"_shape": "array", "q": "the"})).json()
        nowhere = (await ds.client.get(f"/team/{name}.json", params={"_shape": "array", "q": "the",
                                                                    "machine": "no-such-machine"})).json()
        assert isinstance(everything, list) and nowhere == [], name
        none_either = (await ds.client.get(f"/team/{name}.json", params={"_shape": "array", "q": "the",
                                                                        "account": "~/.nowhere"})).json()
        assert none_either == [], name
    for key, value, where in _filters(db, desktop_account):
        chosen = f"select id from sessions where {where}"
        got = (await ds.client.get("/team/daily_usage.json", params={"_shape": "array", key: value})).json()
        (requests, output) = conn.execute(f"select count(*), sum(output_tokens) from api_requests where is_replay = 0 "
                                          f"and session_id in ({chosen})").fetchone()
        assert sum(r["requests"] for r in got) == requests and sum(r["output_tokens"] for r in got) == output, value
        calls = (await ds.client.get("/team/tool_error_rates.json", params={"_shape": "array", key: value})).json()
        assert sum(r["calls"] for r in calls) == conn.execute(
            f"select count(*) from tool_calls where session_id in ({chosen})").fetchone()[0], value
        board = (await ds.client.get("/team/session_leaderboard.json", params={"_shape": "array", key: value})).json()
        assert {r["session_id"] for r in board} == {r[0] for r in conn.execute(chosen)}, value
    # the query pages offer the machines and accounts there are as choices (query-page.js)
    page = (await ds.client.get("/team/session_leaderboard")).text
    assert '"machine": ["", "laptop", "desktop"]' in page or '"machine": ["", "desktop", "laptop"]' in page
    assert '"~/.claude-work"' in page


async def test_sessions_facet_by_machine_and_account(team):
    db, _ = team
    ds = Datasette([str(db)])
    await ds.invoke_startup()
    data = (await ds.client.get("/team/sessions.json", params={"_extra": "facet_results"})).json()
    facets = data["facet_results"]
    facets = facets.get("results", facets)
    assert {f["value"]: f["count"] for f in facets["host"]["results"]} == {"laptop": 2, "desktop": 1}
    assert {f["value"] for f in facets["account"]["results"]} >= {"~/.claude", "~/.claude-work"}


def test_reports_take_machine_and_account(team):
    db, _ = team
    session = next(s for s in load_expected("ccusage-session.json")["sessions"] if s["sessionId"] == AI_MUSIC)
    r = claude_ingest("report", "session", "--db", db, "--account", "~/.claude-work", "--json", "--timezone", "UTC")
    got = json.loads(r.stdout)
    assert [s["sessionId"] for s in got["sessions"]] == [AI_MUSIC]
    assert got["totals"]["outputTokens"] == session["outputTokens"] and got["totals"]["inputTokens"] == session["inputTokens"]
    for machine in ("laptop", "desktop"):
        r = claude_ingest("report", "daily", "--db", db, "--machine", machine, "--json", "--timezone", "UTC")
        (want,) = rows(db, "select sum(output_tokens) o from api_requests where is_replay = 0 and session_id in "
                           "(select id from sessions where host = ?)", (machine,))
        assert json.loads(r.stdout)["totals"]["outputTokens"] == want["o"], machine
    text = claude_ingest("report", "daily", "--db", db, "--machine", "desktop", "--timezone", "UTC").stdout
    assert "machine desktop" in text.splitlines()[0]


async def test_the_report_pages_filter_by_machine_and_account(team):
    db, _ = team
    ds = Datasette([str(db)])
    page = (await ds.client.get("/-/claude/report/daily")).text
    assert '<select name="machine">' in page and '<select name="account">' in page
    assert "<option>laptop</option>" in page and "<option>~/.claude-work</option>" in page
    for key, value, where in (("machine", "desktop", "host = 'desktop'"), ("account", "~/.claude-work",
                                                                            "account = '~/.claude-work'")):
        got = (await ds.client.get(f"/-/claude/report/daily.json?{key}={value}")).json()
        (want,) = rows(db, "select sum(output_tokens) o from api_requests where is_replay = 0 and session_id in "
                           f"(select id from sessions where {where})")
        assert got["totals"]["outputTokens"] == want["o"] > 0, key
        page = (await ds.client.get(f"/-/claude/report/daily?{key}={value}")).text
        assert f"<option selected>{value}</option>" in page
        assert urlencode({key: value}) in page  # kept in the links to the other reports
