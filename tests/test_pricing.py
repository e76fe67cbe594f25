"""The dated price table and the cost of one API response."""

import pytest

from ingest.pricing import canonical_model, cost_usd, load_prices


def test_price_table_is_dated_and_sourced():
    prices = load_prices()
    assert prices["as_of"] == "2026-08-21" and "pricing" in prices["source"]
    for name, p in prices["models"].items():
        if name == "claude-3-haiku":  # listed as $0.30 write / $0.03 read, not exact multiples
            continue
        assert p["cache_write_5m"] == pytest.approx(p["input"] * 1.25), name
        assert p["cache_write_1h"] == pytest.approx(p["input"] * 2), name
        assert p["cache_read"] == pytest.approx(p["input"] * 0.1), name


@pytest.mark.parametrize("model,name", [
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-opus-4-6", "claude-opus-4-6"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("us.anthropic.claude-opus-4-6-v1:0", "claude-opus-4-6"),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("claude-opus-4-5@20251101", "claude-opus-4-5"),
    ("claude-opus-4-6[1m]", "claude-opus-4-6"),
    ("<synthetic>", None),
    (None, None),
])
def test_model_names(model, name):
    assert canonical_model(model) == name


def test_unknown_model_costs_none_not_zero():
    assert cost_usd("claude-opus-9", input_tokens=1000) is None
    assert cost_usd("gpt-5", input_tokens=1000) is None
    assert cost_usd("claude-opus-4-6", input_tokens=0) == 0


def test_every_token_kind_has_its_rate():
    # Opus 4.6: $5 in, $25 out, $6.25 5m write, $10 1h write, $0.50 read (per million)
    c = cost_usd("claude-opus-4-6", input_tokens=1_000_000, output_tokens=1_000_000,
                 cache_creation_input_tokens=3_000_000, cache_creation_5m_tokens=1_000_000,
                 cache_creation_1h_tokens=2_000_000, cache_read_input_tokens=1_000_000)
    assert c == pytest.approx(5 + 25 + 6.25 + 20 + 0.5)
    # no breakdown (older Claude Code): all writes at the 5-minute rate
    assert cost_usd("claude-opus-4-6", cache_creation_input_tokens=1_000_000) == pytest.approx(6.25)


def test_long_context_premium_only_where_the_pricing_page_says():
    big = dict(input_tokens=150_000, cache_read_input_tokens=100_000, output_tokens=10_000)
    # Sonnet 4.5 above 200K: every token at $6 / $22.50, cache read 0.1x
    assert cost_usd("claude-sonnet-4-5", **big) == pytest.approx((150_000 * 6 + 100_000 * 0.6 + 10_000 * 22.5) / 1e6)
    # Opus 4.6: premium before the 2026-03-14 change, standard after
    assert cost_usd("claude-opus-4-6", timestamp="2026-03-01T00:00:00.000Z", **big) == pytest.approx(
        (150_000 * 10 + 100_000 * 1 + 10_000 * 37.5) / 1e6)
    assert cost_usd("claude-opus-4-6", timestamp="2026-04-01T00:00:00.000Z", **big) == pytest.approx(
        (150_000 * 5 + 100_000 * 0.5 + 10_000 * 25) / 1e6)
    # at or under 200K: standard
    assert cost_usd("claude-sonnet-4-5", input_tokens=200_000) == pytest.approx(0.6)


def test_fast_mode_geo_and_web_search():
    base = cost_usd("claude-opus-4-6", input_tokens=1_000_000)
    assert cost_usd("claude-opus-4-6", input_tokens=1_000_000, speed="fast") == pytest.approx(base * 6)
    assert cost_usd("claude-opus-4-6", input_tokens=1_000_000, inference_geo="us") == pytest.approx(base * 1.1)
    assert cost_usd("claude-sonnet-4-5", input_tokens=100_000, inference_geo="us") == pytest.approx(0.3)
    assert cost_usd("claude-sonnet-4-5", web_search_requests=3) == pytest.approx(0.03)


