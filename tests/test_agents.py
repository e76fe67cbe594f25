"""More agents: Codex CLI, Gemini CLI, the Go OpenCode and Crush stores, Claude Code's prompt history.

Each on its real recorded files (tests/fixtures/README.md): sessions, prompts, tool calls, failures,
tokens; a second run that opens nothing; a malformed line counted. The expected figures are counted
here from the files themselves, independently of the parsers. Token totals against ccusage are in
test_agents_parity.py.
"""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import FIXTURES, PROJECTS, claude_ingest, copy_tree, rows
from ingest.load import files as files_mod
from ingest.load.codex import ingest_codex
from ingest.load.crush import ingest_crush
from ingest.load.gemini import ingest_gemini
from ingest.load.transcripts import backfill

CODEX = FIXTURES / "codex"
GEMINI = FIXTURES / "gemini"
GO_STORES = sorted((FIXTURES / "opencode-go").glob("*/.opencode/opencode.db"))
CRUSH_STORES = sorted((FIXTURES / "crush").glob("*/.crush/crush.db"))
HISTORY = FIXTURES / "claude-history" / "history.jsonl"


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _forbid_opening(monkeypatch):
    def refuse(path):
        raise AssertionError(f"{path} was opened on a run where nothing changed")

    monkeypatch.setattr(files_mod, "open_regular", refuse)
    monkeypatch.setattr(files_mod, "read_small", lambda path, limit=0: refuse(path))


# -- Codex CLI ---------------------------------------------------------------------------------------
def _codex_expected():
    """Per rollout, straight from its lines: session id, prompts, tool calls, failed commands."""
    out = {}
    for path in sorted(CODEX.rglob("rollout-*.jsonl")):
        sid, prompts, calls, failed = None, 0, set(), set()
        for line in _lines(path):
            p = line.get("payload") or {}
            kind = (line.get("type"), p.get("type"))
            if kind[0] == "session_meta":
                sid = p["id"]
            elif kind == ("event_msg", "user_message") and p.get("message", "").strip():
                prompts += 1
            elif kind[0] == "response_item" and kind[1] in ("function_call", "custom_tool_call"):
                calls.add(p["call_id"])
            elif kind == ("event_msg", "web_search_end"):
                calls.add(p["call_id"])
            elif kind == ("event_msg", "exec_command_end") and str(p.get("exit_code")) not in ("0", "None"):
                failed.add(p["call_id"])
        out[sid] = {"prompts": prompts, "calls": calls, "failed": failed, "file": path.name}
    return out


CODEX_EXPECTED = _codex_expected()


@pytest.fixture(scope="module")
def codex_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("codex") / "claude.db"
    summary = ingest_codex(db, [CODEX])
    assert summary.files_read == 6 and summary.bad_lines == 0
    return db


def test_codex_sessions_from_session_meta_and_turn_context(codex_db):
    sessions = {r["id"]: r for r in rows(codex_db, "select * from sessions")}
    assert set(sessions) == set(CODEX_EXPECTED)
    assert {r["source"] for r in sessions.values()} == {"codex"}
    jan = sessions["019b7f94-51b4-7593-922e-ba12b5b73b52"]  # codex_exec 0.77.0, January 2026
    assert (jan["version"], jan["entrypoint"], jan["git_branch"], jan["model"], jan["start_source"]) == (
        "0.77.0", "codex_exec", "codex", "gpt-5-1-codex-2025-11-13", "exec")
    assert jan["project_path"] == "/Users/Nikita_Levyankov/repos/EPMCDME/codemie-ai/codemie-code"
    may = sessions["019e1625-789d-76c0-80ab-3724b5ddb799"]  # codex-tui 0.125.0, May 2026
    assert (may["version"], may["model"], may["permission_mode"]) == ("0.125.0", "gpt-5.5", "on-request")
    for sid, row in sessions.items():
        assert row["transcript_path"].endswith(CODEX_EXPECTED[sid]["file"])
        assert row["started_at"] <= row["ended_at"]


def test_codex_prompts_and_tool_calls_are_all_there_once(codex_db):
    for sid, expected in CODEX_EXPECTED.items():
        (p,) = rows(codex_db, "select count(*) n from prompts where session_id = ?", (sid,))
        assert p["n"] == expected["prompts"], sid
        calls = {r["tool_use_id"] for r in rows(codex_db, "select tool_use_id from tool_calls where session_id = ?",
                                               (sid,))}
        assert calls == {f"{sid}:{c}" for c in expected["calls"]}, sid
    assert rows(codex_db, "select text from prompts where session_id = '019e1625-789d-76c0-80ab-3724b5ddb799' "
                          "order by timestamp limit 1")[0]["text"] == "show tools"


