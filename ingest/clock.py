"""Times as the database keeps them: ISO 8601 UTC text with milliseconds and ``Z``
(``2026-02-12T15:36:12.270Z``), sortable and readable, ``date(t)`` the UTC day. Standard library only."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now_iso() -> str:
    """This moment, as the database keeps times."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def iso(dt: datetime) -> str:
    """A datetime as the database keeps times (a naive one is taken to be UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def from_timestamp(seconds: float) -> str:
    """Epoch seconds (a file's mtime) as the database keeps times."""
    return iso(datetime.fromtimestamp(seconds, timezone.utc))


def seconds(ts: str | None) -> float | None:
    """A stored time as epoch seconds; None for none or one that does not read as a time."""
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
