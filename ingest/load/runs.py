"""The parts every command's one-line summary shares."""

from __future__ import annotations

from collections import Counter


def rows_text(rows: Counter) -> str:
    """``api_requests 509, messages 904, ...`` for a summary line."""
    return ", ".join(f"{t} {n:,}" for t, n in sorted(rows.items())) or "none"


def unpriced_text(unpriced: Counter) -> str:
    """``claude-3-sonnet-20240229 (3)``: the models with no price, and how many responses each."""
    return ", ".join(f"{m} ({n})" for m, n in unpriced.most_common()) or "none"
