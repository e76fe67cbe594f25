"""OpenCode sessions, messages, parts and plugin events to records (OpenCode's
session, message and part shapes of v1.x, JSON and SQLite storage alike, and its plugin events).

Pure: OpenCode's own objects (Session.Info, message info, parts; the same shapes whether they come
from the JSON files under ``storage/``, the rows of ``opencode.db`` or a plugin event) in, ``(table,
row)`` records out. The rows are the ones a Claude Code transcript gives, under keys both of
OpenCode's storage generations and its live events share:

* a session is a ``sessions`` row with ``source = 'opencode'``; a child session (``parentID``, made by
  the ``task`` tool) is a subagent: a ``subagents`` row keyed by its id, and its messages, tool calls
  and API usage are rows of the top-level session with ``agent_id`` set, as a subagent's are;
* one ``step-finish`` part is one API call: ``api_requests`` keyed (message id, part id), tokens from
  the part (section 5.5: a message's own ``tokens`` are only its last step's; they are never added to
  the parts'), OpenCode's cost in ``reported_cost_usd``, ours in ``cost_usd`` (Claude models from
  the price table, others from genai-prices under OpenCode's provider; a model neither knows is
  NULL and flagged) with its source in ``price_source``;
* a tool part is a ``tool_calls`` row keyed by its ``callID`` (``toolu_…`` ids are unique; other
  providers' ids, such as ``call_0``, are prefixed with the session id), its camelCase input mapped to
  the same ``file_path``/``command`` columns;
* a compaction is keyed by the user message that holds its ``compaction`` part (the summary message
  names that message as its parent, so both halves meet); message errors and ``retry`` parts are
  ``errors``.
"""

from __future__ import annotations

import hashlib
import json

from .. import pricing
from .common import utc_timestamp
from .common import text_or_none as _str

# OpenCode's built-in tools that touch one file, with the operation they stand for (input key filePath).
# OpenCode's lower-case built-ins (Claude Code's capitalised ones are in common.FILE_TOOLS / COMMAND_TOOLS)
OPENCODE_FILE_OPERATIONS = {"read": "read", "write": "write", "edit": "edit", "multiedit": "edit"}
OPENCODE_COMMAND_TOOLS = {"bash", "shell"}
DEFAULT_TITLES = ("New session - ", "Child session - ")

# Event types of the v1 plugin API (section 5.7), plus the hooks the plugin forwards as events.
KNOWN_EVENTS = frozenset({
    "command.executed", "file.edited", "file.watcher.updated", "installation.updated",
    "lsp.client.diagnostics", "lsp.updated", "message.part.removed", "message.part.updated",
    "message.removed", "message.updated", "permission.replied", "permission.updated", "permission.asked",
    "server.connected", "session.created", "session.compacted", "session.deleted", "session.diff",
    "session.error", "session.idle", "session.status", "session.updated", "todo.updated",
    "tool.execute.after", "tool.execute.before", "chat.message",
})


