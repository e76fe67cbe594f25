"""A team server on Datasette itself: Claude Code's ``"type": "http"`` hooks posting to
``/-/claude/hook`` of a real ``datasette team.db`` on 127.0.0.1, with the real hook payload fixtures
posted as Claude Code posts them (the JSON it would pipe to a command hook, compact, UTF-8, with the
``Authorization: Bearer $VAR`` header its settings name); the machine a token names is the one its
rows are labelled with. And ``install-hooks --remote``, which writes those hooks.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from helpers import claude_ingest, plugin_config, rows, serve
from ingest import store

TOKENS = {"laptop": "laptop-secret-token-1", "desktop": "desktop-secret-token-2"}
HASHES = {machine: hashlib.sha256(token.encode()).hexdigest() for machine, token in TOKENS.items()}


def as_claude_code_posts(payload: dict) -> bytes:
    """The body of Claude Code's http hook: the stdin JSON, as JSON.stringify writes it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def post(url: str, body: bytes, *, token: str | None = None, content_type: str = "application/json",
         method: str = "POST") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/-/claude/hook", data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def empty_archive(path):
    store.connect(path).close()  # the schema: the plugin knows its databases by their tables
    return path


@pytest.fixture
def team(tmp_path):
    db = empty_archive(tmp_path / "team.db")
    proc, url = serve(db, tmp_path, HASHES)
    yield db, url
    proc.terminate()
    proc.wait(10)


def real_payloads():
    from test_hook import real_payloads as every_payload

    return every_payload()


def test_every_real_payload_posted_is_stored_as_the_hook_command_stores_it(team, tmp_path, monkeypatch):
    """Over HTTP, every payload fixture gets 200 and an empty body (nothing for Claude Code to act
    on), and lands as `claude-ingest hook` stores the same bytes read on stdin: the same raw events
    under the same keys, the same rows derived from them, labelled with the token's machine."""
    db, url = team
    payloads = [as_claude_code_posts(p) for _, p in real_payloads()]
    assert len(payloads) > 330
    for body in payloads:
        assert post(url, body, token=TOKENS["laptop"]) == (200, b"")
    local = tmp_path / "laptop.db"  # the same bytes through the command's own path, on the laptop
    monkeypatch.setenv("CLAUDE_INGEST_MACHINE", "laptop")
    from ingest.load import hooks

    for body in payloads:
        hooks.handle(body, local)

    def events(path):
        return rows(path, "select id, event, known, session_id, agent_id, tool_use_id, cwd, size, payload, derive_error "
                          "from hook_events order by id")

    served = events(db)
    assert served == events(local) and len(served) == len(set(payloads))
    assert {r["source"] for r in rows(db, "select distinct source from hook_events")} == {"http-hook"}
    # (keys made from the time a payload came, where it has none of its own, differ between the two)
    for table, pk in (("tool_calls", "tool_use_id"), ("prompts", "id"), ("subagents", "agent_id"),
                      ("compactions", "id"), ("errors", "id")):
        keys = [r["k"] for r in rows(db, f"select {pk} k from {table} where {pk} not like 'hook:%' order by 1")]
        assert keys == [r["k"] for r in rows(local, f"select {pk} k from {table} where {pk} not like 'hook:%' "
                                                    "order by 1")], table
    call = "tool_name, file_path, command, is_error, error_message, output_preview, output_size, interrupted"
    assert rows(db, f"select tool_use_id, {call} from tool_calls order by 1") == rows(
        local, f"select tool_use_id, {call} from tool_calls order by 1")
    sessions = rows(db, "select id, host, account, project_path, model, end_reason from sessions order by id")
    assert sessions == rows(local, "select id, host, account, project_path, model, end_reason from sessions "
                                   "order by id")
    assert {s["host"] for s in sessions} == {"laptop"}


def test_a_request_without_a_valid_token_is_refused_and_stores_nothing(team):
    db, url = team
    body = as_claude_code_posts(real_payloads()[0][1])
    for token in (None, "", "not-a-token", TOKENS["laptop"] + "x"):
        status, answer = post(url, body, token=token)
        assert status == 401 and "token" in json.loads(answer)["error"], token
    assert post(url, body, token=TOKENS["laptop"], content_type="text/plain")[0] == 415  # no form post from a page
    assert post(url, b"{not json", token=TOKENS["laptop"])[0] == 400
    assert post(url, b"[1, 2]", token=TOKENS["laptop"])[0] == 400
    assert post(url, b"", token=TOKENS["laptop"], method="GET")[0] == 405
    assert rows(db, "select count(*) n from hook_events") == [{"n": 0}]


def test_the_token_names_the_machine_a_payload_cannot(team):
    db, url = team
    from test_hook import real_payloads as every_payload

    (_, start), *_ = [p for p in every_payload() if p[1].get("hook_event_name") == "SessionStart"]
    mine = {**start, "session_id": "11111111-2222-4333-8444-555555555555", "host": "mallory", "machine": "mallory",
            "hostname": "mallory"}
    theirs = {**start, "session_id": "66666666-7777-4888-9999-000000000000"}
    assert post(url, as_claude_code_posts(mine), token=TOKENS["laptop"]) == (200, b"")
    assert post(url, as_claude_code_posts(theirs), token=TOKENS["desktop"]) == (200, b"")
    assert rows(db, "select id, host from sessions order by id") == [
        {"id": mine["session_id"], "host": "laptop"}, {"id": theirs["session_id"], "host": "desktop"}]


