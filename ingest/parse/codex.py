"""Codex CLI rollouts (``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``) to records.

Pure: a :class:`CodexParser` is fed one decoded line at a time and returns ``(table, row)`` records.
The rollout format is not a versioned contract (openai/codex #45251); the shapes met in real files:

* since ~0.3x every line is an envelope ``{timestamp, type, payload}`` with ``type`` one of
  ``session_meta``, ``turn_context``, ``response_item``, ``event_msg``, ``compacted``;
* before that (mid 2025) line 1 is a bare header ``{id, timestamp, instructions, git?}``, then
  ``{"record_type": "state"}`` markers and bare response items with no timestamp of their own;
* tools: ``function_call``/``function_call_output`` (``shell`` with an argv list until ~0.5x, then
  ``exec_command`` with a ``cmd`` string whose output is text ending in "Process exited with code N",
  or JSON ``{output, metadata: {exit_code}}``), ``custom_tool_call`` for ``apply_patch`` (a patch
  naming the files it adds, updates and deletes), ``event_msg`` ``exec_command_end`` (the exit code of
  a command whose first output only said it was still running), ``patch_apply_end``, ``web_search_end``.

Tokens: every model response is followed by an ``event_msg`` ``token_count`` whose ``info`` holds
``last_token_usage`` (that response) and ``total_token_usage`` (the session so far). We count
``last_token_usage``, once per response: Codex writes the same ``token_count`` a second time when only
its rate limits changed, with the total unchanged, so a response is keyed by the session's running
total after it (the repeat has the same key and is one row). ``input_tokens`` includes
``cached_input_tokens`` (stored apart, as cache reads, the way Anthropic's usage reads);
``output_tokens`` includes ``reasoning_output_tokens`` (kept in ``reasoning_tokens``, never added
twice). This is what ccusage counts too (tests/test_agents_parity.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex

from .. import pricing
from .common import BadLine, utc_timestamp
from .common import as_int as _int
from .common import text_or_none as _str

SOURCE = "codex"

# The shell tools, with the key of their command: an argv list (shell, local_shell_call) or a string.
COMMAND_TOOLS = {"shell": "command", "exec_command": "cmd", "container.exec": "command", "shell_command": "command"}
PATCH_TOOLS = {"apply_patch"}
# "*** Add File: path" and friends: the files one apply_patch touches, with what it does to them.
_PATCH_FILE = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+?)\s*$", re.M)
_PATCH_MOVE = re.compile(r"^\*\*\* Move to: (.+?)\s*$", re.M)
_PATCH_OPERATION = {"Add": "create", "Update": "edit", "Delete": "delete"}
_EXIT = re.compile(r"(?:Process exited with code|Exit code:?)\s*(-?\d+)")
_WALL = re.compile(r"Wall time:\s*([0-9.]+)\s*seconds")
# User messages Codex writes itself around what was typed: not prompts.
_INJECTED = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions", "<permissions instructions>",
             "<user_shell_command>", "<turn_aborted>")
BARE_ITEMS = {"message", "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output",
              "local_shell_call", "reasoning", "web_search_call"}


def _digest(*parts) -> str:
    return hashlib.sha1("\0".join(str(p) for p in parts).encode("utf-8", "replace")).hexdigest()[:16]


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))


def _decoded(value):
    """A function call's ``arguments`` (JSON text) decoded, or None."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def command_text(name: str | None, args) -> str | None:
    """The command a shell tool ran: ``cmd`` as given, or an argv list joined (``bash -lc X`` as X)."""
    key = COMMAND_TOOLS.get(name or "")
    if key is None or not isinstance(args, dict):
        return None
    value = args.get(key)
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) == 3 and value[1] in ("-lc", "-c") and value[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh"):
            return value[2]
        return shlex.join(value)
    return None


def patch_files(patch: str) -> list[tuple[str, str]]:
    """(path, operation) of each file an apply_patch names; a move's new path is edited too."""
    out = [(m.group(2), _PATCH_OPERATION[m.group(1)]) for m in _PATCH_FILE.finditer(patch)]
    out += [(m.group(1), "edit") for m in _PATCH_MOVE.finditer(patch)]
    return out


def output_fields(output) -> dict:
    """is_error, error text, preview, size and duration from a tool call's output: the JSON form
    ``{output, metadata: {exit_code, duration_seconds}}`` or the text form of exec_command."""
    text, exit_code, seconds = None, None, None
    decoded = _decoded(output)
    if isinstance(decoded, dict) and ("output" in decoded or "metadata" in decoded):
        text = decoded.get("output") if isinstance(decoded.get("output"), str) else None
        meta = decoded.get("metadata") if isinstance(decoded.get("metadata"), dict) else {}
        exit_code = meta.get("exit_code") if isinstance(meta.get("exit_code"), int) else None
        seconds = meta.get("duration_seconds")
    elif isinstance(output, str):
        text = output
        m = _EXIT.search(output[:2000])
        exit_code = int(m.group(1)) if m else None
        w = _WALL.search(output[:500])
        seconds = float(w.group(1)) if w else None
    elif output is not None:
        text = json.dumps(output, ensure_ascii=False)
    # An output with no exit code (a tool other than a shell) is a call that returned: not a failure.
    row = {"output_preview": text or None, "output_size": len(text or ""), "is_error": 0}
    if exit_code is not None:
        row["is_error"] = int(exit_code != 0)
        if exit_code != 0:
            row["error_message"] = f"Exit code {exit_code}" + (f"\n{text}" if text else "")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
        row["duration_ms"] = int(round(seconds * 1000))
    return row


class CodexParser:
    """Turns the lines of one rollout into records. Feed lines in order; call finish()."""

    def __init__(self, path: str, *, session_hint: str | None = None, host: str | None = None):
        self.path, self.host = path, host
        self.session_id: str | None = session_hint  # the file name's id until session_meta says
        self.agent_id: str | None = None  # set when this rollout is a subagent's (thread_spawn)
        self.parent_id: str | None = None
        self.model: str | None = None
        self.unpriced: dict[str, set] = {}
        self._session: dict = {}
        self._first = self._last = None
        self._last_total = None  # the running total of the last token_count: a repeat has the same
        self._ts = None  # pre-envelope items have no time of their own: the last one seen
        self._legacy = False  # a pre-envelope rollout: no user_message events, the user items are the prompts

    # ------------------------------------------------------------------------------------------
    def feed(self, obj) -> list[tuple[str, dict]]:
        if not isinstance(obj, dict):
            raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
        try:
            return self._feed(obj)
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as e:
            raise BadLine(f"unexpected shape: {type(e).__name__}: {e}") from e

    def _feed(self, obj: dict) -> list[tuple[str, dict]]:
        kind, payload = obj.get("type"), obj.get("payload")
        ts = utc_timestamp(obj.get("timestamp")) or self._ts
        if ts:
            self._ts = ts
            self._first = min(self._first or ts, ts)
            self._last = max(self._last or ts, ts)
        if "payload" not in obj:  # the pre-envelope shape (mid 2025)
            if "record_type" in obj:
                return []
            if kind in BARE_ITEMS:
                return self._response_item(obj, ts)
            if kind is None and _str(obj.get("id")):
                self._legacy = True
                return self._session_meta(obj, ts)
            if kind is None:
                raise BadLine("neither an envelope nor a rollout item")
            return []
        if not isinstance(payload, dict):
            raise BadLine("'payload' is not an object")
        if kind == "session_meta":
            return self._session_meta(payload, ts)
        if kind == "turn_context":
            self._turn_context(payload)
            return []
        if kind == "response_item":
            return self._response_item(payload, ts)
        if kind == "event_msg":
            return self._event(payload, ts)
        if kind == "compacted":
            return [("compactions", {"id": f"{self._sid()}:compacted:{ts}", **self._base(), "timestamp": ts,
                                     "summary_preview": _str(payload.get("message"))})]
        if kind is None:
            raise BadLine("no 'type' field")
        return []

    def finish(self) -> list[tuple[str, dict]]:
        """The session (or subagent) row for what was fed so far."""
        sid = self.session_id
        if not sid:
            return []
        if self.agent_id:
            row = {"agent_id": self.agent_id, "session_id": self.parent_id, "model": self.model,
                   "agent_type": self._session.get("agent_type"), "transcript_path": self.path,
                   "started_at": self._first, "ended_at": self._last}
            return [("subagents", {k: v for k, v in row.items() if v is not None})]
        row = {"id": sid, "source": SOURCE, "host": self.host, "transcript_path": self.path, "model": self.model,
               "started_at": self._session.get("started_at") or self._first, "ended_at": self._last}
        row.update({k: v for k, v in self._session.items() if k != "agent_type"})
        return [("sessions", {k: v for k, v in row.items() if v is not None})]

    # ------------------------------------------------------------------------------------------
    def _sid(self) -> str:
        if self.parent_id:
            return self.parent_id
        if not self.session_id:
            raise BadLine("a rollout line before its session_meta, in a file not named rollout-<time>-<id>")
        return self.session_id

    def _base(self) -> dict:
        return {"session_id": self._sid(), "agent_id": self.agent_id}

    def _session_meta(self, p: dict, ts) -> list:
        sid = _str(p.get("id")) or _str(p.get("session_id"))
        if sid:
            self.session_id = sid
        source = p.get("source")
        spawn = source.get("subagent") if isinstance(source, dict) else None
        spawn = spawn.get("thread_spawn") if isinstance(spawn, dict) else None
        if isinstance(spawn, dict) and _str(spawn.get("parent_thread_id")):
            # A subagent's rollout (thread_spawn): its rows belong to the parent's session.
            self.parent_id, self.agent_id = spawn["parent_thread_id"], self.session_id
            self._session["agent_type"] = _str(spawn.get("agent_role")) or _str(spawn.get("agent_type"))
        git = p.get("git") if isinstance(p.get("git"), dict) else {}
        cwd = _str(p.get("cwd"))
        fields = {"project_path": cwd, "cwd": cwd, "version": _str(p.get("cli_version")),
                  "entrypoint": _str(p.get("originator")), "git_branch": _str(git.get("branch")),
                  "start_source": source if isinstance(source, str) else None,
                  "started_at": utc_timestamp(p.get("timestamp")) or ts}
        self._session.update({k: v for k, v in fields.items() if v is not None})
        return []

    def _turn_context(self, p: dict) -> None:
        model = _str(p.get("model"))
        if model:
            self.model = model
        if _str(p.get("cwd")):
            self._session["cwd"] = p["cwd"]
            self._session.setdefault("project_path", p["cwd"])
        if _str(p.get("approval_policy")):
            self._session["permission_mode"] = p["approval_policy"]

    # -- conversation and tools ----------------------------------------------------------------
    def _response_item(self, p: dict, ts) -> list:
        kind = p.get("type")
        if kind == "message":
            role = _str(p.get("role"))
            text = _content_text(p.get("content"))
            if role not in ("user", "assistant") or not text:
                return []
            if role == "user" and text.lstrip().startswith(_INJECTED):
                return []
            key = f"{self._sid()}:{_digest(ts, role, text)}"
            prompt = [("prompts", {"id": key, "uuid": key, "session_id": self._sid(), "timestamp": ts, "text": text})] \
                if role == "user" and self._legacy and not self.agent_id else []
            return prompt + [("messages", {"uuid": key, **self._base(),
                                  "type": role, "timestamp": ts, "is_sidechain": int(self.agent_id is not None),
                                  "is_meta": 0, "model": self.model if role == "assistant" else None,
                                  "content_types": ",".join(sorted({b.get("type", "?") for b in p["content"]
                                                                    if isinstance(b, dict)}))
                                  if isinstance(p.get("content"), list) else "text",
                                  "text": text})]
        if kind in ("function_call", "custom_tool_call", "local_shell_call"):
            return self._tool_call(p, ts)
        if kind in ("function_call_output", "custom_tool_call_output"):
            call = _str(p.get("call_id"))
            if not call:
                return []
            return [("tool_calls", {"tool_use_id": self._key(call), **self._base(), "ended_at": ts,
                                    **output_fields(p.get("output"))})]
        return []  # reasoning (encrypted), ghost_snapshot, web_search_call (its event has the id)

    def _key(self, call_id: str) -> str:
        # Codex's call ids (call_…) are the model's: unique in practice, scoped by the session anyway.
        return f"{self._sid()}:{call_id}"

    def _tool_call(self, p: dict, ts) -> list:
        kind = p.get("type")
        call = _str(p.get("call_id")) or _str(p.get("id"))
        if not call:
            return []
        raw = None
        if kind == "local_shell_call":  # {action: {type: exec, command: [...]}}
            name, args = "local_shell", p.get("action") if isinstance(p.get("action"), dict) else {}
            command = command_text("shell", args)
        else:
            name = _str(p.get("name"))
            if _str(p.get("namespace")):  # MCP tools: mcp__server__ + name
                name = p["namespace"] + (name or "")
            raw = p.get("input") if kind == "custom_tool_call" else p.get("arguments")
            args = _decoded(raw)
            if args is None:
                args = {"input": raw} if isinstance(raw, str) else {}
            command = command_text(name, args)
        row = {"tool_use_id": self._key(call), **self._base(), "is_sidechain": int(self.agent_id is not None),
               "tool_name": name, "input_json": args or None, "command": command, "started_at": ts}
        if isinstance(args, dict) and _str(args.get("justification")):
            row["description"] = args["justification"]
        out = [("tool_calls", {k: v for k, v in row.items() if v is not None or k in ("session_id", "agent_id")})]
        if name in PATCH_TOOLS:
            patch = args.get("input") if isinstance(args, dict) else None
            patch = patch if isinstance(patch, str) else raw if isinstance(raw, str) else ""
            files = patch_files(patch)
            if files:
                out[0][1]["file_path"] = files[0][0]
            for path, operation in dict(files).items():
                out.append(("file_events", {"tool_use_id": row["tool_use_id"], "file_path": path, **self._base(),
                                            "tool_name": name, "operation": operation, "timestamp": ts}))
        return out

    # -- events ----------------------------------------------------------------------------------
    def _event(self, p: dict, ts) -> list:
        kind = p.get("type")
        if kind == "token_count":
            return self._token_count(p, ts)
        if kind == "user_message":
            text = _str(p.get("message"))
            if not text or text.lstrip().startswith(_INJECTED) or self.agent_id:
                return []
            key = f"{self._sid()}:{_digest(ts, text)}"
            return [("prompts", {"id": key, "uuid": key, "session_id": self._sid(), "timestamp": ts, "text": text})]
        if kind == "exec_command_end":
            call = _str(p.get("call_id"))
            if not call:
                return []
            code = _int(p.get("exit_code")) if p.get("exit_code") is not None else None
            output = p.get("aggregated_output") if isinstance(p.get("aggregated_output"), str) else None
            row = {"tool_use_id": self._key(call), **self._base(), "ended_at": ts}
            if code is not None:
                row["is_error"] = int(code != 0)
                if code != 0:
                    row["error_message"] = f"Exit code {code}" + (f"\n{output}" if output else "")
            if output:
                row.update(output_preview=output, output_size=len(output))
            duration = p.get("duration")
            if isinstance(duration, dict):
                row["duration_ms"] = _int(duration.get("secs")) * 1000 + _int(duration.get("nanos")) // 1_000_000
            return [("tool_calls", row)]
        if kind == "patch_apply_end":
            call = _str(p.get("call_id"))
            if not call or p.get("success") is None:
                return []
            row = {"tool_use_id": self._key(call), **self._base(), "ended_at": ts, "is_error": int(not p["success"])}
            if not p["success"]:
                row["error_message"] = _str(p.get("stderr")) or _str(p.get("stdout")) or "patch not applied"
            return [("tool_calls", row)]
        if kind == "web_search_end":
            call = _str(p.get("call_id"))
            if not call:
                return []
            query = _str(p.get("query"))
            return [("tool_calls", {"tool_use_id": self._key(call), **self._base(),
                                    "is_sidechain": int(self.agent_id is not None), "tool_name": "web_search",
                                    "input_json": {"query": query} if query else None, "started_at": ts,
                                    "ended_at": ts, "is_error": 0})]
        if kind in ("error", "stream_error"):
            message = _str(p.get("message"))
            return [("errors", {"id": f"{self._sid()}:{kind}:{_digest(ts, message)}", **self._base(),
                                "timestamp": ts, "kind": "api_error" if kind == "error" else "api_retry",
                                "message": message, "model": self.model})]
        if kind == "turn_aborted":
            return [("errors", {"id": f"{self._sid()}:aborted:{ts}", **self._base(), "timestamp": ts,
                                "kind": "turn_aborted", "message": _str(p.get("reason"))})]
        return []  # agent_message (the response_item has it), agent_reasoning, task_started/complete, ...

    def _token_count(self, p: dict, ts) -> list:
        info = p.get("info")
        if not isinstance(info, dict):
            return []  # the rate-limits-only count at the start of a turn
        total = info.get("total_token_usage") if isinstance(info.get("total_token_usage"), dict) else None
        last = info.get("last_token_usage") if isinstance(info.get("last_token_usage"), dict) else None
        if total is not None and total == self._last_total:
            return []  # the same response's count again (rate limits changed)
        previous, self._last_total = self._last_total, total if total is not None else self._last_total
        if last is None and total is not None:  # versions that wrote the running total only
            last = {k: _int(total.get(k)) - _int((previous or {}).get(k)) for k in total}
        if last is None:
            return []
        inp, cached = _int(last.get("input_tokens")), _int(last.get("cached_input_tokens"))
        cached = min(cached, inp)
        out, reasoning = _int(last.get("output_tokens")), _int(last.get("reasoning_output_tokens"))
        if not (inp or out or reasoning):
            return []
        running = _int(total.get("total_tokens")) if total else None
        model = self.model
        cost = pricing.cost_usd(model, input_tokens=inp - cached, output_tokens=out, cache_read_input_tokens=cached,
                                timestamp=ts)
        request = f"total:{running}" if running else f"at:{ts}"
        if cost is None:
            self.unpriced.setdefault(model or "(none)", set()).add(request)
        return [("api_requests", {
            "message_id": f"codex:{self.session_id}", "request_id": request, **self._base(),
            "is_sidechain": int(self.agent_id is not None), "model": model, "timestamp": ts,
            "input_tokens": inp - cached, "output_tokens": out, "reasoning_tokens": reasoning,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached, "web_search_requests": 0,
            "usage_total": inp + out, "cost_usd": cost, "priced": 0 if cost is None else 1, "source": SOURCE,
        })]
