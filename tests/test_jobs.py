"""`claude-ingest job`: headless runs from json, verbose json and stream-json, converging with transcripts."""

import json
import shutil
import sqlite3

import pytest

from helpers import FIXTURES, PROJECTS, claude_ingest, facts, rows
from ingest import backfill
from ingest.load.jobs import ingest_job, ingest_job_file
from ingest.parse.jobs import parse_job, read_output

HEADLESS = FIXTURES / "headless"
SUCCESS = HEADLESS / "claude-p-output-json.result-success.live-shape-2026-07.json"
MAX_TURNS = HEADLESS / "claude-p-output-json.result-error_max_turns.live-shape-2026-07.json"
COMPOSITE = HEADLESS / "claude-p-stream-json.sequence.composite.jsonl"
SPOTTER = PROJECTS / "-Users-marot-spotter"
TOOL_HEAVY = SPOTTER / "tool_heavy.jsonl"
SPOTTER_ID = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"

TOOL_COLUMNS = ("tool_use_id", "session_id", "agent_id", "is_sidechain", "message_uuid", "tool_name", "input_json",
                "file_path", "command", "description", "is_error", "error_message", "output_preview", "output_size",
                "interrupted")
USAGE_COLUMNS = ("message_id", "session_id", "agent_id", "is_sidechain", "model", "timestamp", "input_tokens",
                 "output_tokens", "cache_creation_input_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
                 "cache_read_input_tokens", "usage_total", "cost_usd")


# -- a stream-json run built from a real transcript ------------------------------------------------
def to_stream(main_lines, subagent_lines=(), result_extra=None):
    """What `claude -p --output-format stream-json --verbose` printed for the session of these
    transcript lines (FORMATS section 3.3): system/init, the assistant and user messages (snake_case,
    no requestId, no parentUuid or cwd, subagent messages marked by the Agent call's id, time only on
    assistant messages), compact_boundary, and the result."""
    agent_calls = {}
    for line in main_lines:
        data = line.get("data") if line.get("type") == "progress" else None
        if isinstance(data, dict) and data.get("type") == "agent_progress":
            agent_calls[data["agentId"]] = line["parentToolUseID"]
    first = next(x for x in main_lines if x.get("type") in ("user", "assistant"))
    sid = first["sessionId"]
    out = [{"type": "system", "subtype": "init", "session_id": sid, "uuid": "init-" + sid, "cwd": first["cwd"],
            "model": next(x["message"]["model"] for x in main_lines if x.get("type") == "assistant"),
            "tools": ["Task", "Bash", "Read", "Edit", "Write"], "permissionMode": "bypassPermissions",
            "claude_code_version": first["version"]}]
    chain = [(x, None) for x in main_lines] + [(x, agent_calls[x["agentId"]]) for x in subagent_lines]
    chain = [c for c in chain if c[0].get("type") in ("user", "assistant", "system")]
    chain.sort(key=lambda c: c[0].get("timestamp") or "")
    for line, parent_call in chain:
        kind = line["type"]
        if kind == "system":
            if line.get("subtype") == "compact_boundary":
                meta = line["compactMetadata"]
                out.append({"type": "system", "subtype": "compact_boundary", "session_id": sid, "uuid": line["uuid"],
                            "compact_metadata": {"trigger": meta["trigger"], "pre_tokens": meta["preTokens"]}})
            continue
        msg = {"type": kind, "uuid": line["uuid"], "session_id": sid, "parent_tool_use_id": parent_call,
               "message": line["message"]}
        if kind == "assistant":
            msg["timestamp"] = line["timestamp"]
        elif "toolUseResult" in line:
            msg["tool_use_result"] = line["toolUseResult"]
        if line.get("isMeta"):
            msg["isSynthetic"] = True
        out.append(msg)
    result = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 60000,
              "duration_api_ms": 50000, "num_turns": 9, "result": "Phoenix is running.", "session_id": sid,
              "total_cost_usd": 1.23, "uuid": "result-" + sid, "permission_denials": [],
              **(result_extra or {})}
    out.append(result)
    return out


