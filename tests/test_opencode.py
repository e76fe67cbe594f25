"""`claude-ingest opencode` and `opencode-event`: every storage generation, live events, the plugin.

The stores are built here from the field reference (../shared/FORMATS.md sections 5.2-5.4): a JSON
`storage/` tree, an `opencode.db` with OpenCode's tables, and a first-generation per-project store;
the parts captured from real `opencode run --format json` output and the recorded server event
stream (tests/fixtures/opencode) go in beside them.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import FIXTURES, claude_ingest, facts, rows
from ingest.load import hooks as hook_module
from ingest.load import opencode as oc
from ingest.install import install_opencode_plugin, opencode_plugin_source

CAPTURED = FIXTURES / "opencode" / "opencode-run-format-json.captured-lines.jsonl"
SSE = FIXTURES / "opencode" / "opencode-sse-event-stream.v1.18.5.first-lines.jsonl"
T0 = int(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)


def at(seconds):
    return T0 + seconds * 1000


def iso(seconds):
    return datetime.fromtimestamp(at(seconds) / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def tool(pid, call, name, inp, status="completed", **state):
    st = {"status": status, "input": inp, "time": {"start": at(5), "end": at(6)}, **state}
    if status == "completed":
        st.setdefault("output", f"{name} output")
        st.setdefault("title", name)
        st.setdefault("metadata", {})
    return {"id": pid, "type": "tool", "callID": call, "tool": name, "state": st}


def step(pid, inp, out, read=0, write=0, reasoning=0, cost=0.0, reason="stop"):
    return {"id": pid, "type": "step-finish", "reason": reason, "cost": cost,
            "tokens": {"input": inp, "output": out, "reasoning": reasoning, "cache": {"read": read, "write": write}}}


def text(pid, body, **extra):
    return {"id": pid, "type": "text", "text": body, "time": {"start": at(1), "end": at(2)}, **extra}


def user(mid, sid, seconds, *parts):
    return {"id": mid, "sessionID": sid, "role": "user", "time": {"created": at(seconds)}, "agent": "build",
            "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"}}, list(parts)


def assistant(mid, sid, seconds, parent, *parts, model="claude-sonnet-4-5", provider="anthropic", **extra):
    info = {"id": mid, "sessionID": sid, "role": "assistant", "parentID": parent,
            "time": {"created": at(seconds), "completed": at(seconds + 30)}, "modelID": model,
            "providerID": provider, "agent": "build", "mode": "build",
            "path": {"cwd": "/home/me/app", "root": "/home/me/app"}, "finish": "stop", **extra}
    steps = [p for p in parts if p["type"] == "step-finish"]
    info["cost"] = sum(p["cost"] for p in steps)
    info["tokens"] = steps[-1]["tokens"] if steps else {"input": 0, "output": 0, "reasoning": 0,
                                                         "cache": {"read": 0, "write": 0}}  # the last step only
    return info, list(parts)


def session(sid, title, seconds=0, parent=None, directory="/home/me/app", version="1.18.27", **extra):
    return {"id": sid, "projectID": "4b0ea68d7af9a6031a7ffda7ad66e0cb83315750", "directory": directory,
            "parentID": parent, "title": title, "version": version,
            "time": {"created": at(seconds), "updated": at(seconds + 600)}, **extra}


# -- the stores -----------------------------------------------------------------------------------
OVERLOADED = {"name": "APIError", "data": {"message": "Overloaded", "statusCode": 529, "isRetryable": True}}
DB_SESSIONS = [
    session("ses_B", "Add retries to the fetcher", slug="brave-otter", agent="build",
            model={"id": "claude-sonnet-4-5", "providerID": "anthropic"}),
    session("ses_C", "Find the fetcher (@explore subagent)", 10, parent="ses_B", agent="explore"),
    session("ses_D", "Old session", 3600),
]
DB_MESSAGES = [
    user("msg_B1", "ses_B", 0, text("prt_B1a", "Add a retry to the fetcher")),
    assistant("msg_B2", "ses_B", 1, "msg_B1",
              {"id": "prt_B2a", "type": "step-start", "snapshot": "3cea42e1"},
              tool("prt_B2b", "toolu_01READ", "read", {"filePath": "/home/me/app/fetch.py"}),
              step("prt_B2c", 100, 50, read=1000, write=200, cost=0.02, reason="tool-calls"),
              tool("prt_B2d", "toolu_01EDIT", "edit", {"filePath": "/home/me/app/fetch.py", "oldString": "a",
                                                       "newString": "b"}),
              tool("prt_B2e", "toolu_01BASH", "bash", {"command": "pytest -q", "description": "Run the tests"},
                   status="error", error="Error: exit code 1", metadata={"interrupted": False}),
              tool("prt_B2f", "toolu_01TASK", "task", {"description": "Find the fetcher", "prompt": "Where is fetch?",
                                                       "subagent_type": "explore"},
                   metadata={"sessionId": "ses_C", "summary": []}),
              tool("prt_B2g", "toolu_01WRITE", "write", {"filePath": "/home/me/app/retry.py", "content": "x" * 9000},
                   metadata={"exists": False, "filepath": "/home/me/app/retry.py"}),
              step("prt_B2h", 20, 80, read=1300, reasoning=10, cost=0.0221),
              text("prt_B2i", "Added a retry.")),
    user("msg_B3", "ses_B", 120, {"id": "prt_B3a", "type": "compaction", "auto": True}),
    assistant("msg_B4", "ses_B", 121, "msg_B3", text("prt_B4a", "Summary: we added retries to the fetcher."),
              step("prt_B4b", 5000, 300, cost=0.0195), summary=True),
    assistant("msg_B5", "ses_B", 200, "msg_B3",
              {"id": "prt_B5a", "type": "retry", "attempt": 1, "time": {"created": at(201)},
               "error": OVERLOADED}, error=OVERLOADED),
    user("msg_C1", "ses_C", 11, text("prt_C1a", "Where is fetch defined?")),
    assistant("msg_C2", "ses_C", 12, "msg_C1", tool("prt_C2a", "call_0", "grep", {"pattern": "def fetch"}),
              step("prt_C2b", 300, 40, cost=0.0005), model="claude-haiku-4-5"),
    assistant("msg_D1", "ses_D", 3601, None, step("prt_D1b", 10, 10, cost=0.0001)),
    user("msg_D2", "ses_D", 3700, text("prt_D2a", "hello")),
]
JSON_SESSIONS = [
    session("ses_A", "Port the CLI to Go", 7200, directory="/home/me/cli", version="1.1.40"),
    session("ses_D", "Old session (json copy)", 3600),
]
JSON_MESSAGES = [
    user("msg_A1", "ses_A", 7200, text("prt_A1a", "Port the CLI to Go")),
    assistant("msg_A2", "ses_A", 7201, "msg_A1", tool("prt_A2a", "call_0", "bash", {"command": "go build ./..."}),
              step("prt_A2b", 1000, 100, reasoning=50, cost=0.01), model="gpt-5", provider="openai"),
    assistant("msg_D1", "ses_D", 3601, None, step("prt_D1b", 999, 10, cost=0.5)),  # opencode.db has it
    assistant("msg_D3", "ses_D", 3800, "msg_D2", step("prt_D3b", 7, 3, cost=0.00002)),  # the migration skipped it
]


def captured_parts():
    return [json.loads(line)["part"] for line in CAPTURED.read_text().splitlines()]


def write_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def build_json_storage(root: Path):
    storage = root / "storage"
    write_json(storage / "migration", 2)
    write_json(storage / "project" / "4b0ea68d7af9a6031a7ffda7ad66e0cb83315750.json",
               {"id": "4b0ea68d7af9a6031a7ffda7ad66e0cb83315750", "worktree": "/home/me/app", "vcs": "git",
                "time": {"created": at(0)}})
    for info in JSON_SESSIONS:
        write_json(storage / "session" / info["projectID"] / f"{info['id']}.json", info)
    for info, parts in JSON_MESSAGES:
        write_json(storage / "message" / info["sessionID"] / f"{info['id']}.json", info)
        for part in parts:
            write_json(storage / "part" / info["id"] / f"{part['id']}.json",
                       {**part, "sessionID": info["sessionID"], "messageID": info["id"]})
    # The parts captured from `opencode run --format json`, under messages of their own sessions.
    for part in captured_parts():
        sid, mid = part["sessionID"], part["messageID"]
        if not (storage / "session" / "global" / f"{sid}.json").exists():
            write_json(storage / "session" / "global" / f"{sid}.json",
                       {"id": sid, "projectID": "global", "directory": "/workspace", "title": "captured",
                        "version": "1.3.0", "time": {"created": 1774670700000, "updated": 1774670710000}})
            model = "claude-haiku-4-5" if sid == "ses_x" else "big-pickle"
            provider = "anthropic" if sid == "ses_x" else "opencode"
            write_json(storage / "message" / sid / f"{mid}.json",
                       {"id": mid, "sessionID": sid, "role": "assistant", "modelID": model, "providerID": provider,
                        "time": {"created": 1774670700500, "completed": 1774670709000}})
        write_json(storage / "part" / mid / f"{part['id']}.json", part)
    # Unreadable leftovers OpenCode may leave: a half-written file and a temp file.
    (storage / "message" / "ses_A" / "msg_bad.json").write_text('{"id": "msg_bad", "role": ')
    (storage / "session" / "global" / ".oc-ses_tmp.json.123.tmp").write_text("{}")


def build_first_generation(root: Path):
    """The per-project store of the first versions: project/<dir>/storage/session/{info,message,part}."""
    store = root / "project" / "home-me-first" / "storage" / "session"
    write_json(store / "info" / "ses_0.json", session("ses_0", "First steps", 86400, directory="/home/me/first",
                                                      version="0.3.12"))
    info, parts = user("msg_01", "ses_0", 86400, text("prt_01a", "hello from 0.3"))
    write_json(store / "message" / "ses_0" / "msg_01.json", info)
    for p in parts:
        write_json(store / "part" / "ses_0" / "msg_01" / f"{p['id']}.json", {**p, "sessionID": "ses_0",
                                                                               "messageID": "msg_01"})
    info, parts = assistant("msg_02", "ses_0", 86401, "msg_01", step("prt_02a", 40, 4, cost=0.0002))
    write_json(store / "message" / "ses_0" / "msg_02.json", info)
    for p in parts:
        write_json(store / "part" / "ses_0" / "msg_02" / f"{p['id']}.json", {**p, "sessionID": "ses_0",
                                                                               "messageID": "msg_02"})


OPENCODE_DDL = """
create table project (id text primary key, worktree text not null, vcs text, name text, time_created integer,
                      time_updated integer);
