"""Claude Code's statusline payload (the JSON it pipes to the ``statusLine`` command after each
assistant message) into records: one ``statusline_snapshots`` row, and what it says of its session.

The payload is Claude Code's own view of the session: ``cost.total_cost_usd`` (its client-side
estimate, cumulative for the session), the context window of the latest response, and, for Claude.ai
subscribers, ``rate_limits.five_hour`` / ``.seven_day`` (``used_percentage``, ``resets_at`` in epoch
seconds). Fields come and go by version and plan (the 1.0.88 payload has no ``rate_limits``); any of
them may be missing or null.

A snapshot is keyed by (session, the few-second bucket it was captured in): the statusline runs after
every message, and a burst of them keeps one row per bucket, the one captured last. A replay of the
same payload (from the spool, at the time it was first received) lands on the same key.
Standard library only: the statusline runs on the hook's light path.
"""

from __future__ import annotations

from .common import MAX_INT, account_of, text_or_none, utc_timestamp

BUCKET_S = 5  # at most one snapshot per session per this many seconds


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def number(value) -> float | None:
    """A number from the payload (a count, a cost, a percentage), None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if -MAX_INT <= value <= MAX_INT else None  # NaN compares false


def count(value) -> int | None:
    n = number(value)
    return int(n) if n is not None else None


def bucket(received_at: str) -> str:
    """``2026-10-08T08:15:15Z``: the start of the BUCKET_S-second bucket a time falls in."""
    seconds = int(received_at[17:19]) if len(received_at) >= 19 and received_at[17:19].isdigit() else 0
    return f"{received_at[:17]}{seconds - seconds % BUCKET_S:02d}Z"


def _window(limits: dict, name: str) -> tuple[float | None, str | None]:
    window = _obj(limits.get(name))
    resets = number(window.get("resets_at"))
    return number(window.get("used_percentage")), utc_timestamp(resets) if resets is not None else None


def snapshot(p: dict, received_at: str, host: str | None = None) -> dict | None:
    """The ``statusline_snapshots`` row of one payload; None without a session id."""
    sid = text_or_none(p.get("session_id"))
    if not sid:
        return None
    model, cost, context = _obj(p.get("model")), _obj(p.get("cost")), _obj(p.get("context_window"))
    workspace, limits = _obj(p.get("workspace")), _obj(p.get("rate_limits"))
    five_pct, five_resets = _window(limits, "five_hour")
    week_pct, week_resets = _window(limits, "seven_day")
    size = count(context.get("context_window_size"))
    used = number(context.get("used_percentage"))
    total_in = count(context.get("total_input_tokens"))
    if used is None and size and total_in is not None:  # older payloads: computed as Claude Code does
        used = round(100 * total_in / size, 1)
    exceeds = p.get("exceeds_200k_tokens")
    return {
        "session_id": sid, "bucket": bucket(received_at), "captured_at": received_at,
        "model": text_or_none(model.get("id")), "model_name": text_or_none(model.get("display_name")),
        "version": text_or_none(p.get("version")), "session_name": text_or_none(p.get("session_name")),
        "prompt_id": text_or_none(p.get("prompt_id")),
        "cwd": text_or_none(workspace.get("current_dir")) or text_or_none(p.get("cwd")),
        "project_dir": text_or_none(workspace.get("project_dir")),
        "transcript_path": text_or_none(p.get("transcript_path")),
        "total_cost_usd": number(cost.get("total_cost_usd")),
        "total_duration_ms": count(cost.get("total_duration_ms")),
        "total_api_duration_ms": count(cost.get("total_api_duration_ms")),
        "lines_added": count(cost.get("total_lines_added")), "lines_removed": count(cost.get("total_lines_removed")),
        "context_input_tokens": total_in, "context_output_tokens": count(context.get("total_output_tokens")),
        "context_window_size": size, "context_used_pct": used,
        "exceeds_200k_tokens": int(exceeds) if isinstance(exceeds, bool) else None,
        "five_hour_pct": five_pct, "five_hour_resets_at": five_resets,
        "seven_day_pct": week_pct, "seven_day_resets_at": week_resets,
        "host": host,
    }


def records(p: dict, received_at: str, host: str | None = None, payload: str | None = None) -> list[tuple[str, dict]]:
    """The snapshot and its session's row (model, version, directories, title: what the statusline
    knows of the session), for the store; nothing without a session id."""
    row = snapshot(p, received_at, host)
    if row is None:
        return []
    if payload is not None:
        row["payload"] = payload
    session = {"id": row["session_id"], "source": "claude", "host": host, "started_at": received_at,
               "ended_at": received_at, "model": row["model"], "version": row["version"],
               "title": row["session_name"], "transcript_path": row["transcript_path"],
               "account": account_of(row["transcript_path"])}
    if row["project_dir"] or row["cwd"]:
        session.update(project_path=row["project_dir"] or row["cwd"], cwd=row["cwd"])
    return [("sessions", {k: v for k, v in session.items() if v is not None}),
            ("statusline_snapshots", {k: v for k, v in row.items() if v is not None})]
