"""Claude Code transcripts (``projects/**/*.jsonl``) to records (the format Claude Code writes
under ``~/.claude/projects``; it is not a versioned contract, so every field is optional here).

Pure: a :class:`TranscriptParser` is fed one decoded line at a time and returns ``(table, row)``
records; it never touches a database or prints. The quirks of the format live here:

* one API response is written as one line per content block, each repeating ``usage`` with a growing
  ``output_tokens``: every copy is emitted and the store keeps the largest (key message.id+requestId);
* ``progress``/``agent_progress`` lines mirror a subagent's messages into the parent file (with the
  same message, request and tool_use ids): they are read like the subagent's own lines, and the keys
  count them once;
* subagents live inline (CC <= 2.0.27, ``isSidechain``), in flat ``agent-<id>.jsonl`` files
  (~2.0.28 - 2.1.1) or under ``<session>/subagents/`` with a ``.meta.json`` sidecar (2.1.2+);
* ``<synthetic>`` and API-error lines carry no billable usage: they become ``errors``;
* lines copied by ``--fork-session``/resume carry ``forkedFrom``: their rows give way to the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .. import pricing
from .common import (
    COMPACT_SUMMARY,
    BadLine,
    account_of,
    block_text,
    file_operation,
    prompt_text,
    tool_call_fields,
    utc_timestamp,
)
from .common import as_int as _int
from .common import int_or_none
from .common import text_or_none as _str


@dataclass
class FileContext:
    path: str
    kind: str = "main"  # main | subagent | legacy_subagent
    session_hint: str | None = None  # the file name's session id (main files)
    agent_id: str | None = None  # the file name's agent id (subagent files)
    meta: dict | None = None  # the subagent's .meta.json sidecar
    host: str | None = None


@dataclass
class _SessionSeen:
    """What one parse learned of a session; emitted once per :meth:`TranscriptParser.finish`."""

    first: str | None = None
    last: str | None = None
    fields: dict = field(default_factory=dict)


def _thinking(content) -> str | None:
    """The model's thinking in an assistant line (often only a signature, with no text)."""
    if not isinstance(content, list):
        return None
    parts = [b["thinking"] for b in content if isinstance(b, dict) and b.get("type") == "thinking"
             and isinstance(b.get("thinking"), str) and b["thinking"]]
    return "\n\n".join(parts) or None