create table session (id text primary key, project_id text not null, workspace_id text, parent_id text,
  slug text, directory text not null, path text, title text not null, version text not null, share_url text,
  summary_additions integer, summary_deletions integer, summary_files integer, summary_diffs text, cost real,
  tokens_input integer, tokens_output integer, tokens_reasoning integer, tokens_cache_read integer,
  tokens_cache_write integer, revert text, permission text, goal text, agent text, model text,
  time_created integer not null, time_updated integer not null, time_compacting integer, time_archived integer);
create table message (id text primary key, session_id text not null, time_created integer not null,
                      time_updated integer not null, data text not null);
create table part (id text primary key, message_id text not null, session_id text not null,
                   time_created integer not null, time_updated integer not null, data text not null);
create index part_session_idx on part (session_id);
create table __drizzle_migrations (id integer primary key, hash text, created_at integer);
"""


def build_db(path: Path):
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode = wal")
    conn.executescript(OPENCODE_DDL)
    conn.execute("insert into project values ('4b0ea68d7af9a6031a7ffda7ad66e0cb83315750', '/home/me/app', 'git',"
                 " null, ?, ?)", (T0, T0))
    for s in DB_SESSIONS:
        # json-migration.ts left cost and tokens 0 at session level: they are not read
        conn.execute("insert into session (id, project_id, parent_id, slug, directory, title, version, cost, "
                     "tokens_input, agent, model, time_created, time_updated) values (?,?,?,?,?,?,?,0,0,?,?,?,?)",
                     (s["id"], s["projectID"], s["parentID"], s.get("slug"), s["directory"], s["title"], s["version"],
                      s.get("agent"), json.dumps(s["model"]) if s.get("model") else None,
                      s["time"]["created"], s["time"]["updated"]))
    for info, parts in DB_MESSAGES:
        data = {k: v for k, v in info.items() if k not in ("id", "sessionID")}
        conn.execute("insert into message values (?,?,?,?,?)", (info["id"], info["sessionID"], info["time"]["created"],
                                                                 info["time"]["created"], json.dumps(data)))
        for p in parts:
            conn.execute("insert into part values (?,?,?,?,?,?)",
                         (p["id"], info["id"], info["sessionID"], info["time"]["created"], info["time"]["created"],
                          json.dumps({k: v for k, v in p.items() if k not in ("id", "sessionID", "messageID")})))
    conn.commit()
    conn.close()


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "opencode"
    root.mkdir()
    build_json_storage(root)
    build_first_generation(root)
    build_db(root / "opencode.db")
    return root


@pytest.fixture
def ingested(data_dir, tmp_path):
    db = tmp_path / "claude.db"
    summary = oc.ingest_opencode(db, data_dir, host="test-host")
    return db, summary


def data_tables(db):
    conn = sqlite3.connect(db)
    names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' and name not like "
                                        "'%fts%' and name not in ('ingest_runs', 'ingest_files')")]
    out = {n: sorted(map(repr, conn.execute(f"select {facts(conn, n)} from [{n}]"))) for n in names}
    conn.close()
    return out


# -- the stores -----------------------------------------------------------------------------------
def test_sessions_from_every_generation_once(ingested):
    db, summary = ingested
    got = {r["id"]: r for r in rows(db, "select * from sessions")}
    assert set(got) == {"ses_B", "ses_D", "ses_A", "ses_0", "ses_2cd622e85ffez1k2rGGvSSppSf", "ses_x"}
    assert all(r["source"] == "opencode" for r in got.values())
    b = got["ses_B"]
    assert (b["title"], b["project_path"], b["cwd"], b["slug"], b["version"], b["model"], b["host"]) == (
        "Add retries to the fetcher", "/home/me/app", "/home/me/app", "brave-otter", "1.18.27", "claude-sonnet-4-5",
        "test-host")
    assert (b["started_at"], b["ended_at"]) == (iso(0), iso(600))
    assert b["transcript_path"].endswith("opencode.db")
    # a session in opencode.db and in storage/ is read once, opencode.db's copy first
    assert got["ses_D"]["title"] == "Old session"
    assert got["ses_0"]["version"] == "0.3.12" and got["ses_0"]["project_path"] == "/home/me/first"
    assert sorted(summary.sources_read) == ["json", "json0", "opencode.db"]
    assert summary.bad_files == 1 and summary.skipped_duplicates == 1
    assert summary.line().startswith("3 sources read")


def test_child_session_is_a_subagent_of_its_parent(ingested):
    db, _ = ingested
    assert rows(db, "select agent_id, session_id, tool_use_id, agent_type, description, spawn_depth from subagents") \
        == [{"agent_id": "ses_C", "session_id": "ses_B", "tool_use_id": "toolu_01TASK", "agent_type": "explore",
             "description": "Find the fetcher", "spawn_depth": 1}]
    # its calls and usage are the parent session's, marked with the subagent
    grep = rows(db, "select session_id, agent_id, is_sidechain from tool_calls where tool_name = 'grep'")
    assert grep == [{"session_id": "ses_B", "agent_id": "ses_C", "is_sidechain": 1}]
    usage = rows(db, "select requests, subagent_requests from session_usage where session_id = 'ses_B'")
    assert usage == [{"requests": 4, "subagent_requests": 1}]
    # a subagent's task prompt is not a prompt the user typed
    assert rows(db, "select count(*) n from prompts where text like 'Where is fetch%'") == [{"n": 0}]


def test_tokens_are_the_sum_of_step_finish_parts(ingested):
    """Section 5.5: the message's tokens are its last step only; never add message and part values."""
    db, _ = ingested
    steps = rows(db, "select request_id, input_tokens, output_tokens, cache_read_input_tokens, "
                     "cache_creation_input_tokens, cost_usd, reported_cost_usd, priced, model, timestamp "
                     "from api_requests where message_id = 'msg_B2' order by request_id")
    assert [s["request_id"] for s in steps] == ["prt_B2c", "prt_B2h"]
    assert sum(s["input_tokens"] for s in steps) == 120  # not 140 (parts + message), not 20 (message)
    assert sum(s["output_tokens"] for s in steps) == 50 + 80 + 10  # reasoning is billed as output
    assert sum(s["cache_read_input_tokens"] for s in steps) == 2300
    # our estimate at Sonnet 4.5's list price; OpenCode's own figure beside it
    assert steps[0]["cost_usd"] == pytest.approx((100 * 3 + 50 * 15 + 200 * 3.75 + 1000 * 0.3) / 1e6)
    assert steps[0]["reported_cost_usd"] == 0.02 and steps[0]["priced"] == 1
    assert steps[0]["model"] == "claude-sonnet-4-5" and steps[0]["timestamp"] == iso(1)
    total = rows(db, "select sum(input_tokens) i, count(*) n from api_requests")[0]
    assert total == {"i": 120 + 5000 + 300 + 10 + 7 + 1000 + 671 + 40, "n": 9}


