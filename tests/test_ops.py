"""claude-ingest status, prune and reprice: on real fixture transcripts, through the real command line."""

import json
import shutil
import sqlite3
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from helpers import EDGE, PROJECTS, claude_ingest, copy_tree, environ, facts, rows
from datasette_claude.resources import canned_queries
from ingest import backfill, ops, schema
from ingest.load.hooks import handle, spool, spool_paths
from ingest.install import HOOK_EVENTS
from ingest.load.opencode import OPENCODE_EVENTS
from ingest.pricing import PRICES_PATH, canonical_model

ROOT = Path(__file__).resolve().parent.parent
D3AD = "d3ad4cdc-5657-435d-98fa-0035d53e383d"  # 2025-06-08
D6E0 = "d6e0bada-1959-4eec-a9d2-0bfade768d8f"  # 2026-02-10
FA81 = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"  # 2026-02-12
FTS = ("tool_calls_fts", "prompts_fts", "errors_fts")


def run(tmp_path, *args, ok=True):
    r = claude_ingest(*args, env=environ(), cwd=tmp_path)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def count(db, table, where="1", params=()):
    return rows(db, f"select count(*) n from [{table}] where {where}", params)[0]["n"]


def dump(db, tables):
    conn = sqlite3.connect(db)
    try:
        return {t: sorted(map(repr, conn.execute(f"select {facts(conn, t)} from [{t}]"))) for t in tables}
    finally:
        conn.close()


def fts_consistent(db):
    conn = sqlite3.connect(db)
    try:
        for fts in FTS:  # rank 1: checked against the content table, not only the index's structure
            conn.execute(f"insert into [{fts}]([{fts}], rank) values('integrity-check', 1)")
    finally:
        conn.close()
    return True


def daily_usage(db, **params):
    query = canned_queries()["daily_usage"]
    sql = query["sql"]
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        args = {**{p: "" for p in query["params"]}, **params}
        return {(r["day"], r["model"]): dict(r) for r in conn.execute(sql, args)}
    finally:
        conn.close()


def turn(session_id, cwd, ts, n):
    """An assistant line calling Read, and the user line with its result: one API response, one tool
    call, one file event, on the day of ``ts``."""
    tool = f"toolu_ops_{n}"
    return "".join(json.dumps(line) + "\n" for line in (
        {"type": "assistant", "sessionId": session_id, "cwd": cwd, "uuid": f"ops-a-{n}", "timestamp": ts,
         "parentUuid": None, "isSidechain": False, "version": "2.1.38", "requestId": f"req_ops_{n}",
         "message": {"id": f"msg_ops_{n}", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
                     "content": [{"type": "tool_use", "id": tool, "name": "Read",
                                  "input": {"file_path": f"{cwd}/ops_{n}.py"}}],
                     "stop_reason": "tool_use",
                     "usage": {"input_tokens": 100 + n, "output_tokens": 20, "cache_creation_input_tokens": 0,
                               "cache_read_input_tokens": 1000}}},
        {"type": "user", "sessionId": session_id, "cwd": cwd, "uuid": f"ops-u-{n}", "timestamp": ts,
         "parentUuid": f"ops-a-{n}", "isSidechain": False, "version": "2.1.38",
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool, "content": "ok"}]}},
    ))


@pytest.fixture
def projects(tmp_path):
    return copy_tree(PROJECTS, tmp_path / "projects")