def test_codex_commands_exit_codes_and_patches(codex_db):
    sid = "019e1625-789d-76c0-80ab-3724b5ddb799"
    failed = {r["tool_use_id"] for r in rows(codex_db, "select tool_use_id from tool_calls where session_id = ? "
                                                       "and tool_name = 'exec_command' and is_error = 1", (sid,))}
    assert failed >= {f"{sid}:{c}" for c in CODEX_EXPECTED[sid]["failed"]} and CODEX_EXPECTED[sid]["failed"]
    (row,) = rows(codex_db, "select * from tool_calls where tool_use_id = ?",
                  (f"{sid}:{sorted(CODEX_EXPECTED[sid]['failed'])[0]}",))
    assert row["error_message"].split("\n")[0] in ("Exit code 1", "Exit code 2") and row["command"]
    assert row["duration_ms"] > 0
    # shell's argv lists (January) read as the command they ran
    assert {r["command"] for r in rows(codex_db, "select command from tool_calls where tool_name = 'shell'")} >= {"ls"}
    # apply_patch: one file event per patched file, the operation the patch names
    events = rows(codex_db, "select f.file_path, f.operation from file_events f join tool_calls t "
                            "on t.tool_use_id = f.tool_use_id where t.session_id = ? and t.tool_name = 'apply_patch'",
                  (sid,))
    assert events and all(e["operation"] in ("edit", "create", "delete") for e in events)
    assert any(e["file_path"].endswith("codemie-code-reasoning.test.ts") for e in events)
    assert rows(codex_db, "select count(*) n from tool_calls where tool_name = 'web_search'")[0]["n"] == 3
    # a compaction (February, Codex Desktop 0.104)
    assert rows(codex_db, "select session_id from compactions") == [{"session_id": "019c8a59-e9dd-71f0-9ae3-4079fe9726a9"}]


def test_codex_tokens_once_per_response_and_unpriced_models_flagged(codex_db):
    for path in CODEX.rglob("rollout-*.jsonl"):
        totals = set()
        for line in _lines(path):
            p = line.get("payload") or {}
            if p.get("type") == "token_count" and isinstance(p.get("info"), dict):
                totals.add(json.dumps(p["info"]["total_token_usage"], sort_keys=True))
        sid = next(line["payload"]["id"] for line in _lines(path) if line["type"] == "session_meta")
        (n,) = rows(codex_db, "select count(*) n from api_requests where session_id = ?", (sid,))
        assert n["n"] == len(totals)  # one row per distinct running total: each response once
    bad = rows(codex_db, "select count(*) n from api_requests where reasoning_tokens > output_tokens "
                         "or cache_read_input_tokens < 0 or input_tokens < 0")
    assert bad[0]["n"] == 0
    # OpenAI's models are not in the shipped price table: NULL cost, flagged, never $0
    assert rows(codex_db, "select count(*) n, sum(priced) p, count(cost_usd) c from api_requests")[0] == {
        "n": 389, "p": 0, "c": 0}


def test_codex_second_run_opens_nothing(codex_db, monkeypatch):
    _forbid_opening(monkeypatch)
    summary = ingest_codex(codex_db, [CODEX])
    assert (summary.files_read, summary.files_skipped, sum(sum(c.values()) for c in summary.rows.values())) == (0, 6, 0)


def test_codex_bad_lines_counted_and_a_grown_file_read_from_its_offset(tmp_path):
    src = next(CODEX.rglob("rollout-2026-02-23T20-34-25-*.jsonl"))
    home = tmp_path / "codex"
    target = home / "sessions" / "2026" / "02" / "23" / src.name
    target.parent.mkdir(parents=True)
    lines = src.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:20]) + b"{not json\n" + b"[1, 2]\n")
    db = tmp_path / "claude.db"
    first = ingest_codex(db, [home])
    assert (first.lines, first.bad_lines) == (22, 2)
    assert len(rows(db, "select * from ingest_skips where path = ?", (str(target),))) == 2
    with target.open("ab") as f:
        f.write(b"".join(lines[20:]))
    second = ingest_codex(db, [home])
    assert (second.files_read, second.lines, second.bad_lines) == (1, len(lines) - 20, 0)
    whole = tmp_path / "whole.db"
    ingest_codex(whole, [src])
    sums = "select sum(input_tokens) i, sum(output_tokens) o, sum(cache_read_input_tokens) c, count(*) n from api_requests"
    assert rows(db, sums) == rows(whole, sums)
    assert rows(db, "select count(*) n from tool_calls") == rows(whole, "select count(*) n from tool_calls")