def test_other_providers_models_are_priced_by_genai_prices_with_their_source(ingested):
    import genai_prices

    db, summary = ingested
    gpt = rows(db, "select cost_usd, priced, price_source, provider, reported_cost_usd, output_tokens "
                   "from api_requests where model = 'gpt-5'")
    # OpenAI's list price for gpt-5 ($1.25 in, $10 out per million; reasoning billed as output), as
    # the installed genai-prices knows it, under the provider OpenCode called
    assert gpt == [{"cost_usd": pytest.approx((1000 * 1.25 + 150 * 10) / 1e6), "priced": 1,
                    "price_source": f"genai-prices {genai_prices.__version__} openai/gpt-5", "provider": "openai",
                    "reported_cost_usd": 0.01, "output_tokens": 150}]
    assert summary.unpriced == {} and "unpriced models: none" in summary.line()
    # the captured step-finish, under a Claude model, is priced from our table
    x = rows(db, "select cost_usd, reported_cost_usd, price_source from api_requests where message_id = 'msg_x'")[0]
    assert x["cost_usd"] == pytest.approx((671 * 1 + 8 * 5 + 21415 * 0.1) / 1e6) and x["reported_cost_usd"] == 0.001
    assert x["price_source"] == "datasette-claude prices.json 2026-08-21"


