"""Agents ask their own history: our tools on datasette-mcp's MCP server (``/-/mcp``).

datasette-mcp (the ``[mcp]`` extra) serves any Datasette over MCP Streamable HTTP and calls its
``register_mcp_tools`` hook to let plugins add tools; ``__init__`` implements the hook with this
module only when datasette-mcp is installed. The tools:

- ``search_history``: prompts, tool calls (commands and their errors) and API errors matching words;
- ``session_summary``: what a session did;
- ``file_history``: which sessions read or changed a file, when, and with what result;
- ``usage``: ``claude-ingest report``'s figures (``ingest.reports``) for a period.

Each reads only, asks Datasette whether the actor behind the MCP request may see the database and
run SQL on it (as our pages ask, :mod:`.permissions`), binds every value (the queries are in
``sql/mcp.sql``), and answers briefly: a few rows, texts cut short, links to the session pages (a
tool call's or a prompt's card with ``?at=<id>#<id>``). An actor who may see none of our databases
gets an error saying so, and no rows.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Optional

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import sqlite3
from datasette.utils.asgi import Request
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict

from ingest import reports

from . import databases, permissions, resources
from .pages.session import session_url

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

# The filters the history tools share, described once (the model reads these descriptions)
Project = Annotated[Optional[str], Field(description="Only sessions in this project: a directory "
                                                     "(/home/me/app, and below it) or any part of a path")]
Since = Annotated[Optional[str], Field(description="Only from this day or time on: 2026-02-01, an ISO "
                                                   "time, or how long ago (7d, 2 weeks)")]
Agent = Annotated[Optional[str], Field(description="Only this agent's sessions: claude, codex, gemini, "
                                                   "opencode, opencode-go, crush")]
Databases = Annotated[Optional[str], Field(description="One database (default: every one you may see)")]
TEXT_CHARS = 300  # a prompt, an error, a command: enough to recognise it, short enough for a context
MATCH_CHARS = 400  # a snippet is 16 words, but a word may be a long one (a hash, a base64 blob)
MAX_LIMIT = 50
GROUPS = ("day", "week", "month", "session", "model", "block")


class Link(TypedDict):
    session_id: str
    session: str  # what the session page is called (its title, else the start of its id)
    project: Optional[str]
    agent: Optional[str]
    url: str


class PromptHit(TypedDict):
    time: Optional[str]
    match: str
    session: Link
    url: str


class ToolCallHit(TypedDict):
    time: Optional[str]
    tool: Optional[str]
    failed: bool
    command: Optional[str]
    file_path: Optional[str]
    match: str
    session: Link
    url: str


class ErrorHit(TypedDict):
    time: Optional[str]
    kind: Optional[str]
    status: Optional[int]
    match: str
    session: Link
    url: str


class SearchResult(TypedDict):
    text: str
    prompts: list[PromptHit]
    tool_calls: list[ToolCallHit]
    errors: list[ErrorHit]
    more: list[str]  # the kinds that had more matches than the limit


class SessionSummary(TypedDict):
    session: Link
    started_at: Optional[str]
    ended_at: Optional[str]
    git_branch: Optional[str]
    model: Optional[str]
    cost: dict[str, Any]
    prompts: dict[str, Any]
    tools: list[dict[str, Any]]
    files_changed: dict[str, Any]
    failures: dict[str, Any]
    compactions: list[dict[str, Any]]
    subagents: list[dict[str, Any]]
    commits: list[dict[str, Any]]
    jobs: list[dict[str, Any]]


class FileSession(TypedDict):
    session: Link
    first_at: Optional[str]
    last_at: Optional[str]
    reads: int
    edits: int
    writes: int
    creates: int
    deletes: int
    failures: int
    last: dict[str, Any]
    last_failure: Optional[dict[str, Any]]


class FileHistory(TypedDict):
    path: str
    files: list[str]
    sessions_total: int
    sessions: list[FileSession]
    commits: list[dict[str, Any]]


class Usage(TypedDict):
    period: dict[str, Any]
    command: str  # the claude-ingest report that gives the same figures
    totals: dict[str, Any]
    group_by: Optional[str]
    rows: list[dict[str, Any]]
    rows_total: int
    notes: list[str]


# -- who asks, about which databases -----------------------------------------------------------
class Asker:
    """The MCP request a tool answers: its actor, the databases of ours they may see, and links."""

    def __init__(self, datasette, ctx: Context):
        self.datasette = datasette
        request = getattr(getattr(ctx, "request_context", None), "request", None)
        scope = getattr(request, "scope", None)
        self.scope = scope if isinstance(scope, dict) else None
        actor = (self.scope or {}).get("actor")  # Datasette's router put the actor in the scope
        self.actor = actor if isinstance(actor, dict) else None
        self.multi = False

    async def databases(self, database: str | None = None) -> list[str]:
        """Our databases the actor may see and run SQL on (``database``: that one only)."""
        names = await databases.recognised(self.datasette)
        self.multi = len(names) > 1
        wanted = [database] if database else names
        allowed = [n for n in wanted if n in names
                   and await permissions.allowed(self.datasette, self.actor, n, execute_sql=True)]
        if database and not allowed:
            # the same answer whether it does not exist or may not be seen, as datasette-mcp's
            raise ToolError(f"Database {database!r} does not exist or is not available.")
        if not allowed:
            raise ToolError("No database written by claude-ingest is available to you.")
        return allowed

    def absolute(self, path: str) -> str:
        if self.scope is None:
            return path

        async def receive():  # never read: the URL only
            return {"type": "http.request", "body": b"", "more_body": False}

        return self.datasette.absolute_url(Request(self.scope, receive), path)

    def session_link(self, database: str, session_id: str, *, at: str | None = None, agent: str | None = None) -> str:
        return self.absolute(session_url(self.datasette, session_id, database if self.multi else None, at=at,
                                         agent=agent))


async def _rows(datasette, database: str, name: str, *, sql_file: str = "mcp", **params) -> list[dict]:
    """One of sql/mcp.sql's queries (or another page's: ``sql_file``), with Datasette's time limit;
    an error is the tool's error."""
    sql = resources.page_queries(sql_file)[name]
    try:
        results = await datasette.get_database(database).execute(sql, params)
    except QueryInterrupted:
        raise ToolError("The archive took too long to answer: narrow it (project, since).") from None
    except sqlite3.DatabaseError as e:
        raise ToolError(f"The archive could not answer: {e}") from None
    return [dict(r) for r in results.rows]


