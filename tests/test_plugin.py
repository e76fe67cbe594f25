"""The Datasette plugin, through `Datasette([path]).client`, on a database ingested from the real fixtures.

Runs unchanged on Datasette 0.65 and on the 1.0 alpha (tests/test_datasette_versions.py runs this file
again in a virtual environment with the alpha installed). The expected figures are counted here
straight from the fixture files, independently of the ingest code.
"""

import asyncio
import json
import re
import sqlite3
from collections import Counter

import datasette
import pytest
from datasette.app import Datasette

from helpers import PROJECTS, claude_ingest
from datasette_claude import format as fmt
from datasette_claude import resources

DATASETTE_1 = datasette.__version__.startswith("1.")
SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
FILE_TOOLS = {"Read", "Write", "Edit", "MultiEdit", "NotebookEdit"}


def _fixture_tool_calls():
    """tool_use id -> (name, input, session, is_error), read directly from every fixture line."""
    calls, errors = {}, {}

    def blocks(line):
        message = line.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, list) else []

    for path in PROJECTS.rglob("*.jsonl"):
        for raw in path.read_text().splitlines():
            line = json.loads(raw)
            lines = [line]
            data = line.get("data")
            if isinstance(data, dict) and isinstance(data.get("message"), dict):
                lines.append(data["message"])
            for ln in lines:
                for b in blocks(ln):
                    if b.get("type") == "tool_use":
                        calls[b["id"]] = (b["name"], b.get("input") or {}, line.get("sessionId"))
                    elif b.get("type") == "tool_result":
                        errors[b["tool_use_id"]] = errors.get(b["tool_use_id"]) or b.get("is_error") is True
    return {k: (*v, bool(errors.get(k))) for k, v in calls.items()}


CALLS = _fixture_tool_calls()


@pytest.fixture
def ds(fixture_db):
    return Datasette([str(fixture_db)])


