"""``/-/claude/job/<job_id>``: a headless ``claude -p`` run read back from the database: its status,
prompt and result in full, the files it changed (each with its hot-files row), its tool calls, our
cost beside the one it reported, the prompt's reuse chain, and its session."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from datasette.utils.asgi import NotFound, Response

from .. import databases, resources
from .. import format as fmt
from .session import database_of, job_url, session_url


def _rows(conn, name: str, **params) -> list[dict]:
    cur = conn.execute(resources.page_queries("job")[name], params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


def load(conn, job_id: str) -> dict | None:
    job = next(iter(_rows(conn, "job", job_id=job_id)), None)
    if job is None:
        return None
    try:
        files = json.loads(job["files_modified_json"] or "[]")
    except ValueError:
        files = []
    touches = {r["file_path"]: r for r in _rows(conn, "file_touches", files=json.dumps(files))}
    return {
        "job": job,
        "files": [{"path": f, **touches.get(f, {})} for f in files if isinstance(f, str)],
        "reused_by": _rows(conn, "reused_by", job_id=job_id),
        "chain": _rows(conn, "chain", job_id=job_id),
        "calls": _rows(conn, "tool_calls", session_id=job["session_id"]) if job["session_id"] else [],
        "denials": json.loads(job["permission_denials_json"]) if job["permission_denials_json"] else [],
    }


async def job_page(datasette, request):
    job_id = request.url_vars["job_id"]
    name = await database_of(datasette, request, "select 1 from jobs where id = :key", job_id)
    data = await datasette.get_database(name).execute_fn(lambda conn: load(conn, job_id))
    if data is None:
        raise NotFound("no such job")
    multi = len(await databases.recognised(datasette)) > 1
    db = name if multi else None
    context = {
        **data, "fmt": fmt, "database": name, "multi": multi,
        "session_url": lambda sid, **kw: session_url(datasette, sid, db, **kw),
        "job_url": lambda jid: job_url(datasette, jid, db),
        "file_url": lambda path: datasette.urls.table(name, "file_daily") + "?" + urlencode({"file_path": path}),
    }
    return Response.html(await datasette.render_template("claude_job.html", context, request=request))
