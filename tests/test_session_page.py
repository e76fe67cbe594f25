"""Session replay (issue 11): every session and headless job readable from the database alone.

The fixtures are backfilled from a copy that is then deleted, with a headless job and hook-only
events beside them: every page is rendered from SQLite alone, and what it shows is counted against
the tables."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from datasette.app import Datasette

from helpers import EDGE, FIXTURES, PROJECTS, copy_tree, rows
from ingest import backfill, schema, store
from ingest.load import hooks as hook_module
from ingest.load.jobs import ingest_job_file

SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
STREAM = FIXTURES / "headless" / "claude-p-stream-json.sequence.composite.jsonl"
RESULT = FIXTURES / "headless" / "claude-p-output-json.result-success.live-shape-2026-07.json"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The fixture transcripts (and the rewind/compaction edge case) backfilled, then deleted: the
    database is all there is. Plus a headless job, a reuse of it, and a session known from hooks only."""
    base = tmp_path_factory.mktemp("archive")
    projects = copy_tree(PROJECTS, base / "projects")
    shutil.copy(EDGE / "claude-code-log_dag_compact_after_rewind.jsonl", projects / "-Users-marot-spotter" / "rewind.jsonl")
    db = base / "claude.db"
    backfill(db, [projects])
    ingest_job_file(db, STREAM, job_id="nightly-1", prompt="Fix the flaky login test")
    ingest_job_file(db, RESULT, job_id="nightly-2", reuse_of="nightly-1")
    for payload in (
        {"session_id": "hooks-only", "hook_event_name": "UserPromptSubmit", "prompt": "typed, seen by a hook only",
         "cwd": "/w/hooks"},
        {"session_id": "hooks-only", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "toolu_hook1",
         "tool_input": {"command": "make test"}},
        {"session_id": "hooks-only", "hook_event_name": "PostToolUseFailure", "tool_name": "Bash",
         "tool_use_id": "toolu_hook1", "tool_input": {"command": "make test"}, "error": "Exit code 2\nFAILED"},
    ):
        hook_module.handle(json.dumps(payload).encode(), db)
    shutil.rmtree(projects)  # Claude Code deleted the transcripts
    return db