class TranscriptParser:
    """Turns the lines of one transcript file into records. Feed lines in order; call finish()."""

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.session_id: str | None = None  # the first session id met in the file
        self.unpriced: dict[str, set] = {}  # model -> keys of the API responses that had no price
        self._sessions: dict[str, _SessionSeen] = {}
        self._agent_seen: dict[str, list] = {}  # agent id -> [session, first, last]

    # ------------------------------------------------------------------------------------------
    def feed(self, obj) -> list[tuple[str, dict]]:
        if not isinstance(obj, dict):
            raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
        try:
            return self._feed(obj)
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as e:  # a field of an unexpected shape
            raise BadLine(f"unexpected shape: {type(e).__name__}: {e}") from e

    def _feed(self, obj: dict) -> list[tuple[str, dict]]:
        out: list[tuple[str, dict]] = []
        kind = obj.get("type")
        if kind in ("user", "assistant", "system"):
            self._chain_line(obj, out, mirrored_agent=None)
        elif kind == "progress":
            data = obj.get("data")
            if isinstance(data, dict) and data.get("type") == "agent_progress":
                self._agent_progress(obj, data, out)
        elif kind in ("custom-title", "ai-title"):
            # the title a person gave (/rename) outranks the one Claude Code made up (sessions.label)
            sid = _str(obj.get("sessionId")) or self.ctx.session_hint
            column, title = (("custom_title", _str(obj.get("customTitle"))) if kind == "custom-title"
                             else ("ai_title", _str(obj.get("aiTitle"))))
            if sid and title:
                self._session(sid).fields[column] = title
        elif kind == "summary":
            # A title (not a compaction), often for the session that the file resumes.
            sid = self.ctx.session_hint if self.ctx.kind == "main" else None
            if sid and isinstance(obj.get("summary"), str):
                self._session(sid).fields.setdefault("summary", obj["summary"])
        elif kind == "permission-mode":
            sid = _str(obj.get("sessionId"))
            if sid and _str(obj.get("permissionMode")):
                self._session(sid).fields["permission_mode"] = obj["permissionMode"]
        elif kind is None:
            raise BadLine("no 'type' field")
        # Everything else (file-history-snapshot, queue-operation, attachment, hook/bash progress,
        # last-prompt, tag, pr-link and types not yet known) is metadata with nothing to count.
        return out

    def finish(self) -> list[tuple[str, dict]]:
        """Session and subagent rows summarising what was fed; call at the end of each batch."""
        out = []
        for sid, seen in self._sessions.items():
            row = {"id": sid, "source": "claude", "host": self.ctx.host}
            account = account_of(self.ctx.path)
            if account:
                row["account"] = account
            row.update(seen.fields)
            row["started_at"], row["ended_at"] = seen.first, seen.last
            if self.ctx.kind == "main" and sid == self.ctx.session_hint:
                row["transcript_path"] = self.ctx.path
            out.append(("sessions", row))
        for agent_id, (sid, first, last, where) in self._agent_seen.items():
            row = {"agent_id": agent_id, "session_id": sid, "started_at": first, "ended_at": last, **where}
            if agent_id == self.ctx.agent_id:
                row["transcript_path"] = self.ctx.path
                row.update(self._meta_fields())
            out.append(("subagents", row))
        self._sessions, self._agent_seen = {}, {}
        return out

    # ------------------------------------------------------------------------------------------
    def _session(self, sid: str) -> _SessionSeen:
        seen = self._sessions.get(sid)
        if seen is None:
            seen = self._sessions[sid] = _SessionSeen()
            if self.session_id is None:
                self.session_id = sid
        return seen

    def _meta_fields(self) -> dict:
        meta = self.ctx.meta or {}
        depth = meta.get("spawnDepth")
        fields = {
            "agent_type": _str(meta.get("agentType")),
            "description": _str(meta.get("description")),
            "tool_use_id": _str(meta.get("toolUseId")),
            "spawn_depth": int_or_none(depth),
            "model": _str(meta.get("model")),
            "parent_agent_id": _str(meta.get("parentAgentId")),
        }
        if not fields["agent_type"] and (self.ctx.agent_id or "").startswith("acompact"):
            fields["agent_type"] = "compact"  # CC 2.1.x names the compaction summariser's run acompact-<id>
        return {k: v for k, v in fields.items() if v is not None}

    def _note_agent(self, agent_id: str, sid: str, ts: str | None, d: dict | None = None) -> None:
        seen = self._agent_seen.get(agent_id)
        if seen is None:
            seen = self._agent_seen[agent_id] = [sid, ts, ts, {}]
        if d is not None:  # where it ran: a session known only from its subagents takes it (schema)
            for key, column in (("cwd", "cwd"), ("version", "version"), ("gitBranch", "git_branch")):
                if _str(d.get(key)):
                    seen[3][column] = d[key]
        if ts:
            if seen[1] is None or ts < seen[1]:
                seen[1] = ts
            if seen[2] is None or ts > seen[2]:
                seen[2] = ts

    def _agent_progress(self, obj: dict, data: dict, out: list) -> None:
        inner = data.get("message")
        agent_id = _str(data.get("agentId"))
        if not isinstance(inner, dict) or inner.get("type") not in ("user", "assistant"):
            return
        line = dict(inner)
        line.setdefault("sessionId", obj.get("sessionId"))
        line.setdefault("timestamp", obj.get("timestamp"))
        line["isSidechain"] = True
        if obj.get("forkedFrom"):
            line["forkedFrom"] = obj["forkedFrom"]
        sid = _str(line.get("sessionId")) or self.ctx.session_hint
        if agent_id and sid:
            parent_call = _str(obj.get("parentToolUseID"))
            if parent_call:
                out.append(("subagents", {"agent_id": agent_id, "session_id": sid, "tool_use_id": parent_call}))
        self._chain_line(line, out, mirrored_agent=agent_id)

    def _chain_line(self, d: dict, out: list, mirrored_agent: str | None) -> None:
        sid = _str(d.get("sessionId")) or _str(d.get("session_id")) or self.ctx.session_hint
        if not sid:
            raise BadLine("no session id")
        ts = utc_timestamp(d.get("timestamp"))
        sidechain = bool(d.get("isSidechain")) or self.ctx.kind != "main"
        agent_id = _str(mirrored_agent) or (_str(d.get("agentId")) or self.ctx.agent_id if sidechain else None)
        fork = 1 if d.get("forkedFrom") else 0
        kind = d.get("type")
        if not isinstance(d.get("message", {}), (dict, str)):
            raise BadLine("'message' is neither an object nor text")

        seen = self._session(sid)
        if ts:
            if seen.first is None or ts < seen.first:
                seen.first = ts
            if seen.last is None or ts > seen.last:
                seen.last = ts
        if not sidechain:
            f = seen.fields
            cwd = _str(d.get("cwd"))
            if cwd:
                f.setdefault("project_path", cwd)
                f["cwd"] = cwd
            for key, column in (("gitBranch", "git_branch"), ("version", "version"), ("slug", "slug"),
                                ("entrypoint", "entrypoint"), ("permissionMode", "permission_mode")):
                if _str(d.get(key)):
                    f[column] = d[key]
            forked = d.get("forkedFrom")
            if isinstance(forked, dict) and _str(forked.get("sessionId")):
                f["forked_from_session_id"] = forked["sessionId"]
            elif _str(forked):
                f["forked_from_session_id"] = forked
        if agent_id:
            self._note_agent(agent_id, sid, ts, d)

        uuid = _str(d.get("uuid"))
        message = d.get("message") if isinstance(d.get("message"), dict) else {}
        content = message.get("content") if message else d.get("content")
        base = {"session_id": sid, "agent_id": agent_id}

        if kind == "assistant":
            self._assistant(d, message, content, base, sidechain, ts, fork, uuid, out)
        elif kind == "user":
            self._user(d, content, base, sidechain, ts, fork, uuid, out)
        elif kind == "system":
            self._system(d, base, ts, uuid, out)

        if uuid:
            types = None
            if isinstance(content, list):
                types = ",".join(sorted({b.get("type", "?") for b in content if isinstance(b, dict)})) or None
            elif isinstance(content, str):
                types = "text"
            text = block_text(content) if kind != "system" else d.get("content")
            thinking = _thinking(content) if kind == "assistant" else None
            out.append(("messages", {
                "uuid": uuid,
                "session_id": sid,
                "parent_uuid": _str(d.get("parentUuid")),
                "type": kind,
                "subtype": _str(d.get("subtype")),
                "timestamp": ts,
                "agent_id": agent_id,
                "is_sidechain": int(sidechain),
                "is_meta": 1 if d.get("isMeta") else 0,
                "message_id": _str(message.get("id")) if kind == "assistant" else None,
                "model": _str(message.get("model")) if kind == "assistant" else None,
                "content_types": types,
                "text": text if isinstance(text, str) and text else None,
                "thinking": thinking,
                # a compact_boundary has no parent; the leaf before the compaction is its logical one
                "logical_parent_uuid": _str(d.get("logicalParentUuid")),
                "is_fork_copy": fork,
            }))

    # ------------------------------------------------------------------------------------------
    def _assistant(self, d, message, content, base, sidechain, ts, fork, uuid, out) -> None:
        model = _str(message.get("model"))
        if d.get("isApiErrorMessage") or model == "<synthetic>":
            if d.get("isApiErrorMessage") or d.get("error"):
                out.append(("errors", {
                    "id": uuid or f"{base['session_id']}:{ts}",
                    **base,
                    "timestamp": ts,
                    "kind": _str(d.get("error")) or "api_error",
                    "message": block_text(content) or None,
                    "status": int_or_none(d.get("apiErrorStatus")),
                    "model": model,
                }))
        else:
            usage = message.get("usage")
            message_id = _str(message.get("id"))
            if isinstance(usage, dict) and message_id:
                if not sidechain:
                    self._session(base["session_id"]).fields["model"] = model
                out.append(("api_requests", self._usage_row(d, message, usage, base, sidechain, ts, fork)))
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use" and _str(block.get("id")):
                    self._tool_use(block, base, sidechain, ts, fork, uuid, out)

    def _usage_row(self, d, message, usage, base, sidechain, ts, fork) -> dict:
        model = _str(message.get("model"))
        inp, outp = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
        created, read = _int(usage.get("cache_creation_input_tokens")), _int(usage.get("cache_read_input_tokens"))
        breakdown = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else None
        w5m = _int(breakdown.get("ephemeral_5m_input_tokens")) if breakdown else None
        w1h = _int(breakdown.get("ephemeral_1h_input_tokens")) if breakdown else None
        server = usage.get("server_tool_use") if isinstance(usage.get("server_tool_use"), dict) else {}
        searches = _int(server.get("web_search_requests"))
        speed, geo = _str(usage.get("speed")), _str(usage.get("inference_geo"))
        cost, price_source = pricing.priced(
            model, input_tokens=inp, output_tokens=outp, cache_creation_input_tokens=created,
            cache_creation_5m_tokens=w5m, cache_creation_1h_tokens=w1h, cache_read_input_tokens=read,
            web_search_requests=searches, speed=speed, inference_geo=geo, timestamp=ts,
        )
        if cost is None:
            self.unpriced.setdefault(model or "(none)", set()).add((message["id"], d.get("requestId")))
        reported = d.get("costUSD")
        return {
            "message_id": message["id"],
            "request_id": _str(d.get("requestId")) or "",  # part of the key: never NULL
            **base,
            "is_sidechain": int(sidechain),
            "model": model,
            "timestamp": ts,
            "input_tokens": inp,
            "output_tokens": outp,
            "cache_creation_input_tokens": created,
            "cache_creation_5m_tokens": w5m,
            "cache_creation_1h_tokens": w1h,
            "cache_read_input_tokens": read,
            "web_search_requests": searches,
            "usage_total": inp + outp + created + read,
            "speed": speed,
            "service_tier": _str(usage.get("service_tier")),
            "inference_geo": geo,
            "stop_reason": _str(message.get("stop_reason")),
            "cost_usd": cost,
            "priced": 0 if cost is None else 1,
            "price_source": price_source,
            "reported_cost_usd": reported if isinstance(reported, float) else int_or_none(reported),
            "is_fork_copy": fork,
            "source": "transcript",
        }

    def _tool_use(self, block, base, sidechain, ts, fork, uuid, out) -> None:
        name = _str(block.get("name"))
        fields = tool_call_fields(name, block.get("input") if isinstance(block.get("input"), dict) else {})
        out.append(("tool_calls", {
            "tool_use_id": block["id"],
            **base,
            "is_sidechain": int(sidechain),
            "message_uuid": uuid,
            **fields,
            "started_at": ts,
            "is_fork_copy": fork,
        }))
        operation = file_operation(name)
        if operation and fields["file_path"]:
            out.append(("file_events", {
                "tool_use_id": block["id"],
                "file_path": fields["file_path"],
                "session_id": base["session_id"],
                "agent_id": base["agent_id"],
                "tool_name": name,
                "operation": operation,
                "timestamp": ts,
            }))

    def _user(self, d, content, base, sidechain, ts, fork, uuid, out) -> None:
        result = d.get("toolUseResult")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result" and _str(block.get("tool_use_id")):
                    self._tool_result(d, block, result, base, sidechain, ts, fork, out)
        text = block_text(content)
        if not text:
            return
        if d.get("isCompactSummary") or text.startswith(COMPACT_SUMMARY):
            # The boundary line (when there is one) is this line's parent: share its key.
            out.append(("compactions", {
                "id": _str(d.get("parentUuid")) or uuid or f"{base['session_id']}:{ts}",
                "session_id": base["session_id"],
                "agent_id": base["agent_id"],
                "timestamp": ts,
                "summary_preview": text,
            }))
            return
        if sidechain or d.get("isMeta") or not uuid:
            return
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return
        typed = prompt_text(text)
        if typed:
            prompt_id = _str(d.get("promptId"))
            out.append(("prompts", {
                "id": prompt_id or uuid,
                "uuid": uuid,
                "prompt_id": prompt_id,
                "session_id": base["session_id"],
                "timestamp": ts,
                "text": typed,
                "is_fork_copy": fork,
            }))

    def _tool_result(self, d, block, result, base, sidechain, ts, fork, out) -> None:
        tool_use_id = block["tool_use_id"]
        text = block_text(block.get("content"))
        is_error = block.get("is_error") is True
        interrupted = None
        if isinstance(result, dict) and "interrupted" in result:
            interrupted = 1 if result.get("interrupted") else 0
        if text.startswith(("[Request interrupted by user", "The user doesn't want to proceed")):
            interrupted = 1
        row = {
            "tool_use_id": tool_use_id,
            **base,
            "is_sidechain": int(sidechain),
            "is_error": int(is_error),
            "error_message": text if is_error and text else None,
            "output_preview": text or None,
            "output_size": len(text),
            "ended_at": ts,
            "interrupted": interrupted,
            "is_fork_copy": fork,
        }
        out.append(("tool_calls", row))
        if isinstance(result, dict):
            agent_id = _str(result.get("agentId"))
            if agent_id:
                out.append(("subagents", {
                    "agent_id": agent_id, "session_id": base["session_id"], "tool_use_id": tool_use_id,
                    "ended_at": ts,
                }))
            if result.get("type") == "create" and isinstance(result.get("filePath"), str):
                out.append(("file_events", {
                    "tool_use_id": tool_use_id, "file_path": result["filePath"],
                    "session_id": base["session_id"], "operation": "create", "timestamp": ts,
                }))
        # CC <= 2.0.x (inline sidechains) put the spawned agent's id on the parent's tool_result line.
        line_agent = _str(d.get("agentId"))
        if not sidechain and line_agent:
            out.append(("subagents", {
                "agent_id": line_agent, "session_id": base["session_id"], "tool_use_id": tool_use_id,
            }))

    def _system(self, d, base, ts, uuid, out) -> None:
        subtype = d.get("subtype")
        if subtype == "compact_boundary":
            meta = d.get("compactMetadata") if isinstance(d.get("compactMetadata"), dict) else {}
            out.append(("compactions", {
                "id": uuid or f"{base['session_id']}:{ts}",
                "session_id": base["session_id"],
                "agent_id": base["agent_id"],
                "timestamp": ts,
                "trigger": _str(meta.get("trigger")),
                "pre_tokens": int_or_none(meta.get("preTokens")),
                "post_tokens": int_or_none(meta.get("postTokens")),
            }))
        elif subtype == "api_error":
            error = d.get("error")
            message = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False) if error else None
            status = error.get("status") if isinstance(error, dict) else None
            out.append(("errors", {
                "id": uuid or f"{base['session_id']}:{ts}",
                **base,
                "timestamp": ts,
                "kind": "api_retry",
                "message": message,
                "status": int_or_none(status),
            }))
