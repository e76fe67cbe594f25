"""The Go OpenCode store (``.opencode/opencode.db``, opencode-ai/opencode, 2025) and Charm Crush's
(``.crush/crush.db``, which continues it) to records.

Pure: rows of the store's ``sessions`` and ``messages`` tables (as dicts) in, ``(table, row)``
records out. The schema (goose migrations in both projects):

* ``sessions(id, parent_session_id, title, message_count, prompt_tokens, completion_tokens, cost,
  created_at, updated_at, summary_message_id)``: a session whose ``parent_session_id`` is set was
  started by the ``agent`` tool (its id is that tool call's id): a subagent, as elsewhere here;
* ``messages(id, session_id, role: user|assistant|tool, parts, model, created_at, updated_at,
  finished_at, provider?)``, ``parts`` a JSON list of ``{type, data}``: ``text``, ``reasoning``,
  ``tool_call {id, name, input (JSON text), finished}``, ``tool_result {tool_call_id, content,
  is_error}``, ``finish {reason: end_turn|tool_use|canceled|error|permission_denied, time, message?}``;
* times are Unix seconds (the schema's comments say milliseconds; both are read).

No per-request usage is kept: ``cost`` is a running sum of what each response cost, but
``prompt_tokens`` and ``completion_tokens`` are overwritten with the last response's counts
(``TrackUsage`` in internal/llm/agent/agent.go), so they are not totals. The session's cost is kept
as the agent reported it (``sessions.reported_cost_usd``); no ``api_requests`` rows are made up.
"""

from __future__ import annotations

import json

from .common import utc_timestamp
from .common import text_or_none as _str

SOURCES = ("opencode-go", "crush")
# Built-in tools: the ones that touch one file (input key file_path), and the shell.
FILE_TOOLS = {"view": "read", "write": "write", "edit": "edit", "multiedit": "edit", "patch": "edit"}
COMMAND_TOOLS = {"bash"}
AGENT_TOOL = "agent"
FAILED_FINISH = {"error", "canceled", "permission_denied"}


def _parts(value) -> list[dict]:
    try:
        parts = json.loads(value) if isinstance(value, (str, bytes)) else value
    except ValueError:
        return []
    return [p for p in parts if isinstance(p, dict) and isinstance(p.get("data"), dict)] \
        if isinstance(parts, list) else []


def _input(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value) if isinstance(value, str) and value else {}
    except ValueError:
        return {"input": value}
    return decoded if isinstance(decoded, dict) else {"input": decoded}


