"""Cost of one API response, and which price source gave it.

Claude models are priced from the dated table shipped in ``ingest/data/prices.json`` (the list
prices of Anthropic's pricing page, with its long-context, fast-mode and US-region rules: the costs
ccusage computes). A model that table does not know (an OpenRouter model routed through Claude
Code, OpenCode's GPT and Gemini models) is priced from genai-prices, a maintained price database on
PyPI, from the data snapshot bundled in its installed version (never fetched at run time). A model
neither knows gets ``None``, never 0: the caller records it as unpriced and the summary lists it.
Every cost comes with the name and version of the source that priced it (``price_source``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

PRICES_PATH = Path(__file__).with_name("data") / "prices.json"
SHIPPED_TABLE = "datasette-claude prices.json"
# OpenRouter names its models vendor/model: a Claude Code transcript routed through it keeps that
# name, and OpenRouter is where genai-prices knows such a model by it.
ROUTED_PROVIDER = "openrouter"

_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")


@lru_cache(maxsize=4)
def load_prices(path: str | None = None) -> dict:
    return json.loads(Path(path or PRICES_PATH).read_text())


def table_source(prices: dict | None = None) -> str:
    """``datasette-claude prices.json 2026-08-21``: the price table a cost came from, by name and date
    (a table given to ``reprice --prices`` names itself with a ``name`` key, else its file)."""
    prices = prices or load_prices()
    return f"{prices.get('name') or SHIPPED_TABLE} {prices.get('as_of') or 'undated'}".strip()


@lru_cache(maxsize=512)
def canonical_model(model: str | None) -> str | None:
    """The price-table name of an API, Bedrock or Vertex model id; None when it cannot be priced.

    ``claude-sonnet-4-20250514`` -> ``claude-sonnet-4``; ``us.anthropic.claude-opus-4-6-v1:0`` ->
    ``claude-opus-4-6``; ``claude-opus-4-5@20251101`` -> ``claude-opus-4-5``.
    """
    if not model or model == "<synthetic>":
        return None
    name = model.strip().lower()
    name = re.sub(r"\[.*?\]$", "", name)  # Claude Code's "claude-opus-4-6[1m]" context suffix
    if "anthropic." in name:  # Bedrock: [region.]anthropic.<id>-v1:0
        name = _BEDROCK_VERSION.sub("", name.split("anthropic.", 1)[1])
    name = name.split("@", 1)[0].replace(".", "-")  # Vertex: <id>@<date>; "4.6" spellings
    name = _DATE_SUFFIX.sub("", name)
    return name


def price_for(model: str | None, prices: dict | None = None) -> dict | None:
    table = (prices or load_prices())["models"]
    name = canonical_model(model)
    return table.get(name) if name else None


def cost_usd(
    model: str | None,
    *,
    input_tokens: int | None = 0,
    output_tokens: int | None = 0,
    cache_creation_input_tokens: int | None = 0,
    cache_creation_5m_tokens: int | None = None,
    cache_creation_1h_tokens: int | None = None,
    cache_read_input_tokens: int | None = 0,
    web_search_requests: int | None = 0,
    speed: str | None = None,
    inference_geo: str | None = None,
    timestamp: str | None = None,
    prices: dict | None = None,
) -> float | None:
    """USD for one deduplicated API response: the list prices of platform.claude.com/docs/en/about-claude/pricing
    (cache writes 1.25x input for 5 minutes, 2x for an hour; reads 0.1x), long-context, fast-mode and US-region
    multipliers as the table gives them, and $10 per 1,000 web searches."""
    prices = prices or load_prices()
    price = price_for(model, prices)
    if price is None:
        return None
    inp, out = input_tokens or 0, output_tokens or 0
    created, read = cache_creation_input_tokens or 0, cache_read_input_tokens or 0
    w1h = cache_creation_1h_tokens or 0
    # Writes not said to be 1-hour ones are 5-minute writes (all of them when older Claude Code gives
    # no breakdown, as ccusage counts them).
    w5m = max(cache_creation_5m_tokens or 0, created - w1h)

    rate_in, rate_out = price["input"], price["output"]
    rate_5m, rate_1h, rate_read = price["cache_write_5m"], price["cache_write_1h"], price["cache_read"]
    long = price.get("long_context")
    threshold = prices.get("long_context", {}).get("threshold_input_tokens", 200_000)
    if long and inp + created + read > threshold and (
        not long.get("until") or (timestamp is not None and timestamp < long["until"])
    ):
        # Every token of the request at the premium rate; cache multipliers apply on top.
        rate_in, rate_out = long["input"], long["output"]
        rate_5m, rate_1h, rate_read = rate_in * 1.25, rate_in * 2, rate_in * 0.1

    total = (inp * rate_in + out * rate_out + w5m * rate_5m + w1h * rate_1h + read * rate_read) / 1e6
    if speed == "fast" and price.get("fast_multiplier"):
        total *= price["fast_multiplier"]
    geo = prices.get("geo_us_multiplier", {})
    if inference_geo == "us" and canonical_model(model) in geo.get("models", ()):
        total *= geo["multiplier"]
    total += (web_search_requests or 0) * prices.get("web_search_usd_per_request", 0)
    return total


def priced(model: str | None, *, provider: str | None = None, prices: dict | None = None,
           **usage) -> tuple[float | None, str | None]:
    """(cost in USD, the source that priced it) for one API response: the price table first (see
    :func:`cost_usd`, whose keyword arguments ``usage`` takes), then genai-prices for a model the table
    does not know; (None, None) when neither knows it. ``provider``: the provider the agent says it
    called (OpenCode's ``providerID``), when it says."""
    prices = prices or load_prices()
    cost = cost_usd(model, prices=prices, **usage)
    if cost is not None:
        return cost, table_source(prices)
    if not model or model == "<synthetic>":
        return None, None
    return fallback_cost(model, provider, **usage)


# -- genai-prices: the models the table does not know ------------------------------------------------
_MISS = object()
_models: dict = {}  # (provider, model) -> (genai provider, genai model) or _MISS, looked up once each


def _genai():
    try:
        import genai_prices
        from genai_prices import data_snapshot
    except ImportError:  # an install without it prices Claude models only, and says so by NULLs
        return None
    return genai_prices, data_snapshot


def _lookup(model: str, provider: str | None):
    """genai-prices' (provider, model) for an agent's model name, trying what the agent said first:
    its provider, then OpenRouter for a vendor/model name, then genai-prices' own guess."""
    key = (provider, model)
    found = _models.get(key)
    if found is not None:
        return None if found is _MISS else found
    lib = _genai()
    found = _MISS
    if lib is not None:
        snapshot = lib[1].get_snapshot()
        name = model.strip()
        tries = []
        if provider:
            tries.append((provider, name))
        if "/" in name:
            tries.append((ROUTED_PROVIDER, name))
            tries.append((None, name.split("/", 1)[1]))
        tries.append((None, name))
        for provider_id, ref in tries:
            try:
                found = snapshot.find_provider_model(ref, None, provider_id, None)
                break
            except (LookupError, ValueError):
                continue
    _models[key] = found
    return None if found is _MISS else found


def fallback_cost(model: str, provider: str | None = None, *, input_tokens: int | None = 0,
                  output_tokens: int | None = 0, cache_creation_input_tokens: int | None = 0,
                  cache_creation_5m_tokens: int | None = None, cache_creation_1h_tokens: int | None = None,
                  cache_read_input_tokens: int | None = 0, web_search_requests: int | None = 0,
                  timestamp: str | None = None, **_ignored) -> tuple[float | None, str | None]:
    """The cost genai-prices gives one response of a model our table lacks, and its source
    (``genai-prices 0.2.3 openrouter/nvidia/nemotron-3-ultra-550b-a55b``); (None, None) when it does
    not know the model either."""
    found = _lookup(model, provider)
    if found is None:
        return None, None
    genai_prices, _ = _genai()
    from datetime import datetime, timezone

    genai_provider, genai_model = found
    inp, out = input_tokens or 0, output_tokens or 0
    read, created = cache_read_input_tokens or 0, cache_creation_input_tokens or 0
    w1h = cache_creation_1h_tokens or 0
    w5m = max(cache_creation_5m_tokens or 0, created - w1h)
    # genai-prices counts cache reads and writes inside input_tokens; the agents count them apart
    usage = {"input_tokens": inp + read + w5m + w1h, "output_tokens": out, "cache_read_tokens": read,
             "cache_write_tokens": w5m + w1h}
    if w1h:  # its 1-hour rate where the model has one (genai-prices falls back to the write rate)
        usage.update(cache_write_5m_tokens=w5m, cache_write_1h_tokens=w1h)
    if web_search_requests:
        usage["web_searches"] = web_search_requests
    when = None
    if timestamp:
        try:
            when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            when = None
    try:
        calc = genai_model.calc_price(genai_prices.Usage(**usage), genai_provider,
                                      genai_request_timestamp=when or datetime.now(timezone.utc),
                                      auto_update_timestamp=None)
    except (LookupError, ValueError, TypeError, ArithmeticError):
        return None, None
    total = float(calc.total_price)
    return total, f"genai-prices {genai_prices.__version__} {genai_provider.id}/{genai_model.id}"


_RATE_PROBE = 1000  # tokens of one kind priced alone: below every tier, so the standard rate


def standard_rates(model: str | None, provider: str | None = None, prices: dict | None = None,
                   timestamp: str | None = None) -> tuple[dict | None, str | None]:
    """USD per million tokens of each kind (input, output, cache_write_5m, cache_write_1h,
    cache_read) at the model's standard rate, and their source; (None, None) for a model nobody
    prices. For totals summed over many requests (a headless run's ``modelUsage``), where a
    per-request rule (long context, tiers) cannot be applied."""
    prices = prices or load_prices()
    price = price_for(model, prices)
    if price is not None:
        return {k: price[k] for k in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")}, \
            table_source(prices)
    if not model or model == "<synthetic>" or _lookup(model, provider) is None:
        return None, None
    rates, source = {}, None
    for kind, usage in (("input", {"input_tokens": _RATE_PROBE}), ("output", {"output_tokens": _RATE_PROBE}),
                        ("cache_write_5m", {"cache_creation_input_tokens": _RATE_PROBE}),
                        ("cache_write_1h", {"cache_creation_input_tokens": _RATE_PROBE,
                                            "cache_creation_1h_tokens": _RATE_PROBE}),
                        ("cache_read", {"cache_read_input_tokens": _RATE_PROBE})):
        cost, source = fallback_cost(model, provider, timestamp=timestamp, **usage)
        if cost is None:
            return None, None
        rates[kind] = cost * 1e6 / _RATE_PROBE
    return rates, source
