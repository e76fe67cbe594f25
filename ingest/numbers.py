"""Numbers as people read them: costs, token counts, durations and rates, formatted by what they
mean. One module for the command line and (later) the dashboard, so a figure reads the same in
both. Standard library only. Exports (JSON, CSV) keep raw values: these are for display.
"""

from __future__ import annotations

import math

UNPRICED = "unpriced"


def cost(usd, *, unpriced: str = UNPRICED) -> str:
    """``$1,234.56``; under a cent, enough digits to show two significant ones (``$0.0042``), so a
    small cost never reads as ``$0.00``. None (no price known) is ``unpriced``, never ``$0``."""
    if usd is None:
        return unpriced
    value = float(usd)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0 or value >= 0.01 or math.isnan(value):
        return f"{sign}${value:,.2f}"
    digits = -math.floor(math.log10(value)) + 1
    return f"{sign}${value:.{digits}f}"


def tokens(n) -> str:
    """``17,421,406``: every digit, with separators (where exact counts are the point: reports)."""
    return "" if n is None else f"{int(n):,}"


def tokens_short(n) -> str:
    """``17.4M``, ``950K``, ``1.2B``, ``512``: the size at a glance (cards, chart labels)."""
    if n is None:
        return ""
    value = int(n)
    size = abs(value)
    if size < 1000:
        return str(value)
    units = (("K", 10**3), ("M", 10**6), ("B", 10**9))
    i = min(int(math.log10(size) // 3), len(units)) - 1
    unit, scale = units[i]
    if round(size / scale, 1) >= 1000 and i + 1 < len(units):  # 999,950 is 1M, not 1000K
        unit, scale = units[i + 1]
    short = f"{size / scale:.1f}".removesuffix(".0")
    return f"{'-' if value < 0 else ''}{short}{unit}"


def count(n) -> str:
    """``1,234``."""
    return "" if n is None else f"{int(n):,}"


def duration(seconds) -> str:
    """``450 ms``, ``12s``, ``3m 12s``, ``2h 05m``, ``3d 4h``: two units at most, the larger first."""
    if seconds is None:
        return ""
    value = float(seconds)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1:
        return f"{sign}{round(value * 1000)} ms"
    whole = round(value)
    if whole < 60:
        return f"{sign}{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{sign}{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d {hours}h"


def duration_ms(ms) -> str:
    """:func:`duration` of milliseconds (tool call timings are kept in ms)."""
    return "" if ms is None else duration(float(ms) / 1000)


def percent(fraction, digits: int = 1) -> str:
    """``14.3%`` of a fraction (0.143); None is empty."""
    if fraction is None:
        return ""
    return f"{float(fraction) * 100:.{digits}f}%"


def share(part, whole, digits: int = 1) -> str:
    """``1 of 7 (14.3%)``: a rate with the counts it comes from."""
    if not whole:
        return f"{count(part or 0)} of 0"
    return f"{count(part)} of {count(whole)} ({percent(part / whole, digits)})"