# -- every model priced where a maintained source knows it -------------------------------------------
def test_each_cost_says_which_source_and_version_priced_it():
    import genai_prices

    from ingest.pricing import priced

    # a Claude model: our dated table, as ccusage prices it
    assert priced("claude-opus-4-6", input_tokens=1_000_000) == (5.0, "datasette-claude prices.json 2026-08-21")
    # a model OpenRouter serves, routed through Claude Code under its vendor/model name: OpenRouter's
    # list price from genai-prices' bundled data, as it was on the day of the request ($0.50 in,
    # $2.50 out, $0.15 cached per million; from 2026-10-19 $0.60, $2.40, $0.12)
    usage = dict(input_tokens=1_000_000, output_tokens=100_000, cache_read_input_tokens=2_000_000)
    cost, source = priced("nvidia/nemotron-3-ultra-550b-a55b", timestamp="2026-09-01T12:00:00.000Z", **usage)
    assert cost == pytest.approx(0.5 + 0.25 + 0.3)
    assert source == f"genai-prices {genai_prices.__version__} openrouter/nvidia/nemotron-3-ultra-550b-a55b"
    later, _ = priced("nvidia/nemotron-3-ultra-550b-a55b", timestamp="2026-11-01T12:00:00.000Z", **usage)
    assert later == pytest.approx(0.6 + 0.24 + 0.24)
    # OpenAI's gpt-5 under the provider that served it ($1.25 in, $0.125 cached, $10 out)
    cost, source = priced("gpt-5", provider="openai", input_tokens=1_000_000, cache_read_input_tokens=1_000_000,
                          output_tokens=1_000_000)
    assert cost == pytest.approx(1.25 + 0.125 + 10) and source.endswith(" openai/gpt-5")
    # a model nobody prices: NULL, no source, never $0
    assert priced("claude-opus-9", input_tokens=1000) == (None, None)
    assert priced("<synthetic>", input_tokens=1000) == (None, None)
    assert priced(None, input_tokens=1000) == (None, None)


def test_one_hour_cache_writes_take_their_rate_in_either_source():
    from ingest.pricing import priced

    # Claude Code 2.1.294's own cost for a real claude-haiku-5-5 request (tests/fixtures/otel/): 2 in,
    # 4 out, 9,179 cache reads and 13,356 cache writes came to $0.00276519, which is genai-prices'
    # Haiku 5.5 list price with the writes at the 1-hour rate ($0.20), not the 5-minute one ($0.125)
    one_hour = dict(input_tokens=2, output_tokens=4, cache_read_input_tokens=9179, cache_creation_input_tokens=13356)
    cost, _ = priced("claude-haiku-5-5", cache_creation_1h_tokens=13356, **one_hour)
    assert cost == pytest.approx(0.00276519, abs=1e-12)
    five_minutes, _ = priced("claude-haiku-5-5", **one_hour)
    assert five_minutes == pytest.approx(0.00176349, abs=1e-12)


def test_a_run_s_estimate_equals_claude_code_s_own_cost_on_a_real_result(db_path):
    """A real `claude -p` result (Aug 2026): modelUsage does not split cache writes by TTL, the main
    loop's usage does (all 1-hour); priced at 5 minutes the estimate was $3.0393 for Claude Code's $3.3027."""
    import json

    from helpers import FIXTURES, rows
    from ingest.load.jobs import ingest_job

    path = FIXTURES / "headless" / "claude-p-output-json.result-1h-cache-writes.real-2026-08.json"
    ingest_job(db_path, path.read_text())
    (job,) = rows(db_path, "select cost_usd, total_cost_usd, price_source from jobs")
    reported = json.loads(path.read_text())["total_cost_usd"]
    assert job["total_cost_usd"] == reported and job["cost_usd"] == pytest.approx(reported, abs=1e-9)
    assert job["price_source"] == "datasette-claude prices.json 2026-08-21"


def test_a_price_source_that_is_not_installed_leaves_the_model_unpriced(monkeypatch):
    from ingest import pricing

    monkeypatch.setattr(pricing, "_genai", lambda: None)
    monkeypatch.setattr(pricing, "_models", {})
    assert pricing.priced("gpt-5", provider="openai", input_tokens=1000) == (None, None)
    assert pricing.priced("claude-opus-4-6", input_tokens=1_000_000)[0] == 5.0
