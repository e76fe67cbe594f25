"""Token totals from api_requests equal ccusage's on the same real transcripts, to the token.

The reference is ccusage 20.0.24 run over tests/fixtures/claude (see fixtures/README.md): per UTC day
and model, and per session. ccusage names a session by its file or folder name and counts a
subagent's usage under its parent session; we key sessions by the sessionId inside the lines, so the
test maps file names to session ids through ingest_files.
"""

import sqlite3

import pytest

from helpers import PROJECTS, load_expected
from ingest import backfill

TOKENS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheCreationTokens": "cache_creation_input_tokens",
    "cacheReadTokens": "cache_read_input_tokens",
}
DAILY = load_expected("ccusage-daily.json")
SESSIONS = load_expected("ccusage-session.json")


@pytest.fixture(scope="module", params=[1, 2], ids=["jobs1", "jobs2"])
def parity_db(request, tmp_path_factory):
    """The fixture transcripts backfilled in this process (--jobs 1) and by two worker processes."""
    path = tmp_path_factory.mktemp(f"parity-jobs{request.param}") / "claude.db"
    backfill(path, [PROJECTS], jobs=request.param)
    return path


@pytest.fixture
def query(parity_db):
    conn = sqlite3.connect(parity_db)
    conn.row_factory = sqlite3.Row
    yield lambda sql, params=(): [dict(r) for r in conn.execute(sql, params)]
    conn.close()


def _sums(query, where, params):
    cols = ", ".join(f"sum({c}) as {c}" for c in TOKENS.values())
    return query(f"select {cols}, sum(cost_usd) as cost_usd, count(*) as requests, "
                 f"sum(priced = 0) as unpriced from api_requests where is_replay = 0 and {where}", params)[0]


@pytest.mark.parametrize(
    "day,model",
    [(d["date"], m["modelName"]) for d in DAILY["daily"] for m in d["modelBreakdowns"]],
)
def test_daily_tokens_per_model_equal_ccusage(query, day, model):
    expected = next(m for d in DAILY["daily"] if d["date"] == day for m in d["modelBreakdowns"]
                    if m["modelName"] == model)
    ours = _sums(query, "date(timestamp) = ? and model = ?", (day, model))
    assert {k: ours[v] for k, v in TOKENS.items()} == {k: expected[k] for k in TOKENS}
    # Costs: for these models ccusage's table has the same list prices as ours (prices.json), and it
    # bills 1-hour cache writes at 2x input, which is the list price too. Where the two could part
    # ways is long context: above 200K input tokens ccusage splits the request into tiers, we bill
    # every token at the premium rate as the pricing page says; no request here is that long.
    assert ours["unpriced"] == 0
    assert ours["cost_usd"] == pytest.approx(expected["cost"], abs=1e-9)


def test_no_request_in_fixtures_takes_the_long_context_rule(query):
    """Guards the cost equality above: if fixtures grow such requests, the explanation must too."""
    assert query("select count(*) n from api_requests where input_tokens + cache_creation_input_tokens"
                 " + cache_read_input_tokens > 200000")[0]["n"] == 0
    # 1-hour cache writes are present, and priced at 2x input like ccusage.
    assert query("select count(*) n from api_requests where cache_creation_1h_tokens > 0")[0]["n"] == 4


def test_daily_view_matches_ccusage_totals(query):
    days = query("select day, sum(input_tokens) input_tokens, sum(output_tokens) output_tokens, "
                 "sum(cache_creation_input_tokens) cache_creation_input_tokens, "
                 "sum(cache_read_input_tokens) cache_read_input_tokens, sum(total_tokens) total "
                 "from usage_by_day group by day order by day")
    assert [d["day"] for d in days] == [d["date"] for d in DAILY["daily"]]
    for ours, theirs in zip(days, DAILY["daily"]):
        assert {k: ours[v] for k, v in TOKENS.items()} == {k: theirs[k] for k in TOKENS}
        assert ours["total"] == theirs["totalTokens"]


@pytest.mark.parametrize("ccusage_session", SESSIONS["sessions"], ids=lambda s: s["sessionId"])
def test_session_tokens_equal_ccusage(query, ccusage_session):
    # ccusage's session id is the main file's name; ours is the sessionId its lines carry.
    name = ccusage_session["sessionId"] + ".jsonl"
    (session,) = query("select session_id from ingest_files where kind = 'main' and path like ?", (f"%/{name}",))
    session_id = session["session_id"]
    ours = _sums(query, "session_id = ?", (session_id,))
    assert {k: ours[v] for k, v in TOKENS.items()} == {k: ccusage_session[k] for k in TOKENS}
    assert ours["cost_usd"] == pytest.approx(ccusage_session["totalCost"], abs=1e-9)
    per_model = query("select model, sum(output_tokens) o from api_requests where session_id = ? "
                      "and is_replay = 0 group by model", (session_id,))
    assert {r["model"]: r["o"] for r in per_model} == {
        m["modelName"]: m["outputTokens"] for m in ccusage_session["modelBreakdowns"]}


def test_grand_totals(query):
    ours = _sums(query, "1", ())
    assert {k: ours[v] for k, v in TOKENS.items()} == {k: DAILY["totals"][k] for k in TOKENS}


def test_agent_progress_copies_are_counted_once(query):
    """The parent's agent_progress lines mirror subagent calls: some are the only record of them
    (ccusage's totals include those), the rest share keys with the subagent files and count once."""
    (r,) = query("select count(*) n, count(distinct message_id || '/' || request_id) k from api_requests")
    assert r["n"] == r["k"]
    subagent = query("select count(*) n, sum(output_tokens) o from api_requests where agent_id is not null")[0]
    assert subagent["n"] > 0