async def _session_links(asker: Asker, database: str, ids) -> dict[str, dict]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    rows = await _rows(asker.datasette, database, "sessions", ids=json.dumps(ids))
    return {r["id"]: r for r in rows}


def _link(asker: Asker, database: str, session_id: str, meta: dict | None) -> Link:
    meta = meta or {}
    return {"session_id": session_id, "session": meta.get("label") or f"session {session_id[:8]}",
            "project": meta.get("project_path"), "agent": meta.get("source"),
            "url": asker.session_link(database, session_id)}


# -- what the arguments say ----------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16


def fts_query(text: str) -> str:
    """Every word of ``text``, each quoted (so nothing in it is FTS5 syntax), all of them required."""
    words = _WORD.findall(text or "")[:MAX_WORDS]
    if not words:
        raise ToolError("Give at least one word to search for.")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


_AGO = re.compile(r"^(\d{1,4})\s*(d|day|days|w|week|weeks|h|hour|hours)(\s+ago)?$")


def since_value(since: str | None, now: datetime | None = None) -> str:
    """An ISO UTC time (or day) rows must be at or after: YYYY-MM-DD, an ISO time (with its offset,
    else UTC), or how long ago ("7d", "2 weeks", "12 hours"). '' for none."""
    if since is None or not str(since).strip():
        return ""
    text = str(since).strip().lower()
    now = now or datetime.now(timezone.utc)
    m = _AGO.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)[0]
        delta = {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]
        return (now - delta).strftime("%Y-%m-%dT%H:%M:%S")
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"since takes a day (YYYY-MM-DD), an ISO time, or how long ago (7d, 2 weeks), "
                        f"not {since!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _limit(limit: int | None, default: int) -> int:
    if limit is None:
        return default
    return max(1, min(int(limit), MAX_LIMIT))


