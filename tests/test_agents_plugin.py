"""One page with Claude Code, Codex and OpenCode rows together, and the agent filter, through Datasette.

The database holds the real fixture transcripts (Claude Code), the real Codex rollouts and a real
store of the original, Go OpenCode (tests/fixtures/README.md). Runs on Datasette 0.65 and on the
1.0 alpha (tests/test_datasette_versions.py).
"""

from collections import Counter

import pytest
from datasette.app import Datasette

from helpers import FIXTURES, PROJECTS
from ingest.load.codex import ingest_codex
from ingest.load.crush import ingest_crush
from ingest.load.transcripts import backfill

AGENTS = {"claude", "codex", "opencode-go"}


@pytest.fixture(scope="module")
def agents_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("agents-plugin") / "claude.db"
    backfill(db, [PROJECTS])
    ingest_codex(db, [FIXTURES / "codex"])
    ingest_crush(db, [FIXTURES / "opencode-go" / "navicore-flag-rs"])
    return db


@pytest.fixture
def ds(agents_db):
    return Datasette([str(agents_db)])


async def get(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return response


async def test_session_leaderboard_shows_every_agent_and_narrows_to_one(ds, agents_db):
    import sqlite3

    conn = sqlite3.connect(agents_db)
    expected = Counter(dict(conn.execute("select source, count(*) from sessions group by source")))
    conn.close()
    assert set(expected) == AGENTS
    rows = (await get(ds, "/claude/session_leaderboard.json?_shape=array")).json()
    assert Counter(r["agent"] for r in rows) == expected
    codex = (await get(ds, "/claude/session_leaderboard.json?_shape=array&agent=codex")).json()
    assert codex and {r["agent"] for r in codex} == {"codex"} and len(codex) == expected["codex"]
    page = (await get(ds, "/claude/session_leaderboard")).text
    for agent in AGENTS:
        assert f">{agent}<" in page  # one page, the three agents' rows together


async def test_agents_side_by_side(ds):
    rows = (await get(ds, "/claude/agent_usage.json?_shape=array")).json()
    by_agent = Counter()
    for r in rows:
        by_agent[r["agent"]] += r["tool_calls"]
    assert set(by_agent) == AGENTS and all(by_agent.values())
    claude = [r for r in rows if r["agent"] == "claude"]
    assert sum(r["cost_usd"] or 0 for r in claude) > 0  # Claude's models are priced
    codex = [r for r in rows if r["agent"] == "codex"]
    assert sum(r["unpriced_requests"] for r in codex) == 389 and all(r["cost_usd"] is None for r in codex)
    only = (await get(ds, "/claude/agent_usage.json?_shape=array&agent=opencode-go")).json()
    assert {r["agent"] for r in only} == {"opencode-go"} and sum(r["requests"] for r in only) == 0


async def test_tables_filter_and_facet_by_agent(ds):
    page = (await get(ds, "/claude/sessions?_facet=source")).text
    for agent in AGENTS:
        assert agent in page
    codex = (await get(ds, "/claude/sessions.json?_shape=array&source=codex")).json()
    assert len(codex) == 6 and {r["source"] for r in codex} == {"codex"}
    calls = (await get(ds, "/claude/slowest_tools.json?_shape=array&agent=codex")).json()
    assert calls and {r["agent"] for r in calls} == {"codex"}
    prompts = (await get(ds, "/claude/search_prompts.json?_shape=array&q=tools")).json()
    assert {r["agent"] for r in prompts} >= {"codex"}