async def test_without_tokens_only_this_machine_may_post(tmp_path):
    """No tokens configured: the loopback address only (in process: no traffic leaves the machine),
    and its rows are this machine's."""
    import httpx
    from datasette.app import Datasette

    db = empty_archive(tmp_path / "team.db")
    ds = Datasette([str(db)])
    await ds.invoke_startup()
    body = as_claude_code_posts(real_payloads()[0][1])
    for client, status in ((("203.0.113.7", 40000), 403), (("10.0.0.8", 40000), 403), (("127.0.0.1", 40000), 200)):
        transport = httpx.ASGITransport(app=ds.app(), client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            r = await c.post("/-/claude/hook", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (client, r.text)
    assert rows(db, "select count(*) n from hook_events") == [{"n": 1}]
    from ingest.identity import host

    assert {r["host"] for r in rows(db, "select host from sessions")} == {host()}


async def test_a_busy_database_spools_the_event_and_the_next_post_replays_it(tmp_path):
    from datasette.app import Datasette

    from ingest import ops

    db = empty_archive(tmp_path / "team.db")
    ds = Datasette([str(db)], **plugin_config(HASHES))
    await ds.invoke_startup()
    first, second, *_ = dict.fromkeys(as_claude_code_posts(p) for _, p in real_payloads())  # two different ones
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS['desktop']}"}
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("begin immediate")  # a long merge holding the write lock
    try:
        r = await ds.client.post("/-/claude/hook", content=first, headers=headers)
        assert r.status_code == 200 and r.content == b""
        assert ops.spool_backlog(db)["http_hook"] == 1
    finally:
        holder.execute("rollback")
        holder.close()
    assert rows(db, "select count(*) n from hook_events") == [{"n": 0}]
    r = await ds.client.post("/-/claude/hook", content=second, headers=headers)
    assert r.status_code == 200
    assert ops.spool_backlog(db)["http_hook"] == 0
    got = rows(db, "select id, source from hook_events order by source")
    assert sorted(r["id"] for r in got) == sorted(hashlib.sha256(b).hexdigest() for b in (first, second))
    assert [r["source"] for r in got] == ["http-hook", "http-hook-spool"]
    assert {r["host"] for r in rows(db, "select host from sessions")} == {"desktop"}  # the spool kept the machine


# -- install-hooks --remote ------------------------------------------------------------------------
def test_install_hooks_remote_writes_http_hooks_and_uninstall_gives_the_settings_back(tmp_path, monkeypatch):
    settings = tmp_path / "settings.json"
    theirs = {"env": {"FOO": "1"}, "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "my-linter"}]}]}, "model": "opus"}
    settings.write_text(json.dumps(theirs, indent=2))
    monkeypatch.setenv("CLAUDE_TEAM_TOKEN", "x")
    r = claude_ingest("install-hooks", "--settings", settings, "--remote", "https://team.example.com:8443",
                      "--token-env", "CLAUDE_TEAM_TOKEN")
    assert r.returncode == 0 and "added http hooks to https://team.example.com:8443/-/claude/hook for 29 events" \
        in r.stdout, r.stdout
    assert "note:" not in r.stdout  # https, and the variable is set
    data = json.loads(settings.read_text())
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == theirs["hooks"]["PreToolUse"][0]  # theirs untouched, first
    assert pre[1] == {"hooks": [{"type": "http", "url": "https://team.example.com:8443/-/claude/hook", "timeout": 5,
                                 "headers": {"Authorization": "Bearer $CLAUDE_TEAM_TOKEN"},
                                 "allowedEnvVars": ["CLAUDE_TEAM_TOKEN"]}]}
    assert data["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"] == 3
    assert "WorktreeCreate" not in data["hooks"] and "MessageDisplay" not in data["hooks"]
    assert not any(h["type"] == "command" for g in data["hooks"]["Stop"] for h in g["hooks"])  # --remote alone
    # again: nothing changes; with the local hooks too: both, side by side
    r = claude_ingest("install-hooks", "--settings", settings, "--remote", "https://team.example.com:8443",
                      "--token-env", "CLAUDE_TEAM_TOKEN")
    assert "already installed for all 29 events" in r.stdout
    assert claude_ingest("install-hooks", "--settings", settings).returncode == 0
    r = claude_ingest("status", "--db", empty_archive(tmp_path / "x.db"), "--settings", settings)
    assert "29/29 events posting to https://team.example.com:8443/-/claude/hook" in r.stdout, r.stdout
    # removed exactly: the http hooks with --remote, the command hooks without
    assert claude_ingest("uninstall-hooks", "--settings", settings, "--remote").returncode == 0
    assert not any(h.get("type") == "http" for g in json.loads(settings.read_text())["hooks"]["Stop"]
                   for h in g["hooks"])
    assert claude_ingest("uninstall-hooks", "--settings", settings).returncode == 0
    assert json.loads(settings.read_text()) == theirs


def test_install_hooks_remote_says_what_to_mind_and_refuses_what_is_not_a_url(tmp_path, monkeypatch):
    settings = tmp_path / "settings.json"
    monkeypatch.delenv("TEAM_TOKEN", raising=False)
    r = claude_ingest("install-hooks", "--settings", settings, "--remote", "http://team.lan:8001/",
                      "--token-env", "TEAM_TOKEN")
    assert r.returncode == 0
    assert "$TEAM_TOKEN is not set here" in r.stdout and "plain http" in r.stdout
    for bad in ("team.lan:8001", "ftp://team", "http://team.lan/elsewhere"):
        r = claude_ingest("install-hooks", "--settings", settings, "--remote", bad)
        assert r.returncode == 2 and "--remote" in r.stderr, bad
    r = claude_ingest("install-hooks", "--settings", settings, "--remote", "http://team.lan:8001",
                      "--token-env", "$TEAM_TOKEN")
    assert r.returncode == 2 and "--token-env takes the name of an environment variable" in r.stderr
    assert claude_ingest("install-hooks", "--settings", settings, "--token-env", "X").returncode == 2