class CrushParser:
    """``parents`` maps a session id to its parent's (None for a top-level session)."""

    def __init__(self, source: str, project: str | None, parents: dict, *, origin: str | None = None,
                 host: str | None = None):
        self.source, self.project, self.parents = source, project, parents
        self.origin, self.host = origin, host

    def place(self, sid: str) -> tuple[str, str | None]:
        """(top-level session, agent id or None)."""
        chain = [sid]
        while len(chain) < 50:
            parent = self.parents.get(chain[-1])
            if not parent or parent in chain:
                break
            chain.append(parent)
        return (chain[-1], sid) if len(chain) > 1 else (sid, None)

    def session(self, row: dict) -> list[tuple[str, dict]]:
        sid = _str(row.get("id"))
        if not sid:
            return []
        root, agent = self.place(sid)
        created, updated = utc_timestamp(row.get("created_at")), utc_timestamp(row.get("updated_at"))
        cost = row.get("cost") if isinstance(row.get("cost"), (int, float)) else None
        if agent:
            parent = self.parents.get(sid)
            return [("subagents", {k: v for k, v in {
                "agent_id": sid, "session_id": root, "tool_use_id": self.tool_key(root, sid),
                "parent_agent_id": parent if parent != root else None, "agent_type": "agent",
                "transcript_path": self.origin, "started_at": created, "ended_at": updated}.items() if v is not None})]
        title = _str(row.get("title"))
        out = {"id": sid, "source": self.source, "project_path": self.project, "cwd": self.project,
               "title": title if title != "New Session" else None, "host": self.host,
               "started_at": created, "ended_at": updated, "transcript_path": self.origin,
               "reported_cost_usd": cost}
        return [("sessions", {k: v for k, v in out.items() if v is not None})]

    @staticmethod
    def tool_key(root: str, call_id: str) -> str:
        # Anthropic's toolu_ ids are unique; OpenAI's call_ ids and Crush's UUIDs scoped by session
        return call_id if call_id.startswith("toolu_") else f"{root}:{call_id}"

    def message(self, row: dict) -> list[tuple[str, dict]]:
        mid, sid, role = _str(row.get("id")), _str(row.get("session_id")), _str(row.get("role"))
        if not mid or not sid:
            return []
        root, agent = self.place(sid)
        base = {"session_id": root, "agent_id": agent}
        ts = utc_timestamp(row.get("created_at"))
        done = utc_timestamp(row.get("finished_at")) or utc_timestamp(row.get("updated_at"))
        parts = _parts(row.get("parts"))
        model = _str(row.get("model"))
        texts = [p["data"]["text"] for p in parts if p.get("type") == "text" and _str(p["data"].get("text"))]
        out: list[tuple[str, dict]] = [("messages", {
            "uuid": mid, **base, "type": role, "timestamp": ts, "is_sidechain": int(agent is not None), "is_meta": 0,
            "message_id": mid if role == "assistant" else None, "model": model if role == "assistant" else None,
            "content_types": ",".join(sorted({str(p.get("type")) for p in parts})) or None,
            "text": "\n".join(texts) or None})]
        if role == "user" and texts and agent is None:
            out.append(("prompts", {"id": mid, "uuid": mid, "session_id": root, "timestamp": ts,
                                    "text": "\n".join(texts)}))
        if role == "assistant" and model and agent is None:
            out.append(("sessions", {"id": root, "source": self.source, "model": model}))
        for part in parts:
            kind, data = part.get("type"), part["data"]
            if kind == "tool_call" and _str(data.get("id")):
                out += self._tool_call(data, base, mid, ts)
            elif kind == "tool_result" and _str(data.get("tool_call_id")):
                content = data.get("content") if isinstance(data.get("content"), str) else ""
                is_error = data.get("is_error") is True
                out.append(("tool_calls", {
                    "tool_use_id": self.tool_key(root, data["tool_call_id"]), **base, "is_error": int(is_error),
                    "error_message": content or None if is_error else None, "output_preview": content or None,
                    "output_size": len(content), "ended_at": done or ts}))
            elif kind == "finish" and role == "assistant" and data.get("reason") in FAILED_FINISH:
                reason = data["reason"]
                message = _str(data.get("message"))
                details = _str(data.get("details"))
                out.append(("errors", {"id": f"{mid}:finish", **base, "timestamp": done or ts,
                                       "kind": reason, "message": "\n".join(x for x in (message, details) if x) or None,
                                       "model": model}))
        return out

    def _tool_call(self, data: dict, base: dict, mid: str, ts) -> list:
        name = _str(data.get("name"))
        args = _input(data.get("input"))
        key = self.tool_key(base["session_id"], data["id"])
        path = args.get("file_path") if name in FILE_TOOLS else None
        row = {"tool_use_id": key, **base, "is_sidechain": int(base["agent_id"] is not None), "message_uuid": mid,
               "tool_name": name, "input_json": args or None,
               "file_path": path if isinstance(path, str) and path else None,
               "command": args.get("command") if name in COMMAND_TOOLS and isinstance(args.get("command"), str)
               else None,
               "description": _str(args.get("description")), "started_at": ts}
        out = [("tool_calls", {k: v for k, v in row.items() if v is not None or k in base})]
        if row["file_path"]:
            out.append(("file_events", {"tool_use_id": key, "file_path": row["file_path"], **base, "tool_name": name,
                                        "operation": FILE_TOOLS[name], "timestamp": ts}))
        if name == AGENT_TOOL:  # the subagent's session has this call's id
            out.append(("subagents", {k: v for k, v in {
                "agent_id": data["id"], "session_id": base["session_id"], "tool_use_id": key, "agent_type": "agent",
                "description": _str(args.get("prompt"))}.items() if v is not None}))
        return out
