"""``/-/claude/report/<kind>``: ccusage's reports (daily, weekly, monthly, session, 5-hour blocks) as
pages, from the same library as ``claude-ingest report`` (:mod:`ingest.reports`), so the page, the
command line and ``--json`` agree to the token: a chart, the table with its totals row, and the
filters. ``/-/claude/report/<kind>.json`` is ccusage's own JSON shape, as ``report --json`` prints it.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from datasette.utils.asgi import BadRequest, NotFound, Response

from ingest import reports

from .. import charts
from .. import format as fmt
from .overview import NOT_SERVED, choose_database
from .session import session_url

TITLES = {"daily": "Usage per day", "weekly": "Usage per week", "monthly": "Usage per month",
          "session": "Usage per session", "blocks": "5-hour billing blocks"}
TABS = {"daily": "Daily", "weekly": "Weekly", "monthly": "Monthly", "session": "Sessions", "blocks": "5-hour blocks"}
PERIOD_KEY = {"daily": "date", "weekly": "week", "monthly": "month", "session": "sessionId"}
OPTIONS = ("since", "until", "timezone", "project", "agent", "machine", "account", "start_of_week", "order")
MAX_OPTION = 200  # a day, a zone name, a project's path: never near this
# offered in the zone picker (any IANA name may be typed); the report's own zone is added
ZONES = ("UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
         "Europe/London", "Europe/Paris", "Europe/Berlin", "Africa/Johannesburg", "Asia/Kolkata", "Asia/Shanghai",
         "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland")
CHART_WIDTH = 1300
SESSIONS_PER_PAGE = 200  # the session report of a big archive is thousands of rows: a page of them at a time


def _options(request, kind: str) -> dict:
    options = {}
    for key in OPTIONS:
        value = request.args.get(key) or None
        if value is not None and len(value) > MAX_OPTION:
            raise BadRequest(f"{key} is too long: at most {MAX_OPTION} characters")
        if value is not None:
            options[key] = value
    if kind != "weekly":
        options.pop("start_of_week", None)
    if kind == "blocks":
        options["recent"] = request.args.get("recent") == "1"
        options["active"] = request.args.get("active") == "1"
    return options


async def report_page(datasette, request):
    kind, as_json = request.url_vars["kind"], request.url_vars.get("json")
    if kind not in reports.KINDS:
        raise NotFound(f"no such report: one of {', '.join(reports.KINDS)}")
    name, offered = await choose_database(datasette, request)
    if name is None:
        return Response.html(NOT_SERVED, status=404)
    options = _options(request, kind)
    db = datasette.get_database(name)
    try:
        result = await db.execute_fn(lambda conn: reports.report(kind, conn, **options))
    except reports.ReportError as e:  # a bad day, zone, agent or order: the user's to fix
        raise BadRequest(str(e)) from None
    if as_json:
        return Response.json(reports.ccusage_json(result))
    breakdown = request.args.get("breakdown") == "1"
    multi = len(offered) > 1
    paging = None
    if kind == "session":  # the costliest first; the totals row stays the whole report's
        page = request.args.get("page") or "1"
        if not page.isdigit() or not 0 < int(page) < 10**6:
            raise BadRequest("page must be a whole number from 1")
        everything = result["sessions"]
        pages = max(1, -(-len(everything) // SESSIONS_PER_PAGE))
        page = min(int(page), pages)
        first = (page - 1) * SESSIONS_PER_PAGE
        result = {**result, "sessions": everything[first:first + SESSIONS_PER_PAGE]}
        paging = {"page": page, "pages": pages, "first": first + 1, "last": first + len(result["sessions"]),
                  "of": len(everything), "chart": everything[:25]}
    labels = await _session_labels(db, result, paging) if kind == "session" else {}
    zone = reports.zone_of(result)
    # the menus: the database's agents, machines and accounts, the most sessions first
    menus = {}
    for column in ("source", "host", "account"):
        menus[column] = [r[0] for r in (await db.execute(
            f"select {column} from sessions where {column} is not null group by 1 order by count(*) desc, 1")).rows]
    agents, machines, accounts = menus["source"], menus["host"], menus["account"]
    asked = {k: request.args.get(k) for k in OPTIONS + ("breakdown", "recent", "active") if request.args.get(k)}
    # the page of sessions is not carried to the other reports
    page_url = (lambda n: url(page=n)) if paging else None

    def url(to_kind=None, suffix="", **changes):
        args = {**({"db": name} if multi else {}), **asked, **changes}
        query = urlencode({k: v for k, v in args.items() if v})
        return datasette.urls.path(f"/-/claude/report/{to_kind or kind}{suffix}") + ("?" + query if query else "")

    context = {
        "kind": kind, "title": TITLES[kind], "tabs": TABS, "database": name, "databases": offered, "multi": multi,
        "r": result["report"], "asked": asked, "breakdown": breakdown, "fmt": fmt, "agents": agents, "machines": machines, "accounts": accounts,
        "zones": sorted(set(ZONES) | {result["report"]["timezone"]}), "url": url,
        "json_url": url(suffix=".json"), "short_model": reports.short_model, "paging": paging, "page_url": page_url,
        "chart": _chart(kind, {**result, "sessions": paging["chart"]} if paging else result, labels, zone),
        **(_blocks(result, zone) if kind == "blocks" else _periods(kind, result, labels, zone, breakdown, datasette,
                                                                     name if multi else None)),
    }
    return Response.html(await datasette.render_template("claude_report.html", context, request=request))


async def _session_labels(db, result, paging=None) -> dict:
    ids = [r["sessionId"] for r in result["sessions"] + (paging["chart"] if paging else [])]
    found = await db.execute("select id, label, project_path from sessions where id in (select value from json_each(:ids))",
                             {"ids": json.dumps(ids)})
    return {r["id"]: (r["label"], r["project_path"]) for r in found.rows}


def _tokens(r: dict, counts=None) -> dict:
    c = counts or r
    keys = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens") if counts is None else (
        "inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens")
    return dict(zip(("input", "output", "cache_writes", "cache_reads"), (c[k] for k in keys)))


def _periods(kind, result, labels, zone, breakdown, datasette, database) -> dict:
    key = PERIOD_KEY[kind]
    rows = []
    for r in result["sessions" if kind == "session" else kind]:
        row = {"key": r[key], "models": sorted({reports.short_model(m) for m in r["modelsUsed"]}),
               "total": r["totalTokens"], "cost": r["totalCost"], "unpriced": r.get("unpricedRequests", 0),
               **_tokens(r), "breakdown": []}
        if kind == "session":
            label, project = labels.get(r["sessionId"], (None, None))
            row.update(label=label or r["sessionId"], href=session_url(datasette, r["sessionId"], database),
                       project=project or r["projectPath"], last=fmt.when(r["lastActivity"]),
                       claude_code=(result["report"].get("claude_code") or {}).get(r["sessionId"]))
        if breakdown:
            row["breakdown"] = [{"model": reports.short_model(m["modelName"]), "full_model": m["modelName"],
                                 "cost": m["cost"], "unpriced": m.get("unpricedRequests", 0),
                                 "total": sum(m[k] for k in reports.TOKEN_KEYS), **_tokens(m)}
                                for m in r["modelBreakdowns"]]
        rows.append(row)
    t = result["totals"]
    totals = {"total": t["totalTokens"], "cost": t["totalCost"], "unpriced": t.get("unpricedRequests", 0), **_tokens(t),
              "count": len(rows)}
    return {"rows": rows, "totals": totals, "theirs": bool(result["report"].get("claude_code"))}


def _blocks(result, zone) -> dict:
    def at(ts):
        return zone.local(reports.parse_ms(ts)).strftime("%Y-%m-%d %H:%M")

    rows, totals = [], {"input": 0, "output": 0, "cache_writes": 0, "cache_reads": 0, "total": 0, "cost": 0.0,
                        "unpriced": 0, "entries": 0, "count": 0}
    any_priced = False
    for b in result["blocks"]:
        start, end = reports.parse_ms(b["startTime"]), reports.parse_ms(b["actualEndTime"] or b["endTime"])
        row = {"start": at(b["startTime"]), "end": at(b["endTime"]), "gap": b["isGap"], "active": b["isActive"],
               "length": fmt.duration(end - start) if end and start else "—"}
        if not b["isGap"]:
            row.update(models=sorted({reports.short_model(m) for m in b["models"]}), entries=b["entries"],
                       total=b["totalTokens"], cost=b["costUSD"], unpriced=b.get("unpricedRequests", 0),
                       **_tokens(b, b["tokenCounts"]), burn=b["burnRate"], projection=b["projection"])
            for k in ("input", "output", "cache_writes", "cache_reads", "total", "unpriced", "entries"):
                totals[k] += row[k]
            totals["count"] += 1
            if row["cost"] is not None:
                totals["cost"] += row["cost"]
                any_priced = True
        rows.append(row)
    if not any_priced and totals["unpriced"]:
        totals["cost"] = None
    return {"rows": rows, "totals": totals}


def _chart(kind: str, result: dict, labels: dict, zone) -> str:
    title = TITLES[kind]
    if kind == "blocks":
        data = []
        for b in result["blocks"]:
            start = zone.local(reports.parse_ms(b["startTime"])).strftime("%m-%d %H:%M")
            data.append({"x": start if not b["isGap"] else f"gap {start}", "y": b["costUSD"] or 0,
                         "s": "the active block" if b["isActive"] else "a 5-hour block"})  # a gap: a column of 0
        return charts.stacked_columns(data, "x", "y", "s", unit="$", width=CHART_WIDTH, height=260, label=title,
                                      calendar=False)
    if kind == "session":
        rows = [{"label": (labels.get(r["sessionId"]) or (None,))[0] or r["sessionId"], "cost": r["totalCost"],
                 "tokens": r["totalTokens"]} for r in result["sessions"]]
        return charts.ranked_bars(rows, "label", "cost", unit="$", width=CHART_WIDTH, limit=25, label=title,
                                  note=lambda r: f"{fmt.tokens(r['tokens'])} tokens")
    flat = [r for r in reports.chart_rows(result, breakdown=True) if r["model"] is not None]
    priced = any(r["cost_usd"] is not None for r in flat)
    data = [{"x": r["label"], "y": (r["cost_usd"] or 0) if priced else r["total_tokens"],
             "s": reports.short_model(r["model"])} for r in flat]
    data.sort(key=lambda d: str(d["x"]))
    seen = {d["x"] for d in data}
    # every week or month from the first to the last, so a quiet one is a gap, not a neighbour
    data += [{"x": k, "y": 0, "s": data[0]["s"]} for k in _period_calendar(kind, sorted(seen)) if k not in seen]
    data.sort(key=lambda d: str(d["x"]))
    return charts.stacked_columns(data, "x", "y", "s", unit="$" if priced else "", width=CHART_WIDTH, height=280,
                                  label=title + (" (cost by model)" if priced else " (tokens by model: no model here is priced)"),
                                  calendar=kind == "daily")


MAX_PERIODS = 600


def _period_calendar(kind: str, keys: list[str]) -> list[str]:
    """The weeks (``YYYY-MM-DD`` of their first day) or months (``YYYY-MM``) from the first key to the
    last; the days are the chart's own job (charts._calendar)."""
    from datetime import date, timedelta

    if kind not in ("weekly", "monthly") or not keys:
        return []
    out: list[str] = []
    try:
        if kind == "weekly":
            day, last = date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
            while day <= last and len(out) < MAX_PERIODS:
                out.append(day.isoformat())
                day += timedelta(days=7)
        else:
            year, month = int(keys[0][:4]), int(keys[0][5:7])
            while f"{year:04d}-{month:02d}" <= keys[-1] and len(out) < MAX_PERIODS:
                out.append(f"{year:04d}-{month:02d}")
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    except ValueError:
        return []
    return out
