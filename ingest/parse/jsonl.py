"""Legacy JSONL logs (routing metrics, session outcomes, self-heal and recovery events, tool-usage and
activity logs that older setups wrote) to rows of a table of their own.

Pure: one line in, one row (or a :class:`BadLine`) out. Columns are the object's keys; nested objects
and lists become JSON text; times are normalised to ISO 8601 UTC with milliseconds and ``Z``:

* a string that reads as an ISO date-time, under any key (no timezone means UTC);
* a number, or a string of digits, under a key that names a time (``timestamp``, ``ts``, ``time``,
  ``date``, ``*_at``, ``createdAt``, ``start_time``, ...) and in the range of epoch seconds
  (2001-2286) or epoch milliseconds: durations and counts under such keys keep their value.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from ..clock import iso
from .common import BadLine

HASH_COLUMN = "line_sha1"

_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$")
_TIME_KEY = re.compile(
    r"(^|_)(ts|time|timestamp|date|datetime|at|on)$"
    r"|^(created|updated|modified|started|ended|finished|completed|logged|recorded|occurred|received|sent)"
    r"(_?(at|on|time|ts))?$"
    r"|^(time|timestamp|date|ts)_",
    re.I,
)
_CAMEL_TIME_KEY = re.compile(r"[a-z0-9](At|Time|Timestamp|Date|Ts)$")  # createdAt, startTime
_DURATION_KEY = re.compile(r"duration|elapsed|latency|ttl|timeout|count|interval|delay|wait", re.I)




def iso_time(value: str) -> str | None:
    """An ISO 8601 date-time string as UTC ``...Z``; None if it is not one."""
    m = _ISO.match(value.strip())
    if not m:
        return None
    date, clock, fraction, zone = m.groups()
    if clock.count(":") == 1:
        clock += ":00"
    micro = (fraction or ".0")[1:7].ljust(6, "0")  # nanoseconds and beyond are cut to microseconds
    zone = zone or "Z"
    if zone.upper() in ("Z", "UTC"):
        offset = "+00:00"
    else:
        digits = zone[1:].replace(":", "")
        offset = f"{zone[0]}{digits[:2]}:{digits[2:4] or '00'}"
    try:
        return iso(datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}"))
    except ValueError:
        return None


def epoch_time(value) -> str | None:
    """Epoch seconds or milliseconds (a number or a string of digits) as UTC ``...Z``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"\d{9,13}(\.\d+)?", value.strip()):
            return None
        value = float(value)
    if not isinstance(value, (int, float)):
        return None
    if 1e9 <= value < 1e10:
        seconds = value
    elif 1e12 <= value < 1e13:
        seconds = value / 1000
    else:
        return None
    return iso(datetime.fromtimestamp(seconds, timezone.utc))


def is_time_key(key: str) -> bool:
    return bool(_TIME_KEY.search(key) or _CAMEL_TIME_KEY.search(key)) and not _DURATION_KEY.search(key)


def normalise(key: str, value):
    """A column value: JSON text for nested values, ISO UTC for times, the value itself otherwise."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        iso = iso_time(value) if len(value) <= 40 and value[:1].isdigit() else None
        if iso:
            return iso
        if is_time_key(key):
            return epoch_time(value) or value
        return value
    if isinstance(value, (int, float)) and is_time_key(key):
        return epoch_time(value) or value
    return value


def parse_line(raw: bytes, pk: str | None = None) -> dict:
    """One row from one line. Without ``pk`` the row is keyed by the SHA-1 of the line's text."""
    text = raw.decode("utf-8").strip()
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
    if not obj:
        raise BadLine("an empty object")
    row = {str(k): normalise(str(k), v) for k, v in obj.items()}
    if pk is None:
        row[HASH_COLUMN] = hashlib.sha1(text.encode()).hexdigest()
    elif row.get(pk) is None or row.get(pk) == "":
        raise BadLine(f"no {pk!r} value")
    return row