def test_tool_parts_are_tool_calls_with_the_same_columns(ingested):
    db, _ = ingested
    got = {r["tool_use_id"]: r for r in rows(db, "select * from tool_calls")}
    read = got["toolu_01READ"]
    assert (read["tool_name"], read["file_path"], read["is_error"], read["session_id"], read["message_uuid"]) == (
        "read", "/home/me/app/fetch.py", 0, "ses_B", "msg_B2")
    assert (read["started_at"], read["ended_at"], read["duration_ms"]) == (iso(5), iso(6), 1000)
    bash = got["toolu_01BASH"]
    assert (bash["command"], bash["description"], bash["is_error"], bash["error_message"], bash["interrupted"]) == (
        "pytest -q", "Run the tests", 1, "Error: exit code 1", 0)
    assert json.loads(bash["input_json"]) == {"command": "pytest -q", "description": "Run the tests"}
    # long inputs are cut, keeping valid JSON
    assert len(json.loads(got["toolu_01WRITE"]["input_json"])["content"]) == 9000  # kept whole, for replay
    # provider call ids that repeat across sessions stay apart
    assert {"ses_C:call_0", "ses_A:call_0"} <= set(got)
    captured = got["ses_2cd622e85ffez1k2rGGvSSppSf:call_function_aot0d7lijzrs_1"]
    assert (captured["tool_name"], captured["file_path"], captured["output_preview"]) == (
        "read", "/workspace/.github/workflows/backend.yml", "/workspace/.github/workflows/backend.yml")
    assert captured["duration_ms"] == 10
    files = rows(db, "select file_path, operation, tool_name from file_events order by file_path, operation")
    assert files == [
        {"file_path": "/home/me/app/fetch.py", "operation": "edit", "tool_name": "edit"},
        {"file_path": "/home/me/app/fetch.py", "operation": "read", "tool_name": "read"},
        {"file_path": "/home/me/app/retry.py", "operation": "create", "tool_name": "write"},
        {"file_path": "/workspace/.github/workflows/backend.yml", "operation": "read", "tool_name": "read"},
    ]


