"""The schema declaration, its idempotent ensure, and the store's merge rules."""

import sqlite3

import pytest

from ingest import schema, store


def test_ensure_creates_everything_declared_and_is_idempotent(tmp_path):
    conn = store.connect(tmp_path / "t.db")
    names = {r[0] for r in conn.execute("select name from sqlite_master")}
    assert set(schema.TABLES) <= names
    assert set(schema.VIEWS) <= names
    assert {"prompts_fts", "tool_calls_fts", "errors_fts"} <= names
    assert conn.execute("pragma user_version").fetchone()[0] == schema.SCHEMA_VERSION
    for t in schema.TABLES.values():
        cols = {r[1]: r[2] for r in conn.execute(f"pragma table_info([{t.name}])")}
        assert cols == t.columns
        pk = [r[1] for r in sorted(conn.execute(f"pragma table_info([{t.name}])"), key=lambda r: r[5]) if r[5]]
        assert tuple(pk) == t.pk
    before = sorted(conn.execute("select type, name, sql from sqlite_master"))
    schema.ensure(conn)
    schema.ensure(conn)
    assert sorted(conn.execute("select type, name, sql from sqlite_master")) == before


def test_ensure_adds_missing_columns_and_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("create table sessions (id text primary key, source text)")
    old.execute("insert into sessions values ('s1', 'claude')")
    old.commit()
    old.close()
    conn = store.connect(path)  # user_version 0: ensure runs
    cols = {r[1] for r in conn.execute("pragma table_info(sessions)")}
    assert set(schema.TABLES["sessions"].columns) <= cols
    assert conn.execute("select id, source from sessions").fetchall() == [("s1", "claude")]


def test_foreign_keys_let_datasette_link_calls_to_sessions(tmp_path):
    conn = store.connect(tmp_path / "t.db")
    fks = {(r[3], r[2], r[4]) for r in conn.execute("pragma foreign_key_list(tool_calls)")}
    assert ("session_id", "sessions", "id") in fks


@pytest.fixture
def st(tmp_path):
    s = store.Store(store.connect(tmp_path / "t.db"))
    yield s
    s.conn.close()


def write(st, *records):
    st.begin()
    st.write(records)
    st.commit()


def test_null_never_overwrites_and_latest_non_null_wins(st):
    write(st, ("sessions", {"id": "s", "cwd": "/a", "model": "m1"}))
    write(st, ("sessions", {"id": "s", "cwd": None, "model": "m2"}))
    assert st.conn.execute("select cwd, model from sessions").fetchone() == ("/a", "m2")


def test_first_min_max_rules(st):
    write(st, ("sessions", {"id": "s", "project_path": "/first", "started_at": "2026-01-02", "ended_at": "2026-01-02"}))
    write(st, ("sessions", {"id": "s", "project_path": "/second", "started_at": "2026-01-01", "ended_at": "2026-01-01"}))
    write(st, ("sessions", {"id": "s", "started_at": None, "ended_at": "2026-01-03"}))
    assert st.conn.execute("select project_path, started_at, ended_at from sessions").fetchone() == (
        "/first", "2026-01-01", "2026-01-03")


def _usage(out, ts, cost):
    return ("api_requests", {"message_id": "m", "request_id": "r", "session_id": "s", "timestamp": ts,
                             "output_tokens": out, "usage_total": out, "cost_usd": cost})


@pytest.mark.parametrize("order", [(3, 123, 50), (123, 3, 50), (50, 123, 3)])
def test_usage_columns_come_from_the_largest_copy_in_any_order(st, order):
    for out in order:
        write(st, _usage(out, f"t{out}", out / 1000))
    assert st.conn.execute("select output_tokens, timestamp, cost_usd, usage_total from api_requests").fetchone() == (
        123, "t123", 0.123, 123)


