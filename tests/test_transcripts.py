"""Transcript parsing on the real edge-case files and on layouts built from real lines."""

import json
import shutil

import pytest

from helpers import EDGE, PROJECTS, rows
from ingest import backfill
from ingest.parse.transcripts import BadLine, FileContext, TranscriptParser, prompt_text

SPOTTER = PROJECTS / "-Users-marot-spotter"
SPOTTER_ID = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"


def ingest_one(tmp_path, source, name=None, project="-tmp-proj"):
    """Put one fixture file in a projects layout and backfill it."""
    dest = tmp_path / "projects" / project / (name or source.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    db = tmp_path / "t.db"
    return db, backfill(db, [tmp_path / "projects"])


def test_malformed_lines_are_counted_and_recorded_not_fatal(tmp_path):
    db, summary = ingest_one(tmp_path, EDGE / "claude-code-log_edge_cases.jsonl")
    # "massive error", {"silly": "this"} (no type), 42 and [1]
    assert summary.bad_lines == 4
    skips = rows(db, "select offset, reason, excerpt from ingest_skips order by offset")
    assert [s["excerpt"].strip() for s in skips] == ['"massive error"', '{"silly": "this"}', "42", "[1]"]
    assert all(s["reason"] for s in skips)
    # the lines around them were read: the last line has no newline but is whole JSON
    assert rows(db, "select count(*) n from tool_calls where tool_use_id = 'toolu_todowrite_002'")[0]["n"] == 1
    assert rows(db, "select bad_lines from ingest_files")[0]["bad_lines"] == 4
    # timestamps without milliseconds are normalised to ISO UTC with them
    assert rows(db, "select timestamp from messages where uuid = 'edge_009'")[0]["timestamp"] == "2025-06-14T11:03:00.000Z"


def test_a_model_our_table_lacks_is_priced_by_genai_prices_and_one_nobody_prices_is_flagged(tmp_path):
    import genai_prices

    db, summary = ingest_one(tmp_path, EDGE / "claude-code-log_edge_cases.jsonl")
    # Claude 3 Sonnet left Anthropic's pricing page (and our table); genai-prices still has its list
    # price, $3 in and $15 out per million (no cache tokens in these lines)
    sonnet3 = rows(db, "select input_tokens, output_tokens, cost_usd, priced, price_source from api_requests "
                       "where model = 'claude-3-sonnet-20240229'")
    assert len(sonnet3) == 3 and summary.unpriced == {} and "unpriced models: none" in summary.line()
    for r in sonnet3:
        assert r["priced"] == 1 and r["cost_usd"] == pytest.approx((r["input_tokens"] * 3 + r["output_tokens"] * 15) / 1e6)
        assert r["price_source"] == f"genai-prices {genai_prices.__version__} anthropic/claude-3-sonnet"
    # the known one next to it is priced from our table, which names itself and its date
    known = rows(db, "select cost_usd, price_source from api_requests where model = 'claude-sonnet-4'")[0]
    assert known["cost_usd"] > 0 and known["price_source"] == "datasette-claude prices.json 2026-08-21"

    # the same lines under a model no source knows (a stand-in edge case): NULL and flagged, never $0
    lines = (EDGE / "claude-code-log_edge_cases.jsonl").read_text().replace("claude-3-sonnet-20240229", "claude-opus-9")
    stand_in = tmp_path / "stand-in.jsonl"
    stand_in.write_text(lines)
    db2, summary2 = ingest_one(tmp_path / "b", stand_in)
    unpriced = rows(db2, "select model, cost_usd, priced, price_source from api_requests where priced = 0")
    assert len(unpriced) == 3 and all(r["cost_usd"] is None and r["price_source"] is None for r in unpriced)
    assert set(summary2.unpriced) == {"claude-opus-9"} and "claude-opus-9 (3)" in summary2.line()


def test_growing_usage_within_one_api_call_keeps_the_largest_copy(tmp_path):
    """2.1.98 subagent lines: output_tokens 3 -> 123 and 1 -> 78 within one message.id."""
    db, _ = ingest_one(tmp_path, EDGE / "subagent-transcript.v2.1.98.jsonl", name="agent-a2f513f2c1493de6c.jsonl")
    got = rows(db, "select message_id, output_tokens, usage_total from api_requests order by timestamp")
    assert [r["output_tokens"] for r in got] == [123, 78]
    # the same holds whichever copy arrives first
    lines = (EDGE / "subagent-transcript.v2.1.98.jsonl").read_text().splitlines(keepends=True)
    reversed_file = tmp_path / "rev" / "agent-a2f513f2c1493de6c.jsonl"
    reversed_file.parent.mkdir()
    reversed_file.write_text("".join(reversed(lines)))
    db2 = tmp_path / "rev.db"
    backfill(db2, [reversed_file])
    assert rows(db2, "select output_tokens from api_requests order by timestamp") == [
        {"output_tokens": 123}, {"output_tokens": 78}]


def test_subagent_directory_layout_with_meta_sidecar(tmp_path):
    """CC >= 2.1.2: <session>/subagents/agent-<id>.jsonl with agent-<id>.meta.json beside it."""
    sub = tmp_path / "projects" / "-p" / "3b9abed6-sess" / "subagents"
    sub.mkdir(parents=True)
    # the real sidecar of another agent, renamed to sit beside these real subagent lines
    shutil.copyfile(EDGE / "subagent-transcript.v2.1.98.jsonl", sub / "agent-a2f513f2c1493de6c.jsonl")
    shutil.copyfile(EDGE / "agent-showcol1.meta.json", sub / "agent-a2f513f2c1493de6c.meta.json")
    db = tmp_path / "t.db"
    backfill(db, [tmp_path / "projects"])
    (agent,) = rows(db, "select * from subagents")
    assert agent["agent_type"] == "general-purpose"
    assert agent["description"] == "Survey the web module"
    assert agent["tool_use_id"] == "toolu_sc_showcol1"
    assert agent["agent_id"] == "a2f513f2c1493de6c"
    assert agent["transcript_path"].endswith("subagents/agent-a2f513f2c1493de6c.jsonl")
    assert agent["started_at"] < agent["ended_at"]
    # every line of the file is the subagent's, even where a line names its own agentId
    assert rows(db, "select distinct is_sidechain from messages") == [{"is_sidechain": 1}]
    assert rows(db, "select kind from ingest_files") == [{"kind": "subagent"}]


def test_legacy_flat_subagent_file(tmp_path):
    """CC ~2.0.28 - 2.1.1: agent-<id>.jsonl beside the session file, lines keep the parent sessionId."""
    db, _ = ingest_one(tmp_path, EDGE / "subagent-transcript.v2.1.98.jsonl", name="agent-a2f513f2c1493de6c.jsonl")
    assert rows(db, "select kind, agent_id from ingest_files") == [
        {"kind": "legacy_subagent", "agent_id": "a2f513f2c1493de6c"}]
    (agent,) = rows(db, "select agent_id, session_id from subagents")
    session = rows(db, "select distinct session_id from messages")[0]["session_id"]
    assert agent == {"agent_id": "a2f513f2c1493de6c", "session_id": session}
    assert rows(db, "select count(*) n from tool_calls where agent_id = 'a2f513f2c1493de6c'")[0]["n"] == 2


def test_inline_sidechain_lines(tmp_path):
    """CC 2.0.46: sidechain lines inline in the main file; the parent's tool_result names the agent."""
    db, _ = ingest_one(tmp_path, EDGE / "sidechain_integrated.v2.0.46.jsonl",
                       name="88a8d761-7b9a-4bf1-a8ca-c1febe6bf358.jsonl")
    (call,) = rows(db, "select * from tool_calls where tool_name = 'Task'")
    assert call["is_sidechain"] == 0 and call["ended_at"] is not None
    (agent,) = rows(db, "select * from subagents")
    assert agent["agent_id"] == "e1c84ba5"
    assert agent["tool_use_id"] == call["tool_use_id"]
    assert agent["agent_type"] == "general-purpose"  # derived from the Task call's input
    assert agent["description"].startswith("Research data-border-color")
    # the sidechain API call (two lines, one message.id) is one request, marked as a subagent's
    side = rows(db, "select * from api_requests where is_sidechain = 1")
    assert len(side) == 1 and side[0]["output_tokens"] == 183
    assert rows(db, "select count(*) n from messages where is_sidechain = 1")[0]["n"] == 2


def test_rewind_branches_and_compaction(tmp_path):
    db, summary = ingest_one(tmp_path, EDGE / "claude-code-log_dag_compact_after_rewind.jsonl")
    assert summary.bad_lines == 0
    # every branch is kept (rewinds do not delete), each response counted once
    assert rows(db, "select count(*) n from api_requests")[0]["n"] == 5
    assert rows(db, "select count(*) n from messages")[0]["n"] == 12
    # the boundary and the summary line that follows it are one compaction
    (c,) = rows(db, "select * from compactions")
    assert c["id"] == "cb" and c["summary_preview"]
    # the compact summary is not a prompt; the branches' user lines are
    texts = [r["text"] for r in rows(db, "select text from prompts order by timestamp")]
    assert not any(t.startswith("This session is being continued") for t in texts)
    assert texts == ["Start", "First attempt", "Second attempt", "Keep going", "After compaction"]


def test_real_session_tools_errors_files_prompts(query):
    calls = query("select count(*) n, sum(is_error) e, sum(ended_at is null) open from tool_calls "
                  "where session_id = ?", (SPOTTER_ID,))[0]
    assert calls["n"] > 100 and calls["e"] > 0
    errors = query("select tool_name, error_message, output_preview from tool_calls where is_error = 1 "
                   "and session_id = ?", (SPOTTER_ID,))
    assert all(e["error_message"] for e in errors)
    bash = query("select command, output_size from tool_calls where tool_name = 'Bash' and session_id = ? "
                 "and command is not null limit 1", (SPOTTER_ID,))
    assert bash and bash[0]["output_size"] >= 0
    ops = {r["operation"] for r in query("select distinct operation from file_events")}
    assert {"read", "edit"} <= ops
    files = query("select file_path, count(*) n from file_events group by file_path order by n desc limit 1")
    assert files[0]["file_path"].startswith("/")
    # compaction from the compact_boundary, with its trigger and tokens before
    (c,) = query("select * from compactions where session_id = ?", (SPOTTER_ID,))
    assert (c["trigger"], c["pre_tokens"]) == ("auto", 167117)
    # subagents: two Explore agents with their Agent calls, and the compaction summariser's run
    agents = {a["agent_id"]: a for a in query("select * from subagents where session_id = ?", (SPOTTER_ID,))}
    assert set(agents) == {"a93ccab", "aa84377", "acompact-70d8e7"}
    assert agents["a93ccab"]["agent_type"] == "Explore" and agents["a93ccab"]["tool_use_id"].startswith("toolu_")
    assert agents["acompact-70d8e7"]["agent_type"] == "compact"
    # durations derived from tool_use -> tool_result times
    assert query("select count(*) n from tool_calls where duration_ms >= 0 and session_id = ?",
                 (SPOTTER_ID,))[0]["n"] > 100


def test_sessions_and_prompts(query):
    (s,) = query("select * from sessions where id = ?", (SPOTTER_ID,))
    assert s["source"] == "claude"
    assert s["project_path"] == "/home/USER/projects/spotter-worktrees/spotter-a0y"
    assert (s["git_branch"], s["version"], s["model"]) == ("spotter-a0y", "2.1.39", "claude-opus-4-6")
    assert s["started_at"] < s["ended_at"] and s["host"]
    assert s["transcript_path"].endswith(SPOTTER_ID + ".jsonl")
    (old,) = query("select * from sessions where id = 'd3ad4cdc-5657-435d-98fa-0035d53e383d'")
    assert old["summary"] == "AI Music: Embedding Words into Sound"
    prompts = query("select text from prompts where session_id = ? order by timestamp", (SPOTTER_ID,))
    assert prompts and not any(p["text"].startswith(("<", "[Request interrupted")) for p in prompts)
    hits = query("select prompts.session_id from prompts_fts join prompts on prompts.rowid = prompts_fts.rowid "
                 "where prompts_fts match 'bead'")
    assert hits


def test_api_error_lines_become_errors_not_usage(tmp_path):
    line = {
        "type": "assistant", "uuid": "e1", "sessionId": "s1", "timestamp": "2026-03-01T10:00:00.000Z",
        "isApiErrorMessage": True, "error": "rate_limit", "apiErrorStatus": 429,
        "message": {"id": "msg_x", "model": "<synthetic>", "content": [{"type": "text", "text": "API Error: 429"}],
                    "usage": {"input_tokens": 0, "output_tokens": 0}},
    }
    retry = {"type": "system", "subtype": "api_error", "uuid": "e2", "sessionId": "s1",
             "timestamp": "2026-03-01T10:00:01.000Z", "error": {"status": 529, "message": "Overloaded"}}
    f = tmp_path / "s1.jsonl"
    f.write_text(json.dumps(line) + "\n" + json.dumps(retry) + "\n")
    db = tmp_path / "t.db"
    backfill(db, [f])
    assert rows(db, "select count(*) n from api_requests")[0]["n"] == 0
    errs = rows(db, "select id, kind, status, message from errors order by id")
    assert errs == [
        {"id": "e1", "kind": "rate_limit", "status": 429, "message": "API Error: 429"},
        {"id": "e2", "kind": "api_retry", "status": 529, "message": '{"status": 529, "message": "Overloaded"}'},
    ]


def _assistant(uuid, mid, req, sid, out, sidechain=False, **extra):
    return {"type": "assistant", "uuid": uuid, "sessionId": sid, "requestId": req, "isSidechain": sidechain,
            "timestamp": "2026-03-01T10:00:00.000Z", **extra,
            "message": {"id": mid, "model": "claude-sonnet-4-6", "content": [{"type": "text", "text": "hi"}],
                        "usage": {"input_tokens": 10, "output_tokens": out}}}


def test_btw_replay_is_not_counted_twice(tmp_path):
    """/btw logs replay parent responses: same message.id, new requestId, isSidechain (ccusage #913)."""
    main = tmp_path / "projects" / "-p" / "s1.jsonl"
    btw = tmp_path / "projects" / "-p" / "s1" / "subagents" / "agent-btw1.jsonl"
    btw.parent.mkdir(parents=True)
    main.write_text(json.dumps(_assistant("u1", "msg_1", "req_1", "s1", 50)) + "\n")
    btw.write_text(json.dumps(_assistant("u2", "msg_1", "req_9", "s1", 50, sidechain=True, agentId="btw1")) + "\n"
                   + json.dumps(_assistant("u3", "msg_2", "req_2", "s1", 7, sidechain=True, agentId="btw1")) + "\n")
    db = tmp_path / "t.db"
    backfill(db, [tmp_path / "projects"])
    assert rows(db, "select message_id, request_id, is_replay from api_requests order by message_id, request_id") == [
        {"message_id": "msg_1", "request_id": "req_1", "is_replay": 0},
        {"message_id": "msg_1", "request_id": "req_9", "is_replay": 1},
        {"message_id": "msg_2", "request_id": "req_2", "is_replay": 0},
    ]
    assert rows(db, "select sum(output_tokens) o from usage_by_day")[0]["o"] == 57


def test_forked_copies_count_once_under_the_original_session(tmp_path):
    original = _assistant("u1", "msg_1", "req_1", "s-orig", 40)
    copy = dict(_assistant("u1", "msg_1", "req_1", "s-fork", 40), forkedFrom={"sessionId": "s-orig", "messageUuid": "u1"})
    new = _assistant("u2", "msg_2", "req_2", "s-fork", 5)
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    # the fork's file sorts first, so the copy is seen before the original
    (d / "a-fork.jsonl").write_text(json.dumps(copy) + "\n" + json.dumps(new) + "\n")
    (d / "b-orig.jsonl").write_text(json.dumps(original) + "\n")
    db = tmp_path / "t.db"
    backfill(db, [tmp_path / "projects"])
    assert rows(db, "select message_id, session_id, is_fork_copy from api_requests order by message_id") == [
        {"message_id": "msg_1", "session_id": "s-orig", "is_fork_copy": 0},
        {"message_id": "msg_2", "session_id": "s-fork", "is_fork_copy": 0},
    ]
    assert rows(db, "select forked_from_session_id f from sessions where id = 's-fork'") == [{"f": "s-orig"}]


def test_transcript_tail_of_a_recent_version(tmp_path):
    db, summary = ingest_one(tmp_path, EDGE / "transcript-tail.v2.1.220.jsonl")
    assert summary.bad_lines == 0
    assert rows(db, "select count(*) n from api_requests")[0]["n"] == 1


@pytest.mark.parametrize("text,typed", [
    ("fix the failing test", "fix the failing test"),
    ("<command-name>/compact</command-name>\n<command-message>compact</command-message>\n<command-args></command-args>",
     "/compact"),
    ("<command-message>review</command-message>\n<command-name>/review</command-name>\n<command-args>PR 12</command-args>",
     "/review PR 12"),
    ("<local-command-stdout>done</local-command-stdout>", None),
    ("[Request interrupted by user for tool use]", None),
    ("This session is being continued from a previous conversation that ran out of context.", None),
    ("   ", None),
])
def test_prompt_classification(text, typed):
    assert prompt_text(text) == typed


@pytest.mark.parametrize("line", [42, "x", [1], None, {"no": "type"},
                                  {"type": "assistant", "message": 7, "sessionId": "s"},
                                  {"type": "user"}])
def test_parser_rejects_non_records_with_badline(line):
    with pytest.raises(BadLine):
        TranscriptParser(FileContext(path="x.jsonl")).feed(line)


@pytest.mark.parametrize("line", [
    {"type": "assistant", "sessionId": "s", "message": {"id": "m", "usage": {"input_tokens": None,
                                                                            "output_tokens": "12"}}},
    {"type": "assistant", "sessionId": "s", "message": {"id": {"x": 1}, "usage": []}},
    {"type": "user", "sessionId": "s", "uuid": 5, "message": {"content": [None, 3, {"type": "tool_result"}]}},
    {"type": "progress", "data": {"type": "agent_progress", "message": "nope"}},
    {"type": "queue-operation", "operation": "enqueue"},
    {"type": "some-future-type", "anything": [1, 2]},
])
def test_parser_tolerates_odd_shapes(line):
    records = TranscriptParser(FileContext(path="x.jsonl")).feed(line)
    for table, row in records:
        assert all(v is None or isinstance(v, (str, int, float)) for v in row.values()), (table, row)


def test_a_model_routed_through_claude_code_is_priced_with_its_source(tmp_path):
    """A transcript whose responses came from an OpenRouter model (the issue saw
    nvidia/nemotron-3-ultra-550b-a55b): real 2.1.98 lines, their model renamed (a stand-in)."""
    import genai_prices

    lines = (EDGE / "subagent-transcript.v2.1.98.jsonl").read_text()
    model = json.loads(next(line for line in lines.splitlines() if '"assistant"' in line))["message"]["model"]
    stand_in = tmp_path / "routed.jsonl"
    stand_in.write_text(lines.replace(model, "nvidia/nemotron-3-ultra-550b-a55b"))
    db, summary = ingest_one(tmp_path, stand_in)
    got = rows(db, "select input_tokens i, output_tokens o, cache_read_input_tokens r, cache_creation_input_tokens w, "
                   "timestamp, cost_usd, priced, price_source from api_requests")
    assert got and summary.unpriced == {}
    for r in got:
        # OpenRouter's price on the day of these lines: $0.50 in (writes too: it has no write price),
        # $2.50 out, $0.15 cached per million
        assert r["timestamp"] < "2026-10-19" and r["priced"] == 1
        assert r["cost_usd"] == pytest.approx((r["i"] * 0.5 + r["w"] * 0.5 + r["o"] * 2.5 + r["r"] * 0.15) / 1e6)
        assert r["price_source"] == f"genai-prices {genai_prices.__version__} openrouter/nvidia/nemotron-3-ultra-550b-a55b"