# -- status ------------------------------------------------------------------------------------
def test_status_json_reports_what_the_database_and_the_machine_hold(tmp_path, projects, monkeypatch):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, EDGE / "claude-code-log_edge_cases.jsonl", "--db", db)
    # every model in the fixtures has a price somewhere: three responses under one nobody prices (a stand-in)
    conn = sqlite3.connect(db)
    conn.execute("update api_requests set model = 'claude-opus-9', cost_usd = null, priced = 0, price_source = null "
                 "where model = 'claude-3-sonnet-20240229'")
    conn.commit()
    conn.close()
    hook = (ROOT / "tests" / "fixtures" / "hooks" / "real-stop.json").read_text()
    payload = json.dumps(json.loads(hook)[0]) if hook.lstrip().startswith("[") else hook
    assert claude_ingest("hook", "--db", db, input=payload, env=environ()).returncode == 0
    job = ROOT / "tests" / "fixtures" / "headless" / "claude-p-output-json.result-success.live-shape-2026-07.json"
    run(tmp_path, "job", job, "--db", db)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    run(tmp_path, "install-hooks", "--db", db, "--git", repo, "--opencode", "--claude")
    # Spooled and waiting: a hook event beside the database, another in the state directory (the spot
    # beside the database blocked), an OpenCode event; and one for another database, not counted.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / ".local" / "state"))
    env = environ()
    beside, state = spool_paths(db)[:2]
    assert spool(db, b'{"hook_event_name": "Stop"}', "2026-01-01T00:00:00.000Z", reason="database is locked") == beside
    beside.parent.rename(tmp_path / "blocked")
    beside.parent.write_text("not a directory")
    assert spool(db, b'{"hook_event_name": "Stop", "n": 2}', "2026-01-01T00:00:01.000Z") == state
    assert spool(tmp_path / "other.db", b'{"hook_event_name": "Stop"}', "2026-01-01T00:00:03.000Z")
    beside.parent.unlink()
    (tmp_path / "blocked").rename(beside.parent)
    opencode = spool(db, b'{"type": "session.idle"}', "2026-01-01T00:00:02.000Z", OPENCODE_EVENTS)

    r = claude_ingest("status", "--db", db, "--git", repo, "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert list(s) == ["database", "tables", "newest", "hooks", "spool", "unpriced_models", "merged_archives",
                       "ingest_runs"]
    assert s["merged_archives"] == []  # nothing merged into this one
    assert s["database"]["path"] == str(db.resolve())
    assert s["database"]["file_bytes"] == db.stat().st_size
    wal = db.with_name(db.name + "-wal")
    assert s["database"]["wal_bytes"] == (wal.stat().st_size if wal.exists() else 0)
    assert s["database"]["schema_version"] == schema.SCHEMA_VERSION
    assert set(schema.TABLES) <= set(s["tables"]) and not any("_fts" in t for t in s["tables"])
    assert s["tables"] == {t: count(db, t) for t in s["tables"]}
    assert s["tables"]["api_requests"] == 248 and s["tables"]["hook_events"] == 1 and s["tables"]["jobs"] == 1

    newest = s["newest"]
    assert newest["transcript_line"] == rows(db, "select max(timestamp) t from messages")[0]["t"]
    assert newest["api_request"] == rows(db, "select max(timestamp) t from api_requests")[0]["t"]
    assert newest["hook_event"] == rows(db, "select received_at t from hook_events")[0]["t"]
    assert newest["job"] == rows(db, "select coalesce(completed_at, started_at) t from jobs")[0]["t"]
    assert newest["opencode_session"] is None and newest["opencode_event"] is None and newest["commit"] is None

    hooks = s["hooks"]
    assert hooks["claude_code"] == {
        "settings": str(tmp_path / "home" / ".claude" / "settings.json"), "events": len(HOOK_EVENTS),
        "installed": len(HOOK_EVENTS), "missing": [], "databases": [str(db.resolve())], "this_database": True,
        "error": None, "remote": []}
    assert hooks["opencode_plugin"] == {
        "path": str(tmp_path / "home" / ".config" / "opencode" / "plugins" / "claude-ingest.js"), "installed": True}
    assert hooks["git"]["installed"] is True and hooks["git"]["hook"].endswith("post-commit")

    assert (s["spool"]["hook"], s["spool"]["opencode"]) == (2, 1)
    assert sorted((f["path"], f["sink"], f["events"]) for f in s["spool"]["files"]) == sorted([
        (str(beside), "hook", 1), (str(state), "hook", 1), (str(opencode), "opencode", 1)])
    assert s["spool"]["reasons"] == {"database is locked": 1, "unknown": 2}
    assert s["unpriced_models"] == {"api_requests": {"claude-opus-9": 3}, "jobs": {}}
    (last,) = s["ingest_runs"]
    assert last["command"] == "backfill" and last["files_read"] == 7 and last["bad_lines"] == 4

    text = claude_ingest("status", "--db", db, "--git", repo, env=env, cwd=tmp_path).stdout
    assert text.startswith(f"database   {db.resolve()}\nsize       ")
    assert f"29/29 events ({tmp_path / 'home' / '.claude' / 'settings.json'})" in text
    assert "OpenCode plugin       installed" in text and "git post-commit       installed" in text
    assert "spool backlog  2 hook events, 1 OpenCode events waiting" in text
    assert "api_requests  claude-opus-9           3" in text
    assert "\n  api_requests                   248\n" in text  # names and counts in aligned columns
    assert "backfill" in text and "     4 bad lines" in text


