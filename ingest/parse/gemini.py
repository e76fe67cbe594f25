"""Gemini CLI sessions (``~/.gemini/tmp/<project>/chats/session-*``) and prompt logs to records.

Pure. Two shapes of the same conversation record, both met in real files:

* ``session-<time>-<id8>.json`` (until early 2026): one object ``{sessionId, projectHash, startTime,
  lastUpdated, messages: [...], summary?}``, rewritten whole on every change;
* ``session-<time>-<id8>.jsonl`` (newer): an append-only log. Line 1 is the header ``{sessionId,
  projectHash, startTime, lastUpdated, kind}``; then message records, ``{"$set": {...}}`` updates
  (``lastUpdated``, or a whole ``messages`` array) and ``{"$rewindTo": id}``. A message is written
  again under the same ``id`` as it grows (first without its ``toolCalls``, then with them): rows are
  keyed by that id, so the last copy is the one kept.

A message is ``{id, timestamp, type: user|gemini|info|error|warning, content, model?, tokens?,
thoughts?, toolCalls?}``. ``tokens`` is ``{input, output, cached, thoughts, tool, total}``: ``input``
includes ``cached`` when ``total`` adds up without it (the form of 2026; ccusage tells them apart the
same way); ``thoughts`` are billed as output and kept in ``reasoning_tokens``; ``tool`` (tokens of tool
results sent back) is input. ``logs.json`` beside ``chats/`` keeps every prompt typed, with its session.
"""

from __future__ import annotations

import hashlib

from .. import pricing
from .common import BadLine, utc_timestamp
from .common import as_int as _int
from .common import text_or_none as _str

SOURCE = "gemini"
FILE_TOOLS = {"read_file": "read", "write_file": "write", "replace": "edit", "edit": "edit"}
COMMAND_TOOLS = {"run_shell_command"}
# The first user message of a session is the CLI's own context: not a prompt.
_INJECTED = ("<session_context>",)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def usage(tokens: dict) -> dict:
    """api_requests token columns from a message's ``tokens``."""
    inp, out, cached = _int(tokens.get("input")), _int(tokens.get("output")), _int(tokens.get("cached"))
    thoughts, tool = _int(tokens.get("thoughts")), _int(tokens.get("tool"))
    total = tokens.get("total")
    inclusive = inp + out + thoughts + tool
    if cached and total == inclusive and total != inclusive + cached:
        inp -= min(inp, cached)  # the total shows input already holds the cached part
    if not (inp or out or cached or thoughts or tool) and _int(total):
        out = _int(total)  # only a total was written: it is all counted, as output
    return {"input_tokens": inp + tool, "output_tokens": out + thoughts, "reasoning_tokens": thoughts,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
            "usage_total": inp + tool + out + thoughts + cached}


