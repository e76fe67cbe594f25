"""The archive as an MCP server: datasette-mcp's ``/-/mcp`` on a real ``datasette`` on 127.0.0.1,
asked through the MCP Python SDK's own client over Streamable HTTP, each answer checked against the
tables. The archive holds the real fixture transcripts (Claude Code), the real Crush stores (API
errors) and the real Codex rollouts (unpriced models), and one commit made in a real git repository.

Without datasette-mcp (the ``[mcp]`` extra) the plugin must work as before: the last tests build a
virtual environment without it and run the plugin's tests there.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import datasette
import pytest

import helpers
from helpers import FIXTURES, HOOKS, PROJECTS, ROOT, claude_ingest, environ, rows

HAS_MCP = importlib.util.find_spec("datasette_mcp") is not None
DATASETTE_1 = datasette.__version__.startswith("1.")
needs_mcp = pytest.mark.skipif(not HAS_MCP, reason="datasette-mcp (the [mcp] extra) is not installed")

SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
AI_MUSIC = "d3ad4cdc-5657-435d-98fa-0035d53e383d"
SECRET = "a-secret-for-signing-test-actors"
OURS = {"search_history", "session_summary", "file_history", "usage"}
CANNED_TOOLS = {"list_canned_queries", "execute_canned_query", "execute_writable_canned_query"}


# -- the archive and the server --------------------------------------------------------------------
def _git(repo: Path, *args):
    env = environ(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM=1, GIT_AUTHOR_NAME="Test",
                  GIT_AUTHOR_EMAIL="test@example.com", GIT_COMMITTER_NAME="Test",
                  GIT_COMMITTER_EMAIL="test@example.com")
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from ingest import backfill, ingest_codex, ingest_crush

    base = tmp_path_factory.mktemp("mcp-archive")
    db = base / "claude.db"
    backfill(db, [PROJECTS])
    ingest_crush(db, [FIXTURES / "crush" / "gleicon-mcpfier", FIXTURES / "crush" / "Qard-swift-kdl"])
    ingest_codex(db, [FIXTURES / "codex"])
    # A real PostToolUse payload (an Edit of IMPLEMENTATION_STATUS.md), moved into a real git
    # repository made here (hand-adjusted: cwd and file_path), then that file committed there.
    repo = base / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    payload = next(p for p in json.loads((HOOKS / "real-post_tool_use.json").read_text())
                   if p.get("tool_name") == "Edit" and p["tool_input"]["file_path"].endswith("IMPLEMENTATION_STATUS.md"))
    payload["cwd"] = str(repo)
    payload["tool_input"]["file_path"] = str(repo / "IMPLEMENTATION_STATUS.md")
    ran = claude_ingest("hook", "--db", db, input=json.dumps(payload), env=environ(HOME=base))
    assert ran.returncode == 0, ran.stderr
    (repo / "IMPLEMENTATION_STATUS.md").write_text(payload["tool_input"]["new_string"])
    _git(repo, "add", "IMPLEMENTATION_STATUS.md")
    _git(repo, "commit", "-q", "-m", "Circuit breaker: implementation status")
    ran = claude_ingest("git-commit", "--repo", repo, "--db", db, env=environ(HOME=base))
    assert ran.returncode == 0, ran.stderr
    return db


def serve(paths, tmp_path, config: dict | None = None):
    """``datasette PATHS`` on 127.0.0.1, with ``config`` as the user's own settings and a fixed secret."""
    return helpers.serve(paths, tmp_path, config=config, args=("--secret", SECRET))


@pytest.fixture(scope="module")
def server(archive, tmp_path_factory):
    if not HAS_MCP:
        pytest.skip("datasette-mcp (the [mcp] extra) is not installed")
    proc, url = serve([archive], tmp_path_factory.mktemp("mcp-server"))
    yield url
    proc.terminate()
    proc.wait(10)


def actor_cookie(actor: dict) -> dict:
    from datasette.app import Datasette

    return {"Cookie": "ds_actor=" + Datasette(secret=SECRET).sign({"a": actor}, "actor")}