def ndjson(messages):
    return "".join(json.dumps(m) + "\n" for m in messages)


def load(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def table(db, name, columns, order):
    return rows(db, f"select {', '.join(columns)} from {name} order by {order}")


def dump(db):
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and name not like '%fts%' and name != 'ingest_runs'")]
    out = {n: sorted(map(repr, conn.execute(f"select {facts(conn, n)} from [{n}]"))) for n in names}
    conn.close()
    return out


@pytest.fixture(scope="module")
def tool_heavy_dbs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tool_heavy")
    transcript_db, stream_db = tmp / "transcript.db", tmp / "stream.db"
    backfill(transcript_db, [TOOL_HEAVY])
    stream = ndjson(to_stream(load(TOOL_HEAVY)))
    summary = ingest_job(stream_db, stream, prompt="start phoenix in background")
    return transcript_db, stream_db, stream, summary


# -- json and verbose json ---------------------------------------------------------------------------
def test_json_result_object(db_path):
    summary = ingest_job_file(db_path, SUCCESS)
    (job,) = rows(db_path, "select * from jobs")
    assert job["id"] == job["session_id"] == "stub-session-0000"
    assert (job["status"], job["is_error"], job["summary"], job["output_format"]) == ("success", 0, "done", "json")
    assert (job["duration_ms"], job["duration_api_ms"], job["num_turns"]) == (1200, 900, 2)
    assert (job["input_tokens"], job["output_tokens"], job["cache_read_input_tokens"]) == (812, 140, 0)
    assert job["total_cost_usd"] == 0.0031
    # our estimate: Haiku 4.5 at $1 in / $5 out per million
    assert job["cost_usd"] == pytest.approx((812 * 1 + 140 * 5) / 1e6) and job["priced"] == 1
    assert job["model"] == "claude-haiku-4-5-20251001"
    # json output shows no tool calls: unknown, not zero
    assert job["tool_call_count"] is None and job["files_modified_json"] is None
    # it ended when the file was written, and started duration_ms before
    assert job["completed_at"] > job["started_at"] and job["permission_denials"] == 0
    assert "job stub-session-0000: success (json)" in summary.line()


def test_error_subtype_gives_status_and_error_row(db_path):
    ingest_job_file(db_path, MAX_TURNS)
    (job,) = rows(db_path, "select status, is_error, subtype, terminal_reason, errors_json, summary from jobs")
    assert job == {"status": "error_max_turns", "is_error": 1, "subtype": "error_max_turns",
                   "terminal_reason": "max_turns", "errors_json": '["Reached maximum number of turns (5)"]',
                   "summary": None}
    (err,) = rows(db_path, "select id, kind, message from errors")
    assert err == {"id": "job:stub-session-0001", "kind": "error_max_turns",
                   "message": "Reached maximum number of turns (5)"}


def test_auth_failure_reported_as_success_is_an_error(db_path):
    result = json.loads(SUCCESS.read_text())
    result.update(is_error=True, result="Invalid API key · Please run /login")
    ingest_job(db_path, json.dumps(result))
    assert rows(db_path, "select status, is_error from jobs") == [{"status": "error", "is_error": 1}]


def test_verbose_json_array_is_read_like_the_stream(tmp_path):
    messages = load(COMPOSITE)
    ingest_job(tmp_path / "a.db", json.dumps(messages))
    ingest_job(tmp_path / "b.db", ndjson(messages))
    a, b = (rows(tmp_path / n, "select * from jobs")[0] for n in ("a.db", "b.db"))
    assert (a.pop("output_format"), b.pop("output_format")) == ("json-verbose", "stream-json")
    a.pop("recorded_at"), b.pop("recorded_at"), a.pop("started_at"), b.pop("started_at")
    a.pop("completed_at"), b.pop("completed_at")
    assert a == b
    assert a["cwd"] == "/Users/stevendiamante" and a["model"] == "claude-opus-4-5-20251101"
    assert a["message_count"] == 1 and a["tool_call_count"] == 0 and a["files_modified_json"] == "[]"


# -- stream-json against the transcript of the same session --------------------------------------------
def test_stream_shows_the_transcripts_tool_calls(tool_heavy_dbs):
    transcript_db, stream_db, _, _ = tool_heavy_dbs
    from_transcript = table(transcript_db, "tool_calls", TOOL_COLUMNS, "tool_use_id")
    assert len(from_transcript) == 6
    assert table(stream_db, "tool_calls", TOOL_COLUMNS, "tool_use_id") == from_transcript
    assert (table(stream_db, "file_events", ("tool_use_id", "file_path", "operation"), "tool_use_id")
            == table(transcript_db, "file_events", ("tool_use_id", "file_path", "operation"), "tool_use_id"))


def test_stream_shows_the_transcripts_usage(tool_heavy_dbs):
    transcript_db, stream_db, _, _ = tool_heavy_dbs
    from_transcript = table(transcript_db, "api_requests", USAGE_COLUMNS, "message_id")
    assert len(from_transcript) == 4  # 9 assistant lines, 4 API responses
    assert table(stream_db, "api_requests", USAGE_COLUMNS, "message_id") == from_transcript
    assert {r["source"] for r in rows(stream_db, "select source from api_requests")} == {"stream-json"}
    assert rows(stream_db, "select * from session_usage") == rows(transcript_db, "select * from session_usage")
    assert rows(stream_db, "select * from usage_by_day") == rows(transcript_db, "select * from usage_by_day")
    # the session itself
    s, t = (rows(db, "select id, source, project_path, cwd, model, version, permission_mode from sessions")
            for db in (stream_db, transcript_db))
    assert s == t


def test_job_row_from_stream(tool_heavy_dbs):
    transcript_db, stream_db, _, summary = tool_heavy_dbs
    (job,) = rows(stream_db, "select * from jobs")
    calls = rows(transcript_db, "select tool_name, is_error from tool_calls")
    assert job["tool_call_count"] == len(calls)
    assert job["failed_tool_calls"] == sum(c["is_error"] for c in calls)
    names = [c["tool_name"] for c in calls]
    assert job["primary_tool"] == max(set(names), key=names.count)
    assert job["prompt"] == "start phoenix in background" and job["summary"] == "Phoenix is running."
    assert job["cwd"] == "/home/marco/projects/spotter" and job["model"] == "claude-opus-4-6"
    assert job["message_count"] == 22 and job["user_message_count"] >= 1
    # this result carries no usage or modelUsage: tokens are unknown, not zero
    assert job["input_tokens"] is None
    assert "tool calls" in summary.line() and job["status"] == "success"


@pytest.mark.parametrize("order", ["stream first", "transcript first"])
def test_stream_and_transcript_together_count_each_response_once(tmp_path, tool_heavy_dbs, order):
    transcript_db, _, stream, _ = tool_heavy_dbs
    db = tmp_path / "both.db"
    if order == "stream first":
        ingest_job(db, stream)
        backfill(db, [TOOL_HEAVY])
    else:
        backfill(db, [TOOL_HEAVY])
        ingest_job(db, stream)
    assert (table(db, "api_requests", ("message_id", "request_id") + USAGE_COLUMNS, "message_id")
            == table(transcript_db, "api_requests", ("message_id", "request_id") + USAGE_COLUMNS, "message_id"))
    assert table(db, "tool_calls", TOOL_COLUMNS, "tool_use_id") == table(transcript_db, "tool_calls", TOOL_COLUMNS,
                                                                          "tool_use_id")
    for name in ("prompts", "messages", "sessions"):
        assert rows(db, f"select count(*) n from {name}") == rows(transcript_db, f"select count(*) n from {name}")


def test_final_output_count_from_stream_events_wins(tmp_path, tool_heavy_dbs):
    """Per-message output_tokens in the stream are placeholders; message_delta has the final count."""
    transcript_db, _, stream, _ = tool_heavy_dbs
    messages = [json.loads(x) for x in stream.splitlines()]
    first = next(m for m in messages if m["type"] == "assistant")
    mid, placeholder = first["message"]["id"], first["message"]["usage"]["output_tokens"]
    at = messages.index(first)
    messages[at:at] = [
        {"type": "stream_event", "session_id": first["session_id"], "uuid": "ev1", "parent_tool_use_id": None,
         "event": {"type": "message_start", "message": {"id": mid, "model": first["message"]["model"],
                                                        "usage": dict(first["message"]["usage"], output_tokens=1)}}},
    ]
    messages.insert(at + 2, {"type": "stream_event", "session_id": first["session_id"], "uuid": "ev2",
                             "parent_tool_use_id": None,
                             "event": {"type": "message_delta", "usage": {"output_tokens": placeholder + 500}}})
    db = tmp_path / "s.db"
    ingest_job(db, ndjson(messages))
    assert rows(db, "select output_tokens from api_requests where message_id = ?", (mid,))[0]["output_tokens"] == \
        placeholder + 500
    # and the transcript's row takes that final count when both are stored
    backfill(db, [TOOL_HEAVY])
    got = rows(db, "select request_id, output_tokens, cost_usd from api_requests where message_id = ?", (mid,))
    assert len(got) == 1 and got[0]["request_id"].startswith("req_") and got[0]["output_tokens"] == placeholder + 500
    expected = rows(transcript_db, "select cost_usd from api_requests where message_id = ?", (mid,))[0]["cost_usd"]
    assert got[0]["cost_usd"] > expected
    assert rows(db, "select count(*) n from api_requests")[0]["n"] == 4


def test_stream_with_subagents_and_compaction_matches_the_transcript(tmp_path):
    """The real 2.1.39 session: two subagents (their messages marked by the Agent call's id) and a compaction."""
    main = load(SPOTTER / f"{SPOTTER_ID}.jsonl")
    sub_dir = SPOTTER / SPOTTER_ID / "subagents"
    subs = load(sub_dir / "agent-a93ccab.jsonl") + load(sub_dir / "agent-aa84377.jsonl")
    stream_db, transcript_db = tmp_path / "s.db", tmp_path / "t.db"
    ingest_job(stream_db, ndjson(to_stream(main, subs)))
    # the transcript without the compaction summariser's own run, which a stream does not show
    layout = tmp_path / "projects" / "p"
    (layout / SPOTTER_ID / "subagents").mkdir(parents=True)
    shutil.copy(SPOTTER / f"{SPOTTER_ID}.jsonl", layout)
    for name in ("agent-a93ccab.jsonl", "agent-aa84377.jsonl"):
        shutil.copy(sub_dir / name, layout / SPOTTER_ID / "subagents")
    backfill(transcript_db, [tmp_path / "projects"])

    sub_cols = ("agent_id", "session_id", "tool_use_id", "agent_type", "description")
    subagents = table(stream_db, "subagents", sub_cols, "agent_id")
    assert subagents == table(transcript_db, "subagents", sub_cols, "agent_id") and len(subagents) == 2
    usage = ("message_id", "agent_id", "is_sidechain", "input_tokens", "output_tokens", "cache_read_input_tokens",
             "cache_creation_input_tokens", "cost_usd")
    got, want = table(stream_db, "api_requests", usage, "message_id"), table(transcript_db, "api_requests", usage,
                                                                           "message_id")
    assert len(want) > 150 and got == want
    assert any(r["agent_id"] == "a93ccab" for r in got)
    assert table(stream_db, "tool_calls", TOOL_COLUMNS, "tool_use_id") == table(transcript_db, "tool_calls",
                                                                                 TOOL_COLUMNS, "tool_use_id")
    comp = ("id", "session_id", "trigger", "pre_tokens", "summary_preview")
    assert table(stream_db, "compactions", comp, "id") == table(transcript_db, "compactions", comp, "id")
    assert len(table(stream_db, "compactions", comp, "id")) == 1


def test_run_killed_before_its_result_is_crashed(db_path):
    messages = to_stream(load(TOOL_HEAVY))[:-1]
    summary = ingest_job(db_path, ndjson(messages[: len(messages) // 2]))
    (job,) = rows(db_path, "select status, is_error, completed_at, input_tokens, cost_usd, tool_call_count from jobs")
    assert job["status"] == "crashed" and job["is_error"] == 1 and job["completed_at"] is None
    api = rows(db_path, "select sum(input_tokens) i, sum(cost_usd) c from api_requests")[0]
    assert job["input_tokens"] == api["i"] > 0 and job["cost_usd"] == pytest.approx(api["c"])
    assert job["tool_call_count"] > 0
    assert rows(db_path, "select kind from errors") == [{"kind": "crashed"}]
    assert "crashed" in summary.line()


def test_bad_lines_are_counted_not_fatal(db_path):
    text = COMPOSITE.read_text().replace('{"type":"rate_limit_event"', 'not json\n{"type":"rate_limit_event"')
    summary = ingest_job(db_path, text)
    assert summary.job.bad_lines == 1 and "1 bad lines skipped" in summary.line()
    assert rows(db_path, "select status from jobs") == [{"status": "success"}]


def test_unpriced_model_is_flagged(db_path):
    result = json.loads(SUCCESS.read_text())
    result["modelUsage"] = {"claude-opus-9": result["modelUsage"]["claude-haiku-4-5-20251001"]}  # nobody's
    summary = ingest_job(db_path, json.dumps(result))
    assert rows(db_path, "select cost_usd, priced, price_source, total_cost_usd from jobs") == [
        {"cost_usd": None, "priced": 0, "price_source": None, "total_cost_usd": 0.0031}]
    assert "unpriced models: claude-opus-9 (1)" in summary.line()


# -- what other queries need -----------------------------------------------------------------------
def test_jobs_by_file_finds_a_job_by_a_file_it_modified(db_path):
    session = load(SPOTTER / f"{SPOTTER_ID}.jsonl")
    ingest_job(db_path, ndjson(to_stream(session)), job_id="refactor-hooks")
    ingest_job(db_path, ndjson(to_stream(load(TOOL_HEAVY))), job_id="start-phoenix")
    (job,) = rows(db_path, "select files_modified, files_modified_json from jobs where id = 'refactor-hooks'")
    files = json.loads(job["files_modified_json"])
    assert job["files_modified"] == len(files) > 0 and files == sorted(files)
    edited = rows(db_path, "select distinct file_path from file_events where operation in ('edit', 'write', 'create')"
                           " and agent_id is null")
    assert {e["file_path"] for e in edited} <= set(files)
    query = ("select jobs.id from jobs, json_each(jobs.files_modified_json) f "
             "where f.value like '%' || :file || '%'")
    target = files[0].rsplit("/", 1)[1]
    assert rows(db_path, query, {"file": target}) == [{"id": "refactor-hooks"}]
    assert rows(db_path, query, {"file": "no/such/file.ex"}) == []


def test_reuse_of_tracks_the_original_prompt_and_count(db_path):
    result = json.loads(SUCCESS.read_text())
    ingest_job(db_path, json.dumps(result), job_id="first", prompt="write the release notes")
    ingest_job(db_path, json.dumps(dict(result, session_id="s2")), job_id="second", prompt="again, shorter",
               reuse_of="first")
    ingest_job(db_path, json.dumps(dict(result, session_id="s3")), job_id="third", prompt="again", reuse_of="second")
    ingest_job(db_path, json.dumps(dict(result, session_id="s4")), job_id="fourth", prompt="once more",
               reuse_of="first")
    got = {r["id"]: r for r in rows(db_path, "select id, reuse_of, reuse_count, original_prompt from jobs")}
    assert got["first"] == {"id": "first", "reuse_of": None, "reuse_count": 2, "original_prompt": None}
    assert got["second"]["original_prompt"] == got["third"]["original_prompt"] == "write the release notes"
    assert (got["second"]["reuse_count"], got["third"]["reuse_count"], got["fourth"]["reuse_count"]) == (1, 0, 0)
    # reuse counts are recomputed, not incremented: recording a reuse again changes nothing
    ingest_job(db_path, json.dumps(dict(result, session_id="s4")), job_id="fourth", reuse_of="first")
    assert rows(db_path, "select reuse_count from jobs where id = 'first'") == [{"reuse_count": 2}]


def test_jobs_by_day_view(db_path):
    ingest_job(db_path, SUCCESS.read_text(), received_at="2026-07-01T10:00:00.000Z")
    ingest_job(db_path, MAX_TURNS.read_text(), received_at="2026-07-01T11:00:00.000Z")
    ingest_job(db_path, ndjson(to_stream(load(TOOL_HEAVY))[:5]), job_id="killed")
    got = {r["day"]: r for r in rows(db_path, "select * from jobs_by_day")}
    day = got["2026-07-01"]
    assert (day["started"], day["completed"], day["failed"], day["crashed"]) == (2, 1, 1, 0)
    assert day["input_tokens"] == 812 + 2048 and day["elapsed_ms"] == 1200 + 5000
    assert got["2026-02-10"]["crashed"] == 1


# -- the command -----------------------------------------------------------------------------------
def test_cli_from_stdin_and_file_rerun_changes_nothing(tmp_path, tool_heavy_dbs):
    _, _, stream, _ = tool_heavy_dbs
    db = tmp_path / "cli.db"
    saved = tmp_path / "run.json"
    saved.write_text(SUCCESS.read_text())
    proc = claude_ingest("job", "--db", db, "--prompt", "start phoenix in background", input=stream)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("job d6e0bada-")
    proc = claude_ingest("job", saved, "--db", db, "--job-id", "nightly-1")
    assert proc.returncode == 0 and "job nightly-1: success (json)" in proc.stdout
    before = dump(db)
    for args, text in ((("job", "-", "--prompt", "start phoenix in background"), stream),
                       (("job", saved, "--job-id", "nightly-1"), None)):
        proc = claude_ingest(*args, "--db", db, input=text)
        assert proc.returncode == 0, proc.stderr
    assert dump(db) == before
    assert rows(db, "select prompt from jobs where id like 'd6e0bada-%'") == [{"prompt": "start phoenix in background"}]


def test_cli_env_db_and_errors(tmp_path):
    import os

    env = dict(os.environ, CLAUDE_INGEST_DB=str(tmp_path / "env.db"))
    proc = claude_ingest("job", SUCCESS, env=env)
    assert proc.returncode == 0 and rows(tmp_path / "env.db", "select count(*) n from jobs") == [{"n": 1}]
    proc = claude_ingest("job", tmp_path / "missing.json", "--db", tmp_path / "x.db")
    assert proc.returncode == 2
    proc = claude_ingest("job", "--db", tmp_path / "x.db", input="")
    assert proc.returncode == 2 and "no claude -p output" in proc.stderr  # a usage error, as every other one


def test_read_output_modes():
    assert read_output("")[2] == "empty"
    assert read_output(SUCCESS.read_text())[2] == "json"
    assert read_output(COMPOSITE.read_text())[2] == "stream-json"
    assert read_output(json.dumps(load(COMPOSITE)))[2] == "json-verbose"
    job = parse_job(load(COMPOSITE), received_at="2026-01-01T00:00:00.000Z", job_id="x")
    assert job.row["id"] == "x" and job.row["session_id"] == "efd4dc89-2c85-4b2f-8efb-e9ced52ba6fd"