def test_compactions_errors_prompts_messages(ingested):
    db, _ = ingested
    assert rows(db, "select id, session_id, trigger, summary_preview, timestamp from compactions") == [
        {"id": "msg_B3", "session_id": "ses_B", "trigger": "auto",
         "summary_preview": "Summary: we added retries to the fetcher.", "timestamp": iso(120)}]
    assert rows(db, "select id, kind, message, status from errors order by id") == [
        {"id": "msg_B5:error", "kind": "APIError", "message": "Overloaded", "status": 529},
        {"id": "prt_B5a", "kind": "api_retry", "message": "Overloaded", "status": 529}]
    assert rows(db, "select id, session_id, text from prompts order by id") == [
        {"id": "msg_01", "session_id": "ses_0", "text": "hello from 0.3"},
        {"id": "msg_A1", "session_id": "ses_A", "text": "Port the CLI to Go"},
        {"id": "msg_B1", "session_id": "ses_B", "text": "Add a retry to the fetcher"},
        {"id": "msg_D2", "session_id": "ses_D", "text": "hello"}]
    msg = rows(db, "select type, parent_uuid, model, text, content_types from messages where uuid = 'msg_B2'")[0]
    assert msg == {"type": "assistant", "parent_uuid": "msg_B1", "model": "claude-sonnet-4-5",
                   "text": "Added a retry.", "content_types": "step-finish,step-start,text,tool"}


def test_json_copy_of_a_migrated_message_is_not_read_twice(ingested):
    db, _ = ingested
    assert rows(db, "select message_id, input_tokens from api_requests where session_id = 'ses_D' order by 1") == [
        {"message_id": "msg_D1", "input_tokens": 10}, {"message_id": "msg_D3", "input_tokens": 7}]


def test_rerun_changes_nothing_and_skips_unchanged_stores(ingested, data_dir):
    db, _ = ingested
    before = data_tables(db)
    again = oc.ingest_opencode(db, data_dir, host="test-host")
    assert again.sources_unchanged == 3 and again.sources_read == [] and "0 sources read" in again.line()
    forced = oc.ingest_opencode(db, data_dir, host="test-host", force=True)
    assert len(forced.sources_read) == 3
    assert data_tables(db) == before
    # a store that changed is read again, and only what changed is new
    conn = sqlite3.connect(data_dir / "opencode.db")
    info, parts = assistant("msg_D4", "ses_D", 3900, "msg_D2", step("prt_D4b", 1, 1))
    conn.execute("insert into message values (?,?,?,?,?)", ("msg_D4", "ses_D", at(3900), at(3900),
                                                             json.dumps({k: v for k, v in info.items() if k != "id"})))
    conn.execute("insert into part values (?,?,?,?,?,?)", ("prt_D4b", "msg_D4", "ses_D", at(3900), at(3900),
                                                          json.dumps(parts[0])))
    conn.commit()
    conn.close()
    third = oc.ingest_opencode(db, data_dir, host="test-host")
    assert third.sources_read == ["opencode.db"] and third.sources_unchanged == 2
    assert rows(db, "select count(*) n from api_requests")[0]["n"] == 10


