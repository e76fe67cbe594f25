"""Claude Code hook payloads (one JSON object on stdin) to records (the 31 events of
Claude Code's hooks reference, code.claude.com/docs/en/hooks, 2026-08, and the older payloads without
``hook_event_name`` or ``tool_use_id``).

Pure: a payload and the time it was received in, ``(table, row)`` records out. Hook payloads carry no
time of their own, so the caller passes when the hook ran (or, for a payload captured by a logging
hook that added one, its ``timestamp``/``logged_at``).

The rows use the same natural keys as the transcript parser (``tool_use_id``, ``agent_id``, prompt
ids, session ids), so a hook and a transcript that saw the same fact converge on one row. Where a
hook has no key the transcript shares (compactions; prompts and tool calls from Claude Code older
than 2.1.196 / 2.0.43), it writes a ``hook:``-prefixed key and the schema's derivations fold it into
the transcript's row when that arrives.
"""

from __future__ import annotations

import hashlib
import json

from .common import MAX_INT, account_of, file_operation, text_or_none, tool_call_fields, utc_timestamp

# The 31 events of the 2026-08 hooks reference.
KNOWN_EVENTS = frozenset({
    "SessionStart", "Setup", "InstructionsLoaded", "UserPromptSubmit", "UserPromptExpansion",
    "MessageDisplay", "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse",
    "PostToolUseFailure", "PostToolBatch", "Notification", "SubagentStart", "SubagentStop",
    "TaskCreated", "TaskCompleted", "Stop", "StopFailure", "TeammateIdle", "ConfigChange",
    "CwdChanged", "DirectoryAdded", "FileChanged", "WorktreeCreate", "WorktreeRemove", "PreCompact",
    "PostCompact", "SessionEnd", "Elicitation", "ElicitationResult",
})


def event_name(p: dict) -> str:
    """The event a payload belongs to. Before CC 1.0.41 payloads did not say: infer it from fields."""
    name = text_or_none(p.get("hook_event_name"))
    if name:
        return name
    if "tool_response" in p:
        return "PostToolUse"
    if "tool_name" in p:
        return "PostToolUseFailure" if "error" in p else "PreToolUse"
    if "prompt" in p:
        return "UserPromptSubmit"
    if "stop_hook_active" in p:
        return "SubagentStop" if p.get("agent_id") else "Stop"
    if "trigger" in p and "custom_instructions" in p:
        return "PreCompact"
    if "notification_type" in p or "message" in p:
        return "Notification"
    if "reason" in p:
        return "SessionEnd"
    if "source" in p:
        return "SessionStart"
    return "unknown"


def event_time(p: dict, received_at: str) -> str:
    """When the event happened: a logger's own ``timestamp``/``logged_at`` if present, else receipt."""
    for key in ("timestamp", "logged_at"):
        ts = utc_timestamp(p.get(key)) if isinstance(p.get(key), str) else None
        if ts:
            return ts
    return received_at


def content_id(raw: bytes) -> str:
    """The key of a raw hook event: a retried call with the same bytes is the same event."""
    return hashlib.sha256(raw).hexdigest()


def _tool_input(p: dict) -> dict:
    value = p.get("tool_input")
    return value if isinstance(value, dict) else {}