@pytest.fixture
async def ds(archive):
    datasette = Datasette([str(archive)])
    await datasette.invoke_startup()
    return datasette


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.agents, self.hrefs = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if attrs.get("data-agent"):
            self.agents.append(attrs["data-agent"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _parse(html: str) -> _Ids:
    p = _Ids()
    p.feed(html)
    return p


async def _all_pages(ds, path: str) -> list[str]:
    first = await ds.client.get(path)
    assert first.status_code == 200, (path, first.text[:500])
    pages = [first.text]
    found = re.search(r"of (\d+) \(", first.text)
    for n in range(2, int(found.group(1)) + 1 if found else 1):
        sep = "&" if "?" in path else "?"
        response = await ds.client.get(f"{path}{sep}page={n}")
        assert response.status_code == 200
        pages.append(response.text)
    return pages


async def test_every_step_in_the_database_is_on_its_sessions_pages(ds, archive):
    """Every prompt, tool call (by its anchor), compaction and subagent of every session is on its
    pages, each once, with the transcripts gone."""
    for (session_id,) in [(r["id"],) for r in rows(archive, "select id from sessions")]:
        main = [_parse(html) for html in await _all_pages(ds, f"/-/claude/session/{session_id}")]
        for page in main:
            assert len(page.ids) == len(set(page.ids)), f"{session_id}: a step twice on one page"
        ids = {i for page in main for i in page.ids}
        agents = {a for page in main for a in page.agents}
        expected_agents = {r["agent_id"] for r in rows(archive, "select agent_id from subagents where session_id = ?",
                                                        (session_id,))}
        assert agents == expected_agents, session_id
        for agent in expected_agents:  # each subagent's own timeline holds its steps
            for html in await _all_pages(ds, f"/-/claude/session/{session_id}?agent={agent}"):
                ids |= set(_parse(html).ids)
        prompts = {r["uuid"] or r["id"] for r in rows(
            archive, "select uuid, id from prompts where session_id = ? and is_fork_copy = 0", (session_id,))}
        calls = {r["tool_use_id"] for r in rows(archive, "select tool_use_id from tool_calls where session_id = ?",
                                                 (session_id,))}
        compactions = {r["id"] for r in rows(archive, "select id from compactions where session_id = ?", (session_id,))}
        assert prompts <= ids, (session_id, prompts - ids)
        assert calls <= ids, (session_id, sorted(calls - ids)[:5], len(calls - ids))
        assert compactions <= ids, (session_id, compactions - ids)


async def test_the_header_says_what_the_session_was(ds, archive):
    page = (await ds.client.get(f"/-/claude/session/{SPOTTER}")).text
    (s,) = rows(archive, "select * from sessions where id = ?", (SPOTTER,))
    assert f"<h1>{s['label']}</h1>" in page and s["label"] == "linked-soaring-matsumoto"
    assert s["git_branch"] in page and s["version"] in page and "claude-opus-4-6" in page
    cost = rows(archive, "select sum(cost_usd) c, sum(total_tokens) t from usage_daily where session_id = ?", (SPOTTER,))[0]
    assert f"${cost['c']:,.2f}" in page
    calls = rows(archive, "select count(*) n, sum(is_error) f from tool_calls where session_id = ?", (SPOTTER,))[0]
    assert f'<div class="value">{calls["n"]}</div><div class="label">tool calls' in page
    assert f'<div class="value">{calls["f"]}</div><div class="label">failed calls' in page
    assert 'class="mark cost"' in page and 'class="compaction"' in page and 'class="mark failed"' in page
    for column in ("Cache writes 5m", "Cache writes 1h", "Cache reads"):
        assert column in page


async def test_a_rewind_shows_the_branch_taken_and_folds_the_abandoned_one(ds):
    page = (await ds.client.get("/-/claude/session/s1")).text
    before, after = page.split('class="cl-step cl-abandoned"', 1)
    folded, rest = after.split("</details>", 1)
    assert "First attempt" in folded and "First answer" in folded  # the branch a rewind abandoned, folded
    assert "First attempt" not in before + rest and "Second attempt" in rest  # the branch taken
    assert page.count("After compaction") == 1  # across the compaction, once
    assert page.index("Keep going") < page.index("After compaction") < page.index("Final answer")


async def test_a_hook_only_session_and_a_failed_call_card(ds):
    page = (await ds.client.get("/-/claude/session/hooks-only")).text
    assert "typed, seen by a hook only" in page and 'id="toolu_hook1"' in page
    assert "failed" in page and "Exit code 2" in page
    card = await ds.client.get("/-/claude/session/hooks-only/call/toolu_hook1")
    assert card.status_code == 200 and "make test" in card.text and "FAILED" in card.text


async def test_long_sessions_are_paged_and_at_finds_the_page(tmp_path):
    """A session of 1,200 tool calls: pages of a bounded size, and ?at= (a search hit) opens the page
    holding the step."""
    db = tmp_path / "long.db"
    conn = store.connect(db)
    s = store.Store(conn)
    with s.atomic():
        for i in range(1200):
            ts = f"2026-03-01T{10 + i // 3600:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000Z"
            s.add("messages", {"uuid": f"a{i}", "session_id": "long", "parent_uuid": f"a{i - 1}" if i else None,
                               "type": "assistant", "timestamp": ts, "text": f"step {i}"})
            s.add("tool_calls", {"tool_use_id": f"toolu_{i:05d}", "session_id": "long", "message_uuid": f"a{i}",
                                 "tool_name": "Bash", "command": f"echo {i}", "input_json": {"command": f"echo {i}"},
                                 "output_preview": "x" * 16000, "started_at": ts})
        s.add("sessions", {"id": "long", "source": "claude", "started_at": "2026-03-01T10:00:00.000Z"})
        s.derive()
    conn.close()
    datasette = Datasette([str(db)])
    await datasette.invoke_startup()
    first = await datasette.client.get("/-/claude/session/long")
    assert first.status_code == 200 and len(first.content) < 1_000_000
    assert 'id="toolu_00000"' in first.text and 'id="toolu_01199"' not in first.text
    last = await datasette.client.get("/-/claude/session/long?at=toolu_01199")
    assert 'id="toolu_01199"' in last.text and "<strong>8</strong>" in last.text  # page 8 of 8
    assert len(last.content) < 1_000_000


async def test_a_job_page_reads_the_run(ds, archive):
    page = (await ds.client.get("/-/claude/job/nightly-1")).text
    (job,) = rows(archive, "select * from jobs where id = 'nightly-1'")
    assert "Fix the flaky login test" in page and job["summary"] in page and job["status"] in page
    assert f"${job['total_cost_usd']:,.4f}" in page and f"${job['cost_usd']:,.4f}" in page
    assert f'/-/claude/session/{job["session_id"]}' in page
    assert "/-/claude/job/nightly-2" in page  # the reuse chain
    reuse = (await ds.client.get("/-/claude/job/nightly-2")).text
    assert "/-/claude/job/nightly-1" in reuse and "Fix the flaky login test" in reuse
    assert (await ds.client.get("/-/claude/job/nope")).status_code == 404


async def test_sessions_are_labelled_everywhere_never_none(ds, archive):
    assert rows(archive, "select count(*) n from sessions where label is null or label = ''") == [{"n": 0}]
    for path in ("/claude/tool_calls?_size=50", "/claude/api_requests?_size=50", "/claude/prompts", "/claude/messages",
                 "/claude/subagents", "/claude/session_leaderboard", "/claude/sessions"):
        page = (await ds.client.get(path)).text
        assert not re.search(r">None\b", page), path
        assert "/-/claude/session/" in page, path


async def test_search_hits_link_to_their_card(ds, archive):
    (prompt,) = rows(archive, "select uuid, session_id, text from prompts where session_id = ? and uuid is not null "
                              "order by timestamp limit 1", (SPOTTER,))
    word = prompt["text"].split()[2]
    page = (await ds.client.get(f"/claude/search_prompts?q={word}")).text
    assert f'/-/claude/session/{SPOTTER}?at={prompt["uuid"]}#{prompt["uuid"]}' in page
    failing = (await ds.client.get("/claude/failing_commands")).text
    calls = {r["tool_use_id"] for r in rows(archive, "select tool_use_id from tool_calls where is_error = 1")}
    linked = set(re.findall(r"\?at=(toolu_[A-Za-z0-9]+)#", failing))
    assert linked and linked <= calls
    table = (await ds.client.get("/claude/tool_calls?_search=mix")).text
    assert "?at=toolu_" in table
    jobs = (await ds.client.get("/claude/jobs")).text
    assert "/-/claude/job/nightly-1" in jobs


async def test_pages_ask_whether_the_visitor_may_see_the_database(archive):
    config = {"databases": {"archive": {"allow": {"id": "admin"}}}}
    name = Path(archive).stem
    config = {"databases": {name: {"allow": {"id": "admin"}}}}
    try:
        datasette = Datasette([str(archive)], config=config)
    except TypeError:  # Datasette 0.65 takes it as metadata
        datasette = Datasette([str(archive)], metadata=config)
    await datasette.invoke_startup()
    for path in (f"/-/claude/session/{SPOTTER}", "/-/claude/job/nightly-1",
                 "/-/claude/session/hooks-only/call/toolu_hook1"):
        assert (await datasette.client.get(path)).status_code == 403, path
    cookies = {"ds_actor": datasette.sign({"a": {"id": "admin"}}, "actor")}
    assert (await datasette.client.get(f"/-/claude/session/{SPOTTER}", cookies=cookies)).status_code == 200


async def test_a_subagents_id_leads_to_its_place_in_its_session(ds, archive):
    (agent,) = rows(archive, "select agent_id from subagents where session_id = ? and tool_use_id is not null limit 1",
                    (SPOTTER,))
    response = await ds.client.get(f"/-/claude/session/{agent['agent_id']}")
    assert response.status_code == 302 and f"/-/claude/session/{SPOTTER}?at={agent['agent_id']}" in response.headers["location"]
    assert (await ds.client.get("/-/claude/session/no-such-session")).status_code == 404
    assert (await ds.client.get(f"/-/claude/session/{SPOTTER}?page=x")).status_code == 400


def test_the_schema_keeps_what_replay_needs(archive):
    assert rows(archive, "select count(*) n from messages where thinking is not null")[0]["n"] > 0
    (boundary,) = rows(archive, "select logical_parent_uuid from messages where uuid = 'cb'")
    assert boundary["logical_parent_uuid"] == "b2a2"
    biggest = rows(archive, "select max(length(output_preview)) n from tool_calls")[0]["n"]
    assert 2000 < biggest <= schema.OUTPUT_CHARS