class Session:
    """An MCP client session over Streamable HTTP (the SDK's own client and transport)."""

    def __init__(self, url: str, headers: dict | None = None):
        self.url, self.headers = url, headers

    async def __aenter__(self):
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        self.http = httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(30, read=60))
        await self.http.__aenter__()
        self.client = Client(streamable_http_client(self.url + "/-/mcp", http_client=self.http), cache=None)
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc):
        await self.client.__aexit__(*exc)
        await self.http.__aexit__(*exc)

    async def tools(self) -> dict:
        return {t.name: t for t in (await self.client.list_tools()).tools}

    async def call(self, name: str, **arguments):
        result = await self.client.call_tool(name, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    async def error(self, name: str, **arguments) -> str:
        result = await self.client.call_tool(name, arguments)
        assert result.is_error, result.structured_content
        return " ".join(c.text for c in result.content)


async def ask(url, name, headers=None, **arguments):
    async with Session(url, headers) as s:
        return await s.call(name, **arguments)


def words_in(text: str | None, words) -> bool:
    return bool(text) and all(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in words)


def page_of(url: str) -> str:
    with urllib.request.urlopen(url.split("#")[0], timeout=10) as r:
        assert r.status == 200
        return r.read().decode()


def anchor_of(url: str) -> str:
    return unquote(url.rsplit("#", 1)[1])


def assert_card_link(url: str, server: str, session_id: str, anchor: str):
    """A link to a card: the session page, on the page of the timeline holding it, scrolled to it."""
    assert url.startswith(f"{server}/-/claude/session/{session_id}?")
    assert anchor_of(url) == anchor and parse_qs(urlsplit(url).query)["at"] == [anchor]
    assert f'id="{html.escape(anchor)}"' in page_of(url)  # the page it opens holds that card


# -- the tools -------------------------------------------------------------------------------------
@needs_mcp
async def test_the_tools_are_listed_read_only_with_our_canned_queries(server):
    from datasette_claude import resources

    async with Session(server) as s:
        tools = await s.tools()
        assert OURS | {"list_databases", "get_database_schema", "execute_sql"} | CANNED_TOOLS <= set(tools)
        for name in OURS:
            assert tools[name].annotations.read_only_hint is True, name
            assert tools[name].description and tools[name].output_schema, name
        assert {"text", "project", "since"} <= set(tools["search_history"].input_schema["properties"])
        assert tools["search_history"].input_schema["required"] == ["text"]
        assert {"period", "group_by"} <= set(tools["usage"].input_schema["properties"])
        listed = await s.call("list_canned_queries", database="claude")
        assert {q["name"] for q in listed["queries"]} == set(resources.canned_queries())
        assert not any(q["write"] for q in listed["queries"])


@needs_mcp
async def test_search_history_finds_failed_commands_with_a_link_to_their_card(server, archive):
    found = await ask(server, "search_history", text="upstream branch")
    calls = rows(archive, "select tool_use_id, session_id, command, error_message, is_error, tool_name, "
                          "coalesce(started_at, ended_at) as at from tool_calls")
    expected = [c for c in calls if words_in(c["command"], ["upstream", "branch"])
                or words_in(c["error_message"], ["upstream", "branch"])]
    assert [anchor_of(h["url"]) for h in found["tool_calls"]] == \
        [c["tool_use_id"] for c in sorted(expected, key=lambda c: c["at"], reverse=True)]
    hit = found["tool_calls"][0]
    call = next(c for c in expected if c["tool_use_id"] == anchor_of(hit["url"]))
    assert hit["failed"] is True and hit["tool"] == "Bash" and hit["command"] == call["command"]
    assert "[upstream] [branch]" in hit["match"]
    assert hit["session"]["session_id"] == SPOTTER == call["session_id"]
    assert hit["session"]["session"] == "linked-soaring-matsumoto"  # the session's label, as its page says
    assert hit["session"]["url"] == f"{server}/-/claude/session/{SPOTTER}"
    assert_card_link(hit["url"], server, SPOTTER, call["tool_use_id"])
    assert found["prompts"] == [] and found["errors"] == [] and found["more"] == []

    # a subagent's call: the link opens the subagent's own timeline (?agent=) at the card
    sub = rows(archive, "select tool_use_id, agent_id from tool_calls where command like 'find %spotter-plugin/scripts%'")[0]
    found = await ask(server, "search_history", text="find spotter plugin scripts", limit=50)
    hit = next(h for h in found["tool_calls"] if anchor_of(h["url"]) == sub["tool_use_id"])
    assert parse_qs(urlsplit(hit["url"]).query)["agent"] == [sub["agent_id"]] == ["a93ccab"]
    assert_card_link(hit["url"], server, SPOTTER, sub["tool_use_id"])


@needs_mcp
async def test_search_history_finds_prompts_and_api_errors_and_narrows_them(server, archive):
    prompts = rows(archive, "select p.*, s.source, s.project_path from prompts p join sessions s on s.id = p.session_id")
    async with Session(server) as s:
        found = await s.call("search_history", text="jupyter notebook", limit=50)
        expected = [p for p in prompts if words_in(p["text"], ["jupyter", "notebook"])]
        assert len(found["prompts"]) == len(expected) >= 1
        hit = found["prompts"][0]
        assert hit["session"]["session_id"] == AI_MUSIC and "[jupyter] [notebook]" in hit["match"]
        assert_card_link(hit["url"], server, AI_MUSIC, expected[0]["uuid"] or expected[0]["id"])

        errors = rows(archive, "select e.*, s.source from errors e join sessions s on s.id = e.session_id")
        wanted = [e for e in errors if words_in(e["message"], ["rate", "limit"])]
        found = await s.call("search_history", text="rate limit", limit=50)
        assert sorted(anchor_of(h["url"]) for h in found["errors"]) == sorted(e["id"] for e in wanted)
        assert {h["session"]["agent"] for h in found["errors"]} == {"crush"}
        hit = found["errors"][0]
        assert_card_link(hit["url"], server, hit["session"]["session_id"], anchor_of(hit["url"]))

        # narrowed: by agent, by project (a directory and below it, or any part of a path), by time
        assert (await s.call("search_history", text="rate limit", agent="claude"))["errors"] == []
        assert len((await s.call("search_history", text="rate limit", agent="crush", limit=50))["errors"]) == len(wanted)
        music = await s.call("search_history", text="music", limit=50)
        assert music["prompts"] and {h["session"]["project"] for h in music["prompts"]} == {"/Users/chip/dev/ai-music"}
        assert (await s.call("search_history", text="music", project="spotter"))["prompts"] == []
        assert (await s.call("search_history", text="music", project="/Users/chip"))["prompts"] != []
        assert (await s.call("search_history", text="music", project="/Users/ch"))["prompts"] == []
        assert (await s.call("search_history", text="music", since="2026-01-01"))["prompts"] == []
        at = music["prompts"][0]["time"]  # 2025-06-08T11:29:45.457Z; a time with an offset is that moment
        assert (await s.call("search_history", text="music", since="2025-06-08T13:29:45+02:00"))["prompts"] != []
        assert (await s.call("search_history", text="music", since="2025-06-08T13:29:46+02:00"))["prompts"] == []
        assert at.startswith("2025-06-08T11:29:45")

        # the limit, and what was left out said
        some = await s.call("search_history", text="test", limit=2)
        assert len(some["tool_calls"]) == 2 and "tool_calls" in some["more"]
        assert "at least one word" in await s.error("search_history", text="  --  ")
        assert "since takes a day" in await s.error("search_history", text="music", since="last tuesday")


@needs_mcp
async def test_session_summary_says_what_the_session_did(server, archive):
    s = await ask(server, "session_summary", session_id=SPOTTER[:8])  # the start of its id is enough
    assert s["session"]["session_id"] == SPOTTER and s["session"]["session"] == "linked-soaring-matsumoto"
    one = lambda sql: rows(archive, sql, (SPOTTER,))[0]  # noqa: E731
    assert s["prompts"]["total"] == one("select count(*) n from prompts where session_id = ?")["n"]
    assert s["prompts"]["first"][0]["text"].startswith("Work on bead spotter-a0y.")
    tools = rows(archive, "select tool_name, count(*) calls, sum(is_error) failures from tool_calls "
                          "where session_id = ? group by 1", (SPOTTER,))
    assert {t["tool"]: (t["calls"], t["failures"]) for t in s["tools"]} == \
        {t["tool_name"]: (t["calls"], t["failures"]) for t in tools}
    changed = rows(archive, "select distinct file_path from file_events where session_id = ? and operation != 'read'",
                   (SPOTTER,))
    assert s["files_changed"]["total"] == len(changed) == len(s["files_changed"]["files"])
    assert {f["path"] for f in s["files_changed"]["files"]} == {c["file_path"] for c in changed}
    failed = rows(archive, "select tool_use_id, error_message from tool_calls where session_id = ? and is_error = 1 "
                           "order by coalesce(started_at, ended_at)", (SPOTTER,))
    assert s["failures"]["tool_calls"] == len(failed) == len(s["failures"]["first"])
    assert s["failures"]["first"][0]["error"] == failed[0]["error_message"][:300]
    assert_card_link(s["failures"]["first"][0]["url"], server, SPOTTER, failed[0]["tool_use_id"])
    assert len(s["compactions"]) == one("select count(*) n from compactions where session_id = ?")["n"] == 1
    assert s["compactions"][0]["trigger"] and s["compactions"][0]["pre_tokens"]
    assert len(s["subagents"]) == one("select count(*) n from subagents where session_id = ?")["n"]
    # the cost as the session page shows it: its API requests' estimate, each response once
    usage = one("select sum(cost_usd) cost, count(*) n from api_requests where session_id = ? and is_replay = 0")
    assert s["cost"]["cost_usd"] == pytest.approx(usage["cost"]) and s["cost"]["requests"] == usage["n"]
    assert s["cost"]["unpriced_requests"] == 0
    page = page_of(s["session"]["url"])
    assert f"${s['cost']['cost_usd']:.2f}" in page


@needs_mcp
async def test_session_summary_of_an_unpriced_agent_and_of_no_session(server, archive):
    codex = rows(archive, "select session_id, count(*) n from api_requests where cost_usd is null "
                          "group by 1 order by n desc limit 1")[0]
    async with Session(server) as c:
        s = await c.call("session_summary", session_id=codex["session_id"])
        assert s["session"]["agent"] == "codex"
        assert s["cost"]["cost_usd"] is None and s["cost"]["unpriced_requests"] == codex["n"]  # never $0
        crush = rows(archive, "select id, reported_cost_usd from sessions where source = 'crush' "
                              "and reported_cost_usd > 0 limit 1")[0]
        s = await c.call("session_summary", session_id=crush["id"])  # a store that keeps no usage per request
        assert s["cost"]["cost_usd"] is None and s["cost"]["requests"] == 0
        assert s["cost"]["reported_cost_usd"] == pytest.approx(crush["reported_cost_usd"])
        assert "No session 'nope'" in await c.error("session_summary", session_id="nope")
        assert "No session" in await c.error("session_summary", session_id="fa81")  # too short to be a prefix


@needs_mcp
async def test_file_history_says_which_sessions_touched_a_file_and_how_it_went(server, archive):
    async with Session(server) as c:
        h = await c.call("file_history", path="live/pane_list_live.ex")
        (path,) = h["files"]
        assert path.endswith("/lib/spotter_web/live/pane_list_live.ex")
        counts = rows(archive, "select session_id, sum(operation = 'read') reads, sum(operation = 'edit') edits "
                               "from file_events where file_path = ? group by 1", (path,))
        assert h["sessions_total"] == len(counts) == len(h["sessions"])
        assert {(s["session"]["session_id"], s["reads"], s["edits"]) for s in h["sessions"]} == \
            {(r["session_id"], r["reads"], r["edits"]) for r in counts}
        last = rows(archive, "select tool_use_id from file_events where file_path = ? order by timestamp desc limit 1",
                    (path,))[0]["tool_use_id"]
        assert_card_link(h["sessions"][0]["last"]["url"], server, SPOTTER, last)
        assert (await c.call("file_history", path=path))["files"] == [path]  # as given
        assert "No session read or changed" in await c.error("file_history", path="ane_list_live.ex")  # whole parts
        assert "No session read or changed" in await c.error("file_history", path="nowhere/at_all.py")

        # a failed edit: which call, what it said, and where
        failed = rows(archive, "select f.file_path, t.tool_use_id, t.error_message, t.session_id from file_events f "
                               "join tool_calls t on t.tool_use_id = f.tool_use_id where t.is_error = 1 "
                               "and t.tool_name = 'Edit'")[0]
        h = await c.call("file_history", path=failed["file_path"])
        (s,) = [s for s in h["sessions"] if s["session"]["session_id"] == failed["session_id"]]
        assert s["failures"] == 1 and s["last_failure"]["error"] == failed["error_message"][:300]
        assert "String to replace not found" in s["last_failure"]["error"]
        assert_card_link(s["last_failure"]["url"], server, failed["session_id"], failed["tool_use_id"])
        assert (await c.call("file_history", path=failed["file_path"], since="2026-01-01"))["sessions"] == []


@needs_mcp
async def test_file_history_shows_the_commits_that_changed_the_file(server, archive):
    commit = rows(archive, "select * from commits")[0]
    h = await ask(server, "file_history", path="IMPLEMENTATION_STATUS.md")
    assert h["files"] == [commit["repository"] + "/IMPLEMENTATION_STATUS.md"]
    (s,) = h["sessions"]
    assert s["session"]["session_id"] == "495f32bd-ee4f-4de3-991c-aaa113346727" and s["edits"] == 1
    (c,) = h["commits"]
    assert c["sha"] == commit["sha"] and c["message"] == "Circuit breaker: implementation status"
    assert c["path"] == "IMPLEMENTATION_STATUS.md"


@needs_mcp
async def test_usage_gives_the_reports_figures(server, archive):
    from ingest import reports

    async with Session(server) as c:
        u = await c.call("usage", period="2026-02-01..2026-02-28", group_by="day", timezone="UTC")
        daily = reports.daily(archive, since="20260201", until="20260228", timezone="UTC")
        assert u["totals"] == daily["totals"]
        assert u["rows"] == [{k: v for k, v in r.items() if k != "modelBreakdowns"} for r in daily["daily"]]
        assert u["command"] == "claude-ingest report daily --since 20260201 --until 20260228 --timezone UTC --json"
        assert u["totals"]["totalCost"] == pytest.approx(10.73899525)

        by_session = await c.call("usage", period="2026-02", group_by="session", timezone="UTC")
        sessions = reports.session(archive, since="20260201", until="20260228", timezone="UTC")["sessions"]
        assert [r["sessionId"] for r in by_session["rows"]] == [r["sessionId"] for r in sessions]
        assert [r["totalCost"] for r in by_session["rows"]] == [r["totalCost"] for r in sessions]
        assert by_session["rows"][0]["session"]["url"] == f"{server}/-/claude/session/{sessions[0]['sessionId']}"

        by_model = await c.call("usage", period="all", group_by="model", timezone="UTC")
        everything = reports.monthly(archive, timezone="UTC")
        assert by_model["totals"] == everything["totals"]
        assert sum(r["totalTokens"] for r in by_model["rows"]) == everything["totals"]["totalTokens"]
        codex = [r for r in by_model["rows"] if r["model"].startswith("gpt-")]
        assert codex and all(r["totalCost"] is None and r["unpricedRequests"] for r in codex)  # never $0
        assert everything["totals"]["unpricedRequests"] == sum(r["unpricedRequests"] for r in codex)

        blocks = await c.call("usage", period="2026-02-12", group_by="block", timezone="UTC")
        expected = reports.blocks(archive, since="20260212", until="20260212", timezone="UTC")["blocks"]
        assert [b["id"] for b in blocks["rows"]] == [b["id"] for b in expected]
        assert blocks["totals"]["totalTokens"] == sum(b["totalTokens"] for b in expected if not b["isGap"])

        spotter = await c.call("usage", period="all", project="spotter", timezone="Asia/Tokyo", group_by="week")
        assert spotter["totals"] == reports.weekly(archive, project="spotter", timezone="Asia/Tokyo")["totals"]
        assert "unknown time zone" in await c.error("usage", period="today", timezone="Mars/Olympus")
        assert "group_by is one of" in await c.error("usage", period="today", group_by="planet")
        assert "Unknown period" in await c.error("usage", period="the other day")


@needs_mcp
def test_periods_in_words():
    from datasette_claude.mcp import period_days, since_value

    today = date(2026, 2, 12)  # a Thursday
    d = date.fromisoformat
    assert period_days("today", today) == (today, today)
    assert period_days("Yesterday", today) == (d("2026-02-11"), d("2026-02-11"))
    assert period_days("this week", today) == (d("2026-02-08"), today)  # from Sunday, as ccusage's weeks
    assert period_days("last week", today) == (d("2026-02-01"), d("2026-02-07"))
    assert period_days("this month", today) == (d("2026-02-01"), today)
    assert period_days("last month", today) == (d("2026-01-01"), d("2026-01-31"))
    assert period_days("last month", date(2026, 1, 5)) == (d("2025-12-01"), d("2025-12-31"))
    assert period_days("last 7 days", today) == (d("2026-02-06"), today)
    assert period_days("30d", today) == (d("2026-01-14"), today)
    assert period_days("last 2 weeks", today) == (d("2026-01-30"), today)
    assert period_days("last 3 months", today) == (d("2025-12-01"), today)
    assert period_days("2026-02", today) == (d("2026-02-01"), d("2026-02-28"))
    assert period_days("2024-02", today) == (d("2024-02-01"), d("2024-02-29"))
    assert period_days("2025", today) == (d("2025-01-01"), d("2025-12-31"))
    assert period_days("20260203", today) == (d("2026-02-03"), d("2026-02-03"))
    assert period_days("2026-01..2026-02-03", today) == (d("2026-01-01"), d("2026-02-03"))
    assert period_days("2026-01-05 to 2026-01-09", today) == (d("2026-01-05"), d("2026-01-09"))
    assert period_days("all", today) == (None, None)
    for bad in ("2026-13", "2026-02-30", "2026-03..2026-02", "fortnight", "0 days"):
        with pytest.raises(Exception):
            period_days(bad, today)
    from datetime import datetime, timezone

    now = datetime(2026, 2, 12, 15, 0, tzinfo=timezone.utc)
    assert since_value("7d", now) == "2026-02-05T15:00:00"
    assert since_value("2 weeks ago", now) == "2026-01-29T15:00:00"
    assert since_value("2026-02-01", now) == "2026-02-01"
    assert since_value("2026-02-01T10:00:00+02:00", now) == "2026-02-01T08:00:00"
    assert since_value(None, now) == ""


@needs_mcp
async def test_a_canned_query_answers_as_a_tool(server, archive):
    from datasette_claude import resources

    result = await ask(server, "execute_canned_query", database="claude", query="hot_files",
                       parameters={"project": "spotter"})
    conn = sqlite3.connect(archive)
    conn.row_factory = sqlite3.Row
    params = {p: "" for p in resources.canned_queries()["hot_files"]["params"]}
    expected = [dict(r) for r in conn.execute(resources.canned_queries()["hot_files"]["sql"],
                                              {**params, "project": "spotter"})]
    conn.close()
    assert result["rows"] == expected and len(expected) > 10


# -- settings and permissions ----------------------------------------------------------------------
@needs_mcp
async def test_the_users_own_setting_for_canned_queries_wins(archive, tmp_path):
    proc, url = serve([archive], tmp_path, {"plugins": {"datasette-mcp": {"canned_queries": False}}})
    try:
        async with Session(url) as s:
            tools = set(await s.tools())
        assert OURS <= tools and not (CANNED_TOOLS & tools)
    finally:
        proc.terminate()
        proc.wait(10)


@needs_mcp
def test_canned_queries_are_turned_on_only_for_an_instance_serving_our_database(archive, tmp_path):
    from datasette.app import Datasette

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table notes (id integer primary key, body text)").connection.close()

    def settings(paths, config=None):
        paths = [str(p) for p in paths]
        ds = Datasette(paths, config=config) if DATASETTE_1 else Datasette(paths, metadata=config)
        ds.app()  # datasette-mcp reads its settings as Datasette builds its app (0.65: on construction)
        return ds.plugin_config("datasette-mcp")

    assert settings([archive]) == {"canned_queries": True}
    assert settings([other, archive]) == {"canned_queries": True}
    assert settings([other]) is None  # someone else's Datasette: left as it was
    off = {"plugins": {"datasette-mcp": {"canned_queries": False}}}
    assert settings([archive], off) == {"canned_queries": False}


@needs_mcp
async def test_an_actor_gets_nothing_from_a_database_they_may_not_see(archive, tmp_path):
    import shutil

    for name in ("secret", "work", "nosql"):
        shutil.copy(archive, tmp_path / f"{name}.db")
    config = {"databases": {"secret": {"allow": {"id": "admin"}}, "nosql": {"allow_sql": {"id": "admin"}}}}
    proc, url = serve([tmp_path / "secret.db", tmp_path / "work.db", tmp_path / "nosql.db"], tmp_path, config)
    try:
        async with Session(url) as anonymous:
            found = await anonymous.call("search_history", text="upstream branch")
            assert len(found["tool_calls"]) == 1  # from work alone, linked there (?db=, as several are served)
            assert "?db=work&at=" in found["tool_calls"][0]["url"]
            for db in ("secret", "nosql"):
                for tool, args in (("search_history", {"text": "upstream branch"}),
                                   ("session_summary", {"session_id": SPOTTER}),
                                   ("file_history", {"path": "pane_list_live.ex"}), ("usage", {"period": "all"})):
                    refused = await anonymous.error(tool, database=db, **args)
                    assert f"Database '{db}' does not exist or is not available" in refused, (tool, db)
        async with Session(url, actor_cookie({"id": "admin"})) as admin:
            found = await admin.call("search_history", text="upstream branch")
            assert sorted(h["url"].split("?db=")[1].split("&")[0] for h in found["tool_calls"]) == \
                ["nosql", "secret", "work"]
            assert (await admin.call("session_summary", session_id=SPOTTER, database="secret"))["prompts"]["total"]
    finally:
        proc.terminate()
        proc.wait(10)
    proc, url = serve([archive], tmp_path, {"databases": {"claude": {"allow": {"id": "admin"}}}})
    try:
        async with Session(url) as anonymous:
            assert "No database written by claude-ingest is available" in \
                await anonymous.error("search_history", text="upstream branch")
            assert (await anonymous.call("list_databases"))["databases"] == []
        if DATASETTE_1:  # an API token, as the README tells Claude Code to send it (Datasette 1.0 has them)
            token = subprocess.run([sys.executable, "-m", "datasette", "create-token", "admin", "--secret", SECRET],
                                   capture_output=True, text=True, check=True).stdout.strip()
            async with Session(url, {"Authorization": f"Bearer {token}"}) as agent:
                assert (await agent.call("search_history", text="upstream branch"))["tool_calls"]
    finally:
        proc.terminate()
        proc.wait(10)


# -- the extra is optional -------------------------------------------------------------------------
@pytest.mark.skipif(HAS_MCP, reason="datasette-mcp is installed here (the next test runs this one without it)")
async def test_without_datasette_mcp_the_plugin_works_and_serves_no_mcp(fixture_db):
    from datasette.app import Datasette

    import datasette_claude

    assert importlib.util.find_spec("mcp") is None
    ds = Datasette([str(fixture_db)])
    plugins = (await ds.client.get("/-/plugins.json")).json()
    (ours,) = [p for p in plugins if p["name"] in ("datasette-claude", "datasette_claude")]
    assert "register_mcp_tools" not in ours["hooks"] and "register_routes" in ours["hooks"]
    assert (await ds.client.get("/-/claude")).status_code == 200
    assert (await ds.client.get("/-/mcp")).status_code == 404
    assert ds.plugin_config("datasette-mcp") is None  # no settings made up for a plugin that is not there
    assert "mcp" not in sys.modules and not hasattr(datasette_claude, "register_mcp_tools")


WITHOUT = ROOT / ".cache" / "venv-without-mcp"
WITHOUT_TESTS = ["tests/test_mcp.py", "tests/test_plugin.py", "tests/test_permissions.py", "tests/test_session_page.py"]


@pytest.mark.skipif(not HAS_MCP or DATASETTE_1, reason="run where datasette-mcp is installed, on the main Datasette")
def test_the_plugin_passes_its_tests_without_datasette_mcp():
    """A virtual environment with the project and its own dependencies, not the [mcp] extra (built
    once under .cache/, then reused; it needs the package registry the first time)."""
    python = WITHOUT / "bin" / "python"
    wanted = "pytest pytest-asyncio"
    marker = WITHOUT / "requirements.txt"
    if not (marker.exists() and marker.read_text() == wanted and python.exists()):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(WITHOUT)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted.split()], check=True, timeout=900)
        marker.write_text(wanted)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)], check=True, timeout=900,
                   capture_output=True)
    check = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('datasette_mcp'))"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "None"
    env = {**os.environ, "TMPDIR": "/tmp"}
    run = subprocess.run([str(python), "-m", "pytest", *WITHOUT_TESTS, "-q", "-p", "no:cacheprovider", "-rA"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert not re.search(r"\d+ (failed|error)", run.stdout) and re.search(r"\d+ passed", run.stdout)
    assert "PASSED tests/test_mcp.py::test_without_datasette_mcp_the_plugin_works_and_serves_no_mcp" in run.stdout