def fallback_tool_use_id(p: dict) -> str:
    """Payloads older than CC 2.0.43 have no tool_use_id. Pre and Post of one call share the
    session, tool and input, so they share this key; a second identical call later in the session
    merges with the first (its Post time wins), which is the documented limit of the fallback."""
    digest = hashlib.sha1(json.dumps([p.get("session_id"), p.get("tool_name"), _tool_input(p)],
                                     sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]
    return f"hook:{digest}"


def _response_text(response) -> str:
    """The readable part of a tool's structured ``tool_response``."""
    if isinstance(response, str):
        return response
    if isinstance(response, dict):
        for key in ("stdout", "content", "output", "result"):
            value = response.get(key)
            if isinstance(value, str) and value:
                stderr = response.get("stderr")
                return value + ("\n" + stderr if isinstance(stderr, str) and stderr else "")
        file = response.get("file")
        if isinstance(file, dict) and isinstance(file.get("content"), str):
            return file["content"]
    if response is None:
        return ""
    return json.dumps(response, ensure_ascii=False)


def records(p: dict, received_at: str, host: str | None = None) -> list[tuple[str, dict]]:
    """Rows derived from one payload (the raw event itself is stored by the caller)."""
    event = event_name(p)
    ts = event_time(p, received_at)
    sid = text_or_none(p.get("session_id"))
    if not sid:
        return []
    agent_id = text_or_none(p.get("agent_id"))
    out: list[tuple[str, dict]] = []
    session = {"id": sid, "source": "claude", "host": host, "started_at": ts, "ended_at": ts}
    cwd = text_or_none(p.get("cwd"))
    if cwd and not agent_id:
        session.update(project_path=cwd, cwd=cwd)
    if text_or_none(p.get("permission_mode")) and not agent_id:
        session["permission_mode"] = p["permission_mode"]
    if text_or_none(p.get("transcript_path")):
        session["transcript_path"] = p["transcript_path"]
        session["account"] = account_of(p["transcript_path"])

    if event == "SessionStart":
        session.update(model=text_or_none(p.get("model")), start_source=text_or_none(p.get("source")),
                       title=text_or_none(p.get("session_title")))
    elif event == "SessionEnd":
        session["end_reason"] = text_or_none(p.get("reason"))
    elif event in ("UserPromptSubmit",):
        text = p.get("prompt")
        if isinstance(text, str) and text.strip():
            prompt_id = text_or_none(p.get("prompt_id"))
            out.append(("prompts", {
                "id": prompt_id or "hook:" + hashlib.sha1(f"{sid}\0{ts}\0{text}".encode()).hexdigest()[:20],
                "prompt_id": prompt_id, "session_id": sid, "timestamp": ts, "text": text,
            }))
    elif event in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        out.extend(_tool_event(p, event, sid, agent_id, ts))
    elif event == "PostToolBatch":
        for call in p.get("tool_calls") or ():
            if isinstance(call, dict):
                out.extend(_tool_event({**call, "session_id": sid}, "PostToolUse", sid, agent_id, ts,
                                       timed=False))
    elif event in ("PermissionRequest", "PermissionDenied"):
        fields = tool_call_fields(text_or_none(p.get("tool_name")), _tool_input(p))
        out.append(("permission_decisions", {
            "id": hashlib.sha1(json.dumps([event, sid, ts, p.get("tool_name"), _tool_input(p)], sort_keys=True,
                                          ensure_ascii=False).encode()).hexdigest()[:24],
            "session_id": sid, "agent_id": agent_id, "timestamp": ts, "event": event,
            "decision": "asked" if event == "PermissionRequest" else "denied",
            "tool_use_id": text_or_none(p.get("tool_use_id")), "tool_name": fields["tool_name"],
            "input_json": fields["input_json"], "file_path": fields["file_path"], "command": fields["command"],
            "reason": text_or_none(p.get("reason")), "permission_mode": text_or_none(p.get("permission_mode")),
        }))
    elif event in ("PreCompact", "PostCompact"):
        trigger = text_or_none(p.get("trigger"))
        phase = "pre" if event == "PreCompact" else "post"
        row = {"id": f"hook:{phase}:{sid}:{ts}", "session_id": sid, "agent_id": agent_id, "timestamp": ts,
               "trigger": trigger}
        if event == "PreCompact":
            row["custom_instructions"] = text_or_none(p.get("custom_instructions"))
        else:
            summary = p.get("compact_summary")
            row["summary_preview"] = summary if isinstance(summary, str) else None
        out.append(("compactions", row))
    elif event in ("SubagentStart", "SubagentStop") and agent_id:
        row = {"agent_id": agent_id, "session_id": sid, "agent_type": text_or_none(p.get("agent_type"))}
        if event == "SubagentStart":
            row["started_at"] = ts
        else:
            row["ended_at"] = ts
            row["transcript_path"] = text_or_none(p.get("agent_transcript_path"))
        out.append(("subagents", row))
    elif event == "StopFailure":
        details = p.get("error_details")
        message = details if isinstance(details, str) else json.dumps(details) if details else None
        out.append(("errors", {
            "id": "hook:" + hashlib.sha1(f"{sid}\0{ts}\0{p.get('error')}".encode()).hexdigest()[:20],
            "session_id": sid, "agent_id": agent_id, "timestamp": ts,
            "kind": text_or_none(p.get("error")) or "stop_failure",
            "message": message or text_or_none(p.get("last_assistant_message")),
        }))
    out.append(("sessions", {k: v for k, v in session.items() if v is not None}))
    return out


def _tool_event(p, event, sid, agent_id, ts, timed=True):
    name = text_or_none(p.get("tool_name"))
    tool_use_id = text_or_none(p.get("tool_use_id")) or fallback_tool_use_id(p)
    row = {"tool_use_id": tool_use_id, "session_id": sid, "agent_id": agent_id,
           "is_sidechain": 1 if agent_id else 0, **tool_call_fields(name, _tool_input(p))}
    if event == "PreToolUse":
        row["started_at"] = ts
    else:
        if timed:
            row["ended_at"] = ts
        duration = p.get("duration_ms")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and abs(duration) <= MAX_INT:
            row["duration_ms"] = int(duration)  # (NaN compares false)
        if event == "PostToolUse":
            text = _response_text(p.get("tool_response"))
            row.update(is_error=0, output_preview=text or None, output_size=len(text))
        else:
            error = p.get("error")
            error = error if isinstance(error, str) else json.dumps(error) if error is not None else None
            row.update(is_error=1, error_message=error or None)
            if isinstance(p.get("is_interrupt"), bool):
                row["interrupted"] = int(p["is_interrupt"])
    out = [("tool_calls", row)]
    operation = file_operation(name)
    if operation and row["file_path"]:
        response = p.get("tool_response")
        if operation == "write" and isinstance(response, dict) and response.get("type") == "create":
            operation = "create"
        out.append(("file_events", {"tool_use_id": tool_use_id, "file_path": row["file_path"], "session_id": sid,
                                    "agent_id": agent_id, "tool_name": name, "operation": operation,
                                    "timestamp": ts}))
    return out