def test_codex_archived_sessions_are_read_and_one_session_in_both_is_one(tmp_path):
    home = tmp_path / "codex"
    src = next(CODEX.rglob("rollout-2026-01-02T*.jsonl"))
    for where in ("sessions/2026/01/02", "archived_sessions"):
        (home / where).mkdir(parents=True)
        shutil.copy(src, home / where / src.name)
    db = tmp_path / "claude.db"
    assert ingest_codex(db, [home]).files_read == 2
    assert rows(db, "select count(*) n from sessions") == [{"n": 1}]
    assert rows(db, "select count(*) n from api_requests") == [{"n": 3}]


# Hand-made (marked as such): the rollout shape of mid-2025, before the {timestamp, type, payload}
# envelope, built from its documented fields; none of the real files found is that old.
PRE_ENVELOPE = [
    {"id": "5973b6c0-94b8-487b-a530-2aeb6098ae0e", "timestamp": "2025-07-20T10:00:00.000Z", "instructions": None,
     "git": {"branch": "main", "commit_hash": "0f1e2d3c"}},
    {"record_type": "state"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
    {"type": "function_call", "name": "shell", "arguments": json.dumps({"command": ["bash", "-lc", "ls -la"]}),
     "call_id": "call_a1"},
    {"type": "function_call_output", "call_id": "call_a1",
     "output": json.dumps({"output": "ls: cannot access: No such file", "metadata": {"exit_code": 2, "duration_seconds": 0.2}})},
    {"record_type": "state"},
]


def test_codex_rollouts_from_before_the_envelope(tmp_path):
    path = tmp_path / "rollout-2025-07-20T10-00-00-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in PRE_ENVELOPE))
    db = tmp_path / "claude.db"
    assert ingest_codex(db, [path]).bad_lines == 0
    (session,) = rows(db, "select * from sessions")
    assert (session["id"], session["git_branch"], session["source"]) == ("5973b6c0-94b8-487b-a530-2aeb6098ae0e", "main", "codex")
    assert [r["text"] for r in rows(db, "select text from prompts")] == ["list the files"]
    (call,) = rows(db, "select * from tool_calls")
    assert (call["command"], call["is_error"], call["duration_ms"]) == ("ls -la", 1, 200)


def test_codex_subagent_rollouts_belong_to_their_parent_session(tmp_path):
    # Hand-made (marked as such): a subagent's rollout in the shape of Codex 0.14x (session_meta
    # source.subagent.thread_spawn); the real rollouts found have no subagent.
    parent = next(CODEX.rglob("rollout-2026-05-11T11-26-55-*.jsonl"))
    child_id = "019e1700-0000-7000-8000-00000000c41d"
    child = tmp_path / f"rollout-2026-05-11T11-40-00-{child_id}.jsonl"
    lines = [
        {"timestamp": "2026-05-11T08:40:00.000Z", "type": "session_meta", "payload": {
            "id": child_id, "cwd": "/Users/Sample_User/repos/codemie-ai/codemie-code", "cli_version": "0.142.3",
            "source": {"subagent": {"thread_spawn": {"parent_thread_id": "019e1625-789d-76c0-80ab-3724b5ddb799",
                                                     "depth": 1, "agent_role": "explorer"}}}}},
        {"timestamp": "2026-05-11T08:40:01.000Z", "type": "turn_context", "payload": {"model": "gpt-5.5"}},
        {"timestamp": "2026-05-11T08:40:02.000Z", "type": "response_item", "payload": {
            "type": "function_call", "name": "exec_command", "arguments": json.dumps({"cmd": "rg -n TODO"}),
            "call_id": "call_child1"}},
        {"timestamp": "2026-05-11T08:40:03.000Z", "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": {"input_tokens": 900, "cached_input_tokens": 100, "output_tokens": 50,
                                  "reasoning_output_tokens": 10, "total_tokens": 950},
            "last_token_usage": {"input_tokens": 900, "cached_input_tokens": 100, "output_tokens": 50,
                                 "reasoning_output_tokens": 10, "total_tokens": 950}}}},
    ]
    child.write_text("".join(json.dumps(line) + "\n" for line in lines))
    db = tmp_path / "claude.db"
    ingest_codex(db, [parent, child])
    assert [r["id"] for r in rows(db, "select id from sessions")] == ["019e1625-789d-76c0-80ab-3724b5ddb799"]
    (agent,) = rows(db, "select * from subagents")
    assert (agent["agent_id"], agent["session_id"], agent["agent_type"], agent["model"]) == (
        child_id, "019e1625-789d-76c0-80ab-3724b5ddb799", "explorer", "gpt-5.5")
    (call,) = rows(db, "select * from tool_calls where agent_id is not null")
    assert (call["command"], call["is_sidechain"], call["session_id"]) == ("rg -n TODO", 1, agent["session_id"])
    (usage,) = rows(db, "select * from api_requests where agent_id is not null")
    assert (usage["input_tokens"], usage["cache_read_input_tokens"], usage["output_tokens"]) == (800, 100, 50)


