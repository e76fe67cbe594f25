"""``/-/claude/session/<id>``: a session read back from the database alone, long after Claude Code
deleted its transcript. ``?db=NAME`` picks the database when several are served; ``?page=N`` and
``?at=<id>`` (the page holding a prompt, tool call or subagent) page through a long one;
``?agent=<agent_id>`` shows one subagent's own timeline. ``/-/claude/session/<id>/call/<tool_use_id>``
is what a tool call's card folds out to (fetched when it is opened).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from datasette.utils.asgi import BadRequest, NotFound, Response

from .. import charts, databases, permissions, replay, resources
from .. import format as fmt


async def database_of(datasette, request, find_sql: str, key: str) -> str:
    """The database a page shows: ``?db=`` (one of ours), else the first of ours, that the actor may
    see, holding ``key`` (``find_sql`` answers whether one does). Permission is checked here, and
    that the database is not older than the pages (databases.ensure_current)."""
    name = await _database_of(datasette, request, find_sql, key)
    await databases.ensure_current(datasette.get_database(name))
    return name


async def _database_of(datasette, request, find_sql: str, key: str) -> str:
    names = await databases.recognised(datasette)
    wanted = request.args.get("db")
    if wanted:
        if wanted not in names:
            raise NotFound(f"no database written by claude-ingest is served as {wanted!r}")
        await permissions.ensure_allowed(datasette, request, wanted, execute_sql=True)
        return wanted
    allowed = [n for n in names if await permissions.allowed(datasette, request.actor, n, execute_sql=True)]
    if not allowed:
        await permissions.ensure_allowed(datasette, request, names[0] if names else None, execute_sql=True)
        raise NotFound("no database written by claude-ingest is being served")
    for name in allowed:
        if (await datasette.get_database(name).execute(find_sql, {"key": key})).first():
            return name
    return allowed[0]


def _int_arg(request, name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 7:
        raise BadRequest(f"{name} must be a whole number")
    return int(value)


async def session_page(datasette, request):
    session_id = request.url_vars["session_id"]
    name = await database_of(datasette, request, "select 1 from sessions where id = :key union all "
                             "select 1 from subagents where agent_id = :key limit 1", session_id)
    db = datasette.get_database(name)
    page = _int_arg(request, "page", 1)
    at = request.args.get("at") or None
    agent = request.args.get("agent") or None
    result = await db.execute_fn(lambda conn: replay.load(conn, session_id, page=page, at=at, agent=agent))
    if result is None:
        raise NotFound("no such session" if not agent else "no such subagent in this session")
    multi = len(await databases.recognised(datasette)) > 1
    if isinstance(result, dict):  # a subagent's id: its place in its parent's session
        target = result["redirect"]
        return Response.redirect(session_url(datasette, target["session_id"], name if multi else None,
                                             at=target["agent"], fragment=f"agent-{target['agent']}"))
    r: replay.Replay = result
    reconciled = None
    if not agent:  # Claude Code's own figure for the session beside ours (the reconciliation query's row)
        spec = resources.canned_queries()["reconciliation"]
        found = await db.execute(spec["sql"], {**{p: "" for p in spec["params"]}, "session_id": r.session["id"]})
        row = found.first()
        reconciled = dict(row) if row is not None and row["claude_code_cost_usd"] is not None else None
    context = {
        "reconciled": reconciled,
        "r": r, "s": r.session, "database": name, "multi": multi, "fmt": fmt,
        "picture": charts.session_picture(**r.picture) if not agent else "",
        "models": [u["model"] for u in r.usage if u["model"] and u["model"] != "<synthetic>"],
        "url": lambda **kw: session_url(datasette, r.session["id"], name if multi else None, **kw),
        "call_url": lambda tool_use_id: datasette.urls.path(
            f"/-/claude/session/{_quote(r.session['id'])}/call/{_quote(tool_use_id)}" + (f"?db={_quote(name)}" if multi else "")),
        "job_url": lambda job_id: job_url(datasette, job_id, name if multi else None),
        "other": lambda other_id: session_url(datasette, other_id, name if multi else None),
        "table_url": lambda table, **filters: datasette.urls.table(name, table) + ("?" + urlencode(filters) if filters else ""),
        "project": r.session.get("project_path") or r.session.get("cwd"),
    }
    html = await datasette.render_template("claude_session.html", context, request=request)
    return Response.html(html)


async def call_fragment(datasette, request):
    """A tool call's whole stored input and output, for its card (HTML, fetched when it opens)."""
    session_id, tool_use_id = request.url_vars["session_id"], request.url_vars["tool_use_id"]
    name = await database_of(datasette, request, "select 1 from tool_calls where tool_use_id = :key", tool_use_id)
    db = datasette.get_database(name)
    call = await db.execute_fn(lambda conn: replay.call(conn, session_id, tool_use_id))
    if call is None:
        raise NotFound("no such tool call in this session")
    html = await datasette.render_template("claude_call.html", {"c": call, "fmt": fmt, "pretty": _pretty},
                                           request=request)
    return Response.html(html)


def _pretty(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def session_url(datasette, session_id: str, database: str | None = None, *, at: str | None = None,
                fragment: str | None = None, **args) -> str:
    """The session page of ``session_id`` (``at``: the page holding that step, scrolled to it)."""
    query = {k: v for k, v in {"db": database, "at": at, **args}.items() if v not in (None, "")}
    url = datasette.urls.path(f"/-/claude/session/{_quote(session_id)}")
    if query:
        url += "?" + urlencode(query)
    if fragment or at:
        url += "#" + _quote(fragment or at)
    return url


def job_url(datasette, job_id: str, database: str | None = None) -> str:
    url = datasette.urls.path(f"/-/claude/job/{_quote(job_id)}")
    return url + (f"?db={_quote(database)}" if database else "")
