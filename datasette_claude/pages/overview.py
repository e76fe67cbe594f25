"""The overview page, ``/-/claude``: the few figures and charts a person looks at first.

Over a window of days ending at the latest recorded activity (or any range), narrowed by project,
agent, machine and account: every figure and panel obeys every filter (the queries are in
``sql/overview.sql``). Each panel links to the canned query that asks the same question.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from functools import partial
from urllib.parse import urlencode

from datasette.utils.asgi import BadRequest, Response

from .. import charts, databases, permissions, resources
from .. import format as fmt
from .session import session_url

MAX_DAYS = 3660  # ten years of days
# SQLite refuses LIKE patterns over 50,000 bytes; a project path filter is never near this
MAX_FILTER = 1000
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAYS = re.compile(r"[0-9]{1,4}")
FILTERS = ("project", "agent", "machine", "account")
# the queries' filter, spelled the same in each of them: "[alias.]session_id in chosen"
NO_FILTER = re.compile(r"\b(?:\w+\.)?session_id in chosen\b")


def _sql(name: str, filtered: bool) -> str:
    sql = resources.page_queries("overview")[name]
    if not NO_FILTER.search(sql):
        return sql
    if not filtered:  # every session: no need to list them
        return NO_FILTER.sub("1", sql)
    return f"with chosen as ({resources.page_queries('overview')['chosen_sessions']})\n{sql}"


async def choose_database(datasette, request) -> tuple[str | None, list[str]]:
    """``?db=`` (one of ours) or the first of ours this actor may see, and the ones it may see (the
    picker offers only those). Permission is checked here; (None, []) when none of ours is served."""
    names = await databases.recognised(datasette)
    if not names:
        await permissions.ensure_allowed(datasette, request)
        return None, []
    wanted = request.args.get("db")
    if wanted and wanted not in names:
        raise BadRequest("db: no database written by claude-ingest is served under that name")
    offered = [n for n in names if await permissions.allowed(datasette, request.actor, n, execute_sql=True)]
    name = wanted or (offered or names)[0]
    await permissions.ensure_allowed(datasette, request, name, execute_sql=True)
    return name, offered


NOT_SERVED = "<p>No database written by claude-ingest is being served.</p>"


async def overview(datasette, request):
    name, offered = await choose_database(datasette, request)
    if name is None:
        return Response.html(NOT_SERVED, status=404)
    db = datasette.get_database(name)
    days = _days(request.args.get("days"))
    start, end = _day(request.args.get("start"), "start"), _day(request.args.get("end"), "end")
    filters = {}
    for key in FILTERS:
        value = request.args.get(key) or ""
        if len(value) > MAX_FILTER:
            raise BadRequest(f"{key} is too long: at most {MAX_FILTER:,} characters")
        filters[key] = value
    latest = (await db.execute(_sql("latest_activity", False))).first()[0]
    if not end:  # the latest recorded activity's day; today when there is none
        end = _iso_day(latest if isinstance(latest, str) else None) or date.today().isoformat()
    if not start:
        try:
            start = (date.fromisoformat(end) - timedelta(days=days - 1)).isoformat()
        except OverflowError:
            raise BadRequest(f"the {days} days up to {end} would begin before 0001-01-01") from None
    if start > end:  # both YYYY-MM-DD, so text order is date order
        raise BadRequest("start is after end")
    params = {"start": start, "end": end, **filters}
    filtered = any(filters.values())
    panels = ("figures", "cost_by_day", "cost_by_model", "tokens_by_kind", "tool_failures", "hot_files",
              "compactions_by_day", "cost_by_project", "top_sessions", "recent_failures", "choices", "projects",
              "anything")

    async def run(key):
        return [dict(r) for r in (await db.execute(_sql(key, filtered), params)).rows]

    # Datasette runs queries on its thread pool and SQLite releases the GIL: the panels run together.
    r = dict(zip(panels, await asyncio.gather(*(run(key) for key in panels))))
    labels = fmt.project_labels(p["project_path"] for p in r["projects"])
    multi = len(offered) > 1
    context = {
        "database": name, "db_path": db.path or f"{name}.db", "databases": offered, "start": start, "end": end, "days": days, "filters": filters,
        "latest": latest, "fmt": fmt, "labels": labels, "empty": not any(r["anything"][0].values()),
        "nothing_here": not r["figures"][0]["requests"] and not r["figures"][0]["calls"],
        "choices": {f: [c for c in r["choices"] if c["filter"] == f] for f in ("agent", "machine", "account")},
        "projects": sorted(r["projects"], key=lambda p: -p["sessions"]),
        "f": r["figures"][0], "kinds": r["tokens_by_kind"][0], "models": r["cost_by_model"],
        "top_sessions": r["top_sessions"], "recent_failures": r["recent_failures"],
        "queries": resources.canned_queries(),
        "session_url": lambda sid, **kw: session_url(datasette, sid, name if multi else None, **kw),
        "query_url": lambda query, **extra: _query_url(datasette, name, query, params, extra),
        "panels": _panels(r, labels, lambda query, **extra: _query_url(datasette, name, query, params, extra)),
        "report_kinds": [("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly"), ("session", "per session"),
                         ("blocks", "5-hour blocks")],
        "report_url": lambda kind: datasette.urls.path(f"/-/claude/report/{kind}") + (
            "?" + urlencode({"db": name}) if multi else ""),
        "this_url": lambda **changes: datasette.urls.path("/-/claude") + "?" + urlencode(
            {k: v for k, v in {"db": name if multi else None, "start": start, "end": end, **filters, **changes}.items()
             if v}),
    }
    return Response.html(await datasette.render_template("claude_overview.html", context, request=request))


PANEL_WIDTH = 640  # an SVG unit is a pixel in a panel of the two-column grid at 1,400 px


def _panels(r: dict, labels: dict, link) -> list[dict]:
    columns = partial(charts.stacked_columns, width=PANEL_WIDTH)
    bars = partial(charts.ranked_bars, width=PANEL_WIDTH)
    compactions = [{"day": c["day"], "trigger": c["trigger"], "n": c["n"]} for c in r["compactions_by_day"]]
    projects = [{**p, "label": labels.get(p["project"], p["project"] or "(no project)")} for p in r["cost_by_project"]]
    files = [{**f, "short": f["file_path"]} for f in r["hot_files"]]
    return [
        {"title": "Estimated cost per day, by model", "href": link("daily_usage"),
         "svg": columns(r["cost_by_day"], "day", "cost_usd", "model", unit="$", label="cost per day")},
        {"title": "Failure rate per tool", "href": link("tool_error_rates"),
         "svg": bars(r["tool_failures"], "tool_name", "failure_rate_pct", unit="%",
                                   label="failure rate per tool",
                                   detail=lambda t: f"{t['failures']:,} of {fmt.counted(t['calls'], 'call')}",
                                   note=lambda t: f"{t['failures']:,} of {t['calls']:,}")},
        {"title": "Hot files", "href": link("hot_files"),
         "svg": bars(files, "short", "touches", label="hot files", paths=True,
                                   detail=lambda f: ", ".join((fmt.counted(f['reads'], 'read'), fmt.counted(f['edits'], 'edit'),
                                                               fmt.counted(f['sessions'], 'session'))))},
        {"title": "Compactions per day", "href": link("compaction_frequency"),
         "svg": columns(compactions, "day", "n", "trigger", label="compactions per day")},
        {"title": "Cost per project", "href": link("project_usage"),
         "svg": bars(projects, "label", "cost_usd", unit="$", label="cost per project",
                                   tips=lambda p: p["project"] or "(no project)",
                                   detail=lambda p: fmt.counted(p['sessions'], 'session'))},
        {"title": "Cost per model", "href": link("daily_usage"),
         "svg": bars(r["cost_by_model"], "model", "cost_usd", unit="$", label="cost per model",
                                   detail=lambda m: f"{fmt.counted(m['requests'], 'request')}, {fmt.tokens(m['tokens'])} tokens")},
    ]


def _query_url(datasette, name: str, query: str, params: dict, extra: dict) -> str:
    spec = resources.canned_queries().get(query, {})
    wanted = {k: v for k, v in {**params, **extra}.items() if v and k in (spec.get("params") or [])}
    return datasette.urls.database(name) + "/" + query + ("?" + urlencode(wanted) if wanted else "")


def _days(value: str | None) -> int:
    if not value:
        return 30
    # digits only: int() would also take "+5", "1_0", " 5" and other scripts' digits
    if not DAYS.fullmatch(value) or not 1 <= int(value) <= MAX_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}")
    return int(value)


def _day(value: str | None, name: str) -> str:
    """The ``start`` or ``end`` parameter as a YYYY-MM-DD day, or "" when not given."""
    if not value:
        return ""
    day = _iso_day(value)
    if day is None:
        raise BadRequest(f"{name} must be a date as YYYY-MM-DD")
    return day


def _iso_day(text) -> str | None:
    if isinstance(text, str) and ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:  # 2026-02-30
            return None
    return None
