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