def test_codex_command_line(tmp_path):
    db = tmp_path / "claude.db"
    ran = claude_ingest("codex", CODEX, "--db", db)
    assert ran.returncode == 0 and ran.stdout.startswith(f"codex {db}: 6 files read") and ran.stdout.count("\n") == 1
    assert "unpriced models: gpt-5.3-codex" in ran.stdout
    again = claude_ingest("codex", CODEX, "--db", db)
    assert "0 files read, 6 unchanged" in again.stdout
    nothing = claude_ingest("codex", "--db", db)  # no ~/.codex in this test's home
    assert nothing.returncode == 0 and "no Codex CLI sessions at" in nothing.stdout


# -- Gemini CLI -----------------------------------------------------------------------------------------
def _gemini_expected():
    out = {}
    for path in sorted(GEMINI.rglob("session-*.json*")):
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            sid, messages = data["sessionId"], data["messages"]
        else:
            lines = _lines(path)
            sid = lines[0]["sessionId"]
            messages = [m for line in lines for m in ([line] if "type" in line else
                                                       (line.get("$set") or {}).get("messages") or [])]
        prompts = {m["id"] for m in messages if m["type"] == "user"
                   and not json.dumps(m["content"]).startswith(('[{"text": "<session_context>',))}
        calls = {c["id"] for m in messages for c in m.get("toolCalls") or []}
        responses = {m["id"] for m in messages if m["type"] == "gemini" and m.get("tokens")}
        out[sid] = {"prompts": prompts, "calls": calls, "responses": responses}
    return out


GEMINI_EXPECTED = _gemini_expected()


@pytest.fixture(scope="module")
def gemini_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("gemini") / "claude.db"
    summary = ingest_gemini(db, [GEMINI])
    assert summary.files_read == 4 and summary.bad_lines == 0
    return db


def test_gemini_sessions_prompts_tool_calls(gemini_db):
    sessions = {r["id"]: r for r in rows(gemini_db, "select * from sessions")}
    assert set(sessions) == set(GEMINI_EXPECTED) and {r["source"] for r in sessions.values()} == {"gemini"}
    assert sessions["5b959dae-8655-4cd1-b10f-720b8c336ea2"]["model"] == "gemini-3-pro-image-preview"
    assert sessions["0d212d94-26ec-4ee7-b6b6-d3f1a902caa8"]["model"] == "gemini-3.1-flash-lite"
    for sid, expected in GEMINI_EXPECTED.items():
        prompts = {r["id"] for r in rows(gemini_db, "select id from prompts where session_id = ?", (sid,))}
        assert prompts == {f"{sid}:{m}" for m in expected["prompts"]}, sid  # logs.json's copies gave way
        calls = {r["tool_use_id"] for r in rows(gemini_db, "select tool_use_id from tool_calls where session_id = ?",
                                               (sid,))}
        assert calls == {f"{sid}:{c}" for c in expected["calls"]}, sid
        requests = {r["message_id"] for r in rows(gemini_db, "select message_id from api_requests where session_id = ?",
                                                 (sid,))}
        assert requests == {f"{sid}:{m}" for m in expected["responses"]}, sid  # a re-emitted message once
    read = rows(gemini_db, "select file_path, operation from file_events where tool_name = 'read_file'")
    assert read and {r["operation"] for r in read} == {"read"}
    assert rows(gemini_db, "select count(*) n from tool_calls where is_error = 0") == [
        {"n": sum(len(e["calls"]) for e in GEMINI_EXPECTED.values())}]  # every real call succeeded
    # the JSONL form: the message written twice keeps its second copy, with the tool call
    assert rows(gemini_db, "select output_preview from tool_calls where tool_use_id like '%read_file__zLlHISTx'")[0][
        "output_preview"].startswith("# Bitácora")