def test_database_busy_in_wal_mode_is_still_read(data_dir, tmp_path):
    """OpenCode keeps opencode.db open in WAL mode: a writer mid-transaction must not stop us."""
    writer = sqlite3.connect(data_dir / "opencode.db", isolation_level=None)
    assert writer.execute("pragma journal_mode").fetchone()[0] == "wal"
    writer.execute("begin immediate")
    writer.execute("insert into session (id, project_id, directory, title, version, time_created, time_updated) "
                   "values ('ses_uncommitted', 'p', '/x', 'not yet', '1.18', 1, 1)")
    try:
        started = time.perf_counter()
        summary = oc.ingest_opencode(tmp_path / "busy.db", data_dir / "opencode.db")
        assert time.perf_counter() - started < 5
    finally:
        writer.execute("rollback")
        writer.close()
    assert summary.sources_read == ["opencode.db"]
    ids = {r["id"] for r in rows(tmp_path / "busy.db", "select id from sessions")}
    assert ids == {"ses_B", "ses_D"}  # committed rows only
    # and the database was only read: nothing of ours in it
    assert not list(data_dir.glob("opencode.db.*spool*"))


def test_cli_default_path_and_summary(data_dir, tmp_path):
    env = {**os.environ, "OPENCODE_DATA_DIR": str(data_dir)}
    proc = claude_ingest("opencode", "--db", tmp_path / "cli.db", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and "3 sources read" in proc.stdout
    env["OPENCODE_DATA_DIR"] = str(tmp_path / "nowhere")
    proc = claude_ingest("opencode", "--db", tmp_path / "cli.db", env=env)
    assert proc.returncode == 0 and "no OpenCode data" in proc.stdout
    assert claude_ingest("opencode", tmp_path / "missing", "--db", tmp_path / "cli.db").returncode == 2


# -- live events ------------------------------------------------------------------------------------
def run_event(db, payload, env=None):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return subprocess.run([sys.executable, "-m", "ingest", "opencode-event", "--db", str(db)], input=raw,
                          capture_output=True, timeout=60, env=env)


def events_for_db_sessions():
    """What the plugin forwards while the sessions in opencode.db happen."""
    out = []
    for info in DB_SESSIONS:
        out.append({"type": "session.created", "properties": {"info": info}})
    for info, parts in DB_MESSAGES:
        out.append({"type": "message.updated", "properties": {"info": info}})
        for part in parts:
            out.append({"type": "message.part.updated",
                        "properties": {"part": {**part, "sessionID": info["sessionID"], "messageID": info["id"]}}})
    out.append({"type": "tool.execute.before", "properties": {"tool": "bash", "sessionID": "ses_B",
                                                              "callID": "toolu_01BASH",
                                                              "args": {"command": "pytest -q"}}})
    out.append({"type": "tool.execute.after", "properties": {"tool": "bash", "sessionID": "ses_B",
                                                             "callID": "toolu_01BASH", "title": "pytest",
                                                             "output": "1 failed", "metadata": {"exit": 1}}})
    out.append({"type": "session.error", "properties": {"sessionID": "ses_B", "error": {
        "name": "ProviderAuthError", "data": {"providerID": "anthropic", "message": "token expired"}}}})
    out.append({"type": "session.compacted", "properties": {"sessionID": "ses_B"}})
    out.append({"type": "file.edited", "properties": {"file": "/home/me/app/fetch.py"}})
    out.append({"type": "session.status", "properties": {"sessionID": "ses_B", "status": {"type": "idle"}}})
    return out


def test_recorded_event_stream_through_the_command(tmp_path):
    db = tmp_path / "events.db"
    lines = [line for line in SSE.read_bytes().splitlines() if line.strip()]
    for line in lines:
        proc = run_event(db, line)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    events = rows(db, "select event, known, source, session_id from hook_events order by event")
    assert events == [
        {"event": "message.updated", "known": 1, "source": "opencode", "session_id": "ses_062f6fafdffeazh6ywwvMxsbNW"},
        {"event": "server.connected", "known": 1, "source": "opencode", "session_id": None},
        {"event": "session.updated", "known": 1, "source": "opencode", "session_id": "ses_062f6fafdffeazh6ywwvMxsbNW"}]
    assert rows(db, "select id, source, title, cwd, version, model, slug from sessions") == [
        {"id": "ses_062f6fafdffeazh6ywwvMxsbNW", "source": "opencode", "title": "sse fixture", "cwd": "/tmp",
         "version": "1.18.5", "model": "big-pickle", "slug": "witty-falcon"}]
    assert rows(db, "select uuid, type, timestamp from messages") == [
        {"uuid": "msg_f9d09098f001OOkZQc5qa3iPrO", "type": "user", "timestamp": "2026-07-26T06:07:23.023Z"}]
    # the same event again is the same event
    run_event(db, lines[1])
    assert rows(db, "select count(*) n from hook_events") == [{"n": 3}]


def test_events_and_storage_converge(data_dir, tmp_path):
    stored_only = tmp_path / "stored.db"
    oc.ingest_opencode(stored_only, data_dir / "opencode.db")
    db = tmp_path / "both.db"
    for i, event in enumerate(events_for_db_sessions()):
        assert oc.handle_event(json.dumps(event).encode(), db, received_at=iso(300 + i)) == "stored"
    assert rows(db, "select count(*) n from hook_events where derive_error is not null") == [{"n": 0}]
    # live, before OpenCode's storage is read: the subagent, its usage, the tool calls are there already
    assert rows(db, "select agent_id, session_id, tool_use_id from subagents") == [
        {"agent_id": "ses_C", "session_id": "ses_B", "tool_use_id": "toolu_01TASK"}]
    bash = rows(db, "select command, is_error from tool_calls where tool_use_id = 'toolu_01BASH'")
    assert bash[0]["command"] == "pytest -q" and bash[0]["is_error"] == 1
    assert rows(db, "select kind, message from errors where id like 'opencode-event:%'") == [
        {"kind": "ProviderAuthError", "message": "token expired"}]
    oc.ingest_opencode(db, data_dir / "opencode.db")
    for table, key in (("api_requests", "message_id, request_id"), ("tool_calls", "tool_use_id"),
                       ("file_events", "tool_use_id, file_path"), ("subagents", "agent_id"), ("prompts", "id"),
                       ("compactions", "id"), ("messages", "uuid")):
        assert rows(db, f"select {key} from {table} order by {key}") == rows(
            stored_only, f"select {key} from {table} order by {key}"), table
    usage = "select message_id, request_id, input_tokens, output_tokens, cost_usd, model from api_requests order by 1,2"
    assert rows(db, usage) == rows(stored_only, usage)
    # the live compaction event folded into the stored compaction
    assert rows(db, "select id from compactions") == [{"id": "msg_B3"}]


def test_garbage_never_fails_or_prints(tmp_path):
    db = tmp_path / "g.db"
    for raw in (b"", b"not json", b"[1, 2]", b'{"type": 42}', b'{"type": "message.part.updated", "properties": '
                b'{"part": {"type": "tool", "callID": 5}}}', b'{"type": "session.created", "properties": {"info": 1}}'):
        proc = run_event(db, raw)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), raw
    assert rows(db, "select count(*) n from hook_events where derive_error is not null") == [{"n": 0}]


