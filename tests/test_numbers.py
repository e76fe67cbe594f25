"""Numbers as people read them (ingest/numbers.py), and the command lines that print them."""

import json

import pytest

from helpers import EDGE, PROJECTS, claude_ingest, rows
from ingest import numbers
from ingest.pricing import PRICES_PATH


@pytest.mark.parametrize("usd,text", [
    (1234.5678, "$1,234.57"), (14.3288, "$14.33"), (0.49577275, "$0.50"), (0.01, "$0.01"),
    (0.0042, "$0.0042"), (0.0000416, "$0.000042"), (0, "$0.00"), (-2.5, "-$2.50"), (None, "unpriced"),
])
def test_costs(usd, text):
    assert numbers.cost(usd) == text


@pytest.mark.parametrize("n,short", [
    (0, "0"), (999, "999"), (1000, "1K"), (1050, "1.1K"), (17421406, "17.4M"), (999_950, "1M"),
    (2_500_000_000, "2.5B"), (-1500, "-1.5K"),
])
def test_token_counts(n, short):
    assert numbers.tokens_short(n) == short


def test_tokens_counts_and_rates():
    assert numbers.tokens(17421406) == "17,421,406" and numbers.count(None) == ""
    assert numbers.percent(1 / 7) == "14.3%" and numbers.share(1, 7) == "1 of 7 (14.3%)"
    assert numbers.share(0, 0) == "0 of 0"


@pytest.mark.parametrize("seconds,text", [
    (0.45, "450 ms"), (12.3, "12s"), (192, "3m 12s"), (7500, "2h 05m"), (3 * 86400 + 4 * 3600 + 5, "3d 4h"),
])
def test_durations(seconds, text):
    assert numbers.duration(seconds) == text
    assert numbers.duration_ms(seconds * 1000) == text


def test_reprice_prints_dollars_and_the_change(tmp_path):
    db = tmp_path / "claude.db"
    # a model no price source knows (a stand-in: genai-prices knows claude-3-sonnet, which these lines name)
    edge = tmp_path / "edge.jsonl"
    edge.write_text((EDGE / "claude-code-log_edge_cases.jsonl").read_text().replace("claude-3-sonnet-20240229",
                                                                                  "claude-opus-9"))
    claude_ingest("backfill", PROJECTS, edge, "--db", db)
    prices = json.loads(PRICES_PATH.read_text())
    prices["models"]["claude-opus-9"] = {"input": 3, "output": 15, "cache_write_5m": 3.75, "cache_write_1h": 6,
                                         "cache_read": 0.3}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    (sonnet3,) = rows(db, "select sum(input_tokens) i, sum(output_tokens) o, sum(cache_creation_input_tokens) w, "
                          "sum(cache_read_input_tokens) r from api_requests where model = 'claude-opus-9'")
    gained = (sonnet3["i"] * 3 + sonnet3["o"] * 15 + sonnet3["w"] * 3.75 + sonnet3["r"] * 0.3) / 1e6
    assert 0 < gained < 0.01  # under a cent: shown with its digits, not as $0.00
    line = claude_ingest("reprice", "--db", db, "--prices", tmp_path / "prices.json").stdout
    assert f"their total cost $12.77 -> $12.78 (+{numbers.cost(gained)});" in line, line
    assert "usage_daily and usage_15min recomputed" in line
    again = claude_ingest("reprice", "--db", db, "--prices", tmp_path / "prices.json").stdout
    assert "(no change)" in again