def test_status_says_which_hooks_are_missing_and_where_they_write(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    status = lambda: json.loads(run(tmp_path, "status", "--db", db, "--json").stdout)["hooks"]  # noqa: E731
    none = status()
    assert (none["claude_code"]["installed"], none["claude_code"]["missing"]) == (0, list(HOOK_EVENTS))
    assert none["opencode_plugin"]["installed"] is False and none["git"] is None
    assert "0/29 events" in run(tmp_path, "status", "--db", db).stdout

    run(tmp_path, "install-hooks", "--db", tmp_path / "elsewhere.db")
    settings = tmp_path / "home" / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    del data["hooks"]["PreCompact"]
    settings.write_text(json.dumps(data))
    partial = status()["claude_code"]
    assert (partial["installed"], partial["missing"]) == (28, ["PreCompact"])
    assert partial["databases"] == [str((tmp_path / "elsewhere.db").resolve())]
    assert partial["this_database"] is False
    assert f"writing to {(tmp_path / 'elsewhere.db').resolve()}, not this database" in run(
        tmp_path, "status", "--db", db).stdout

    settings.write_text("{ not json")
    broken = status()["claude_code"]
    assert broken["installed"] == 0 and "not valid JSON" in broken["error"]
    assert "unreadable settings" in run(tmp_path, "status", "--db", db).stdout
    assert "not a git repository" in json.loads(run(tmp_path, "status", "--db", db, "--git", tmp_path, "--json")
                                                .stdout)["hooks"]["git"]["error"]


def test_status_of_a_missing_or_foreign_file_exits_2_and_creates_nothing(tmp_path):
    missing = tmp_path / "nope" / "claude.db"
    for command in (("status",), ("prune", "--before", "2026-01-01"), ("reprice",)):
        r = run(tmp_path, *command, "--db", missing, ok=False)
        assert r.returncode == 2 and f"no database at {missing}" in r.stderr and r.stdout == ""
    assert not missing.parent.exists()
    text = tmp_path / "notes.db"
    text.write_text("these are not the tables you are looking for\n" * 100)
    r = run(tmp_path, "status", "--db", text, ok=False)
    assert r.returncode == 2 and "is not a SQLite database" in r.stderr


# -- prune -------------------------------------------------------------------------------------
def detail_days(db, table):
    return rows(db, f"select {schema.PRUNABLE[table]} d, count(*) n from [{table}] group by 1 order by 1")


def test_prune_dry_run_counts_per_table_and_changes_nothing(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    before = dump(db, list(schema.TABLES))
    r = run(tmp_path, "prune", "--db", db, "--before", "2026-02-12", "--dry-run", "--json")
    out = json.loads(r.stdout)
    expected = {t: count(db, t, f"{schema.PRUNABLE[t]} < '2026-02-12'") for t in schema.PRUNABLE}
    assert out["rows"] == expected and out["dry_run"] is True
    assert expected["api_requests"] == 62 + 4 and expected["tool_calls"] == 59 + 6  # d3ad4cdc and d6e0bada
    assert dump(db, list(schema.TABLES)) == before
    text = run(tmp_path, "prune", "--db", db, "--before", "2026-02-12", "--dry-run").stdout
    assert "would delete api_requests 66, messages" in text and text.rstrip().endswith("nothing changed")


def test_prune_deletes_old_detail_in_whole_days_and_keeps_rollups_sessions_and_fts(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    # hook events a year apart: the old one goes, today's stays
    handle(b'{"hook_event_name": "Notification", "session_id": "x", "message": "old"}', db, "2025-01-02T03:04:05.000Z")
    handle(b'{"hook_event_name": "Notification", "session_id": "x", "message": "new"}', db)
    cutoff = "2026-02-12"
    kept = {t: count(db, t, f"{schema.PRUNABLE[t]} >= ?", (cutoff,)) for t in schema.PRUNABLE}
    gone = {t: count(db, t, f"{schema.PRUNABLE[t]} < ?", (cutoff,)) for t in schema.PRUNABLE}
    survivors = ["sessions", "subagents", "jobs", "commits", "ingest_files", "ingest_runs", *schema.ROLLUPS]
    untouched = dump(db, survivors)
    size = db.stat().st_size + (db.with_name(db.name + "-wal").stat().st_size
                                if db.with_name(db.name + "-wal").exists() else 0)
    search = rows(db, "select t.tool_use_id from tool_calls_fts f join tool_calls t on t.rowid = f.rowid "
                      "where tool_calls_fts match 'mix' and t.started_at >= ? order by 1", (cutoff,))
    assert len(search) == 30 and count(db, "tool_calls_fts", "tool_calls_fts match 'mix'") == 31

    r = run(tmp_path, "prune", "--db", db, "--before", cutoff, "--json")
    out = json.loads(r.stdout)
    assert out["rows"] == gone and gone["api_requests"] == 66 and gone["hook_events"] == 1
    assert {t: count(db, t) for t in schema.PRUNABLE} == kept
    for table in schema.PRUNABLE:
        assert all(d["d"] >= cutoff for d in detail_days(db, table)), table
    assert dump(db, survivors) == untouched  # rollups of 2025-06-08 and 2026-02-10 included
    assert rows(db, "select distinct day from usage_daily order by 1") == [
        {"day": "2025-06-08"}, {"day": "2026-02-10"}, {"day": "2026-02-12"}]
    assert fts_consistent(db) and out["fts_rebuilt"] == []
    assert rows(db, "select t.tool_use_id from tool_calls_fts f join tool_calls t on t.rowid = f.rowid "
                    "where tool_calls_fts match 'mix' order by 1") == search
    assert count(db, "tool_calls_fts", "tool_calls_fts match 'pip'") == 0  # d3ad4cdc's pip install went
    assert rows(db, "pragma integrity_check")[0]["integrity_check"] == "ok"
    assert out["vacuumed"] is True and out["bytes_reclaimed"] == size - out["size_after"]["total_bytes"] > 0
    assert out["size_after"]["total_bytes"] == db.stat().st_size  # checkpointed: the WAL is empty

    text = run(tmp_path, "prune", "--db", db, "--before", cutoff).stdout  # again: nothing left to go
    assert text.startswith(f"prune {db.resolve()}: detail before {cutoff}: deleted nothing; 0 bytes reclaimed")
    assert "rollups kept: usage_daily 5, usage_15min 12, tool_daily 24, file_daily 54" in text


def test_prune_recomputes_the_rollups_of_the_sessions_losing_rows_before_they_go(tmp_path, projects):
    """A rollup behind its detail (an older writer, a hand edit) is made whole from the detail first:
    what prune deletes is always counted in the rollups that stay."""
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    whole = dump(db, list(schema.ROLLUPS))
    conn = sqlite3.connect(db)
    conn.execute("delete from usage_daily where day = '2025-06-08'")
    conn.execute("update tool_daily set calls = 1 where day = '2026-02-10'")
    conn.execute("delete from file_daily where session_id = ?", (D3AD,))
    conn.commit()
    conn.close()
    run(tmp_path, "prune", "--db", db, "--before", "2026-02-11")
    assert count(db, "api_requests", "session_id in (?, ?)", (D3AD, D6E0)) == 0
    assert dump(db, list(schema.ROLLUPS)) == whole


def test_backfill_after_prune_reads_nothing_and_restores_nothing(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    r = run(tmp_path, "prune", "--db", db, "--before", "2026-02-12")
    assert "deleted api_requests 66, messages" in r.stdout and "reclaimed" in r.stdout
    after = dump(db, [t for t in schema.TABLES if t != "ingest_runs"])
    again = run(tmp_path, "backfill", projects, "--db", db)
    assert "0 files read, 6 unchanged" in again.stdout and "rows added: none; rows changed: none" in again.stdout
    assert dump(db, [t for t in schema.TABLES if t != "ingest_runs"]) == after
    assert count(db, "api_requests", "session_id in (?, ?)", (D3AD, D6E0)) == 0


def test_rollups_of_pruned_days_survive_a_later_ingest_of_the_same_sessions(tmp_path, projects):
    """d6e0bada spans 2026-02-10 (pruned) and 2026-02-13 (kept); d3ad4cdc is pruned whole. Later
    transcript lines of both sessions are ingested: their pruned days keep their rollups, and the
    daily_usage canned query still reports the pruned days' tokens."""
    db = tmp_path / "claude.db"
    d6e0 = projects / "-Users-marot-spotter" / "tool_heavy.jsonl"
    d3ad = projects / "-Users-chip-dev-ai-music" / f"{D3AD}.jsonl"
    with open(d6e0, "a") as f:
        f.write(turn(D6E0, "/home/marco/projects/spotter", "2026-02-13T09:00:00.000Z", 1))
    backfill(db, [projects])
    rollup_tables = list(schema.ROLLUPS)
    pruned_days = ("2025-06-08", "2026-02-10")

    def of_pruned_days():
        return {t: rows(db, f"select * from [{t}] where day in (?, ?) order by 1, 2, 3", pruned_days)
                for t in rollup_tables}
    before = of_pruned_days()
    assert all(before.values())
    usage_before = daily_usage(db)
    assert usage_before[("2025-06-08", "claude-sonnet-4-20250514")]["total_tokens"] == 3945507

    run(tmp_path, "prune", "--db", db, "--before", "2026-02-11")
    assert count(db, "api_requests", "session_id = ?", (D3AD,)) == 0
    assert detail_days(db, "api_requests")[0] == {"d": "2026-02-12", "n": 178}
    assert rows(db, "select min(timestamp) t from api_requests where session_id = ?", (D6E0,))[0]["t"].startswith(
        "2026-02-13")

    with open(d6e0, "a") as f:
        f.write(turn(D6E0, "/home/marco/projects/spotter", "2026-02-14T09:00:00.000Z", 2))
    with open(d3ad, "a") as f:
        f.write(turn(D3AD, "/Users/chip/dev/ai-music", "2026-03-01T09:00:00.000Z", 3))
    later = backfill(db, [projects])
    assert later.files_read == 2 and later.added["api_requests"] == 2
    assert later.added["tool_calls"] == 2  # one call in each new turn (its result is the same row)

    assert of_pruned_days() == before
    after = daily_usage(db)
    assert {k: after[k] for k in usage_before} == usage_before
    assert set(after) - set(usage_before) == {("2026-02-14", "claude-opus-4-6"), ("2026-03-01", "claude-opus-4-6")}
    new_days = {(r["day"], r["session_id"]) for r in rows(db, "select day, session_id from tool_daily")}
    assert {("2026-02-14", D6E0), ("2026-03-01", D3AD), ("2026-02-13", D6E0)} <= new_days
    assert count(db, "file_daily", "day = '2026-03-01' and session_id = ?", (D3AD,)) == 1
    jan = daily_usage(db, start="2025-06-01", end="2025-06-30", project="ai-music")
    assert list(jan) == [("2025-06-08", "claude-sonnet-4-20250514")]
    assert jan[("2025-06-08", "claude-sonnet-4-20250514")]["requests"] == 62

    # The control: recomputing a rollup in full from the detail would have lost the pruned days.
    control = tmp_path / "control.db"
    shutil.copy(db, control)
    conn = sqlite3.connect(control)
    schema.rebuild_rollups(conn, ["usage_daily"])
    conn.commit()
    conn.close()
    assert not rows(control, "select 1 from usage_daily where day in (?, ?)", pruned_days)


def test_keep_days_is_a_day_counted_back_from_today_and_options_are_checked(tmp_path, projects):
    assert ops.before_day(keep_days=30, today=date(2026, 3, 1)) == "2026-01-30"
    assert ops.before_day("2026-02-12") == "2026-02-12"
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    days = (datetime.now(timezone.utc).date() - date(2026, 2, 12)).days
    by_days = json.loads(run(tmp_path, "prune", "--db", db, "--keep-days", days, "--dry-run", "--json").stdout)
    by_date = json.loads(run(tmp_path, "prune", "--db", db, "--before", "2026-02-12", "--dry-run", "--json").stdout)
    assert by_days == by_date and by_days["before"] == "2026-02-12"
    for args, message in ((("--before", "2026-01-01", "--keep-days", "3"), "exactly one of"),
                          ((), "exactly one of"),
                          (("--before", "2026-02-30"), "YYYY-MM-DD"),
                          (("--before", "2026-02-01T10:00:00Z"), "whole days"),
                          (("--keep-days", "-1"), "0 or more"),
                          (("--keep-days", "soon"), "not a valid integer")):
        r = run(tmp_path, "prune", "--db", db, *args, ok=False)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
    assert count(db, "api_requests") == 244  # nothing deleted by the refused runs


# -- reprice -----------------------------------------------------------------------------------
def prices_with(tmp_path, change):
    prices = json.loads(PRICES_PATH.read_text())
    change(prices["models"])
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(prices))
    return path


def costs(db):
    return {(r["message_id"], r["request_id"]): (r["cost_usd"], r["priced"])
            for r in rows(db, "select message_id, request_id, cost_usd, priced from api_requests")}


NOBODYS = "claude-opus-9"  # a model no price source knows (a stand-in: every real model here is priced)


def test_reprice_prices_a_new_model_changes_another_and_falls_back_for_a_removed_one(tmp_path, projects):
    import genai_prices

    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, EDGE / "claude-code-log_edge_cases.jsonl", "--db", db)
    # Claude 3 Sonnet is in genai-prices, not in our table: priced, with its source
    sonnet3 = rows(db, "select * from api_requests where model = 'claude-3-sonnet-20240229'")
    assert len(sonnet3) == 3 and all(r["priced"] == 1 and r["price_source"].startswith("genai-prices ")
                                     for r in sonnet3)
    # ... renamed to a model nobody prices, the same rows show what becomes of one
    conn = sqlite3.connect(db)
    conn.execute("update api_requests set model = ?, cost_usd = null, priced = 0, price_source = null "
                 "where model = 'claude-3-sonnet-20240229'", (NOBODYS,))
    schema.refresh_rollups(conn, ["usage_daily"])
    conn.commit()
    conn.close()
    original, original_rollup = costs(db), dump(db, ["usage_daily"])
    sonnet4 = [r for r in rows(db, "select * from api_requests") if canonical_model(r["model"]) == "claude-sonnet-4"]
    assert {r["model"] for r in sonnet4} == {"claude-sonnet-4-20250514", "claude-sonnet-4"}
    haiku = rows(db, "select * from api_requests where model = 'claude-haiku-4-5-20251001'")
    assert len(haiku) == 20

    def change(models):
        models[NOBODYS] = {"input": 3, "output": 15, "cache_write_5m": 3.75, "cache_write_1h": 6, "cache_read": 0.3}
        models["claude-sonnet-4"] = dict(models["claude-sonnet-4"], output=models["claude-sonnet-4"]["output"] + 10)
        del models["claude-haiku-4-5"]
    before_total = rows(db, "select total(cost_usd) c from api_requests where is_replay = 0")[0]["c"]
    table = prices_with(tmp_path, change)
    r = run(tmp_path, "reprice", "--db", db, "--prices", table, "--json")
    out = json.loads(r.stdout)

    for row in sonnet3:  # hand-computed at the new rates: no cache tokens in these lines
        got = rows(db, "select cost_usd, priced, price_source from api_requests where message_id = ?",
                   (row["message_id"],))[0]
        assert got["priced"] == 1 and got["price_source"] == "prices.json 2026-08-21"  # the table given, by name
        assert got["cost_usd"] == pytest.approx((row["input_tokens"] * 3 + row["output_tokens"] * 15) / 1e6)
    for row in sonnet4:  # $10 more per million output tokens, nothing else
        got = rows(db, "select cost_usd from api_requests where message_id = ? and request_id = ?",
                   (row["message_id"], row["request_id"]))[0]["cost_usd"]
        assert got == pytest.approx(row["cost_usd"] + row["output_tokens"] * 10 / 1e6)
    # a model the table given lacks is priced from genai-prices, at Haiku 4.5's same list price
    for row in haiku:
        got = rows(db, "select cost_usd, priced, price_source from api_requests where message_id = ? "
                       "and request_id = ?", (row["message_id"], row["request_id"]))[0]
        assert got["priced"] == 1 and got["cost_usd"] == pytest.approx(row["cost_usd"], rel=1e-9)
        assert got["price_source"] == f"genai-prices {genai_prices.__version__} anthropic/claude-haiku-4-5"
    assert count(db, "api_requests", "cost_usd = 0") == 0
    others = {k: v for k, v in costs(db).items() if k in original}
    changed = {k for k in original if others[k] != original[k]}
    assert {k for k in changed if k[0] in {r["message_id"] for r in haiku}} <= {
        (r["message_id"], r["request_id"]) for r in haiku}  # at most float noise for those

    after_total = rows(db, "select total(cost_usd) c from api_requests where is_replay = 0")[0]["c"]
    assert (out["requests"], out["repriced"], out["newly_priced"], out["lost_price"]) == (
        248, len(changed), 3, 0)
    assert out["cost_before_usd"] == pytest.approx(before_total) and out["cost_after_usd"] == pytest.approx(after_total)
    assert out["unpriced_models"] == {}

    # the rollup, and the canned query reading it, follow the detail
    assert rows(db, "select day, model, round(cost_usd, 9) c, unpriced_requests u from usage_daily "
                    "order by 1, 2, 3, 4") == rows(db, """
        select coalesce(date(timestamp), '') day, model, round(sum(cost_usd), 9) c, sum(priced = 0) u
          from api_requests where is_replay = 0 group by session_id, 1, 2,
               (agent_id is not null or is_sidechain = 1) order by 1, 2, 3, 4""")
    usage = daily_usage(db)
    assert usage[("2025-06-14", NOBODYS)]["unpriced_requests"] == 0
    assert usage[("2025-06-14", NOBODYS)]["cost_usd"] == pytest.approx(
        sum(r["input_tokens"] * 3 + r["output_tokens"] * 15 for r in sonnet3) / 1e6, abs=1e-4)

    # back to the shipped table: every cost exactly as ingest computed it; the model nobody prices loses its price
    text = run(tmp_path, "reprice", "--db", db).stdout
    assert costs(db) == original and dump(db, ["usage_daily"]) == original_rollup
    assert rows(db, "select distinct price_source from api_requests where model = 'claude-haiku-4-5-20251001'") == [
        {"price_source": "datasette-claude prices.json 2026-08-21"}]
    assert f"with {PRICES_PATH} (as of " in text
    assert "(0 newly priced, 3 lost their price)" in text
    assert f"still unpriced: {NOBODYS} (3)" in text


def test_reprice_rejects_a_malformed_price_table_with_exit_2_and_changes_nothing(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    before = dump(db, list(schema.TABLES))
    shipped = json.loads(PRICES_PATH.read_text())
    cases = {
        "not json": ("{ oops", "is not JSON"),
        "a list": ("[]", "expected a JSON object"),
        "no models": (json.dumps({"as_of": "2026-01-01"}), '"models" must be an object'),
        "a rate missing": (json.dumps({"models": {"claude-x": {"input": 1, "output": 2}}}),
                           "models.claude-x.cache_write_5m: expected a number >= 0"),
        "a negative rate": (json.dumps({**shipped, "models": {**shipped["models"], "claude-opus-4-6": {
            **shipped["models"]["claude-opus-4-6"], "output": -25}}}), "models.claude-opus-4-6.output"),
        "a string rate": (json.dumps({"models": {"claude-x": {"input": "3", "output": 1, "cache_write_5m": 1,
                                                              "cache_write_1h": 1, "cache_read": 1}}}),
                          "models.claude-x.input"),
        "a dated name": (json.dumps({"models": {"claude-3-sonnet-20240229": {
            "input": 3, "output": 15, "cache_write_5m": 3.75, "cache_write_1h": 6, "cache_read": 0.3}}}),
                         "write the model as 'claude-3-sonnet'"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / "bad.json"
        path.write_text(text)
        r = run(tmp_path, "reprice", "--db", db, "--prices", path, ok=False)
        assert r.returncode == 2 and message in r.stderr and r.stdout == "", (name, r.stderr)
    r = run(tmp_path, "reprice", "--db", db, "--prices", tmp_path / "absent.json", ok=False)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert dump(db, list(schema.TABLES)) == before


def test_reprice_after_prune_keeps_the_pruned_days_rollup(tmp_path, projects):
    db = tmp_path / "claude.db"
    run(tmp_path, "backfill", projects, "--db", db)
    run(tmp_path, "prune", "--db", db, "--before", "2026-02-11")
    pruned = rows(db, "select * from usage_daily where day < '2026-02-11' order by 1, 2, 3")
    assert len(pruned) == 2

    def change(models):
        models["claude-opus-4-6"] = dict(models["claude-opus-4-6"], input=50)
        models["claude-sonnet-4"] = dict(models["claude-sonnet-4"], input=50)
    out = json.loads(run(tmp_path, "reprice", "--db", db, "--prices", prices_with(tmp_path, change),
                         "--json").stdout)
    assert out["usage_daily_rows_of_pruned_days"] == 2 and out["repriced"] == 157 + 1
    assert rows(db, "select distinct price_source from api_requests where model like 'claude-opus-4-6%'") == [
        {"price_source": "prices.json 2026-08-21"}]  # every row priced by the table given names it
    assert rows(db, "select * from usage_daily where day < '2026-02-11' order by 1, 2, 3") == pruned
    kept = rows(db, "select round(sum(cost_usd), 9) c from usage_daily where day = '2026-02-12'")[0]["c"]
    assert kept == round(rows(db, "select sum(cost_usd) c from api_requests where is_replay = 0")[0]["c"], 9)
    assert "(2 rows of pruned days keep their cost)" in ops.reprice_text(out)


def test_a_transcript_read_again_after_a_prune_never_lowers_the_kept_totals(tmp_path, projects):
    """Regression: after a prune, a rewritten main transcript was read again, and its session's
    rollups were recomputed from what came back: only the main file's requests, not its subagents'
    (244 requests, $12.7717 -> 241, $12.6559). The days before a prune are final."""
    db = tmp_path / "claude.db"
    backfill(db, [projects])
    totals = "select sum(requests) n, round(sum(cost_usd), 9) c, sum(total_tokens) t from usage_daily"
    kept = rows(db, totals)
    ops.prune(db, "2026-02-13")
    assert rows(db, totals) == kept
    main = projects / "-Users-marot-spotter" / f"{FA81}.jsonl"
    lines = main.read_bytes().split(b"\n", 1)
    first = json.loads(lines[0])
    main.write_bytes(json.dumps(first, separators=(", ", ": ")).encode() + b"\n" + lines[1])  # same line, new bytes
    summary = backfill(db, [projects])
    assert summary.files_read == 1 and rows(db, "select rereads from ingest_files where path = ?",
                                            (str(main),)) == [{"rereads": 1}]
    assert rows(db, totals) == kept
    assert rows(db, "select before from prunes") == [{"before": "2026-02-13"}]


def test_hook_prompts_meet_their_transcript_lines_in_linear_time(tmp_path):
    """Prompts without promptId (CC < 2.1.196) were matched with no index: 8,000 prompts in one
    session took 5.6 s, 18,835 took 98 s. At 20,000 the time is linear in the prompts."""
    import time as clock

    from ingest import store as store_module

    def run(n):
        db = tmp_path / f"p{n}.db"
        conn = store_module.connect(db)
        store = store_module.Store(conn)
        store.begin()
        start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
        for i in range(n):
            ts = datetime.fromtimestamp(start + 3 * i, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            later = datetime.fromtimestamp(start + 3 * i + 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            store.add("prompts", {"id": f"u{i}", "uuid": f"u{i}", "session_id": "s", "timestamp": ts,
                                  "text": f"prompt {i % 50}"})  # the same texts again and again, as people type
            store.add("prompts", {"id": f"hook:{i}", "session_id": "s", "timestamp": later, "text": f"prompt {i % 50}"})
        store.flush()
        started = clock.perf_counter()
        store.derive()
        seconds = clock.perf_counter() - started
        store.commit()
        left = conn.execute("select count(*) from prompts where id like 'hook:%'").fetchone()[0]
        conn.close()
        assert left == 0
        return seconds

    small, large = min(run(5000) for _ in range(2)), run(20000)
    assert large / max(small, 0.05) < 8, (small, large)  # linear: 4x; the quadratic match was 16x