def test_gemini_prompts_of_a_chat_file_that_is_gone_stay(tmp_path):
    logs = next(GEMINI.rglob("logs.json"))
    copy = tmp_path / "gemini" / logs.parent.name
    copy.mkdir(parents=True)
    shutil.copy(logs, copy / "logs.json")
    db = tmp_path / "claude.db"
    ingest_gemini(db, [tmp_path / "gemini"])
    assert [r["text"] for r in rows(db, "select text from prompts order by timestamp")] == [
        e["message"] for e in json.loads(logs.read_text())]
    assert rows(db, "select source, project_path from sessions") == [{"source": "gemini", "project_path": logs.parent.name}]


def test_gemini_second_run_opens_nothing(gemini_db, monkeypatch):
    _forbid_opening(monkeypatch)
    summary = ingest_gemini(gemini_db, [GEMINI])
    assert (summary.files_read, summary.files_skipped, sum(sum(c.values()) for c in summary.rows.values())) == (0, 4, 0)


def test_gemini_failed_tool_calls_errors_and_bad_lines(tmp_path):
    # Hand-made (marked as such): the real sessions found have no failed tool call, no error message
    # and no broken line; these lines take the JSONL form's real field names.
    chats = tmp_path / "gemini" / "tmp" / "myproject" / "chats"
    chats.mkdir(parents=True)
    (chats.parent / ".project_root").write_text("/home/me/myproject\n")
    lines = [
        {"sessionId": "11111111-2222-4333-8444-555555555555", "projectHash": "x", "startTime": "2026-07-03T10:00:00.000Z",
         "lastUpdated": "2026-07-03T10:00:00.000Z", "kind": "main"},
        {"id": "u1", "timestamp": "2026-07-03T10:00:01.000Z", "type": "user", "content": [{"text": "run the tests"}]},
        {"id": "g1", "timestamp": "2026-07-03T10:00:05.000Z", "type": "gemini", "content": "", "model": "gemini-3-pro",
         "tokens": {"input": 900, "output": 60, "cached": 800, "thoughts": 20, "tool": 0, "total": 980},
         "toolCalls": [{"id": "run_shell_command-1", "name": "run_shell_command", "args": {"command": "pytest -q"},
                        "status": "error", "timestamp": "2026-07-03T10:00:06.000Z",
                        "result": [{"functionResponse": {"id": "run_shell_command-1", "name": "run_shell_command",
                                                         "response": {"error": "Command exited with code 1"}}}]}]},
        {"id": "e1", "timestamp": "2026-07-03T10:00:07.000Z", "type": "error", "content": "Quota exceeded"},
        {"$set": {"lastUpdated": "2026-07-03T10:00:07.000Z"}},
    ]
    path = chats / "session-2026-07-03T10-00-11111111.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"id": "c2", "timest\n')
    db = tmp_path / "claude.db"
    summary = ingest_gemini(db, [tmp_path / "gemini"])
    assert (summary.lines, summary.bad_lines) == (6, 1)
    (call,) = rows(db, "select * from tool_calls")
    assert (call["command"], call["is_error"], call["error_message"]) == ("pytest -q", 1, "Command exited with code 1")
    assert rows(db, "select kind, message from errors") == [{"kind": "gemini_error", "message": "Quota exceeded"}]
    (request,) = rows(db, "select * from api_requests")
    # total 980 = input + output + thoughts: the 800 cached tokens were inside input
    assert (request["input_tokens"], request["cache_read_input_tokens"], request["output_tokens"],
            request["reasoning_tokens"], request["usage_total"]) == (100, 800, 80, 20, 980)
    assert rows(db, "select project_path from sessions") == [{"project_path": "/home/me/myproject"}]


