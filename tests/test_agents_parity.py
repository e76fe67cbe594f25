"""Codex and Gemini token totals equal ccusage's on the same real files, to the token.

The reference is ccusage 20.0.24 run over tests/fixtures/codex and tests/fixtures/gemini by
tests/fixtures/expected/ccusage-agents.sh (its output is committed beside it): per UTC day and
model, and per session.

How the two count the same tokens:

* Codex: ccusage's ``inputTokens`` is input not read from the cache (``input_tokens`` minus
  ``cached_input_tokens``), as ours is; ``cacheReadTokens`` is ``cached_input_tokens``;
  ``outputTokens`` includes ``reasoningOutputTokens``, as ours does (reasoning_tokens is the part of
  it). Both count a response once, skipping the token_count Codex repeats when only rate limits moved.
  ccusage names a session by its file (``2026/01/02/rollout-...``); we by the id inside it.
* Gemini: ccusage's ``outputTokens`` leaves the thoughts out (it bills them as output, and counts
  them in ``totalTokens``); ours bills and counts them inside ``output_tokens``, so theirs is
  ``output_tokens - reasoning_tokens`` here and ``totalTokens`` is our ``usage_total``.

Costs: ccusage prices OpenAI's and Google's models from its own table; ours knows Claude's only, so
these requests are unpriced (NULL cost, priced = 0, named in the summary line), never $0. ccusage's
figures for them are in the expected files and the README.
"""

import pytest

from helpers import FIXTURES, load_expected
from ingest.load.codex import ingest_codex
from ingest.load.gemini import ingest_gemini

CODEX_DAILY = load_expected("ccusage-codex-daily.json")
CODEX_SESSIONS = load_expected("ccusage-codex-session.json")
GEMINI_DAILY = load_expected("ccusage-gemini-daily.json")
GEMINI_SESSIONS = load_expected("ccusage-gemini-session.json")


@pytest.fixture(scope="module")
def agents_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("agents") / "claude.db"
    ingest_codex(db, [FIXTURES / "codex"])
    ingest_gemini(db, [FIXTURES / "gemini"])
    return db


@pytest.fixture
def q(agents_db):
    import sqlite3

    conn = sqlite3.connect(agents_db)
    conn.row_factory = sqlite3.Row
    yield lambda sql, params=(): [dict(r) for r in conn.execute(sql, params)]
    conn.close()


SUMS = ("select sum(input_tokens) i, sum(cache_read_input_tokens) c, sum(output_tokens) o, "
        "sum(reasoning_tokens) r, sum(usage_total) t, sum(cache_creation_input_tokens) w, count(*) n, "
        "count(cost_usd) priced from api_requests where source = ? and {where}")


@pytest.mark.parametrize("day,model", [(d["date"], m) for d in CODEX_DAILY["daily"] for m in d["models"]])
def test_codex_daily_tokens_per_model_equal_ccusage(q, day, model):
    theirs = next(d for d in CODEX_DAILY["daily"] if d["date"] == day)["models"][model]
    (ours,) = q(SUMS.format(where="date(timestamp) = ? and model = ?"), ("codex", day, model))
    assert (ours["i"], ours["c"], ours["o"], ours["r"], ours["w"]) == (
        theirs["inputTokens"], theirs["cacheReadTokens"], theirs["outputTokens"], theirs["reasoningOutputTokens"],
        theirs["cacheCreationTokens"])
    assert ours["i"] + ours["c"] + ours["o"] == theirs["totalTokens"] == ours["t"]
    assert ours["priced"] == 0  # unpriced here, never $0 (ccusage: theirs from its own table)


@pytest.mark.parametrize("session", CODEX_SESSIONS["sessions"], ids=lambda s: s["sessionFile"][-36:])
def test_codex_session_tokens_equal_ccusage(q, session):
    (row,) = q("select session_id from ingest_files where kind = 'codex' and path like ?",
               (f"%/{session['sessionId']}.jsonl",))
    (ours,) = q(SUMS.format(where="session_id = ?"), ("codex", row["session_id"]))
    assert (ours["i"], ours["c"], ours["o"], ours["r"], ours["t"]) == (
        session["inputTokens"], session["cacheReadTokens"], session["outputTokens"],
        session["reasoningOutputTokens"], session["totalTokens"])


def test_codex_totals_and_the_session_ccusage_has_none_for(q):
    (ours,) = q(SUMS.format(where="1"), ("codex",))
    totals = CODEX_DAILY["totals"]
    assert (ours["i"], ours["c"], ours["o"], ours["t"]) == (
        totals["inputTokens"], totals["cacheReadTokens"], totals["outputTokens"], totals["totalTokens"])
    # The May 11 13:28 rollout (Codex Desktop 0.128) has no token_count at all: no usage on either side.
    assert len(CODEX_SESSIONS["sessions"]) == 5
    assert q("select count(*) n from api_requests where session_id = '019e1695-0522-7c83-8b39-0dd379793f80'") == [
        {"n": 0}]


@pytest.mark.parametrize("day", [d["date"] for d in GEMINI_DAILY["daily"]])
def test_gemini_daily_tokens_equal_ccusage(q, day):
    theirs = next(d for d in GEMINI_DAILY["daily"] if d["date"] == day)
    for model in theirs["modelBreakdowns"]:
        (ours,) = q(SUMS.format(where="date(timestamp) = ? and model = ?"), ("gemini", day, model["modelName"]))
        assert (ours["i"], ours["c"], ours["o"] - ours["r"], ours["w"]) == (
            model["inputTokens"], model["cacheReadTokens"], model["outputTokens"], model["cacheCreationTokens"])
    (ours,) = q(SUMS.format(where="date(timestamp) = ?"), ("gemini", day))
    assert ours["t"] == theirs["totalTokens"]


@pytest.mark.parametrize("session", GEMINI_SESSIONS["sessions"], ids=lambda s: s["sessionId"])
def test_gemini_session_tokens_equal_ccusage(q, session):
    (ours,) = q(SUMS.format(where="session_id = ?"), ("gemini", session["sessionId"]))
    assert (ours["i"], ours["c"], ours["o"] - ours["r"], ours["t"]) == (
        session["inputTokens"], session["cacheReadTokens"], session["outputTokens"], session["totalTokens"])
    assert ours["priced"] == 0
