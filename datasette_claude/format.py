"""Readable cells, and the numbers and times the pages show: JSON formatted, long text folded, every
session (by its label), job and search hit linked to its page."""

from __future__ import annotations

import json
import re

from markupsafe import Markup, escape

from ingest import numbers

# Columns of the schema (and of the canned queries: last_error) shown formatted or folded.
JSON_COLUMNS = frozenset({"input_json", "payload", "files_json", "files_modified_json", "rows_json",
                          "unpriced_models", "permission_denials_json", "errors_json"})
LONG_TEXT_COLUMNS = frozenset({"output_preview", "error_message", "text", "summary_preview", "message",
                               "prompt", "summary", "last_error", "custom_instructions", "original_prompt",
                               "excerpt"})
FOLD_AT = 240


def _get(row, key):
    """A column of the row being rendered (a sqlite3.Row, a tuple-like row, or a dict), or None."""
    try:
        value = row[key]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value["value"] if isinstance(value, dict) else value


def _quote(value) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def session_href(datasette, session_id: str, at: str | None = None) -> str:
    href = datasette.urls.path(f"/-/claude/session/{_quote(session_id)}")
    return href + (f"?at={_quote(at)}#{_quote(at)}" if at else "")


def job_href(datasette, job_id: str) -> str:
    return datasette.urls.path(f"/-/claude/job/{_quote(job_id)}")


_LABELS: dict = {}  # (database, session id) -> label: a query page shows the same sessions often


async def _session_label(datasette, database: str, session_id: str) -> str:
    key = (database, session_id)
    if key not in _LABELS:
        if len(_LABELS) > 20000:
            _LABELS.clear()
        try:
            found = (await datasette.get_database(database).execute(
                "select label from sessions where id = ?", [session_id])).first()
        except Exception:  # noqa: BLE001 - a database of an older schema (no label yet), or busy
            found = None
        _LABELS[key] = (found[0] if found and found[0] else None) or f"session {session_id[:8]}"
    return _LABELS[key]


def _link(href: str, text: str, title: str | None = None) -> Markup:
    tip = f' title="{escape(title)}"' if title else ""
    return Markup(f'<a href="{escape(href)}"{tip}>{escape(text)}</a>')


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def number_cell(value, column: str):
    """A number as its column means it (a cost, a token count, a duration, a rate), with the exact
    value in a tooltip; None when the column is not one of those. (JSON and CSV keep raw values:
    only the HTML pages go through here.)"""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    name = column.lower()
    if name in ("cost", "cost_usd") or name.endswith("cost_usd"):
        shown = money(value)
    elif name.endswith("tokens"):
        shown = f"{value:,.0f}"
    elif name.endswith("_ms"):
        shown = duration(value)
    elif name.endswith("_seconds"):
        shown = duration(value * 1000)
    elif name.endswith("_min") or name.endswith("_minutes"):
        shown = duration(value * 60_000)
    elif name.endswith("_pct") or name.endswith("_rate"):
        shown = percent(value)
    elif name.endswith("_id") or name in ("rowid", "year", "id"):
        return None
    elif isinstance(value, int):
        shown = f"{value:,}"
    else:
        shown = f"{value:,.6g}"
    # cl-num: right-aligned on query pages too, where Datasette gives cells no type class (claude.css)
    return Markup(f'<span class="cl-num" title="{escape(repr(value) if isinstance(value, float) else value)}">'
                  f'{escape(shown)}</span>')


def render(value, column, table, database, datasette, row=None):
    """A cell of one of our databases, as people read it; None leaves it to Datasette."""
    numbered = number_cell(value, column)
    if numbered is not None:
        return numbered
    if isinstance(value, str) and len(value) in (20, 24) and _ISO_TIME.fullmatch(value):
        return Markup(f'<span class="cl-time" title="{escape(value)}">{escape(value[:19].replace("T", " "))}</span>')
    if isinstance(value, str) and len(value) == 10 and _ISO_DAY.fullmatch(value):  # a day: never broken in two
        return Markup(f'<span class="cl-time">{escape(value)}</span>')
    if column == "session_id" and value:
        # Every session links to its page, by its label: an expanded foreign key brings it along.
        if isinstance(value, dict):
            sid, label = value.get("value"), value.get("label")
            return _link(session_href(datasette, sid), label if label and label != sid else f"session {str(sid)[:8]}",
                         str(sid)) if sid else None
        if isinstance(value, str):
            async def labelled():
                return _link(session_href(datasette, value), await _session_label(datasette, database, value), value)
            return labelled()
    if column == "job_id" and isinstance(value, str) and value:
        return _link(job_href(datasette, value), value)
    if table == "sessions" and column == "label" and isinstance(value, str) and _get(row, "id"):
        return _link(session_href(datasette, _get(row, "id")), value)
    if table == "jobs" and column == "status" and isinstance(value, str) and _get(row, "id"):
        return _link(job_href(datasette, _get(row, "id")), value, "this run's page")
    if table in ("tool_calls", "prompts") or (table is None and column in ("match", "message", "command")):
        card = _card_link(value, column, table, datasette, row)
        if card is not None:
            return card
    if not isinstance(value, str) or not value:
        return None
    if column in JSON_COLUMNS and value[:1] in "{[":
        try:
            pretty = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return None
        return _fold(pretty, pre=True)
    if column in LONG_TEXT_COLUMNS and len(value) > FOLD_AT:
        return _fold(value)
    return None