def test_locked_database_spools_and_replays_apart_from_claude_hooks(tmp_path):
    db = tmp_path / "t.db"
    run_event(db, {"type": "server.connected", "properties": {}})
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("begin exclusive")
    try:
        started = time.perf_counter()
        proc = run_event(db, {"type": "session.idle", "properties": {"sessionID": "ses_spooled"}})
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
        assert time.perf_counter() - started < hook_module.BUSY_TIMEOUT_S + 3
    finally:
        locker.execute("rollback")
        locker.close()
    spool = hook_module.spool_paths(db, oc.OPENCODE_EVENTS)[0]
    assert spool.exists() and b"ses_spooled" in spool.read_bytes()
    # a Claude Code hook's replay leaves OpenCode's spool alone (it would not know what it says)
    hook_module.handle(b'{"hook_event_name": "Setup", "session_id": "s"}', db)
    assert spool.exists()
    # the opencode command replays it too
    empty = db.parent / "no-opencode-here"
    empty.mkdir()
    assert "1 spooled events replayed" in oc.ingest_opencode(db, empty).line()
    assert not spool.exists()
    run_event(db, {"type": "session.idle", "properties": {"sessionID": "ses_next"}})
    assert rows(db, "select source, count(*) n from hook_events where event = 'session.idle' group by source "
                    "order by source") == [{"source": "opencode", "n": 1}, {"source": "opencode-spool", "n": 1}]
    assert {r["id"] for r in rows(db, "select id from sessions where source = 'opencode'")} == {"ses_spooled",
                                                                                                "ses_next"}


def test_event_path_imports_no_heavy_library(tmp_path):
    code = ("import sys, io; sys.stdin = io.TextIOWrapper(io.BytesIO(b'{}')); sys.argv = ['claude-ingest', "
            f"'opencode-event', '--db', {str(tmp_path / 't.db')!r}]; from ingest.entry import main; main(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'sqlite_utils', 'datasette')))")
    run_event(tmp_path / "t.db", b"{}")  # the schema exists
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the plugin -----------------------------------------------------------------------------------
NODE = shutil.which("node")