def _filters(project: str | None, agent: str | None, since: str | None) -> dict:
    return {"project": (project or "").strip(), "agent": (agent or "").strip(), "since": since_value(since)}


def _cut(text: str | None, chars: int) -> str | None:
    return text if text is None or len(text) <= chars else text[:chars - 1] + "…"


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- usage: periods ------------------------------------------------------------------------------
_LAST_N = re.compile(r"^(?:(?:last|past)\s+)?(\d{1,4})\s*(d|days?|w|weeks?|m|months?)$")
_RANGE = re.compile(r"^(\S+)\s*(?:\.\.|/|\bto\b)\s*(\S+)$")


def _month_start(d: date, back: int = 0) -> date:
    y, m = d.year, d.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def _week_start(d: date) -> date:
    return d - timedelta(days=(d.weekday() + 1) % 7)  # Sunday, as ccusage's weeks (reports' default)


def period_days(period: str, today: date) -> tuple[date | None, date | None]:
    """The first and last day (inclusive; None: open) of a period, in words or dates: today,
    yesterday, this/last week (from Sunday), this/last month, this/last year, last N days (or
    weeks, months: "7d", "last 30 days"), all; YYYY-MM-DD, YYYY-MM, YYYY; "A..B" (days or months)."""
    text = " ".join(str(period or "").strip().lower().split())
    named = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "this week": (_week_start(today), today),
        "last week": (_week_start(today) - timedelta(days=7), _week_start(today) - timedelta(days=1)),
        "this month": (_month_start(today), today),
        "last month": (_month_start(today, 1), _month_start(today) - timedelta(days=1)),
        "this year": (date(today.year, 1, 1), today),
        "last year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        "all": (None, None), "all time": (None, None), "": (None, None),
    }
    if text in named:
        return named[text]
    m = _LAST_N.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)[0]
        if n < 1:
            raise ToolError("A period of 0 days is empty.")
        if unit == "m":
            return _month_start(today, n - 1), today
        days = n * 7 if unit == "w" else n
        return today - timedelta(days=days - 1), today
    m = _RANGE.match(text)
    if m:
        first, _ = _one_period(m.group(1), period)
        _, last = _one_period(m.group(2), period)
        if first > last:
            raise ToolError(f"The period {period!r} ends before it starts.")
        return first, last
    return _one_period(text, period)


def _one_period(text: str, period: str) -> tuple[date, date]:
    try:
        if re.fullmatch(r"\d{8}", text):
            d = date(int(text[:4]), int(text[4:6]), int(text[6:]))
            return d, d
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return d, d
        if re.fullmatch(r"\d{4}-\d{2}", text):
            first = date(int(text[:4]), int(text[5:]), 1)
            return first, _month_start(first, -1) - timedelta(days=1)
        if re.fullmatch(r"\d{4}", text):
            return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError:
        pass
    raise ToolError(f"Unknown period {period!r}: say today, yesterday, this week, last week, this month, "
                    f"last month, last 7 days, all, a day (2026-02-12), a month (2026-02), a year, "
                    f"or a range (2026-02-01..2026-02-15)")


def _today(zone: reports.Zone) -> date:
    return datetime.now(zone.tz).date() if zone.tz is not None else date.today()


def _report_command(kind: str, since: date | None, until: date | None, zone: reports.Zone, project, agent) -> str:
    parts = ["claude-ingest report", kind]
    if since:
        parts.append(f"--since {since.strftime('%Y%m%d')}")
    if until:
        parts.append(f"--until {until.strftime('%Y%m%d')}")
    parts.append(f"--timezone {zone.name}")
    if project:
        parts.append(f"--project {json.dumps(project)}")
    if agent:
        parts.append(f"--agent {agent}")
    return " ".join(parts) + (" --breakdown" if kind == "monthly" else "") + " --json"