def _card_link(value, column, table, datasette, row):
    """A tool call's or a prompt's cell that opens its card in the session's timeline: a search hit
    lands on the step it found."""
    sid = _get(row, "session_id")
    if not sid or not isinstance(value, str) or not value:
        return None
    if table == "tool_calls" and column in ("tool_name", "command"):
        at = _get(row, "tool_use_id")
    elif table == "prompts" and column == "text":
        at = _get(row, "uuid") or _get(row, "id")
    elif table is None:
        at = _get(row, "tool_use_id") or _get(row, "uuid")
    else:
        return None
    if not at:
        return None
    href = session_href(datasette, sid, at)
    if len(value) > FOLD_AT:
        folded = _fold(value)
        return Markup(f'<a href="{escape(href)}">open in the session</a> {folded}')
    return _link(href, value, "open this step in the session")


def _fold(text: str, pre: bool = False) -> Markup:
    body = f'<pre style="white-space: pre-wrap; margin: 0">{escape(text)}</pre>' if pre else (
        f'<div style="white-space: pre-wrap">{escape(text)}</div>')
    if len(text) <= FOLD_AT:
        return Markup(body)
    head = text[:200].replace("\n", " ")
    return Markup(f"<details><summary>{escape(head)}… ({len(text):,} characters)</summary>{body}</details>")


# -- numbers and times, as people read them (the pages and the cells share these) ------------------
def money(value, digits: int | None = None) -> str:
    """``$1,234.56``; more digits under a cent, so a small cost is never shown as $0.00 (``digits``:
    as many as asked, to set two small costs side by side). The command line's rule (ingest.numbers)."""
    if value is None:
        return "—"
    if digits is not None:
        return f"${float(value):,.{digits}f}"
    return numbers.cost(value)


def tokens(value) -> str:
    """``17.4M``, ``842K``, ``931``: token counts at a glance (the exact count in a tooltip)."""
    return "—" if value is None else numbers.tokens_short(value)


def count(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def counted(value, noun: str, plural: str | None = None) -> str:
    """``1 session``, ``2,310 sessions``: a count with its noun, singular when it is one."""
    n = int(value or 0)
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def duration(ms) -> str:
    """``3m 12s``, ``1h 04m``, ``850 ms``, from milliseconds (ingest.numbers' rule)."""
    return "—" if ms is None else numbers.duration_ms(ms)


def percent(value, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}%"


def when(ts) -> str:
    """``2026-02-12 15:36`` (UTC) from a stored time."""
    if not ts:
        return "—"
    return ts[:16].replace("T", " ")


def clock(ts) -> str:
    """``15:36:12`` from a stored time."""
    return ts[11:19] if ts and len(ts) >= 19 else (ts or "")


def short_path(path: str | None, project: str | None = None) -> str:
    """A file path as a person reads it in a project: relative to the project when inside it."""
    if not path:
        return ""
    if project and path.startswith(project.rstrip("/") + "/"):
        return path[len(project.rstrip("/")) + 1:]
    return path


def project_name(path: str | None) -> str:
    """A project's short name: the last two parts of its path (the full path goes in a tooltip)."""
    if not path:
        return "—"
    parts = [p for p in path.rstrip("/").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) > 1 else (parts[0] if parts else path)


def project_labels(paths) -> dict:
    """For each project path, the shortest trailing part of it that tells it apart from every
    other project (``spotter-a0y`` when that name is unique, ``worktrees/spotter-a0y`` when it is
    not); a session with no project reads ``(no project)``."""
    paths = sorted({p for p in paths if p})
    split = {p: [x for x in p.rstrip("/").split("/") if x] or [p] for p in paths}
    out = {None: "(no project)", "": "(no project)"}
    for p, parts in split.items():
        for k in range(1, len(parts) + 1):
            suffix = parts[-k:]
            if not any(q != p and split[q][-k:] == suffix for q in paths):
                out[p] = "/".join(suffix)
                break
        else:
            out[p] = p
    return out