def node_run(script: str, cwd: Path):
    (cwd / "run.mjs").write_text(script)
    return subprocess.run([NODE, str(cwd / "run.mjs")], capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_plugin_is_valid_javascript_with_one_export(tmp_path):
    plugin = tmp_path / "plugin.mjs"
    plugin.write_text(opencode_plugin_source(tmp_path / "x.db"))
    check = subprocess.run([NODE, "--check", str(plugin)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # OpenCode calls every function a plugin module exports: exactly one, the plugin
    out = node_run(f"import * as m from {json.dumps(str(plugin))}; console.log(JSON.stringify(Object.keys(m)))",
                   tmp_path)
    assert json.loads(out.stdout) == ["ClaudeIngest"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_plugin_forwards_events_to_the_database(tmp_path):
    db = tmp_path / "live.db"
    plugins = tmp_path / "plugins"
    plugin, changed = install_opencode_plugin(db, plugins_dir=plugins)
    assert changed and plugin == plugins / "claude-ingest.js"
    shutil.copy(plugin, tmp_path / "plugin.mjs")
    session_info = DB_SESSIONS[0]
    script = f"""
import {{ ClaudeIngest }} from "./plugin.mjs"
const hooks = await ClaudeIngest({{ directory: "/home/me/app" }})
await hooks.event({{ event: {{ type: "session.created", properties: {{ info: {json.dumps(session_info)} }} }} }})
await hooks.event({{ event: {{ type: "message.part.delta", properties: {{ delta: "x" }} }} }})
const output = {{ args: {{ command: "pytest -q" }} }}
const before = JSON.stringify(output)
await hooks["tool.execute.before"]({{ tool: "bash", sessionID: "ses_B", callID: "toolu_live" }}, output)
console.log(JSON.stringify({{ unchanged: JSON.stringify(output) === before }}))
"""
    proc = node_run(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"unchanged": True}
    deadline = time.time() + 30
    while time.time() < deadline:  # the detached claude-ingest processes finish on their own
        try:
            if db.exists() and rows(db, "select count(*) n from hook_events")[0]["n"] >= 2:
                break
        except sqlite3.OperationalError:  # the database is being created
            pass
        time.sleep(0.2)
    assert {r["event"] for r in rows(db, "select event from hook_events")} == {"session.created",
                                                                               "tool.execute.before"}
    assert rows(db, "select id, title from sessions") == [{"id": "ses_B", "title": "Add retries to the fetcher"}]
    assert rows(db, "select tool_use_id, command from tool_calls") == [{"tool_use_id": "toolu_live",
                                                                        "command": "pytest -q"}]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_plugin_swallows_every_failure(tmp_path):
    source = opencode_plugin_source(tmp_path / "x.db").replace(json.dumps(sys.executable),
                                                               json.dumps(str(tmp_path / "no-such-binary")))
    (tmp_path / "plugin.mjs").write_text(source)
    script = """
import { ClaudeIngest } from "./plugin.mjs"
const hooks = await ClaudeIngest({})
const circular = { title: "t" }; circular.self = circular
const hostile = { get args() { throw new Error("boom") } }
const results = []
for (const call of [
  () => hooks.event({ event: { type: "session.idle", properties: { sessionID: "s" } } }),
  () => hooks.event({}),
  () => hooks.event(),
  () => hooks["tool.execute.before"](null, hostile),
  () => hooks["tool.execute.after"]({ tool: "bash", sessionID: "s", callID: "c" }, circular),
  () => hooks["chat.message"](undefined, undefined),
]) {
  try { await call(); results.push("ok") } catch (e) { results.push("threw " + e) }
}
await new Promise((resolve) => setTimeout(resolve, 300))  // the failed spawns report asynchronously
console.log(JSON.stringify({ results, circularKept: circular.self === circular && Object.keys(circular).length === 2 }))
"""
    proc = node_run(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"results": ["ok"] * 6, "circularKept": True}


def test_install_hooks_opencode_puts_the_plugin_in_place(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_INGEST_DB", "CLAUDE_CONFIG_DIR")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    args = ("install-hooks", "--opencode", "--settings", tmp_path / "settings.json", "--db", tmp_path / "t.db")
    first = claude_ingest(*args, env=env)
    assert first.returncode == 0, first.stderr
    plugin = tmp_path / "config" / "opencode" / "plugins" / "claude-ingest.js"
    assert f"{plugin}: added the claude-ingest OpenCode plugin" in first.stdout
    body = plugin.read_text()
    assert "__CLAUDE_INGEST" not in body and str(tmp_path / "t.db") in body and '"opencode-event"' in body
    command = json.loads(body.split("const COMMAND = ", 1)[1].split("\n", 1)[0])
    assert Path(command).is_absolute()
    second = claude_ingest(*args, env=env)
    assert "already has the claude-ingest OpenCode plugin" in second.stdout and plugin.read_text() == body
    # --project puts it in the project's .opencode/plugins/
    project = tmp_path / "repo"
    project.mkdir()
    third = claude_ingest("install-hooks", "--opencode", "--project", env=env, cwd=project)
    assert third.returncode == 0, third.stderr
    assert (project / ".opencode" / "plugins" / "claude-ingest.js").exists()
    # uninstall-hooks --opencode removes exactly that file, and only ours
    gone = claude_ingest("uninstall-hooks", "--opencode", "--settings", tmp_path / "settings.json", env=env)
    assert gone.returncode == 0 and f"{plugin}: removed" in gone.stdout and not plugin.exists()
    mine = plugin.parent / "claude-ingest.js"
    mine.write_text("// someone else's plugin of the same name\n")
    claude_ingest("uninstall-hooks", "--opencode", "--settings", tmp_path / "settings.json", env=env)
    assert mine.exists()
