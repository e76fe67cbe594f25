"""The overview page, ``/-/claude``: the few figures and charts a person looks at first.

It runs the canned queries' own SQL (one definition of each question) over a window of days ending
at the latest recorded activity, and links every chart to the canned query it came from.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from urllib.parse import urlencode

from datasette.utils.asgi import Response

from . import charts, permissions, resources

PANELS = ("daily_usage", "tool_error_rates", "hot_files", "compaction_frequency", "project_usage")
LATEST_ACTIVITY_SQL = "select max(timestamp) from api_requests"  # served by its index


async def overview(datasette, request):
    from . import recognised_databases

    names = await recognised_databases(datasette)
    if not names:
        await permissions.ensure_allowed(datasette, request)
        return Response.html("<p>No database written by claude-ingest is being served.</p>", status=404)
    # the picker offers, and the page opens by default, only what this actor may see
    offered = [n for n in names if await permissions.allowed(datasette, request.actor, n, execute_sql=True)]
    name = request.args.get("db") if request.args.get("db") in names else (offered or names)[0]
    await permissions.ensure_allowed(datasette, request, name, execute_sql=True)
    db = datasette.get_database(name)
    try:
        days = max(1, min(int(request.args.get("days") or 30), 3660))
    except ValueError:
        days = 30
    latest = (await db.execute(LATEST_ACTIVITY_SQL)).first()[0]
    end = request.args.get("end") or (latest[:10] if latest else date.today().isoformat())
    try:
        start = request.args.get("start") or (date.fromisoformat(end) - timedelta(days=days - 1)).isoformat()
    except ValueError:
        start, end = "", ""
    params = {"start": start, "end": end, "project": request.args.get("project") or "", "min_calls": ""}
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
        ("Tokens", charts._fmt(sum(r["total_tokens"] or 0 for r in usage)), link("daily_usage")),
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
