"""ccusage's reports from the archive: ``daily``, ``weekly``, ``monthly``, ``session`` and ``blocks``.

Each function takes a database path (opened read-only; an older schema is brought up to date first)
or an open connection, and returns a plain dict in ccusage's own JSON shape and field names
(``daily[]``/``weekly[]``/``monthly[]``/``sessions[]`` with ``totals``; ``blocks[]``), so a script
written for ``ccusage --json`` keeps working, plus one key of ours, ``report``: what was asked (time
zone, range, filters) and notes about the figures. :func:`ccusage_json` drops that key (what
``--json`` prints); :func:`report_text` renders a report for a terminal; :func:`chart_rows` flattens
one for a table or a chart.

Where the numbers come from:

- ``usage_15min``, the rollup of API requests per 15 minutes (UTC), session and model: a day, week or
  month in any time zone is a whole number of its rows (every zone's offset and clock change is a
  multiple of 15 minutes), and its first and last request times cut 5-hour billing blocks exactly.
  It outlives ``prune``, so pruned days still count.
- ``usage_daily`` (per UTC day), for the days pruned before ``usage_15min`` existed (a database pruned
  by an older claude-ingest): those days are placed by their UTC day, and the report says so.
- ``api_requests`` only where a block boundary falls exactly on a request's millisecond.

Costs are from the shipped price table (see ``ingest.pricing``). A model with no price is flagged:
a breakdown (or a whole row) with no priced request has ``cost``/``totalCost`` null, and any row
that left requests out of its cost says how many in ``unpricedRequests`` (absent when there are
none, so ccusage's shape is unchanged); never a silent $0.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from . import numbers
from . import schema
from .errors import IngestError

KINDS = ("daily", "weekly", "monthly", "session", "blocks")
WEEK_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# name -> sessions.source (ccusage's names first, then every agent claude-ingest reads)
AGENTS = {"claude": "claude", "claude-code": "claude", "opencode": "opencode", "codex": "codex", "gemini": "gemini",
          "crush": "crush", "opencode-go": "opencode-go"}
BLOCK_HOURS = 5  # a Claude billing block: from the hour of its first request, five hours
RECENT_DAYS = 3  # ccusage blocks --recent
_HOUR_MS, _MINUTE_MS, _SLOT_MS = 3_600_000, 60_000, 15 * 60_000
_BLOCK_MS = BLOCK_HOURS * _HOUR_MS

TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


class ReportError(IngestError):
    """What was asked cannot be reported as asked (a bad date or zone, no such database)."""


# -- options ----------------------------------------------------------------------------------
def parse_day(value, name: str = "date") -> date | None:
    """A day given as YYYYMMDD (ccusage's form) or YYYY-MM-DD; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ReportError(f"{name} takes a day as YYYYMMDD or YYYY-MM-DD, not {value!r}")


class Zone:
    """The time zone days are counted in: an IANA name, UTC, or the system's own (None), whose
    offsets (daylight saving included) come from the C library as for any local time."""

    def __init__(self, name: str | None = None):
        self.tz: tzinfo | None
        if name is None or name == "":
            self.tz, self.name = None, _system_zone_name()
        elif name.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
            self.tz, self.name = timezone.utc, "UTC"
        else:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                self.tz, self.name = ZoneInfo(name), name
            except (ZoneInfoNotFoundError, ValueError):
                raise ReportError(f"unknown time zone {name!r} (an IANA name such as UTC, Europe/Paris, "
                                  f"America/New_York, Asia/Tokyo)") from None
        self._dates: dict[str, date] = {}

    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(self.tz)

    def date_of_slot(self, slot: str) -> date:
        """The local day of a 15-minute slot (``2026-02-12T15:30``, UTC): all of it is in one."""
        found = self._dates.get(slot)
        if found is None:
            start = datetime(int(slot[:4]), int(slot[5:7]), int(slot[8:10]), int(slot[11:13]), int(slot[14:16]),
                             tzinfo=timezone.utc)
            found = self._dates[slot] = start.astimezone(self.tz).date()
        return found

    def date_of(self, ts: str | None) -> date | None:
        ms = parse_ms(ts)
        return None if ms is None else self.local(ms).date()


def _system_zone_name() -> str:
    """The system zone's IANA name where it can be told (TZ, /etc/localtime), else its abbreviation."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and not tz.startswith("/"):
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return datetime.now().astimezone().tzname() or "local time"


def parse_ms(ts) -> int | None:
    """Epoch milliseconds of a stored time (ISO 8601, ``Z`` or an offset), or None."""
    if not ts:
        return None
    text = str(ts)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000 + (0.5 if dt.timestamp() >= 0 else -0.5))


def iso_ms(ms: int) -> str:
    """Milliseconds as ccusage and the database write times: ``2026-02-12T15:00:00.000Z``."""
    dt = datetime.fromtimestamp(ms // 1000, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _now_ms(now) -> int:
    if now is None:
        return int(datetime.now(timezone.utc).timestamp() * 1000)
    if isinstance(now, (int, float)):
        return int(now)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return int(now.timestamp() * 1000)
    ms = parse_ms(now)
    if ms is None:
        raise ReportError(f"now must be a time, not {now!r}")
    return ms


class Options:
    """What a report is asked for, checked once."""

    def __init__(self, *, since=None, until=None, timezone=None, project=None, agent=None, machine=None,
                 account=None, order=None, start_of_week="sunday", active=False, recent=False, now=None):
        self.since, self.until = parse_day(since, "--since"), parse_day(until, "--until")
        if self.since and self.until and self.since > self.until:
            raise ReportError(f"--since {self.since} is after --until {self.until}")
        self.zone = timezone if isinstance(timezone, Zone) else Zone(timezone)
        self.project = project or None
        if agent and agent not in AGENTS:
            raise ReportError(f"unknown agent {agent!r} (one of: {', '.join(sorted(AGENTS))})")
        self.agent = AGENTS[agent] if agent else None
        self.machine, self.account = machine or None, account or None
        if order not in (None, "asc", "desc"):
            raise ReportError(f"order is asc or desc, not {order!r}")
        self.order = order
        if str(start_of_week).lower() not in WEEK_DAYS:
            raise ReportError(f"start of week is one of {', '.join(WEEK_DAYS)}, not {start_of_week!r}")
        self.start_of_week = str(start_of_week).lower()
        self.active, self.recent = bool(active), bool(recent)
        self.now_ms = _now_ms(now)

    def described(self, kind: str) -> dict:
        out = {"kind": kind, "timezone": self.zone.name, "system_timezone": self.zone.tz is None,
               "since": self.since.isoformat() if self.since else None,
               "until": self.until.isoformat() if self.until else None,
               "project": self.project, "agent": self.agent, "machine": self.machine, "account": self.account}
        if kind == "weekly":
            out["start_of_week"] = self.start_of_week
        if kind == "blocks":
            out.update(now=iso_ms(self.now_ms), active=self.active, recent=self.recent)
        return out

    def every_day(self) -> "Options":
        """The same sessions over every day (the caller picks the days afterwards)."""
        return Options(timezone=self.zone, project=self.project, agent=self.agent, machine=self.machine,
                       account=self.account)

    def in_range(self, day: date | None) -> bool:
        return day is not None and (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until)

    def utc_days(self) -> tuple[str, str]:
        """UTC days that may hold the local days asked for (offsets are within a day of UTC)."""
        lo = (self.since - timedelta(days=1)).isoformat() if self.since else ""
        hi = (self.until + timedelta(days=1)).isoformat() if self.until else "9999"
        return lo, hi


# -- reading the rollups ----------------------------------------------------------------------
@contextmanager
def _reading(db):
    """A connection to read from: an open one as it is, or ``db`` opened read-only (an older schema
    is brought up to date first, as any claude-ingest command does; a missing file is an error)."""
    conn = getattr(db, "conn", db)
    if isinstance(conn, sqlite3.Connection):
        if not conn.execute("select 1 from sqlite_master where name = 'usage_15min'").fetchone():
            raise ReportError("this database predates reports (it has no usage_15min): any claude-ingest "
                              "command that writes to it, such as backfill, brings it up to date")
        yield conn
        return
    from . import store

    path = Path(db).expanduser()
    if not path.is_file():
        raise ReportError(f"no database at {path} (`claude-ingest backfill --db {path}` creates it)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = conn.execute("pragma user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise ReportError(store.database_problem(path, e)) from e
    try:
        if version < schema.SCHEMA_VERSION:
            conn.close()
            store.connect(path).close()  # ensure(): the new rollups are built from the detail
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        yield conn
    except sqlite3.DatabaseError as e:
        raise ReportError(store.database_problem(path, e)) from e
    finally:
        conn.close()


def _sessions_clause(opts: Options, column: str) -> tuple[str, dict]:
    """``and <column> in (sessions that pass --project, --agent, --machine and --account)``, with its
    bound parameters.
    A project is a part of the session's directory, or ccusage's name for it (the directory Claude
    Code keeps its transcripts in, ``-Users-me-app``)."""
    parts, params = [], {}
    if opts.project:
        parts.append("(instr(s.project_path, :project) > 0 or s.id in (select f.session_id from ingest_files f "
                     "where f.kind = 'main' and instr(f.path, '/' || :project || '/') > 0))")
        params["project"] = opts.project
    if opts.agent:
        parts.append("s.source = :agent")
        params["agent"] = opts.agent
    if opts.machine:
        parts.append("s.host = :machine")
        params["machine"] = opts.machine
    if opts.account:
        parts.append("s.account = :account")
        params["account"] = opts.account
    if not parts:
        return "", params
    return f" and {column} in (select s.id from sessions s where {' and '.join(parts)})", params


_SUMS = ("sum(u.requests), sum(u.input_tokens), sum(u.output_tokens), sum(u.cache_creation_input_tokens), "
         "sum(u.cache_read_input_tokens), sum(u.cost_usd), sum(u.unpriced_requests)")
# Days before the last prune's cut-off that usage_15min does not hold in full: a database pruned
# before usage_15min existed has, for those days, only what detail was left (nothing, or a part read
# again later), while usage_daily kept them whole; so has one that merged such an archive. Such days
# are read from usage_daily, by UTC day.
_STALE_DAYS = f"""
select d.day from (select day, sum(requests) n from usage_daily
                    where day != '' and day < {schema.ROLLUPS_ONLY_BEFORE} and day between :lo and :hi group by day) d
  left join (select day, sum(requests) n from usage_15min
              where day != '' and day < {schema.ROLLUPS_ONLY_BEFORE} and day between :lo and :hi group by day) q
    on q.day = d.day
 where q.n is not d.n"""


def _stale_days(conn, opts: Options) -> list[str]:
    lo, hi = opts.utc_days()
    return [d for (d,) in conn.execute(_STALE_DAYS, {"lo": lo, "hi": hi})]


def _slot_rows(conn, opts: Options, group: str, stale: list[str]):
    """usage_15min summed by ``group`` (columns of u), over the UTC days the range may touch."""
    where, params = _sessions_clause(opts, "u.session_id")
    lo, hi = opts.utc_days()
    params.update(lo=lo, hi=hi, stale=json.dumps(stale))
    not_stale = " and u.day not in (select value from json_each(:stale))" if stale else ""
    sql = (f"select {group}, {_SUMS}, min(u.first_at), max(u.last_at) from usage_15min u "
           f"where u.slot != '' and u.day between :lo and :hi{where}{not_stale} group by {group}")
    return conn.execute(sql, params).fetchall()


def _fallback_rows(conn, opts: Options, group: str, stale: list[str]):
    """usage_daily's rows of the stale days."""
    if not stale:
        return []
    where, params = _sessions_clause(opts, "u.session_id")
    params["stale"] = json.dumps(stale)
    sql = (f"select {group}, {_SUMS} from usage_daily u where u.day in (select value from json_each(:stale))"
           f"{where} group by {group}")
    return conn.execute(sql, params).fetchall()


def _untimed(conn, opts: Options) -> int:
    where, params = _sessions_clause(opts, "u.session_id")
    return conn.execute(f"select coalesce(sum(u.requests), 0) from usage_15min u where u.slot = ''{where}",
                        params).fetchone()[0]


# -- summing ----------------------------------------------------------------------------------
class _Sum:
    """Tokens, cost and unpriced requests of a group, with its models in order of first use."""

    __slots__ = ("requests", "input", "output", "created", "read", "cost", "priced", "unpriced", "models",
                 "first", "last")

    def __init__(self):
        self.requests = self.input = self.output = self.created = self.read = self.unpriced = 0
        self.cost, self.priced = 0.0, False
        self.models: dict[str, _Sum] = {}
        self.first = self.last = None

    def add(self, requests, inp, out, created, read, cost, unpriced, first=None, last=None, model=None):
        self.requests += requests or 0
        self.input += inp or 0
        self.output += out or 0
        self.created += created or 0
        self.read += read or 0
        self.unpriced += unpriced or 0
        if cost is not None:
            self.cost += cost
        if (requests or 0) > (unpriced or 0):
            self.priced = True
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last
        if model:
            self.models.setdefault(model, _Sum()).add(requests, inp, out, created, read, cost, unpriced, first, last)

    def merge(self, other: "_Sum") -> None:
        """Add another group's sums, model by model (usage of no known model: in the totals only)."""
        known = {"requests": 0, "input": 0, "output": 0, "created": 0, "read": 0, "unpriced": 0}
        for name in other.models_used():
            m = other.models[name]
            self.add(m.requests, m.input, m.output, m.created, m.read, m.cost if m.priced else None, m.unpriced,
                     m.first, m.last, name)
            for k in known:
                known[k] += getattr(m, k)
        rest = {k: getattr(other, k) - known[k] for k in known}
        self.add(rest["requests"], rest["input"], rest["output"], rest["created"], rest["read"], None,
                 rest["unpriced"], other.first, other.last)  # no model, no price: its cost is none

    @property
    def total(self) -> int:
        return self.input + self.output + self.created + self.read

    def cost_value(self):
        """The cost of what is priced; None when nothing in the group is (never a silent 0)."""
        return self.cost if self.priced or not self.requests else None

    def models_used(self) -> list[str]:
        """In order of first use (ccusage lists them as it meets them)."""
        return sorted(self.models, key=lambda m: (self.models[m].first or "~", m))

    def breakdowns(self) -> list[dict]:
        """Per model, the most costly first (ccusage's order); unpriced ones last."""
        out = []
        for name in self.models_used():
            m = self.models[name]
            row = {"modelName": name, "inputTokens": m.input, "outputTokens": m.output,
                   "cacheCreationTokens": m.created, "cacheReadTokens": m.read, "cost": m.cost_value()}
            if m.unpriced:
                row["unpricedRequests"] = m.unpriced
            out.append(row)
        out.sort(key=lambda r: -(r["cost"] if r["cost"] is not None else -math.inf))
        return out

    def summary(self) -> dict:
        row = {"inputTokens": self.input, "outputTokens": self.output, "cacheCreationTokens": self.created,
               "cacheReadTokens": self.read, "totalTokens": self.total, "totalCost": self.cost_value(),
               "modelsUsed": self.models_used(), "modelBreakdowns": self.breakdowns()}
        if self.unpriced:
            row["unpricedRequests"] = self.unpriced
        return row


def _totals(rows: list[dict]) -> dict:
    totals = {k: sum(r[k] for r in rows) for k in TOKEN_KEYS}
    totals["totalTokens"] = sum(totals.values())
    costs = [r["totalCost"] for r in rows if r["totalCost"] is not None]
    totals["totalCost"] = sum(costs) if costs or not rows else None
    unpriced = sum(r.get("unpricedRequests", 0) for r in rows)
    if unpriced:
        totals["unpricedRequests"] = unpriced
    return totals


def _notes(conn, opts: Options, fallback_days: set, kind: str) -> list[str]:
    notes = []
    if fallback_days:
        days = sorted(fallback_days)
        notes.append(f"{len(days)} day(s) pruned before claude-ingest kept 15-minute sums ({days[0]} .. {days[-1]}) "
                     + ("are counted by their UTC day, whatever the time zone"
                        if kind != "blocks" else "have no request times: they are in no block"))
    untimed = _untimed(conn, opts)
    if untimed:
        notes.append(f"{untimed:,} API request(s) carry no time and are in no {'block' if kind == 'blocks' else 'day'}")
    return notes


# -- daily, weekly, monthly -------------------------------------------------------------------
def _by_day(conn, opts: Options) -> tuple[dict[date, _Sum], set]:
    days: dict[date, _Sum] = {}
    zone = opts.zone
    stale = _stale_days(conn, opts)
    for slot, model, *sums, first, last in _slot_rows(conn, opts, "u.slot, u.model", stale):
        day = zone.date_of_slot(slot)
        if opts.in_range(day):
            days.setdefault(day, _Sum()).add(*sums, first, last, model)
    fallback = set()
    for utc_day, model, *sums in _fallback_rows(conn, opts, "u.day, u.model", stale):
        day = date.fromisoformat(utc_day)
        if opts.in_range(day):
            fallback.add(utc_day)
            # no time of day is known: such a day sorts its models after those it does know
            days.setdefault(day, _Sum()).add(*sums, utc_day + "T~", utc_day + "T~", model)
    return days, fallback


def _period_key(kind: str, day: date, opts: Options) -> str:
    if kind == "monthly":
        return day.strftime("%Y-%m")
    if kind == "weekly":
        start = WEEK_DAYS.index(opts.start_of_week)
        since_sunday = (day.weekday() + 1) % 7
        return (day - timedelta(days=(since_sunday - start) % 7)).isoformat()
    return day.isoformat()


def _periods(db, kind: str, opts: Options) -> dict:
    field = {"daily": "date", "weekly": "week", "monthly": "month"}[kind]
    with _reading(db) as conn:
        days, fallback = _by_day(conn, opts)
        notes = _notes(conn, opts, fallback, kind)
    groups: dict[str, _Sum] = {}
    for day in sorted(days):  # in day order, so that models keep their order of first use
        groups.setdefault(_period_key(kind, day, opts), _Sum()).merge(days[day])
    rows = []
    for key in sorted(groups, reverse=opts.order == "desc"):
        rows.append({field: key, **groups[key].summary()})
    return {kind: rows, "totals": _totals(rows), "report": {**opts.described(kind), "notes": notes}}


def daily(db, **options) -> dict:
    """Usage per day in the time zone (``timezone``; default the system's), ccusage's ``daily``."""
    return _periods(db, "daily", Options(**options))


def weekly(db, **options) -> dict:
    """Usage per week starting on ``start_of_week`` (Sunday, as ccusage), ccusage's ``weekly``."""
    return _periods(db, "weekly", Options(**options))


def monthly(db, **options) -> dict:
    """Usage per calendar month in the time zone, ccusage's ``monthly``."""
    return _periods(db, "monthly", Options(**options))


# -- sessions ---------------------------------------------------------------------------------
def _claude_dir_name(path: str) -> str:
    """How Claude Code names a project's transcript directory: every character not a letter or a
    digit becomes ``-`` (``/Users/me/app`` -> ``-Users-me-app``): ccusage's projectPath."""
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def session(db, **options) -> dict:
    """Usage per session, the most costly first (ccusage's ``session``): ``sessionId`` is the
    session's id (its transcript's name), ``projectPath`` the directory Claude Code keeps its
    transcripts in, ``firstActivity``/``lastActivity`` its first and last API request. ``since`` and
    ``until`` pick sessions by the day (in the time zone) of their last request."""
    opts = Options(**options)
    sessions: dict[str, _Sum] = {}
    with _reading(db) as conn:
        everything = opts.every_day()
        stale = _stale_days(conn, everything)
        for sid, model, *sums, first, last in _slot_rows(conn, everything, "u.session_id, u.model", stale):
            sessions.setdefault(sid, _Sum()).add(*sums, first, last, model)
        fallback = set()
        for sid, model, day, *sums in _fallback_rows(conn, everything, "u.session_id, u.model, u.day", stale):
            fallback.add(day)
            sessions.setdefault(sid, _Sum()).add(*sums, None, None, model)
        meta = {}
        if sessions:
            dirs = dict(conn.execute("select session_id, min(path) from ingest_files where kind = 'main' "
                                     "and session_id is not null group by session_id"))
            for sid, project_path, transcript, started, ended in conn.execute(
                    "select s.id, s.project_path, s.transcript_path, s.started_at, s.ended_at from sessions s "
                    "where s.id in (select value from json_each(?))", (json.dumps(list(sessions)),)):
                meta[sid] = (project_path, dirs.get(sid) or transcript, started, ended)
        notes = _notes(conn, opts, fallback, "session")
        claude_code = _claude_code_figures(conn, list(sessions)) if sessions else {}
    rows = []
    for sid, s in sessions.items():
        project_path, transcript, started, ended = meta.get(sid, (None, None, None, None))
        first = s.first or started
        last = s.last or ended or first
        if (opts.since or opts.until) and not opts.in_range(opts.zone.date_of(last)):
            continue
        if not s.total:
            continue  # as ccusage: a session that used no tokens is not listed
        if transcript:
            directory = os.path.basename(os.path.dirname(transcript))
        elif project_path:
            directory = _claude_dir_name(project_path)
        else:
            directory = "unknown"
        row = s.summary()
        rows.append({"sessionId": sid, **row, "lastActivity": last, "firstActivity": first,
                     "projectPath": directory})
    rows.sort(key=lambda r: (-(r["totalCost"] or 0), r["sessionId"]), reverse=opts.order == "asc")
    shown = {r["sessionId"] for r in rows}
    return {"sessions": rows, "totals": _totals(rows),
            "report": {**opts.described("session"), "notes": notes,
                       "claude_code": {k: v for k, v in claude_code.items() if k in shown}}}


# Claude Code's own figure for a session, beside ours: the sum of its OpenTelemetry api_request events
# where it sent them, else the rises of its statusline total, else its headless runs' totals (the
# reconciliation canned query's order, over the whole session). Kept in the report's own key: the
# ccusage JSON's shape is ccusage's.
_CLAUDE_CODE_SQL = """
with ids(id) as (select value from json_each(:ids)),
otel as (select session_id, sum(cost_usd) as c from otel_events
          where event = 'api_request' and session_id in (select id from ids) group by session_id),
snaps as (select session_id, total_cost_usd,
                 lag(total_cost_usd) over (partition by session_id order by captured_at) as before
            from statusline_snapshots where total_cost_usd is not null and session_id in (select id from ids)),
statusline as (select session_id, sum(case when before is null or total_cost_usd < before then total_cost_usd
                                           else total_cost_usd - before end) as c
                 from snaps group by session_id),
runs as (select session_id, sum(total_cost_usd) as c from jobs
          where total_cost_usd is not null and session_id in (select id from ids) group by session_id)
select ids.id, coalesce(o.c, s.c, r.c),
       case when o.c is not null then 'otel' when s.c is not null then 'statusline' else 'job' end
  from ids left join otel o on o.session_id = ids.id left join statusline s on s.session_id = ids.id
  left join runs r on r.session_id = ids.id
 where coalesce(o.c, s.c, r.c) is not null"""


def _claude_code_figures(conn, session_ids: list[str]) -> dict:
    """``{session_id: {"costUSD": ..., "source": "otel" | "statusline" | "job"}}`` where Claude Code
    said what the session cost."""
    return {sid: {"costUSD": cost, "source": source}
            for sid, cost, source in conn.execute(_CLAUDE_CODE_SQL, {"ids": json.dumps(session_ids)})}


# -- 5-hour billing blocks ----------------------------------------------------------------------
class _Block:
    def __init__(self, start_ms: int):
        self.start, self.sum = start_ms, _Sum()
        self.first_ms: int | None = None
        self.last_ms: int | None = None

    def add(self, model, sums, first_ms, last_ms):
        self.sum.add(*sums, iso_ms(first_ms), iso_ms(last_ms), model)
        self.first_ms = first_ms if self.first_ms is None else min(self.first_ms, first_ms)
        self.last_ms = last_ms if self.last_ms is None else max(self.last_ms, last_ms)


def _blocks_of(slots: list, detail) -> tuple[list, int]:
    """ccusage's blocks over per-slot sums, in time order: a block starts at the hour of its first
    request and takes every request up to and including five hours after that; a request later
    than that, or more than five hours after the one before, starts the next block, and a gap block
    lies between two blocks more than five hours apart. The sums of a slot all fall in one block
    except where a block ends exactly on its first millisecond: ``detail(ts)`` then gives the
    requests at that instant (None once the detail is pruned) and the first request after it.
    Returns (blocks and gaps in order, how many boundary instants the detail no longer had)."""
    out, block, inexact = [], None, 0
    for _slot, models in slots:
        first = min(m[1] for m in models.values())
        last = max(m[2] for m in models.values())
        split = False
        if block is not None and first == block.start + _BLOCK_MS and last > first:
            found = detail(iso_ms(first))  # part of this slot ends the block, the rest starts the next
            if found is None:  # pruned: the whole slot starts the next block (and the report says so)
                inexact += 1
                split = True
            else:
                at_boundary, next_ms = found
                for model, sums in at_boundary.items():
                    block.add(model, sums, first, first)
                models = {m: (_minus(v[0], at_boundary.get(m)), max(v[1], next_ms), v[2])
                          for m, v in models.items()}
                models = {m: v for m, v in models.items() if v[0][0] > 0}
                first, split = next_ms, True
        if block is None or split or first > block.start + _BLOCK_MS:
            if block is not None:
                out.append(block)
                if first - block.last_ms > _BLOCK_MS:
                    out.append(("gap", block.last_ms + _BLOCK_MS, first))
            block = _Block(first - first % _HOUR_MS)
        for model, (sums, m_first, m_last) in models.items():
            block.add(model, sums, m_first, m_last)
    if block is not None:
        out.append(block)
    return out, inexact


def _minus(sums, taken):
    if not taken:
        return sums
    return tuple((a or 0) - (b or 0) if a is not None or b is not None else None for a, b in zip(sums, taken))


def _block_json(block, now_ms: int) -> dict:
    if isinstance(block, tuple):  # a gap: from five hours after the last request to the next one
        _, start, end = block
        return {"id": f"gap-{iso_ms(start)}", "startTime": iso_ms(start), "endTime": iso_ms(end),
                "actualEndTime": None, "isActive": False, "isGap": True, "entries": 0,
                "tokenCounts": {"inputTokens": 0, "outputTokens": 0, "cacheCreationInputTokens": 0,
                                "cacheReadInputTokens": 0},
                "totalTokens": 0, "costUSD": 0, "models": [], "burnRate": None, "projection": None}
    s, end = block.sum, block.start + _BLOCK_MS
    active = now_ms - block.last_ms < _BLOCK_MS and now_ms < end
    burn = projection = None
    minutes = (block.last_ms - block.first_ms) / _MINUTE_MS
    cost = s.cost_value()
    if active and minutes > 0:
        burn = {"tokensPerMinute": s.total / minutes,
                "tokensPerMinuteForIndicator": (s.input + s.output) / minutes,
                "costPerHour": (s.cost / minutes) * 60}
        remaining = float(round((end - now_ms) / _MINUTE_MS))
        projection = {"totalTokens": round(s.total + burn["tokensPerMinute"] * remaining),
                      "totalCost": round((s.cost + burn["costPerHour"] / 60 * remaining) * 100) / 100,
                      "remainingMinutes": int(remaining)}
    row = {"id": iso_ms(block.start), "startTime": iso_ms(block.start), "endTime": iso_ms(end),
           "actualEndTime": iso_ms(block.last_ms), "isActive": active, "isGap": False, "entries": s.requests,
           "tokenCounts": {"inputTokens": s.input, "outputTokens": s.output, "cacheCreationInputTokens": s.created,
                           "cacheReadInputTokens": s.read},
           "totalTokens": s.total, "costUSD": cost, "models": s.models_used(), "burnRate": burn,
           "projection": projection}
    if s.unpriced:
        row["unpricedRequests"] = s.unpriced
    return row


def blocks(db, **options) -> dict:
    """ccusage's ``blocks``: 5-hour billing blocks, the gaps between them, and for the active block
    (``now``, default this moment, within five hours of its last request and before its end) the
    burn rate and the projection to its end. ``since``/``until`` pick blocks by the day (in the
    time zone) they start; ``active`` keeps only the active block, ``recent`` the last three days'."""
    opts = Options(**options)
    with _reading(db) as conn:
        everything = opts.every_day()
        slots: dict[str, dict] = {}
        stale = _stale_days(conn, everything)
        for slot, model, *sums, first, last in _slot_rows(conn, everything, "u.slot, u.model", stale):
            slots.setdefault(slot, {})[model] = (tuple(sums), parse_ms(first), parse_ms(last))
        ordered = [(k, v) for k, v in sorted(slots.items())]
        where, params = _sessions_clause(everything, "session_id")

        def detail(ts: str):
            at = conn.execute(f"select coalesce(model, ''), count(*), sum(input_tokens), sum(output_tokens), "
                              f"sum(cache_creation_input_tokens), sum(cache_read_input_tokens), sum(cost_usd), "
                              f"sum(priced = 0) from api_requests where timestamp = :ts and is_replay = 0 "
                              f"and session_id is not null{where} group by 1", {**params, "ts": ts}).fetchall()
            after = conn.execute(f"select min(timestamp) from api_requests where timestamp > :ts "
                                 f"and timestamp < :end and is_replay = 0 and session_id is not null{where}",
                                 {**params, "ts": ts, "end": iso_ms(parse_ms(ts) + _SLOT_MS)}).fetchone()[0]
            if not at or after is None:
                return None
            return {m: tuple(rest) for m, *rest in at}, parse_ms(after)

        found, inexact = _blocks_of(ordered, detail)
        notes = _notes(conn, opts, set(stale), "blocks")
    if inexact:
        notes.append(f"{inexact} block boundary(ies) fall on the millisecond of a pruned request: "
                     f"its requests are counted in the later block")
    rows = [_block_json(b, opts.now_ms) for b in found]
    if opts.since or opts.until:
        rows = [r for r in rows if opts.in_range(opts.zone.local(parse_ms(r["startTime"])).date())]
    if opts.recent:
        cutoff = opts.now_ms - RECENT_DAYS * 86_400_000
        rows = [r for r in rows if parse_ms(r["startTime"]) >= cutoff or r["isActive"]]
    if opts.active:
        rows = [r for r in rows if r["isActive"]]
    if opts.order == "desc":
        rows.reverse()
    return {"blocks": rows, "report": {**opts.described("blocks"), "notes": notes}}


REPORTS = {"daily": daily, "weekly": weekly, "monthly": monthly, "session": session, "blocks": blocks}


def report(kind: str, db, **options) -> dict:
    """One of :data:`KINDS` by name."""
    if kind not in REPORTS:
        raise ReportError(f"unknown report {kind!r} (one of: {', '.join(KINDS)})")
    return REPORTS[kind](db, **options)


def ccusage_json(result: dict) -> dict:
    """What ``ccusage <kind> --json`` prints: the report without our ``report`` key."""
    return {k: v for k, v in result.items() if k != "report"}


# -- for pages and charts -----------------------------------------------------------------------
def chart_rows(result: dict, *, breakdown: bool = False) -> list[dict]:
    """The report as flat rows (one per period, session or block; with ``breakdown``, one per
    period and model too): ``label``, ``input_tokens``, ``output_tokens``, ``cache_creation_tokens``,
    ``cache_read_tokens``, ``total_tokens``, ``cost_usd`` (None: unpriced), ``unpriced_requests``,
    ``models``, and ``model`` (None on a period's own row). Blocks add ``start``, ``end``,
    ``is_gap``, ``is_active``, ``entries``."""
    kind = result["report"]["kind"]
    out = []
    if kind == "blocks":
        for b in result["blocks"]:
            t = b["tokenCounts"]
            out.append({"label": b["startTime"], "start": b["startTime"], "end": b["actualEndTime"] or b["endTime"],
                        "is_gap": b["isGap"], "is_active": b["isActive"], "entries": b["entries"], "model": None,
                        "input_tokens": t["inputTokens"], "output_tokens": t["outputTokens"],
                        "cache_creation_tokens": t["cacheCreationInputTokens"],
                        "cache_read_tokens": t["cacheReadInputTokens"], "total_tokens": b["totalTokens"],
                        "cost_usd": b["costUSD"], "unpriced_requests": b.get("unpricedRequests", 0),
                        "models": b["models"]})
        return out
    key = {"daily": "date", "weekly": "week", "monthly": "month", "session": "sessionId"}[kind]
    rows = result["sessions" if kind == "session" else kind]
    for r in rows:
        out.append(_flat(r[key], None, r, r["totalCost"], r.get("unpricedRequests", 0), r["modelsUsed"]))
        if breakdown:
            for m in r["modelBreakdowns"]:
                out.append(_flat(r[key], m["modelName"], m, m["cost"], m.get("unpricedRequests", 0), [m["modelName"]]))
    return out


def _flat(label, model, r, cost, unpriced, models) -> dict:
    total = sum(r[k] for k in TOKEN_KEYS)
    return {"label": label, "model": model, "input_tokens": r["inputTokens"], "output_tokens": r["outputTokens"],
            "cache_creation_tokens": r["cacheCreationTokens"], "cache_read_tokens": r["cacheReadTokens"],
            "total_tokens": total, "cost_usd": cost, "unpriced_requests": unpriced, "models": models}


# -- for people ---------------------------------------------------------------------------------
def short_model(name: str) -> str:
    """``claude-sonnet-4-20250514`` -> ``sonnet-4`` (ccusage's short names)."""
    for prefix in ("anthropic/claude-", "claude-"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    parts = name.split("-")
    if len(parts) >= 3 and len(parts[-1]) == 8 and parts[-1].isdigit():
        return "-".join(parts[:-1])
    return name


def zone_of(result: dict) -> Zone:
    """The time zone a report was made in."""
    r = result["report"]
    return Zone(None if r.get("system_timezone") else r["timezone"])


def _cost_cell(cost, unpriced: int) -> str:
    text = numbers.cost(cost)
    return text + "*" if unpriced and cost is not None else text


def _table(headers: list[str], rows: list, right: set[int]) -> list[str]:
    """Aligned columns; a row may be None (a rule), a cell may hold several lines."""
    cells = [[str(c).split("\n") for c in r] if r is not None else None for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        if r is not None:
            for i, lines in enumerate(r):
                widths[i] = max(widths[i], *(len(x) for x in lines))

    def line(values):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "  ".join("─" * w for w in widths)
    out = [line(headers), rule]
    for r in cells:
        if r is None:
            out.append(rule)
            continue
        for k in range(max(len(lines) for lines in r)):
            out.append(line([lines[k] if k < len(lines) else "" for lines in r]))
    return out


def _title(result: dict, what: str) -> str:
    r = result["report"]
    parts = [what]
    if r.get("since") and r.get("until"):
        parts.append(f"{r['since']} to {r['until']}")
    elif r.get("since") or r.get("until"):
        parts.append(f"from {r['since']}" if r.get("since") else f"up to {r['until']}")
    parts.append(f"days in {r['timezone']}")
    if r.get("project"):
        parts.append(f"project {r['project']}")
    if r.get("agent"):
        parts.append(f"agent {r['agent']}")
    if r.get("machine"):
        parts.append(f"machine {r['machine']}")
    if r.get("account"):
        parts.append(f"account {r['account']}")
    return ", ".join(parts)


def _footer(result: dict, unpriced: int) -> list[str]:
    out = []
    if unpriced:
        out.append(f"* excludes {unpriced:,} request(s) of models with no price in the price table "
                   f"(`claude-ingest status` lists them; `claude-ingest reprice --prices FILE` prices them)")
    out += [f"note: {n}" for n in result["report"]["notes"]]
    return out


def report_text(result: dict, *, breakdown: bool = False) -> str:
    """A report as a terminal table with a totals row: costs ``$1,234.56``, tokens with separators."""
    kind = result["report"]["kind"]
    if kind == "blocks":
        return _blocks_text(result)
    label = {"daily": "Date", "weekly": "Week", "monthly": "Month", "session": "Session"}[kind]
    key = {"daily": "date", "weekly": "week", "monthly": "month", "session": "sessionId"}[kind]
    rows = result["sessions" if kind == "session" else kind]
    what = {"daily": "Usage per day", "weekly": f"Usage per week (weeks start on {result['report'].get('start_of_week', '').title()})",
            "monthly": "Usage per month", "session": "Usage per session"}[kind]
    if not rows:
        return "\n".join([_title(result, what), "", "No usage in this database for that choice. "
                          "(`claude-ingest backfill` reads Claude Code's transcripts in.)"] + _footer(result, 0))
    headers = [label, "Models", "Input", "Output", "Cache create", "Cache read", "Total tokens", "Cost"]
    zone = zone_of(result)
    theirs = result["report"].get("claude_code") or {} if kind == "session" else {}
    if kind == "session":
        headers[1:1] = ["Project"]
        if theirs:
            headers.append("Claude Code")  # its own figure for the session (OTel, statusline or -p result)
        headers.append("Last activity")
    table = []
    for r in rows:
        cells = [r[key], "\n".join(f"- {m}" for m in sorted({short_model(m) for m in r["modelsUsed"]})) or "-",
                 numbers.tokens(r["inputTokens"]), numbers.tokens(r["outputTokens"]),
                 numbers.tokens(r["cacheCreationTokens"]), numbers.tokens(r["cacheReadTokens"]),
                 numbers.tokens(r["totalTokens"]), _cost_cell(r["totalCost"], r.get("unpricedRequests", 0))]
        if kind == "session":
            cells[1:1] = [r["projectPath"]]
            if theirs:
                figure = theirs.get(r["sessionId"])
                cells.append(f"{numbers.cost(figure['costUSD'])} ({figure['source']})" if figure else "-")
            last = zone.date_of(r["lastActivity"])
            cells.append(last.isoformat() if last else "")
        table.append(cells)
        if breakdown:
            for m in r["modelBreakdowns"]:
                total = sum(m[k] for k in TOKEN_KEYS)
                sub = [f"  └ {short_model(m['modelName'])}", "", numbers.tokens(m["inputTokens"]),
                       numbers.tokens(m["outputTokens"]), numbers.tokens(m["cacheCreationTokens"]),
                       numbers.tokens(m["cacheReadTokens"]), numbers.tokens(total),
                       _cost_cell(m["cost"], m.get("unpricedRequests", 0))]
                if kind == "session":
                    sub[1:1] = [""]
                    sub += [""] * (2 if theirs else 1)
                table.append(sub)
    t = result["totals"]
    totals = ["Total", "", numbers.tokens(t["inputTokens"]), numbers.tokens(t["outputTokens"]),
              numbers.tokens(t["cacheCreationTokens"]), numbers.tokens(t["cacheReadTokens"]),
              numbers.tokens(t["totalTokens"]), _cost_cell(t["totalCost"], t.get("unpricedRequests", 0))]
    if kind == "session":
        totals[1:1] = [f"{len(rows):,} sessions"]
        totals += [""] * (2 if theirs else 1)
    table += [None, totals]
    tail = (2 if theirs else 1) if kind == "session" else 0  # the columns after Cost
    right = set(range(len(headers) - tail - 6, len(headers) - tail + (1 if theirs else 0)))
    return "\n".join([_title(result, what), ""] + _table(headers, table, right)
                     + _footer(result, t.get("unpricedRequests", 0)))


def _blocks_text(result: dict) -> str:
    r = result["report"]
    zone = zone_of(result)
    title = _title(result, "5-hour billing blocks") + f"; now {zone.local(parse_ms(r['now'])).strftime('%Y-%m-%d %H:%M')}"
    blocks_ = result["blocks"]
    if not blocks_:
        empty = "No active block." if r["active"] else "No usage in this database for that choice."
        return "\n".join([title, "", empty] + _footer(result, 0))

    def at(ts):
        return zone.local(parse_ms(ts)).strftime("%Y-%m-%d %H:%M")

    table, unpriced = [], 0
    totals = _Sum()
    for b in blocks_:
        if b["isGap"]:
            hours = (parse_ms(b["endTime"]) - parse_ms(b["startTime"])) // _HOUR_MS
            table.append([f"{at(b['startTime'])} - {at(b['endTime'])}", f"gap ({hours:,}h)", "-", "", "", ""])
            continue
        length = numbers.duration((parse_ms(b["actualEndTime"]) - parse_ms(b["startTime"])) / 1000)
        status = f"ACTIVE, {length} in" if b["isActive"] else length
        t = b["tokenCounts"]
        unpriced += b.get("unpricedRequests", 0)
        totals.add(b["entries"], t["inputTokens"], t["outputTokens"], t["cacheCreationInputTokens"],
                   t["cacheReadInputTokens"], b["costUSD"], b.get("unpricedRequests", 0))
        table.append([at(b["startTime"]), status,
                      "\n".join(f"- {m}" for m in sorted({short_model(m) for m in b["models"]})) or "-",
                      numbers.count(b["entries"]), numbers.tokens(b["totalTokens"]),
                      _cost_cell(b["costUSD"], b.get("unpricedRequests", 0))])
        if b["isActive"] and b["burnRate"]:
            burn, proj = b["burnRate"], b["projection"]
            table.append(["  burn rate", f"{numbers.tokens(round(burn['tokensPerMinute']))} tokens/min", "",
                          "", "", f"{numbers.cost(burn['costPerHour'])}/h"])
            table.append([f"  projected to {at(b['endTime'])}", f"{numbers.duration(proj['remainingMinutes'] * 60)} left",
                          "", "", numbers.tokens(proj["totalTokens"]), numbers.cost(proj["totalCost"])])
    table += [None, ["Total", f"{sum(1 for b in blocks_ if not b['isGap']):,} blocks", "",
                     numbers.count(totals.requests), numbers.tokens(totals.total),
                     _cost_cell(totals.cost_value(), totals.unpriced)]]
    headers = ["Block start", "Duration / status", "Models", "Requests", "Tokens", "Cost"]
    return "\n".join([title, ""] + _table(headers, table, {3, 4, 5}) + _footer(result, unpriced))
