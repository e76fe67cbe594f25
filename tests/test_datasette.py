"""`datasette claude.db` on a database ingested from the real fixtures, through Datasette's client."""

import sqlite3

from datasette.app import Datasette


async def test_plugin_is_registered(fixture_db):
    ds = Datasette([str(fixture_db)])
    response = await ds.client.get("/-/plugins.json")
    assert response.status_code == 200
    assert "datasette-claude" in {p["name"] for p in response.json()} or any(
        "datasette_claude" in p["name"] for p in response.json())


async def test_tables_and_views_are_shown(fixture_db):
    ds = Datasette([str(fixture_db)])
    response = await ds.client.get("/claude.json")
    assert response.status_code == 200
    data = response.json()
    tables = {t["name"]: t["count"] for t in data["tables"]}
    assert tables["api_requests"] > 200 and tables["tool_calls"] > 100 and tables["sessions"] == 3
    assert {"daily_usage", "session_usage"} <= {v["name"] for v in data["views"]}


async def test_tool_call_rows_link_to_their_session(fixture_db):
    ds = Datasette([str(fixture_db)])
    response = await ds.client.get("/claude/tool_calls.json?_labels=on&_size=1&is_error=1")
    row = response.json()["rows"][0]
    assert isinstance(row["session_id"], dict) and row["session_id"]["value"]


async def test_daily_usage_canned_query(fixture_db):
    ds = Datasette([str(fixture_db)])
    response = await ds.client.get("/claude/daily_usage.json?_shape=array&start=2026-02-12&end=2026-02-12")
    assert response.status_code == 200
    rows = response.json()
    assert {r["model"]: r["output_tokens"] for r in rows} == {
        "claude-opus-4-6": 36262, "claude-haiku-4-5-20251001": 45}


async def test_unrelated_database_gets_no_canned_queries(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table sessions (id text)")
    conn.close()
    ds = Datasette([str(other)])
    response = await ds.client.get("/other/daily_usage.json")
    assert response.status_code == 404