def test_gemini_command_line(tmp_path):
    db = tmp_path / "claude.db"
    ran = claude_ingest("gemini", GEMINI, "--db", db)
    assert ran.returncode == 0 and ran.stdout.startswith(f"gemini {db}: 4 files read")
    assert claude_ingest("gemini", "--db", db).stdout.startswith(f"gemini {db}: no Gemini CLI sessions")


# -- the Go OpenCode and Crush stores --------------------------------------------------------------------
def _store_expected(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sessions = conn.execute("select id, parent_session_id, cost from sessions").fetchall()
    calls, failed = set(), set()
    for (parts,) in conn.execute("select parts from messages"):
        for part in json.loads(parts):
            if part["type"] == "tool_call":
                calls.add(part["data"]["id"])
            elif part["type"] == "tool_result" and part["data"].get("is_error"):
                failed.add(part["data"]["tool_call_id"])
    # what the user typed: a child session's user message is the agent tool's prompt to the subagent
    prompts = sum(1 for (parts,) in conn.execute(
        "select parts from messages where role = 'user' and session_id in "
        "(select id from sessions where parent_session_id is null)")
                  if any(p["type"] == "text" and p["data"].get("text") for p in json.loads(parts)))
    conn.close()
    return {"sessions": {s[0] for s in sessions if not s[1]}, "children": {s[0] for s in sessions if s[1]},
            "cost": sum(s[2] for s in sessions if not s[1]), "calls": calls, "failed": failed, "prompts": prompts}


@pytest.mark.parametrize("store", GO_STORES + CRUSH_STORES, ids=lambda p: p.parent.parent.name)
def test_go_opencode_and_crush_stores(tmp_path, store):
    expected = _store_expected(store)
    db = tmp_path / "claude.db"
    summary = ingest_crush(db, [store.parent.parent])  # the project directory holding the store
    assert summary.sessions == len(expected["sessions"]) > 0
    source = "crush" if store.name == "crush.db" else "opencode-go"
    sessions = rows(db, "select * from sessions")
    assert {s["id"] for s in sessions} == expected["sessions"] and {s["source"] for s in sessions} == {source}
    assert {s["project_path"] for s in sessions} == {str(store.parent.parent.resolve())}
    assert sum(s["reported_cost_usd"] or 0 for s in sessions) == pytest.approx(expected["cost"])
    assert {r["agent_id"] for r in rows(db, "select agent_id from subagents")} == expected["children"]
    calls = rows(db, "select tool_use_id, is_error, ended_at, agent_id from tool_calls")
    assert {c["tool_use_id"].rsplit(":", 1)[-1] for c in calls} == expected["calls"]
    assert {c["tool_use_id"].rsplit(":", 1)[-1] for c in calls if c["is_error"]} == expected["failed"]
    assert all(c["ended_at"] for c in calls)  # every call met its result
    assert rows(db, "select count(*) n from prompts") == [{"n": expected["prompts"]}]
    assert rows(db, "select count(*) n from api_requests") == [{"n": 0}]  # no per-request usage to count
    assert ingest_crush(db, [store.parent.parent]).stores_unchanged == 1


def test_claude_ingest_opencode_reads_a_go_store_instead_of_saying_zero(tmp_path):
    store = next(p for p in GO_STORES if p.parent.parent.name == "navicore-flag-rs")
    db = tmp_path / "claude.db"
    ran = claude_ingest("opencode", store, "--db", db)
    assert ran.returncode == 0 and "3 sessions, 2 subagent sessions" in ran.stdout and "44 tool calls" in ran.stdout
    # the child sessions (the agent tool's) are subagents; their calls count under the parent session
    assert rows(db, "select count(*) n from tool_calls where agent_id is not null")[0]["n"] > 0
    assert rows(db, "select count(distinct session_id) n from subagents") == [{"n": 1}]
    assert claude_ingest("opencode", store.parent.parent, "--db", db).returncode == 0  # the project dir works too


def test_a_sqlite_file_that_is_no_store_is_named_not_read_as_zero(tmp_path, fixture_db):
    other = tmp_path / "other.db"
    shutil.copy(fixture_db, other)
    for command in ("opencode", "crush"):
        ran = claude_ingest(command, other, "--db", tmp_path / "claude.db")
        assert ran.returncode == 2, command
        assert "is not a" in ran.stderr and "its tables: api_requests" in ran.stderr and ran.stderr.count("\n") == 1


def test_crush_command_line(tmp_path):
    db = tmp_path / "claude.db"
    ran = claude_ingest("crush", *[p.parent.parent for p in CRUSH_STORES + GO_STORES], "--db", db)
    assert ran.returncode == 0 and ran.stdout.startswith(f"crush {db}: 4 stores read")
    assert "no per-request token counts" in ran.stdout
    assert "0 stores read (nothing), 4 unchanged" in claude_ingest(
        "crush", *[p.parent.parent for p in CRUSH_STORES + GO_STORES], "--db", db).stdout


# -- Claude Code's prompt history ---------------------------------------------------------------------------
@pytest.fixture
def claude_home(tmp_path):
    """A Claude Code config dir: the real fixture transcripts and the prompt history beside them."""
    home = tmp_path / ".claude"
    copy_tree(PROJECTS, home / "projects")
    shutil.copy(HISTORY, home / "history.jsonl")
    return home


def test_history_prompts_known_from_transcripts_are_one_row(claude_home, fixture_db, tmp_path):
    db = tmp_path / "claude.db"
    summary = backfill(db, [claude_home / "projects"])
    assert summary.bad_lines == 1  # the history's torn line, counted and recorded
    assert rows(db, "select reason from ingest_skips where path like '%history.jsonl'")[0]["reason"].startswith(
        "JSONDecodeError")
    from_transcripts = rows(fixture_db, "select id, session_id, text from prompts order by id")
    kept = rows(db, "select id, session_id, text from prompts where id not like 'history:%' order by id")
    assert kept == from_transcripts  # the same rows, none doubled: the history's copies gave way
    # the history's old lines (Claude Code 1.0, no sessionId) found their session by project and time
    assert rows(db, "select count(*) n from prompts where session_id = 'd3ad4cdc-5657-435d-98fa-0035d53e383d'") == [
        {"n": 5}]
    # sessions the transcripts describe keep their own times
    assert rows(db, "select id, started_at, ended_at from sessions where transcript_path is not null order by id") == \
        rows(fixture_db, "select id, started_at, ended_at from sessions where transcript_path is not null order by id")


def test_history_prompts_whose_session_is_gone_land_and_are_found(claude_home, tmp_path):
    db = tmp_path / "claude.db"
    backfill(db, [claude_home / "projects"])
    gone = rows(db, "select p.text, s.id, s.project_path, s.source from prompts p join sessions s on s.id = p.session_id "
                    "where p.id like 'history:%' order by p.timestamp")
    assert [g["text"] for g in gone] == ["add a README for the music generator",
                                         "why does the websocket reconnect loop forever after a deploy?",
                                         "here is the log [Pasted text #1 +40 lines]"]
    assert gone[1]["id"] == "5f0c3b1e-2d4a-4c7e-9b1f-7a2e6d3c8b90" and gone[1]["project_path"] == "/home/marco/projects/spotter"
    assert gone[0]["project_path"] == "/Users/chip/dev/other-project" and {g["source"] for g in gone} == {"claude"}
    found = rows(db, "select p.session_id from prompts_fts f join prompts p on p.rowid = f.rowid "
                     "where prompts_fts match 'websocket'")
    assert found == [{"session_id": "5f0c3b1e-2d4a-4c7e-9b1f-7a2e6d3c8b90"}]
    again = backfill(db, [claude_home / "projects"])
    assert (again.files_read, sum(sum(c.values()) for c in again.rows.values())) == (0, 0)


def test_history_read_before_its_transcripts_still_gives_one_row(claude_home, tmp_path):
    """A day's history read first (its transcripts copied in later): the transcript's prompt wins."""
    db = tmp_path / "claude.db"
    moved = tmp_path / "later"
    shutil.move(str(claude_home / "projects"), moved)
    (claude_home / "projects").mkdir()
    backfill(db, [claude_home / "projects"])
    assert rows(db, "select count(*) n from prompts")[0]["n"] == 13
    shutil.rmtree(claude_home / "projects")
    shutil.move(str(moved), claude_home / "projects")
    backfill(db, [claude_home / "projects"])
    spotter = "select count(*) n from prompts where session_id = 'fa812bfe-b295-4cca-9c2f-fdf01028cb46'"
    assert rows(db, spotter) == [{"n": 2}]