def _by_model(result: dict) -> list[dict]:
    """The models' breakdowns of every period of a report, summed per model."""
    out: dict[str, dict] = {}
    for row in result["monthly"]:
        for b in row["modelBreakdowns"]:
            m = out.setdefault(b["modelName"], {"model": b["modelName"], **{k: 0 for k in reports.TOKEN_KEYS},
                                                "totalCost": None, "unpricedRequests": 0})
            for k in reports.TOKEN_KEYS:
                m[k] += b[k]
            if b["cost"] is not None:
                m["totalCost"] = (m["totalCost"] or 0) + b["cost"]
            m["unpricedRequests"] += b.get("unpricedRequests", 0)
    rows = []
    for m in out.values():
        m["totalTokens"] = sum(m[k] for k in reports.TOKEN_KEYS)
        if not m["unpricedRequests"]:
            del m["unpricedRequests"]
        rows.append(m)
    rows.sort(key=lambda r: (-(r["totalCost"] or 0), -r["totalTokens"]))
    return rows


def _slim(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "modelBreakdowns"}


# -- the tools -----------------------------------------------------------------------------------
@hookimpl
def register_mcp_tools(datasette, mcp: MCPServer) -> None:
    """datasette-mcp's hook: our tools on the instance's MCP server."""

    @mcp.tool(annotations=READ_ONLY)
    async def search_history(
        ctx: Context,
        text: Annotated[str, Field(description="Words to find, all of them, in any order (an error message, "
                                               "a command, what a prompt asked)")],
        project: Project = None,
        since: Since = None,
        agent: Agent = None,
        limit: Annotated[int, Field(description="Matches of each kind, newest first (at most 50)")] = 10,
        database: Databases = None,
    ) -> SearchResult:
        """Search the agents' history for prompts typed, tool calls (commands and their error
        output) and API errors containing all the words: "have we hit this error before?", "did we
        ever run this command?". Newest first, each with its session and a link to the exact card
        on the session page."""
        asker = Asker(datasette, ctx)
        names = await asker.databases(database)
        n = _limit(limit, 10)
        params = {"match": fts_query(text), **_filters(project, agent, since), "limit": n + 1}
        found: dict[str, list] = {"prompts": [], "tool_calls": [], "errors": []}
        more = []
        for name in names:
            rows = {kind: await _rows(datasette, name, f"search_{kind}", **params) for kind in found}
            links = await _session_links(asker, name, [r["session_id"] for rs in rows.values() for r in rs])
            for kind, rs in rows.items():
                if len(rs) > n and kind not in more:
                    more.append(kind)
                for r in rs[:n]:
                    hit = {"time": r["timestamp"], "match": _cut(r["match"], MATCH_CHARS),
                           "session": _link(asker, name, r["session_id"], links.get(r["session_id"])),
                           "url": asker.session_link(name, r["session_id"], at=r["anchor"], agent=r["agent_id"])}
                    if kind == "tool_calls":
                        hit.update(tool=r["tool_name"], failed=bool(r["is_error"]), command=r["command"],
                                   file_path=r["file_path"])
                    elif kind == "errors":
                        hit.update(kind=r["kind"], status=r["status"])
                    found[kind].append(hit)
        for kind in found:  # several databases: the newest of all
            found[kind] = sorted(found[kind], key=lambda h: h["time"] or "", reverse=True)[:n]
        return {"text": text, **found, "more": more}

    @mcp.tool(annotations=READ_ONLY)
    async def session_summary(
        ctx: Context,
        session_id: Annotated[str, Field(description="The session's id (or its first 8 characters or more)")],
        database: Databases = None,
    ) -> SessionSummary:
        """What one agent session did: its prompts, the tools it used (calls and failures), the
        files it changed, its failed tool calls and API errors, its context compactions, subagents,
        commits and cost (estimated from its API usage, as the session page shows it)."""
        asker = Asker(datasette, ctx)
        name, sid = await _find_session(asker, await asker.databases(database), session_id)
        q = lambda query, **kw: _rows(datasette, name, query, session_id=sid, **kw)  # noqa: E731
        session = (await q("session", sql_file="session"))[0]
        usage = await q("usage_by_model", sql_file="session")  # the session page's figures
        costs = [u["cost_usd"] for u in usage if u["cost_usd"] is not None]
        unpriced = sum(u["unpriced_requests"] or 0 for u in usage)
        claude_code = await q("session_claude_code_cost")
        cost = {
            # None, never $0, when nothing in it has a price, or it recorded no API usage at all (the
            # Go OpenCode's and Crush's stores keep none: reported_cost_usd is what the agent said)
            "cost_usd": sum(costs) if costs else None,
            "unpriced_requests": unpriced,
            "requests": sum(u["requests"] or 0 for u in usage),
            "total_tokens": sum(u["total_tokens"] or 0 for u in usage),
            "models": [{"model": u["model"], "requests": u["requests"], "total_tokens": u["total_tokens"],
                        "cost_usd": u["cost_usd"]} for u in usage],
            "claude_code_cost_usd": claude_code[0]["total_cost_usd"] if claude_code else None,
            "reported_cost_usd": session["reported_cost_usd"],
        }
        prompts = await q("session_prompts", limit=20, chars=TEXT_CHARS)
        failures = await q("session_failures", limit=20, chars=TEXT_CHARS)
        errors = await q("session_errors", limit=20, chars=TEXT_CHARS)
        files = await q("session_files", limit=50)
        file_counts = (await q("session_file_counts"))[0]
        tools = await q("session_tools")
        link = lambda at, agent=None: asker.session_link(name, sid, at=at, agent=agent)  # noqa: E731
        return {
            "session": _link(asker, name, sid, session),
            "started_at": session["started_at"],
            "ended_at": session["ended_at"],
            "git_branch": session["git_branch"],
            "model": session["model"],
            "cost": cost,
            "prompts": {"total": (await q("session_prompt_count"))[0]["n"],
                        "first": [{"time": p["timestamp"], "text": p["text"], "chars": p["chars"],
                                   "url": link(p["anchor"])} for p in prompts]},
            "tools": [{"tool": t["tool_name"], "calls": t["calls"], "failures": t["failures"],
                       "in_subagents": t["in_subagents"]} for t in tools],
            "files_changed": {"total": file_counts["changed"], "files_read": file_counts["read"],
                              "files": [{"path": f["file_path"], "changes": f["changes"], "reads": f["reads"],
                                         "operations": sorted((f["operations"] or "").split(",")),
                                         "last_at": f["last_at"]} for f in files]},
            "failures": {"tool_calls": sum(t["failures"] for t in tools),
                         "first": [{"time": f["timestamp"], "tool": f["tool_name"], "command": f["command"],
                                    "file_path": f["file_path"], "error": f["error"],
                                    "url": link(f["anchor"], f["agent_id"])} for f in failures],
                         "api_errors": [{"time": e["timestamp"], "kind": e["kind"], "status": e["status"],
                                         "message": e["message"], "url": link(e["anchor"], e["agent_id"])}
                                        for e in errors]},
            "compactions": [{"time": c["timestamp"], "trigger": c["trigger"], "pre_tokens": c["pre_tokens"],
                             "post_tokens": c["post_tokens"], "url": link(c["anchor"], c["agent_id"])}
                            for c in await q("session_compactions", limit=20)],
            "subagents": [{"agent_id": a["agent_id"], "type": a["agent_type"], "description": a["description"],
                           "started_at": a["started_at"], "tool_calls": a["tool_calls"],
                           "url": link(None, a["agent_id"])} for a in await q("session_subagents", limit=20)],
            "commits": [dict(c) for c in await q("session_commits", limit=20)],
            "jobs": [{"job_id": j["id"], "status": j["status"], "started_at": j["started_at"]}
                     for j in await q("jobs", sql_file="session")],
        }

    @mcp.tool(annotations=READ_ONLY)
    async def file_history(
        ctx: Context,
        path: Annotated[str, Field(description="The file: its absolute path, or the end of it "
                                               "(src/auth.py matches every .../src/auth.py)")],
        project: Project = None,
        since: Since = None,
        agent: Agent = None,
        limit: Annotated[int, Field(description="Sessions, the latest first (at most 50)")] = 10,
        database: Databases = None,
    ) -> FileHistory:
        """Which sessions read or changed a file, when, and with what result: per session its reads,
        edits, writes and creations of the file, the calls on it that failed (with the error), its
        latest one with a link to that card; and the commits recorded with the file."""
        asker = Asker(datasette, ctx)
        names = await asker.databases(database)
        wanted = (path or "").strip()
        if not wanted:
            raise ToolError("Give a file's path, or the end of it.")
        n = _limit(limit, 10)
        filters = _filters(project, agent, since)
        out: FileHistory = {"path": wanted, "files": [], "sessions_total": 0, "sessions": [], "commits": []}
        suffix = "/" + _like_escaped(wanted.lstrip("/"))
        for name in names:
            files = [r["file_path"] for r in await _rows(datasette, name, "file_path", path=wanted)]
            if not files:  # not as given: the files whose paths end with it
                files = [r["file_path"] for r in await _rows(datasette, name, "file_paths_ending", suffix=suffix,
                                                             limit=MAX_LIMIT)]
            if not files:
                continue
            out["files"] += files
            matched = json.dumps(files)
            rows = await _rows(datasette, name, "file_sessions", files=matched, limit=n, **filters)
            out["sessions_total"] += rows[0]["sessions_total"] if rows else 0
            ids = [r["session_id"] for r in rows]
            links = await _session_links(asker, name, ids)
            failed = {r["session_id"]: r for r in await _rows(datasette, name, "file_failures", files=matched,
                                                               ids=json.dumps(ids), since=filters["since"],
                                                               chars=TEXT_CHARS)}
            for r in rows:
                sid = r["session_id"]
                f = failed.get(sid)
                out["sessions"].append({
                    "session": _link(asker, name, sid, links.get(sid)),
                    "first_at": r["first_at"], "last_at": r["last_at"],
                    **{k: r[k] for k in ("reads", "edits", "writes", "creates", "deletes")},
                    "failures": f["failures"] if f else 0,
                    "last": {"time": r["last_at"], "tool": r["last_tool"], "operation": r["last_operation"],
                             "file": r["last_file"],
                             "failed": bool(f and f["tool_use_id"] == r["last_tool_use_id"]),
                             "url": asker.session_link(name, sid, at=r["last_tool_use_id"], agent=r["last_agent_id"])},
                    "last_failure": None if f is None else {
                        "time": f["timestamp"], "tool": f["tool_name"], "error": f["error"],
                        "url": asker.session_link(name, sid, at=f["tool_use_id"], agent=f["agent_id"])},
                })
            commits = await _rows(datasette, name, "file_commits", files=matched, limit=n)
            by = await _session_links(asker, name, [c["session_id"] for c in commits])
            for c in commits:
                sid = c.pop("session_id")
                out["commits"].append({**c, "session": _link(asker, name, sid, by.get(sid)) if sid else None})
        out["sessions"] = sorted(out["sessions"], key=lambda s: s["last_at"] or "", reverse=True)[:n]
        if not out["files"]:
            raise ToolError(f"No session read or changed a file at {wanted!r} (give its absolute path, or the "
                            f"end of it: src/app.py).")
        return out

    @mcp.tool(annotations=READ_ONLY)
    async def usage(
        ctx: Context,
        period: Annotated[str, Field(description="today, yesterday, this week, last week (weeks from Sunday), "
                                                 "this month, last month, last 7 days, all; or a day "
                                                 "(2026-02-12), a month (2026-02), a year, a range "
                                                 "(2026-02-01..2026-02-15)")],
        group_by: Annotated[Optional[str], Field(description="day, week, month, session, model or block "
                                                             "(5-hour billing blocks); none: the totals")] = None,
        project: Annotated[Optional[str], Field(description="Only sessions whose directory contains this "
                                                            "(as claude-ingest report --project)")] = None,
        agent: Agent = None,
        timezone: Annotated[Optional[str], Field(description="The time zone days are counted in (an IANA "
                                                             "name; default the server's)")] = None,
        limit: Annotated[int, Field(description="Rows, at most 50 (the totals count them all)")] = 31,
        database: Annotated[Optional[str], Field(description="The database (default: the first you may see)")] = None,
    ) -> Usage:
        """Tokens and estimated cost over a period, as `claude-ingest report` (and ccusage) count
        them: in total, or per day, week, month, session, model or 5-hour block. A model nobody
        prices is counted in unpricedRequests, its cost null (never $0)."""
        asker = Asker(datasette, ctx)
        name = (await asker.databases(database))[0]
        group = (group_by or "").strip().lower() or None
        group = {"daily": "day", "weekly": "week", "monthly": "month", "sessions": "session", "models": "model",
                 "blocks": "block"}.get(group, group)
        if group is not None and group not in GROUPS:
            raise ToolError(f"group_by is one of {', '.join(GROUPS)}, not {group_by!r}")
        try:
            zone = reports.Zone(timezone)
            since, until = period_days(period, _today(zone))
            kind = {"day": "daily", "week": "weekly", "session": "session", "block": "blocks"}.get(group, "monthly")
            options = {"since": since, "until": until, "timezone": zone, "project": project or None,
                       "agent": agent or None}
            result = await datasette.get_database(name).execute_fn(
                lambda conn: reports.report(kind, conn, **options))
        except reports.ReportError as e:
            raise ToolError(str(e)) from None
        if kind == "blocks":
            rows = result["blocks"]
            real = [b for b in rows if not b["isGap"]]
            totals = {"totalTokens": sum(b["totalTokens"] for b in real),
                      "totalCost": sum(b["costUSD"] for b in real if b["costUSD"] is not None)
                      if any(b["costUSD"] is not None for b in real) or not real else None}
            unpriced = sum(b.get("unpricedRequests", 0) for b in real)
            if unpriced:
                totals["unpricedRequests"] = unpriced
        else:
            totals = result["totals"]
            rows = {"daily": result.get("daily"), "weekly": result.get("weekly"), "session": result.get("sessions"),
                    "monthly": result.get("monthly")}[kind]
            if group == "model":
                rows = _by_model(result)
            elif group is None:
                rows = []
        rows = [_slim(r) for r in rows]
        if group == "session":
            links = await _session_links(asker, name, [r["sessionId"] for r in rows[:_limit(limit, 31)]])
            for r in rows[:_limit(limit, 31)]:
                r["session"] = _link(asker, name, r["sessionId"], links.get(r["sessionId"]))
        return {
            "period": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                       "timezone": zone.name, "project": project or None, "agent": agent or None},
            "command": _report_command(kind if group != "model" else "monthly", since, until, zone, project, agent),
            "totals": totals,
            "group_by": group,
            "rows": rows[:_limit(limit, 31)],
            "rows_total": len(rows),
            "notes": result["report"].get("notes") or [],
        }


async def _find_session(asker: Asker, names: list[str], session_id: str) -> tuple[str, str]:
    """The database and full id of the session ``session_id`` names (its id, or a unique start)."""
    wanted = (session_id or "").strip()
    if not wanted:
        raise ToolError("Give a session's id.")
    for name in names:
        found = await _rows(asker.datasette, name, "find_session", session_id=wanted, prefix=_like_escaped(wanted))
        if len(found) == 1:
            return name, found[0]["id"]
        if len(found) > 1:
            raise ToolError(f"More than one session starts with {wanted!r}: give more of its id.")
    raise ToolError(f"No session {wanted!r} in the archive (search_history finds sessions by what they did).")

