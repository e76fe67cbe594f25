"""The overview page, ``/-/claude``: the few figures and charts a person looks at first.

It runs the canned queries' own SQL (one definition of each question) over a window of days ending
at the latest recorded activity, and links every chart to the canned query it came from.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from urllib.parse import urlencode

from datasette.utils.asgi import BadRequest, Response

from .. import charts, databases, permissions, resources

PANELS = ("daily_usage", "tool_error_rates", "hot_files", "compaction_frequency", "project_usage")
LATEST_ACTIVITY_SQL = "select max(timestamp) from api_requests"  # served by its index
MAX_DAYS = 3660  # ten years of days
# SQLite refuses LIKE patterns over 50,000 bytes; a project path filter is never near this
MAX_PROJECT = 1000
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAYS = re.compile(r"[0-9]{1,4}")


async def overview(datasette, request):
    names = await databases.recognised(datasette)
    if not names:
        await permissions.ensure_allowed(datasette, request)
        return Response.html("<p>No database written by claude-ingest is being served.</p>", status=404)
    wanted = request.args.get("db")
    if wanted and wanted not in names:
        raise BadRequest("db: no database written by claude-ingest is served under that name")
    # the picker offers, and the page opens by default, only what this actor may see
    offered = [n for n in names if await permissions.allowed(datasette, request.actor, n, execute_sql=True)]
    name = wanted or (offered or names)[0]
    await permissions.ensure_allowed(datasette, request, name, execute_sql=True)
    db = datasette.get_database(name)
    days = _days(request.args.get("days"))
    start, end = _day(request.args.get("start"), "start"), _day(request.args.get("end"), "end")
    project = request.args.get("project") or ""
    if len(project) > MAX_PROJECT:
        raise BadRequest(f"project is too long: at most {MAX_PROJECT:,} characters")
    if not end:  # the latest recorded activity's day; today when there is none
        latest = (await db.execute(LATEST_ACTIVITY_SQL)).first()[0]
        end = _iso_day(latest[:10] if isinstance(latest, str) else None) or date.today().isoformat()
    if not start:
        try:
            start = (date.fromisoformat(end) - timedelta(days=days - 1)).isoformat()
        except OverflowError:
            raise BadRequest(f"the {days} days up to {end} would begin before 0001-01-01") from None
    if start > end:  # both YYYY-MM-DD, so text order is date order
        raise BadRequest("start is after end")
    params = {"start": start, "end": end, "project": project, "min_calls": ""}
    queries = resources.canned_queries()

    async def run(key):
        return [dict(r) for r in (await db.execute(queries[key]["sql"], params)).rows]

    # Datasette runs queries on its thread pool and SQLite releases the GIL: the panels run together.
    results = dict(zip(PANELS, await asyncio.gather(*(run(key) for key in PANELS))))

    def link(key, **extra):
        wanted = {k: v for k, v in {**params, **extra}.items() if v and k in (queries[key].get("params") or [])}
        url = datasette.urls.database(name) + "/" + key + ("?" + urlencode(wanted) if wanted else "")
        return url + ("#" + queries[key]["fragment"] if queries[key].get("fragment") else "")

    usage = sorted(results["daily_usage"], key=lambda r: (r["day"], r["model"] or ""))
    tools = results["tool_error_rates"]
    calls = sum(r["calls"] for r in tools)
    failures = sum(r["failures"] or 0 for r in tools)
    figures = [
        ("Estimated cost", f"${sum(r['cost_usd'] or 0 for r in usage):,.2f}", link("daily_usage")),
        ("Tokens", charts.fmt(sum(r["total_tokens"] or 0 for r in usage)), link("daily_usage")),
        ("Sessions", f"{sum(r['sessions'] for r in results['project_usage']):,}",
         datasette.urls.table(name, "sessions")),
        ("Tool calls", f"{calls:,}", link("tool_error_rates")),
        ("Failed tool calls", f"{failures:,} ({100 * failures / calls:.1f}%)" if calls else "0",
         link("tool_error_rates")),
        ("Compactions", f"{sum(r['compactions'] for r in results['compaction_frequency']):,}",
         link("compaction_frequency")),
    ]
    unpriced = sum(r["unpriced_requests"] or 0 for r in usage)
    per_day = {}
    for r in results["compaction_frequency"]:
        for trigger in ("auto", "manual"):
            per_day.setdefault((r["day"], trigger), 0)
            per_day[(r["day"], trigger)] += r[trigger] or 0
    compactions = [{"day": d, "trigger": t, "n": n} for (d, t), n in sorted(per_day.items()) if n]
    panels = [
        {"title": "Estimated cost per day, by model", "href": link("daily_usage"),
         "svg": charts.stacked_columns(usage, "day", "cost_usd", "model", unit="$", label="cost per day")},
        {"title": "Failure rate per tool", "href": link("tool_error_rates"),
         "svg": charts.ranked_bars(sorted((t for t in tools if t["calls"] >= 3),
                                          key=lambda t: -t["error_rate_pct"]),
                                   "tool_name", "error_rate_pct", unit="%", label="failure rate per tool",
                                   detail=lambda t: f"{t['failures']} of {t['calls']} calls")},
        {"title": "Hot files", "href": link("hot_files"),
         "svg": charts.ranked_bars(results["hot_files"], "file_path", "touches", label="hot files",
                                   detail=lambda f: f"{f['reads']} reads, {f['edits']} edits")},
        {"title": "Compactions per day", "href": link("compaction_frequency"),
         "svg": charts.stacked_columns(compactions, "day", "n", "trigger", label="compactions per day")},
        {"title": "Cost per project", "href": link("project_usage"),
         "svg": charts.ranked_bars(results["project_usage"], "project", "cost_usd", unit="$",
                                   label="cost per project")},
    ]
    more = [(q.get("title") or key, datasette.urls.database(name) + "/" + key
             + ("#" + q["fragment"] if q.get("fragment") else ""))
            for key, q in queries.items()]
    context = {"database": name, "databases": offered, "start": start, "end": end, "days": days,
               "figures": figures, "panels": panels, "unpriced": unpriced, "queries": more,
               "project": params["project"]}
    return Response.html(await datasette.render_template("claude_overview.html", context, request=request))


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