async def get_json(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return response.json()


async def query(ds, name, **params):
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    return await get_json(ds, f"/claude/{name}.json?_shape=array&{qs}")


async def test_plugin_is_registered(ds):
    plugins = await get_json(ds, "/-/plugins.json")
    assert "datasette-claude" in {p["name"] for p in plugins}


async def test_every_canned_query_is_offered_and_answers(ds):
    for name, q in resources.canned_queries().items():
        if name.startswith("jobs_") and not q:
            continue
        response = await ds.client.get(f"/claude/{name}.json?_shape=array")
        assert response.status_code == 200, (name, response.text[:300])
        assert isinstance(response.json(), list)
        page = await ds.client.get(f"/claude/{name}")
        assert page.status_code == 200 and q["title"] in page.text


async def test_tool_error_rates_match_the_fixture_files(ds):
    expected = Counter(name for name, _, _, failed in CALLS.values() if failed)
    calls = Counter(name for name, _, _, _ in CALLS.values())
    rows = await query(ds, "tool_error_rates")
    assert {r["tool_name"]: r["failures"] for r in rows if r["failures"]} == dict(expected)
    assert {r["tool_name"]: r["calls"] for r in rows} == dict(calls)
    bash = next(r for r in rows if r["tool_name"] == "Bash")
    assert bash["error_rate_pct"] == round(100 * expected["Bash"] / calls["Bash"], 1)
    # narrowed to the spotter project and a date range
    spotter = await query(ds, "tool_error_rates", project="spotter-worktrees", start="2026-02-12", end="2026-02-12")
    spotter_failures = sum(1 for _, _, s, failed in CALLS.values() if failed and s == SPOTTER)
    assert sum(r["failures"] for r in spotter) == spotter_failures > 0


async def test_hot_files_match_the_fixture_files(ds):
    touches = Counter(inp.get("file_path") for name, inp, _, _ in CALLS.values()
                      if name in FILE_TOOLS and inp.get("file_path"))
    rows = await query(ds, "hot_files")
    top_file, top_count = touches.most_common(1)[0]
    assert (rows[0]["file_path"], rows[0]["touches"]) == (top_file, top_count)
    assert rows[0]["reads"] + rows[0]["edits"] == top_count
    chip = await query(ds, "hot_files", project="ai-music")
    assert chip and all(r["project"] == "/Users/chip/dev/ai-music" for r in chip)


async def test_failing_commands_and_error_messages(ds):
    runs = Counter(inp.get("command") for name, inp, _, _ in CALLS.values() if name == "Bash")
    fails = Counter(inp.get("command") for name, inp, _, failed in CALLS.values() if name == "Bash" and failed)
    rows = await query(ds, "failing_commands")
    assert {r["command"]: (r["runs"], r["failures"]) for r in rows} == {c: (runs[c], n) for c, n in fails.items()}
    assert all(r["last_error"] for r in rows)
    narrowed = await query(ds, "failing_commands", search="diverse_musical")
    assert narrowed and all("diverse_musical" in r["command"] for r in narrowed)
    messages = await query(ds, "error_messages")
    assert sum(r["occurrences"] for r in messages if r["source"] == "tool") == sum(
        1 for *_, failed in CALLS.values() if failed)


async def test_daily_and_project_usage_and_leaderboard(ds):
    daily = await query(ds, "daily_usage", start="2026-02-12", end="2026-02-12")
    assert {r["model"]: r["output_tokens"] for r in daily} == {"claude-opus-4-6": 36262,
                                                               "claude-haiku-4-5-20251001": 45}
    projects = await query(ds, "project_usage")
    assert sum(r["sessions"] for r in projects) == 3
    assert projects[0]["project"] == "/home/USER/projects/spotter-worktrees/spotter-a0y"
    board = await query(ds, "session_leaderboard")
    assert [r["session_id"] for r in board][0] == SPOTTER
    assert board[0]["cost_usd"] == pytest.approx(10.5123, abs=1e-4)  # ccusage: 10.51234975
    assert board[0]["tool_calls"] == sum(1 for *_, s, _ in CALLS.values() if s == SPOTTER)
    assert board[0]["compactions"] == 1 and board[0]["subagents"] == 3
    by_calls = await query(ds, "session_leaderboard", order_by="tool_calls")
    assert [r["tool_calls"] for r in by_calls] == sorted((r["tool_calls"] for r in by_calls), reverse=True)


async def test_compactions_subagents_slowest(ds, fixture_db):
    (row,) = await query(ds, "compaction_frequency")
    assert (row["session_id"], row["auto"], row["manual"], row["max_pre_tokens"]) == (SPOTTER, 1, 0, 167117)
    share = {r["day"]: r for r in await query(ds, "subagent_share")}
    conn = sqlite3.connect(fixture_db)
    subagent_requests = conn.execute("select count(*) from api_requests where date(timestamp) = '2026-02-12' "
                                     "and agent_id is not null and is_replay = 0").fetchone()[0]
    conn.close()
    assert share["2026-02-12"]["subagent_requests"] == subagent_requests > 0
    assert 0 < share["2026-02-12"]["subagent_cost_share_pct"] < 100
    slow = await query(ds, "slowest_tools", min_calls=5)
    assert slow and all(r["timed_calls"] >= 5 for r in slow)
    assert [r["avg_seconds"] for r in slow] == sorted((r["avg_seconds"] for r in slow), reverse=True)


async def test_search_prompts_finds_a_known_prompt(ds):
    rows = await query(ds, "search_prompts", q="bead")
    assert [r["session_id"] for r in rows] == [SPOTTER]
    assert "[bead]" in rows[0]["match"]
    assert await query(ds, "search_prompts", q='" OR 1') == []  # input is a phrase, never SQL or FTS syntax
    assert await query(ds, "search_prompts") == []


async def test_table_metadata_and_facets(ds):
    page = await ds.client.get("/claude/tool_calls")
    assert page.status_code == 200
    assert "Tool calls" in page.text and "Every tool call the agent made" in page.text
    data = await get_json(ds, "/claude/tool_calls.json?_extra=facet_results")
    facets = data["facet_results"]
    facets = facets.get("results", facets)
    assert {"tool_name", "is_error"} <= set(facets)
    compactions = await ds.client.get("/claude/compactions")
    assert "context window fills up" in compactions.text
    # sorted newest first by default
    rows = (await get_json(ds, "/claude/tool_calls.json?_shape=array&_size=5"))
    times = [r["started_at"] for r in rows]
    assert times == sorted(times, reverse=True)


async def test_full_text_search_on_tables(ds):
    data = await get_json(ds, "/claude/prompts.json?_search=bead&_shape=array")
    assert [r["session_id"] for r in data] == [SPOTTER]
    calls = await get_json(ds, "/claude/tool_calls.json?_search=mix&_shape=array")
    assert calls and all("mix" in ((r["command"] or "") + (r["error_message"] or "")).lower() for r in calls)


async def test_tool_call_links_to_its_session_and_cells_are_readable(ds):
    data = await get_json(ds, "/claude/tool_calls.json?_labels=on&_size=1&tool_name=Bash&_shape=array")
    assert isinstance(data[0]["session_id"], dict)
    page = await ds.client.get("/claude/tool_calls?tool_name=Bash&_size=5")
    assert "<pre" in page.text  # input_json shown formatted
    assert f'/-/claude/session/{SPOTTER}"' in page.text  # a table's session ids link to the session page
    query_page = await ds.client.get("/claude/session_leaderboard")
    assert f'/-/claude/session/{SPOTTER}"' in query_page.text  # and a query's


async def test_every_canned_query_page_gets_its_chart_drawn_on_the_server(ds):
    """datasette-vega's charts were 150-250 px wide, in alphabetical order, with labels cut until
    identical: each canned query's chart is drawn by the plugin (datasette-vega stays for people's
    own charts)."""
    import re

    for name, query in resources.canned_queries().items():
        page = await ds.client.get(f"/claude/{name}")
        assert page.status_code == 200 and "datasette_vega" in page.text
        if not query.get("chart"):
            continue
        assert f"/-/claude/chart/claude/{name}.svg" in page.text, name
        svg = await ds.client.get(f"/-/claude/chart/claude/{name}.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml"), name
        returned = (await ds.client.get(f"/claude/{name}.json?_shape=array")).json()
        assert ('class="mark' in svg.text) == bool(returned), name  # marks when there are rows, else a note
        values = [float(v) for v in re.findall(r'data-value="([0-9.e+-]+)"', svg.text)]
        assert values == sorted(values, reverse=True), name  # ranked bars: largest first
        labels = re.findall(r'class="tick label"[^>]*><title>[^<]*</title>([^<]*)</text>', svg.text)
        assert len(labels) == len(set(labels)), (name, labels)
    lead = (await ds.client.get("/-/claude/chart/claude/session_leaderboard.svg")).text
    assert "linked-soaring-matsumoto" in lead  # sessions by their label, not their id
    assert (await ds.client.get("/-/claude/chart/claude/nope.svg")).status_code == 404


async def test_overview_page(ds):
    page = await ds.client.get("/-/claude")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="claude-chart"') == 6 and 'class="mark"' in html
    assert "2026-01-14 to 2026-02-12" in html  # 30 days ending at the latest activity
    assert "$10.74" in html  # 2026-02-10 and 2026-02-12
    everything = (await ds.client.get("/-/claude?days=3660")).text
    assert "$12.77" in everything  # ccusage's grand total: 12.77166385
    assert "/claude/daily_usage?start=" in html


def _figures(html: str) -> dict:
    """The overview's cards: label (its first word) -> the value shown."""
    cards = re.findall(r'<div class="value"[^>]*>(.*?)</div><div class="label">(.*?)</div>', html)
    return {label.split()[0]: value for value, label in cards}


def _bar_labels(html: str, panel: str) -> list[str]:
    svg = html[html.index(f">{panel}</a></h2>"):]
    svg = svg[:svg.index("</svg>")]
    return re.findall(r'class="tick label"[^>]*><title>(.*?)</title>', svg)


async def test_every_figure_and_panel_obeys_every_filter(ds, fixture_db):
    """Each project, agent and machine filter against the database's own counts, computed here
    from the detail tables rather than from the views the page reads."""
    db = sqlite3.connect(fixture_db)
    checks = [("project", p) for p, in db.execute("select distinct project_path from sessions")]
    checks += [("project", "spotter"), ("project", "/home/USER/projects"), ("agent", "claude"), ("machine", db.execute("select host from sessions").fetchone()[0])]
    column = {"project": "project_path", "agent": "source", "machine": "host"}
    for key, value in checks:
        html = (await ds.client.get("/-/claude", params={"days": "3660", key: value})).text
        if key == "project" and value.startswith("/"):
            where, args = "(project_path = ? or project_path like ? || '/%')", [value, value]  # that directory, and below
        else:
            where, args = f"{column[key]} like ?", [f"%{value}%"]
        chosen = f"select id from sessions where {where}"
        sessions = db.execute(f"select count(*) from (select session_id from api_requests where session_id in ({chosen}) "
                              f"union select session_id from tool_calls where session_id in ({chosen}))", args * 2).fetchone()[0]
        cost = db.execute(f"select coalesce(sum(cost_usd), 0) from api_requests where session_id in ({chosen})", args).fetchone()[0]
        calls, failed = db.execute(f"select count(*), coalesce(sum(is_error), 0) from tool_calls where session_id in ({chosen})",
                                   args).fetchone()
        projects = [p for p, in db.execute(f"select distinct project_path from sessions where id in ({chosen}) "
                                           "and id in (select session_id from api_requests)", args)]
        shown = _figures(html)
        assert shown["sessions"] == f"{sessions:,}", (key, value)
        assert shown["estimated"] == fmt.money(cost), (key, value)
        assert shown["tool"] == f"{calls:,}" and shown["failed"] == f"{failed:,}", (key, value)
        assert sorted(_bar_labels(html, "Cost per project")) == sorted(projects), (key, value)
        panel = html[html.index("Sessions that cost the most"):]
        top = re.findall(r'<td title="([^"]*)">', panel[:panel.index("</table>")])
        assert top and set(top) <= {p for p, in db.execute(f"select project_path from sessions where {where}", args)}
    # the one session of spotter-a0y: 1 session next to its own cost (the 9 sessions beside $12.23)
    html = (await ds.client.get("/-/claude?days=3660&project=spotter-a0y")).text
    assert _figures(html)["sessions"] == "1"
    # a path is a directory: the start of another project's name is not that project
    html = (await ds.client.get("/-/claude?days=3660&project=/home/USER/projects/spotter-worktrees/spotter-a0")).text
    assert _figures(html)["sessions"] == "0"
    leaderboard = (await ds.client.get("/claude/session_leaderboard.json?_shape=array&project=/home/USER/projects/spotter-worktrees/spotter-a0")).json()
    assert leaderboard == []


async def test_failure_rates_show_n_of_n(ds):
    html = (await ds.client.get("/-/claude?days=3660")).text
    svg = html[html.index(">Failure rate per tool</a></h2>"):]
    svg = svg[:svg.index("</svg>")]
    assert re.search(r"% · \d+ of \d+</text>", svg)  # drawn beside each bar, not only in the tooltip
    assert "1 sessions" not in html and "1 requests" not in html


async def test_an_empty_database_says_what_to_run(tmp_path):
    db = tmp_path / "fresh.db"
    (tmp_path / "nothing").mkdir()
    assert claude_ingest("backfill", tmp_path / "nothing", "--db", db).returncode == 0
    html = (await Datasette([str(db)]).client.get("/-/claude")).text
    assert "Nothing has been recorded in this database yet" in html
    assert f"claude-ingest backfill --db {db}" in html and "install-hooks" in html
    assert "class=\"claude-figure\"" not in html


BAD_OVERVIEW_PARAMETERS = [
    ("end=0001-01-01", "before 0001-01-01"),  # 30 days back from year 1: OverflowError, a 500 once
    ("end=0001-01-01&days=2", "before 0001-01-01"),
    ("end=tomorrow", "end must be a date"),
    ("end=2026-2-1", "end must be a date"),
    ("end=20260212", "end must be a date"),
    ("end=%FF%FE", "end must be a date"),
    ("start=2026-02-30", "start must be a date"),
    ("start=2026-02-12T00:00", "start must be a date"),
    ("start=2026-02-12&end=2026-02-01", "start is after end"),
    ("days=abc", "days must be"),
    ("days=0", "days must be"),
    ("days=-5", "days must be"),
    ("days=3661", "days must be"),
    ("days=1e3", "days must be"),
    ("days=%D9%A5", "days must be"),  # an Arabic-Indic five: int() takes it, a URL should not
    ("days=" + "9" * 5000, "days must be"),
    ("db=nope", "no database"),
    ("db=_internal", "no database"),
    ("project=" + "a" * 50001, "project is too long"),  # SQLite refuses LIKE patterns over 50,000 bytes
]


@pytest.mark.parametrize("qs,message", BAD_OVERVIEW_PARAMETERS, ids=[q[:40] for q, _ in BAD_OVERVIEW_PARAMETERS])
async def test_overview_answers_bad_parameters_with_400(ds, qs, message):
    page = await ds.client.get("/-/claude?" + qs)
    assert page.status_code == 400, page.text[-500:]
    assert message in page.text and "Error 400" in page.text  # Datasette's error page
    assert "Traceback" not in page.text and "claude-figure" not in page.text


async def test_overview_takes_good_parameters(ds):
    for qs in ("days=1", "days=3660", "days=", "end=2026-02-12&days=1", "start=2026-02-12&end=2026-02-12",
               "start=0001-01-01", "end=9999-12-31", "db=claude", "project=spotter", "project=%25_%00'\\"):
        page = await ds.client.get("/-/claude?" + qs)
        assert page.status_code == 200, (qs, page.text[-300:])
    narrowed = (await ds.client.get("/-/claude?start=2026-02-12&end=2026-02-12")).text
    assert "2026-02-12 to 2026-02-12" in narrowed


def test_overview_never_answers_500_to_fuzzed_parameters(fixture_db):
    """Any value of any of the overview's parameters: a page (200) or a short message (400)."""
    pytest.importorskip("hypothesis")  # in the test extra; the 1.0 alpha's venv does not install it
    from datetime import date
    from urllib.parse import quote, quote_from_bytes

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    names = ["start", "end", "days", "db", "project"]
    text = st.one_of(
        st.text(), st.dates().map(lambda d: d.isoformat()), st.integers().map(str),
        st.dates(max_value=date(1, 3, 1)).map(lambda d: d.isoformat()),  # where date arithmetic overflows
        st.sampled_from(["", "claude", "0", "3660", "3661", "0001-01-01", "9999-12-31", "2026-02-12",
                         "2026-02-29", "%", "_", "\x00", "<script>", "' or 1=1 --"]),
    )
    # URL-encoded as sent: any text, or any bytes (not all of them UTF-8)
    value = st.one_of(text.map(lambda t: quote(t, safe="")), st.binary().map(lambda b: quote_from_bytes(b, safe="")))
    ds = Datasette([str(fixture_db)])
    loop = asyncio.new_event_loop()

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(params=st.lists(st.tuples(st.sampled_from(names), value), max_size=6))
    def check(params):
        qs = "&".join(f"{k}={v}" for k, v in params)
        page = loop.run_until_complete(ds.client.get("/-/claude?" + qs))
        assert page.status_code in (200, 400), (qs, page.status_code, page.text[-500:])
        assert "Traceback" not in page.text

    try:
        check()
    finally:
        loop.close()


async def test_unrelated_database_is_left_alone(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table sessions (id text primary key, note text)")
    conn.execute("insert into sessions values ('a', '{\"x\": 1}')")
    conn.commit()
    conn.close()
    ds = Datasette([str(other)])
    assert (await ds.client.get("/other/daily_usage.json")).status_code == 404
    assert (await ds.client.get("/-/claude")).status_code == 404
    home = (await ds.client.get("/")).text
    assert "claude-home" not in home and "<h2" in home  # Datasette's own home page, with no link
    page = await ds.client.get("/other/sessions")
    assert "One row per agent session" not in page.text


async def test_user_metadata_and_queries_win(fixture_db):
    mine = {"databases": {"claude": {"tables": {"tool_calls": {"title": "My own calls"}}}}}
    queries = {"databases": {"claude": {"queries": {"hot_files": {"sql": "select 'mine' as answer"}}}}}
    if DATASETTE_1:
        ds = Datasette([str(fixture_db)], metadata=mine, config=queries)
    else:
        ds = Datasette([str(fixture_db)], metadata={"databases": {"claude": {**mine["databases"]["claude"],
                                                                              **queries["databases"]["claude"]}}})
    page = await ds.client.get("/claude/tool_calls")
    assert "My own calls" in page.text
    assert await get_json(ds, "/claude/hot_files.json?_shape=array") == [{"answer": "mine"}]
    # everything the user did not set is still ours
    assert "Every tool call the agent made" in page.text


async def test_jobs_by_file_and_by_tool(tmp_path):
    """Two headless jobs recorded from stream-json made of the real transcripts' lines."""
    from test_jobs import SPOTTER as SPOTTER_DIR
    from test_jobs import SPOTTER_ID, TOOL_HEAVY, load, ndjson, to_stream

    from ingest.load.jobs import ingest_job

    db = tmp_path / "jobs.db"
    ingest_job(db, ndjson(to_stream(load(SPOTTER_DIR / f"{SPOTTER_ID}.jsonl"))), job_id="refactor-hooks",
               prompt="Work on bead spotter-a0y")
    ingest_job(db, ndjson(to_stream(load(TOOL_HEAVY))), job_id="start-phoenix")
    ds = Datasette([str(db)])
    edited = {inp["file_path"] for name, inp, session, _ in CALLS.values()
              if session == SPOTTER and name in ("Edit", "Write", "MultiEdit") and inp.get("file_path")}
    target = sorted(edited)[0]
    rows = await get_json(ds, f"/jobs/jobs_by_file.json?_shape=array&file={target.rsplit('/', 1)[1]}")
    assert {r["job_id"] for r in rows} == {"refactor-hooks"} and rows[0]["file"] == target
    assert await get_json(ds, "/jobs/jobs_by_file.json?_shape=array&file=no-such-file.ex") == []
    bash = await get_json(ds, "/jobs/jobs_by_tool.json?_shape=array&tool=Bash")
    # the stream carries the main conversation's calls (the subagents' own files are not in it)
    conn = sqlite3.connect(db)
    expected = conn.execute("select count(*), sum(is_error) from tool_calls where session_id = ? and "
                            "tool_name = 'Bash'", (SPOTTER,)).fetchone()
    conn.close()
    by_job = {r["job_id"]: r for r in bash}
    assert (by_job["refactor-hooks"]["calls"], by_job["refactor-hooks"]["failed"]) == expected
    assert expected[0] > 70 and expected[1] == sum(1 for n, _, s, f in CALLS.values() if n == "Bash" and s == SPOTTER and f)
    every = await get_json(ds, "/jobs/jobs_by_tool.json?_shape=array")
    assert {r["job_id"] for r in every} == {"refactor-hooks", "start-phoenix"}


async def test_database_from_an_older_version_is_brought_up_to_date(tmp_path, fixture_db):
    import shutil

    old = tmp_path / "old.db"
    shutil.copy(fixture_db, old)
    conn = sqlite3.connect(old)
    conn.execute("drop table tool_daily")
    conn.execute("pragma user_version = 4")
    conn.commit()
    conn.close()
    ds = Datasette([str(old)])
    rows = await get_json(ds, "/old/tool_error_rates.json?_shape=array")
    assert next(r for r in rows if r["tool_name"] == "Bash")["failures"] == sum(
        1 for n, *_, failed in CALLS.values() if n == "Bash" and failed)
    conn = sqlite3.connect(old)
    assert conn.execute("pragma user_version").fetchone()[0] >= 6
    conn.close()