def _num(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int0(value) -> int:
    v = _num(value)
    return int(v) if v is not None else 0


def _time(obj, key):
    t = obj.get("time") if isinstance(obj, dict) else None
    return utc_timestamp(_num(t.get(key))) if isinstance(t, dict) else None


def tool_use_id(session_id: str | None, call_id: str) -> str:
    """``toolu_`` ids are unique across sessions; other providers' may repeat (``call_0``)."""
    if call_id.startswith("toolu_") or not session_id:
        return call_id
    return f"{session_id}:{call_id}"


def pricing_model(model: str | None) -> str | None:
    """The price-table name: the model id without an ``anthropic/``-style provider prefix."""
    return model.rsplit("/", 1)[-1] if model else None


def opencode_price(model: str | None, provider: str | None, *, prices: dict | None = None,
                   **usage) -> tuple[float | None, str | None]:
    """An OpenCode response's cost and its source: a Claude model by the price table (named without
    its provider prefix), any other by genai-prices, asked under the provider OpenCode called."""
    cost = pricing.cost_usd(pricing_model(model), prices=prices, **usage)
    if cost is not None:
        return cost, pricing.table_source(prices)
    return pricing.fallback_cost(model, provider, **usage) if model else (None, None)


def error_fields(error) -> dict:
    """kind/message/status of an OpenCode error ``{name, data: {message, statusCode, ...}}``."""
    if not isinstance(error, dict):
        return {"kind": "error", "message": _str(error), "status": None}
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    message = _str(data.get("message")) or _str(error.get("message"))
    if message is None and data:
        message = json.dumps(data, ensure_ascii=False)
    status = data.get("statusCode")
    return {"kind": _str(error.get("name")) or "error", "message": message,
            "status": status if isinstance(status, int) and not isinstance(status, bool) else None}


class OpenCodeParser:
    """Turns OpenCode objects into records.

    ``parents`` maps a session id to its parent's (None for a top-level session); it may be a dict
    subclass that looks up what it was not given. ``origin`` names where the objects came from.
    """

    def __init__(self, parents: dict, *, host: str | None = None, origin: str | None = None):
        self.parents = parents
        self.host = host
        self.origin = origin
        self.unpriced: dict[str, set] = {}

    # -- where a session sits ------------------------------------------------------------------
    def place(self, session_id: str) -> tuple[str, str | None, int]:
        """(top-level session, agent id or None, depth) of a session's rows."""
        chain = [session_id]
        while len(chain) < 50:
            parent = self.parents.get(chain[-1])
            if not parent or parent in chain:
                break
            chain.append(parent)
        if len(chain) == 1:
            return session_id, None, 0
        return chain[-1], session_id, len(chain) - 1

    def _base(self, session_id: str) -> dict:
        root, agent, _ = self.place(session_id)
        return {"session_id": root, "agent_id": agent}

    # -- sessions ------------------------------------------------------------------------------
    def session(self, info: dict) -> list[tuple[str, dict]]:
        sid = _str(info.get("id"))
        if not sid:
            return []
        root, agent, depth = self.place(sid)
        created, updated = _time(info, "created"), _time(info, "updated")
        model = info.get("model")
        model = (_str(model.get("id")) or _str(model.get("modelID"))) if isinstance(model, dict) else _str(model)
        title = _str(info.get("title"))
        if agent is None:
            row = {"id": sid, "source": "opencode", "project_path": _str(info.get("directory")),
                   "cwd": _str(info.get("directory")), "model": model, "version": _str(info.get("version")),
                   "host": self.host, "title": title, "slug": _str(info.get("slug")),
                   "started_at": created, "ended_at": updated, "transcript_path": self.origin}
            return [("sessions", {k: v for k, v in row.items() if v is not None})]
        parent = self.parents.get(sid)
        row = {"agent_id": sid, "session_id": root, "agent_type": _str(info.get("agent")), "model": model,
               "parent_agent_id": parent if parent != root else None, "spawn_depth": depth,
               "transcript_path": self.origin, "started_at": created, "ended_at": updated}
        if title and not title.startswith(DEFAULT_TITLES):
            row["description"] = title
        return [("subagents", {k: v for k, v in row.items() if v is not None})]

    # -- messages --------------------------------------------------------------------------------
    def message(self, info: dict, parts: list[dict] | None = None, *, whole: bool = False) -> list[tuple[str, dict]]:
        """A message and (when known) its parts. ``whole``: these are all its parts (stored sessions),
        so a finished assistant message without a step-finish part may fall back on its own tokens."""
        mid, sid = _str(info.get("id")), _str(info.get("sessionID"))
        if not mid or not sid:
            return []
        parts = [p for p in parts or () if isinstance(p, dict)]
        base = self._base(sid)
        role = _str(info.get("role"))
        ts = _time(info, "created")
        out: list[tuple[str, dict]] = []
        texts = [p["text"] for p in parts if p.get("type") == "text" and isinstance(p.get("text"), str)
                 and p["text"] and not p.get("synthetic") and not p.get("ignored")]
        model = _str(info.get("modelID"))
        if model is None and isinstance(info.get("model"), dict):  # user messages: {providerID, modelID}
            model = _str(info["model"].get("modelID"))
        out.append(("messages", {
            "uuid": mid, **base, "parent_uuid": _str(info.get("parentID")), "type": role, "timestamp": ts,
            "is_sidechain": int(base["agent_id"] is not None), "is_meta": 0,
            "message_id": mid if role == "assistant" else None,
            "model": model if role == "assistant" else None,
            "content_types": ",".join(sorted({str(p.get("type")) for p in parts})) or None,
            "text": "\n".join(texts) or None,
        }))
        compaction = any(p.get("type") == "compaction" for p in parts)
        if role == "user" and texts and not compaction and base["agent_id"] is None:
            out.append(("prompts", {"id": mid, "uuid": mid, "session_id": base["session_id"], "timestamp": ts,
                                    "text": "\n".join(texts)}))
        if role == "assistant":
            if base["agent_id"] is None and model:
                out.append(("sessions", {"id": base["session_id"], "source": "opencode", "model": model}))
            if info.get("error"):
                out.append(("errors", {"id": f"{mid}:error", **base, "timestamp": _time(info, "completed") or ts,
                                       **error_fields(info["error"]), "model": model}))
            if info.get("summary") is True and _str(info.get("parentID")):
                out.append(("compactions", {"id": info["parentID"], **base, "timestamp": ts,
                                            "summary_preview": "\n".join(texts) or None}))
        for part in parts:
            out += self.part(part, info)
        if whole and role == "assistant" and not any(p.get("type") == "step-finish" for p in parts) \
                and isinstance(info.get("tokens"), dict) and _time(info, "completed"):
            # Versions that wrote no step-finish parts: the message's own tokens are its only usage.
            row = self._usage(info, {"id": "", "tokens": info["tokens"], "cost": info.get("cost")}, base)
            if row["usage_total"]:
                out.append(("api_requests", row))
        return out

    # -- parts -----------------------------------------------------------------------------------
    def part(self, part: dict, info: dict | None = None) -> list[tuple[str, dict]]:
        """One part; ``info`` is its message (for the model and time), when known."""
        info = info or {}
        kind = part.get("type")
        sid = _str(part.get("sessionID")) or _str(info.get("sessionID"))
        mid = _str(part.get("messageID")) or _str(info.get("id"))
        if not sid or not mid:
            return []
        base = self._base(sid)
        if kind == "tool" and _str(part.get("callID")):
            return self._tool(part, sid, mid, base)
        if kind == "step-finish" and isinstance(part.get("tokens"), dict) and _str(part.get("id")):
            return [("api_requests", self._usage({**info, "id": mid}, part, base))]
        if kind == "compaction":
            trigger = "auto" if part.get("auto") else "manual"
            return [("compactions", {"id": mid, **base, "timestamp": _time(info, "created"), "trigger": trigger})]
        if kind == "retry" and _str(part.get("id")):
            return [("errors", {"id": part["id"], **base, "timestamp": _time(part, "created") or _time(info, "created"),
                                **dict(error_fields(part.get("error")), kind="api_retry")})]
        return []

    def _usage(self, info: dict, part: dict, base: dict) -> dict:
        tokens = part["tokens"]
        cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
        inp, read, write = _int0(tokens.get("input")), _int0(cache.get("read")), _int0(cache.get("write"))
        # Reasoning is billed as output (OpenCode's own cost does the same).
        out = _int0(tokens.get("output")) + _int0(tokens.get("reasoning"))
        model = _str(info.get("modelID"))
        ts = _time(info, "created")
        provider = _str(info.get("providerID"))
        cost, price_source = opencode_price(model, provider, input_tokens=inp, output_tokens=out,
                                            cache_creation_input_tokens=write, cache_read_input_tokens=read,
                                            timestamp=ts)
        if cost is None:
            self.unpriced.setdefault(model or "(none)", set()).add((info.get("id"), part["id"]))
        reported = part.get("cost")
        return {
            "message_id": info["id"], "request_id": part["id"], **base,
            "is_sidechain": int(base["agent_id"] is not None), "model": model, "timestamp": ts,
            "input_tokens": inp, "output_tokens": out, "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read, "web_search_requests": 0, "usage_total": inp + out + write + read,
            "stop_reason": _str(part.get("reason")) or _str(info.get("finish")),
            "cost_usd": cost, "priced": 0 if cost is None else 1, "price_source": price_source,
            "provider": provider,
            "reported_cost_usd": _num(reported),  # older versions wrote an object here: not a cost
            "source": "opencode",
        }

    def _tool(self, part: dict, sid: str, mid: str, base: dict) -> list[tuple[str, dict]]:
        state = part.get("state") if isinstance(part.get("state"), dict) else {}
        name = _str(part.get("tool"))
        status = _str(state.get("status"))
        key = tool_use_id(sid, part["callID"])
        row = {"tool_use_id": key, **base, "is_sidechain": int(base["agent_id"] is not None), "message_uuid": mid,
               **self.tool_fields(name, state.get("input"))}
        if status in ("completed", "error"):
            output = state.get("output") if isinstance(state.get("output"), str) else ""
            error = _str(state.get("error"))
            metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
            row.update(is_error=int(status == "error"), error_message=error or None,
                       output_preview=output or error or None, output_size=len(output),
                       interrupted=1 if metadata.get("interrupted") else 0)
        if status in ("running", "completed", "error"):
            row["started_at"] = _time(state, "start")
        if status in ("completed", "error"):
            row["ended_at"] = _time(state, "end")
        out = [("tool_calls", {k: v for k, v in row.items() if v is not None or k in base})]
        operation = OPENCODE_FILE_OPERATIONS.get(name or "")
        if operation and row["file_path"]:
            metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
            if operation == "write" and metadata.get("exists") is False:
                operation = "create"
            out.append(("file_events", {"tool_use_id": key, "file_path": row["file_path"], **base, "tool_name": name,
                                        "operation": operation, "timestamp": _time(state, "start")}))
        metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
        child = _str(metadata.get("sessionId")) or _str(metadata.get("sessionID"))
        if name == "task" and child:
            tool_input = state.get("input") if isinstance(state.get("input"), dict) else {}
            out.append(("subagents", {k: v for k, v in {
                "agent_id": child, "session_id": base["session_id"], "tool_use_id": key,
                "agent_type": _str(tool_input.get("subagent_type")),
                "description": _str(tool_input.get("description"))}.items() if v is not None}))
        return out

    @staticmethod
    def tool_fields(name: str | None, tool_input) -> dict:
        """The columns every source fills the same way, from OpenCode's camelCase input keys."""
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        path = tool_input.get("filePath") if name in OPENCODE_FILE_OPERATIONS else None
        command = tool_input.get("command") if name in OPENCODE_COMMAND_TOOLS else None
        description = tool_input.get("description")
        return {
            "tool_name": name,
            "input_json": tool_input or None,  # the store redacts, cuts and encodes it
            "file_path": path if isinstance(path, str) and path else None,
            "command": command if isinstance(command, str) else None,
            "description": description if isinstance(description, str) else None,
        }

    # -- plugin events ---------------------------------------------------------------------------
    def event(self, event_type: str, props: dict, received_at: str, event_id: str,
              message: dict | None = None) -> list[tuple[str, dict]]:
        """Records from one plugin event (``{type, properties}``); ``message`` is the stored message a
        ``message.part.updated`` belongs to, when the caller knows it."""
        if event_type in ("session.created", "session.updated", "session.deleted"):
            info = props.get("info")
            return self.session(info) if isinstance(info, dict) else []
        if event_type == "message.updated":
            info = props.get("info")
            return self.message(info) if isinstance(info, dict) else []
        if event_type == "chat.message":
            info = props.get("message")
            if not isinstance(info, dict):
                return []
            info = {"sessionID": props.get("sessionID"), "role": "user", **info}
            return self.message(info, props.get("parts") if isinstance(props.get("parts"), list) else [])
        if event_type == "message.part.updated":
            part = props.get("part")
            if not isinstance(part, dict):
                return []
            out = self.part(part, message)
            if (message or {}).get("role") == "user" and part.get("type") == "text" and _str(part.get("text")) \
                    and not part.get("synthetic") and not part.get("ignored"):
                base = self._base(_str(part.get("sessionID")) or message.get("sessionID"))
                if base["agent_id"] is None:
                    out.append(("prompts", {"id": message["id"], "uuid": message["id"],
                                            "session_id": base["session_id"],
                                            "timestamp": _time(message, "created"), "text": part["text"]}))
            return out
        sid = _str(props.get("sessionID"))
        if not sid:
            return []
        base = self._base(sid)
        if event_type in ("tool.execute.before", "tool.execute.after") and _str(props.get("callID")):
            name = _str(props.get("tool"))
            row = {"tool_use_id": tool_use_id(sid, props["callID"]), **base,
                   "is_sidechain": int(base["agent_id"] is not None)}
            if props.get("args") is not None:
                row.update({k: v for k, v in self.tool_fields(name, props.get("args")).items() if v is not None})
            row["tool_name"] = name
            if event_type == "tool.execute.before":
                row["started_at"] = received_at
            else:
                output = props.get("output") if isinstance(props.get("output"), str) else ""
                row.update(ended_at=received_at, output_preview=output or None,
                           output_size=len(output))
            return [("tool_calls", row)]
        if event_type == "session.error":
            return [("errors", {"id": f"opencode-event:{event_id[:24]}", **base, "timestamp": received_at,
                                **error_fields(props.get("error"))})]
        if event_type == "session.compacted":
            # Keyed like a hook's PostCompact: the stored compaction within ten minutes absorbs it.
            return [("compactions", {"id": f"hook:post:{sid}:{received_at}", **base, "timestamp": received_at})]
        if event_type in ("session.status", "session.idle"):
            status = props.get("status") if isinstance(props.get("status"), dict) else {}
            if event_type == "session.idle" or status.get("type") == "idle":
                if base["agent_id"]:
                    return [("subagents", {"agent_id": base["agent_id"], "session_id": base["session_id"],
                                           "ended_at": received_at})]
                return [("sessions", {"id": sid, "source": "opencode", "ended_at": received_at})]
            if status.get("type") == "retry":
                digest = hashlib.sha1(f"{sid}\0{status.get('attempt')}\0{status.get('next')}".encode()).hexdigest()
                return [("errors", {"id": f"opencode-retry:{digest[:20]}", **base, "timestamp": received_at,
                                    "kind": "api_retry", "message": _str(status.get("message"))})]
        return []
