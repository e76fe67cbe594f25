"""``/-/claude/chart/<database>/<query>.svg``: a canned query's chart, drawn on the server from the
same SQL and parameters as its page (the page shows it above the results: see ``__init__``'s
``extra_body_script``). It asks what the canned query's page asks: may the visitor view that query."""

from __future__ import annotations

import json

from datasette.utils.asgi import NotFound, Response

from .. import charts, databases, permissions, resources


async def query_chart(datasette, request):
    database, query = request.url_vars["database"], request.url_vars["query"]
    if database not in await databases.recognised(datasette):
        raise NotFound("no database written by claude-ingest is served under that name")
    spec = resources.canned_queries().get(query)
    if spec is None or not spec.get("chart"):
        raise NotFound("no chart for that query")
    await permissions.ensure_query_allowed(datasette, request, database, query)
    params = {p: request.args.get(p) or "" for p in spec.get("params") or []}
    result = await datasette.get_database(database).execute(spec["sql"], params)
    rows = [dict(r) for r in result.rows]
    label = spec["chart"].get("label")
    if "session_id" in (label if isinstance(label, list) else [label]) and rows:  # a session reads as its label, here too
        ids = [r["session_id"] for r in rows if r.get("session_id")]
        found = await datasette.get_database(database).execute(
            "select id, label from sessions where id in (select value from json_each(:ids))", {"ids": json.dumps(ids)})
        labels = {r["id"]: r["label"] for r in found.rows}
        rows = [{**r, "session_id": labels.get(r.get("session_id")) or r.get("session_id")} for r in rows]
    svg = charts.for_query(spec["chart"], rows, params, label=spec.get("title") or query)
    return Response(svg, content_type="image/svg+xml; charset=utf-8",
                    headers={"cache-control": "no-store", "x-content-type-options": "nosniff"})
