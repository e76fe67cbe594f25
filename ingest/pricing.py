"""Cost of one API response from the dated price table shipped in ``ingest/data/prices.json``.

A model the table does not know gets ``None``, never 0: the caller records it as unpriced and the
summary lists it. ``reprice`` (later) recomputes stored costs when the table changes.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

PRICES_PATH = Path(__file__).with_name("data") / "prices.json"

_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")


@lru_cache(maxsize=4)
def load_prices(path: str | None = None) -> dict:
    return json.loads(Path(path or PRICES_PATH).read_text())


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