def test_original_rule_fork_copy_gives_way(st):
    write(st, ("tool_calls", {"tool_use_id": "t", "session_id": "fork", "is_fork_copy": 1}))
    write(st, ("tool_calls", {"tool_use_id": "t", "session_id": "orig", "is_fork_copy": 0}))
    write(st, ("tool_calls", {"tool_use_id": "t", "session_id": "fork2", "is_fork_copy": 1}))
    assert st.conn.execute("select session_id, is_fork_copy from tool_calls").fetchone() == ("orig", 0)


def test_rows_without_their_key_or_with_unknown_columns_are_refused(st):
    with pytest.raises(KeyError):
        store.upsert_sql("sessions", ("cwd",))
    with pytest.raises(KeyError):
        store.upsert_sql("sessions", ("id", "no_such_column"))


def test_defaults_apply_when_a_source_does_not_know_a_column(st):
    write(st, ("api_requests", {"message_id": "m", "request_id": "", "session_id": "s"}))
    assert st.conn.execute("select is_replay, is_fork_copy, is_sidechain from api_requests").fetchone() == (0, 0, 0)


def test_fts_follows_upserts(st):
    write(st, ("prompts", {"id": "p", "session_id": "s", "text": "refactor the parser"}))
    write(st, ("prompts", {"id": "p", "text": "refactor the tokenizer"}))
    hits = st.conn.execute("select rowid from prompts_fts where prompts_fts match 'tokenizer'").fetchall()
    assert len(hits) == 1
    assert st.conn.execute("select count(*) from prompts_fts where prompts_fts match 'parser'").fetchone()[0] == 0


def test_usage_rule_takes_the_whole_largest_copy_even_its_nulls(st):
    """A smaller copy never fills in what the largest copy left empty: re-reads change nothing."""
    big = {"message_id": "m", "request_id": "r", "session_id": "s", "usage_total": 10, "output_tokens": 10,
           "inference_geo": None}
    small = {**big, "usage_total": 3, "output_tokens": 3, "inference_geo": "not_available"}
    write(st, ("api_requests", big))
    write(st, ("api_requests", small))
    assert st.conn.execute("select output_tokens, inference_geo from api_requests").fetchone() == (10, None)


def test_usage_rule_between_equal_copies_keeps_the_earliest_written(st):
    """A subagent's own line and its parent's progress mirror carry the same usage, written a few
    hundred ms apart: whichever file is read first, the row is the same."""
    own = {"message_id": "m", "request_id": "r", "session_id": "s", "usage_total": 10,
           "timestamp": "2026-02-12T15:36:49.032Z"}
    mirror = {**own, "timestamp": "2026-02-12T15:36:49.309Z"}
    write(st, ("api_requests", mirror))
    write(st, ("api_requests", own))
    write(st, ("api_requests", mirror))
    assert st.conn.execute("select timestamp from api_requests").fetchone() == ("2026-02-12T15:36:49.032Z",)


def test_an_old_database_takes_the_named_migrations_once(tmp_path):
    """What schema 1 made and later versions changed (a view that is now a canned query's name, an
    FTS update trigger that re-indexed on every update) is changed by named migrations, recorded."""
    import sqlite_utils

    from ingest import migrations

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db["prompts"].insert({"id": "p", "text": "hello"}, pk="id")
    db["prompts"].enable_fts(["text"], create_triggers=True)  # sqlite-utils' trigger: re-indexes every update
    db.create_view("daily_usage", "select 1 as one")
    db.conn.close()
    conn = store.connect(path)
    names = [r[0] for r in conn.execute("select name from migrations order by name")]
    assert names == [m.__name__ for m in migrations.MIGRATIONS]
    assert conn.execute("select count(*) from sqlite_master where name = 'daily_usage'").fetchone()[0] == 0
    trigger = conn.execute("select sql from sqlite_master where name = 'prompts_au'").fetchone()[0]
    assert ' WHEN old."text" IS NOT new."text"' in trigger
    schema.ensure(conn)  # again: nothing runs twice
    assert conn.execute("select count(*) from migrations").fetchone()[0] == len(migrations.MIGRATIONS)
    conn.close()