class GeminiParser:
    """Records from one session file (``feed`` a JSONL line, or ``session`` a whole JSON file)."""

    def __init__(self, path: str, *, project: str | None = None, session_hint: str | None = None,
                 host: str | None = None):
        self.path, self.project, self.host = path, project, host
        self.session_id = session_hint
        self.unpriced: dict[str, set] = {}
        self._fields: dict = {}
        self._first = self._last = None
        self.model: str | None = None

    # ------------------------------------------------------------------------------------------
    def session(self, obj) -> list[tuple[str, dict]]:
        """A whole ``session-*.json``."""
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise BadLine("not a Gemini CLI session: no 'messages' list")
        out = self._header(obj)
        for message in obj["messages"]:
            if isinstance(message, dict):
                out += self.message(message)
        return out

    def feed(self, obj) -> list[tuple[str, dict]]:
        """One line of a ``session-*.jsonl``."""
        if not isinstance(obj, dict):
            raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
        try:
            if "$set" in obj:
                update = obj["$set"] if isinstance(obj["$set"], dict) else {}
                out = []
                if utc_timestamp(update.get("lastUpdated")):
                    self._seen(utc_timestamp(update["lastUpdated"]))
                for message in update.get("messages") or ():
                    if isinstance(message, dict):
                        out += self.message(message)
                return out
            if "$rewindTo" in obj:
                return []  # rewound messages stay, as the branches of a rewound Claude Code session do
            if "sessionId" in obj and "type" not in obj:
                return self._header(obj)
            if _str(obj.get("type")) and _str(obj.get("id")):
                return self.message(obj)
            raise BadLine("neither a session header, a message nor an update")
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as e:
            raise BadLine(f"unexpected shape: {type(e).__name__}: {e}") from e

    def finish(self) -> list[tuple[str, dict]]:
        if not self.session_id:
            return []
        row = {"id": self.session_id, "source": SOURCE, "host": self.host, "transcript_path": self.path,
               "project_path": self.project, "cwd": self.project, "model": self.model,
               "started_at": self._fields.get("started_at") or self._first,
               "ended_at": self._last, "summary": self._fields.get("summary")}
        return [("sessions", {k: v for k, v in row.items() if v is not None})]

    # ------------------------------------------------------------------------------------------
    def _seen(self, ts) -> None:
        if ts:
            self._first = min(self._first or ts, ts)
            self._last = max(self._last or ts, ts)

    def _header(self, obj: dict) -> list:
        if _str(obj.get("sessionId")):
            self.session_id = obj["sessionId"]
        started = utc_timestamp(obj.get("startTime"))
        if started:
            self._fields["started_at"] = started
            self._seen(started)
        self._seen(utc_timestamp(obj.get("lastUpdated")))
        if _str(obj.get("summary")):
            self._fields["summary"] = obj["summary"]
        return []

    def _sid(self) -> str:
        if not self.session_id:
            raise BadLine("a message before the session header")
        return self.session_id

    def message(self, m: dict) -> list[tuple[str, dict]]:
        mid, kind = _str(m.get("id")), _str(m.get("type"))
        if not mid or not kind:
            return []
        sid = self._sid()
        ts = utc_timestamp(m.get("timestamp"))
        self._seen(ts)
        text = _text(m.get("content"))
        model = _str(m.get("model"))
        if kind == "gemini" and model:
            self.model = model
        key = f"{sid}:{mid}"
        out: list[tuple[str, dict]] = [("messages", {
            "uuid": key, "session_id": sid, "type": "assistant" if kind == "gemini" else kind, "subtype": kind,
            "timestamp": ts, "is_sidechain": 0, "is_meta": int(kind not in ("user", "gemini")),
            "message_id": key if kind == "gemini" else None, "model": model if kind == "gemini" else None,
            "content_types": "text" if text else None, "text": text or None})]
        if kind == "user" and text.strip() and not text.lstrip().startswith(_INJECTED):
            out.append(("prompts", {"id": key, "uuid": key, "session_id": sid, "timestamp": ts, "text": text}))
        elif kind == "error" and text:
            out.append(("errors", {"id": key, "session_id": sid, "timestamp": ts, "kind": "gemini_error",
                                   "message": text, "model": self.model}))
        if kind == "gemini" and isinstance(m.get("tokens"), dict):
            tokens = usage(m["tokens"])
            if tokens["usage_total"]:
                cost = pricing.cost_usd(model, input_tokens=tokens["input_tokens"],
                                        output_tokens=tokens["output_tokens"],
                                        cache_read_input_tokens=tokens["cache_read_input_tokens"], timestamp=ts)
                if cost is None:
                    self.unpriced.setdefault(model or "(none)", set()).add(key)
                out.append(("api_requests", {
                    "message_id": key, "request_id": "", "session_id": sid, "is_sidechain": 0, "model": model,
                    "timestamp": ts, **tokens, "web_search_requests": 0, "cost_usd": cost,
                    "priced": 0 if cost is None else 1, "source": SOURCE}))
        for call in m.get("toolCalls") or ():
            if isinstance(call, dict) and _str(call.get("id")):
                out += self._tool(call, sid, key, ts)
        return out

    def _tool(self, call: dict, sid: str, message_key: str, ts) -> list:
        name = _str(call.get("name"))
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        status = _str(call.get("status"))
        output, error = None, None
        for part in call.get("result") or ():
            response = (part.get("functionResponse") or {}).get("response") if isinstance(part, dict) else None
            if isinstance(response, dict):
                output = output or (response.get("output") if isinstance(response.get("output"), str) else None)
                error = error or (response.get("error") if isinstance(response.get("error"), str) else None)
        display = call.get("resultDisplay") if isinstance(call.get("resultDisplay"), str) else None
        is_error = None if status is None else int(status in ("error", "cancelled"))
        path = args.get("file_path") or args.get("absolute_path") if name in FILE_TOOLS else None
        key = f"{sid}:{call['id']}"
        when = utc_timestamp(call.get("timestamp")) or ts
        text = output or error or display
        row = {"tool_use_id": key, "session_id": sid, "agent_id": None, "is_sidechain": 0,
               "message_uuid": message_key, "tool_name": name, "input_json": args or None,
               "file_path": path if isinstance(path, str) and path else None,
               "command": args.get("command") if name in COMMAND_TOOLS and isinstance(args.get("command"), str)
               else None,
               "description": _str(args.get("description")), "is_error": is_error,
               "error_message": (error or display or status) if is_error else None,
               "interrupted": int(status == "cancelled") if status else None,
               "output_preview": text, "output_size": len(text or ""), "started_at": ts, "ended_at": when}
        out = [("tool_calls", {k: v for k, v in row.items() if v is not None or k in ("session_id", "agent_id")})]
        if row["file_path"]:
            out.append(("file_events", {"tool_use_id": key, "file_path": row["file_path"], "session_id": sid,
                                        "tool_name": name, "operation": FILE_TOOLS[name], "timestamp": ts}))
        return out


def log_prompts(entries, *, project: str | None = None, host: str | None = None) -> list[tuple[str, dict]]:
    """``logs.json``: ``[{sessionId, messageId, type: "user", message, timestamp}]``, every prompt typed.
    Each is keyed as a history prompt: where the session's chat file has the same prompt, the chat's
    row is the one kept (schema.DERIVATIONS); where the chat file is gone, this is the record left."""
    if not isinstance(entries, list):
        raise BadLine("logs.json is not a list")
    out, sessions = [], {}
    for e in entries:
        if not isinstance(e, dict) or e.get("type") != "user" or not _str(e.get("message")):
            continue
        sid, ts = _str(e.get("sessionId")), utc_timestamp(e.get("timestamp"))
        if not sid:
            continue
        digest = hashlib.sha1(f"{e.get('messageId')}\0{ts}\0{e['message']}".encode()).hexdigest()[:16]
        out.append(("prompts", {"id": f"history:gemini:{sid}:{digest}", "session_id": sid, "timestamp": ts,
                                "text": e["message"]}))
        first, last = sessions.get(sid, (ts, ts))
        sessions[sid] = (min(first or ts, ts or first), max(last or ts, ts or last))
    for sid, (first, last) in sessions.items():
        row = {"id": sid, "source": SOURCE, "project_path": project, "cwd": project, "host": host,
               "started_at": first, "ended_at": last}
        out.append(("sessions", {k: v for k, v in row.items() if v is not None}))
    return out


def project_hash_of(path: str) -> str:
    """Gemini CLI's project id of a directory until 0.2x: the SHA-256 of its absolute path."""
    return hashlib.sha256(path.encode()).hexdigest()


__all__ = ["GeminiParser", "log_prompts", "usage", "project_hash_of"]
