"""Headless ``claude -p`` output to records (``--output-format json``,
the array ``--verbose`` prints, and ``stream-json``: the Agent SDK's message types).

Pure: the text a run printed in, a :class:`Job` (its ``jobs`` row and the records of the session it
ran) out. Three output modes arrive here:

* ``--output-format json``: one ``result`` object;
* the same with ``--verbose``: a JSON array of every stream message, the result last;
* ``--output-format stream-json --verbose``: one message per line (NDJSON).

Stream messages are the transcript's lines in another envelope (snake_case ``session_id``,
``tool_use_result``, ``parent_tool_use_id`` instead of a subagent's ``agentId``, no ``requestId``), so
they are turned back into transcript lines and read by the transcript parser: a job's tool calls,
API responses, prompts, compactions and subagents are the rows its transcript would give, under the
same keys. What the stream lacks is filled in or keyed so that the two converge:

* no ``requestId``: API responses are keyed (message.id, ''), and the schema's derivations fold them
  into the transcript's row when both are stored;
* per-message ``output_tokens`` are the ``message_start`` placeholder: a ``stream_event``
  ``message_delta`` (``--include-partial-messages``) gives the final count, and the job's own totals
  come from the result's ``modelUsage``;
* a subagent's messages carry only the Agent call's id (``parent_tool_use_id``): its agent id comes
  from that call's ``tool_use_result.agentId``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .. import pricing
from .common import COMPACT_SUMMARY, block_text, utc_timestamp
from .common import as_int as _int
from .common import text_or_none as _str
from .common import BadLine
from .transcripts import FileContext, TranscriptParser

MODIFYING_OPERATIONS = ("write", "edit", "create")


@dataclass
class Job:
    row: dict
    records: list = field(default_factory=list)
    bad_lines: int = 0
    unpriced: Counter = field(default_factory=Counter)


def read_output(text: str) -> tuple[list[dict], int, str]:
    """The messages a run printed, how many lines were not JSON objects, and the output mode."""
    stripped = text.strip()
    if not stripped:
        return [], 0, "empty"
    if stripped[0] in "[{":
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, list):  # --output-format json --verbose
            messages = [m for m in whole if isinstance(m, dict)]
            return messages, len(whole) - len(messages), "json-verbose"
        if isinstance(whole, dict):
            return [whole], 0, "json" if whole.get("type") == "result" else "stream-json"
    messages, bad = [], 0
    for line in stripped.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(obj, dict):
            messages.append(obj)
        else:
            bad += 1
    return messages, bad, "stream-json"


def _ms_before(ts: str, ms: int | None) -> str:
    if not ms:
        return ts
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00")) - timedelta(milliseconds=ms)
    return utc_timestamp(dt.astimezone(timezone.utc).isoformat())


def _ms_after(ts: str, ms: int | None) -> str:
    return _ms_before(ts, -ms if ms else ms)


def _one_hour_writes(by_model: dict, usage) -> None:
    """``modelUsage`` does not split cache writes into 5-minute and 1-hour ones; the result's
    ``usage`` (the main loop's) does. Claude Code bills each at its own rate (recent versions write
    1-hour caches): the model whose writes are exactly the main loop's gets that split."""
    breakdown = usage.get("cache_creation") if isinstance(usage, dict) else None
    if not isinstance(breakdown, dict):
        return
    w1h, written = _int(breakdown.get("ephemeral_1h_input_tokens")), _int(usage.get("cache_creation_input_tokens"))
    matches = [t for t in by_model.values() if t["cache_creation_input_tokens"] == written]
    if w1h and len(matches) == 1:
        matches[0]["cache_creation_1h_tokens"] = w1h


def _model_tokens(result: dict) -> dict[str, dict]:
    """Tokens per model: ``modelUsage`` (all models, subagents and compaction included), else the
    main loop's ``usage``."""
    out = {}
    model_usage = result.get("modelUsage")
    if isinstance(model_usage, dict) and model_usage:
        for model, u in model_usage.items():
            if isinstance(u, dict):
                out[model] = {
                    "input_tokens": _int(u.get("inputTokens")),
                    "output_tokens": _int(u.get("outputTokens")),
                    "cache_creation_input_tokens": _int(u.get("cacheCreationInputTokens")),
                    "cache_read_input_tokens": _int(u.get("cacheReadInputTokens")),
                    "web_search_requests": _int(u.get("webSearchRequests")),
                }
        _one_hour_writes(out, result.get("usage"))
        return out
    usage = result.get("usage")
    if isinstance(usage, dict):
        server = usage.get("server_tool_use") if isinstance(usage.get("server_tool_use"), dict) else {}
        out[None] = {
            "input_tokens": _int(usage.get("input_tokens")),
            "output_tokens": _int(usage.get("output_tokens")),
            "cache_creation_input_tokens": _int(usage.get("cache_creation_input_tokens")),
            "cache_read_input_tokens": _int(usage.get("cache_read_input_tokens")),
            "web_search_requests": _int(server.get("web_search_requests")),
        }
        _one_hour_writes(out, usage)
    return out


def estimate_cost(tokens_by_model: dict) -> tuple[float | None, list[str], str | None]:
    """Our price for a run's per-model totals, the models without a price, and the price sources.

    Totals are summed over many requests, so each kind of token is priced at its standard rate (the
    long-context premium is a per-request rule) and cache writes at the 5-minute rate unless the run
    said how many were 1-hour ones (``cache_creation_1h_tokens``), as ccusage does without a breakdown.
    A model the price table lacks is priced from genai-prices (:mod:`ingest.pricing`).
    """
    prices = pricing.load_prices()
    total, unpriced, sources = 0.0, [], []
    for model, t in tokens_by_model.items():
        rates, source = pricing.standard_rates(model, prices=prices)
        if rates is None:
            unpriced.append(model or "(none)")
            continue
        w1h = min(t.get("cache_creation_1h_tokens", 0), t["cache_creation_input_tokens"])
        total += (t["input_tokens"] * rates["input"] + t["output_tokens"] * rates["output"]
                  + (t["cache_creation_input_tokens"] - w1h) * rates["cache_write_5m"]
                  + w1h * rates["cache_write_1h"] + t["cache_read_input_tokens"] * rates["cache_read"]) / 1e6
        total += t.get("web_search_requests", 0) * prices.get("web_search_usd_per_request", 0)
        if source not in sources:
            sources.append(source)
    return (None if unpriced else total), unpriced, ("; ".join(sources) or None)


class _StreamToTranscript:
    """Stream messages back into the transcript lines they were written as."""

    def __init__(self, messages: list[dict], session_id: str | None, init: dict):
        self.session_id = session_id
        self.cwd = _str(init.get("cwd"))
        self.version = _str(init.get("claude_code_version"))
        self.permission_mode = _str(init.get("permissionMode"))
        # The Agent call that started each subagent -> the subagent's id, from the call's result.
        self.agents: dict[str, str] = {}
        for m in messages:
            result = m.get("tool_use_result")
            if m.get("type") != "user" or not isinstance(result, dict) or not _str(result.get("agentId")):
                continue
            content = m.get("message", {}).get("content") if isinstance(m.get("message"), dict) else None
            for block in content if isinstance(content, list) else ():
                if isinstance(block, dict) and block.get("type") == "tool_result" and _str(block.get("tool_use_id")):
                    self.agents[block["tool_use_id"]] = result["agentId"]
        self.last_boundary: str | None = None
        self._usage: dict[str, dict] = {}  # message id -> the latest usage and model seen for it
        self._current: dict = {}  # parent_tool_use_id -> id of the message being streamed

    def _envelope(self, m: dict, kind: str) -> dict:
        parent_call = _str(m.get("parent_tool_use_id"))
        line = {"type": kind, "sessionId": _str(m.get("session_id")) or self.session_id,
                "isSidechain": parent_call is not None}
        if _str(m.get("uuid")):
            line["uuid"] = m["uuid"]
        if m.get("timestamp") is not None:
            line["timestamp"] = m["timestamp"]
        if parent_call:
            line["agentId"] = self.agents.get(parent_call)
        else:
            for key, value in (("cwd", self.cwd), ("version", self.version), ("permissionMode", self.permission_mode)):
                if value:
                    line[key] = value
        return line

    def lines(self, m: dict) -> list[dict]:
        kind = m.get("type")
        if kind == "assistant" and isinstance(m.get("message"), dict):
            line = self._envelope(m, "assistant")
            line["message"] = m["message"]
            if _str(m.get("error")):
                line["error"] = m["error"]
                if m["message"].get("model") == "<synthetic>":
                    line["isApiErrorMessage"] = True
            message_id = _str(m["message"].get("id"))
            if message_id and isinstance(m["message"].get("usage"), dict):
                self._usage[message_id] = {"usage": dict(m["message"]["usage"]), "model": m["message"].get("model"),
                                           "timestamp": m.get("timestamp")}
            return [line]
        if kind == "user" and isinstance(m.get("message"), dict):
            line = self._envelope(m, "user")
            line["message"] = m["message"]
            if m.get("tool_use_result") is not None:
                line["toolUseResult"] = m["tool_use_result"]
            if m.get("isSynthetic"):
                line["isMeta"] = True
            text = block_text(m["message"].get("content"))
            if text.startswith(COMPACT_SUMMARY) and self.last_boundary:
                line["isCompactSummary"] = True
                line["parentUuid"] = self.last_boundary  # the transcript's summary line hangs off the boundary
            return [line]
        if kind == "system" and m.get("subtype") == "compact_boundary":
            meta = m.get("compact_metadata") if isinstance(m.get("compact_metadata"), dict) else {}
            line = self._envelope(m, "system")
            line.update(subtype="compact_boundary", compactMetadata={
                "trigger": meta.get("trigger"), "preTokens": meta.get("pre_tokens"),
                "postTokens": meta.get("post_tokens")})
            self.last_boundary = _str(m.get("uuid")) or self.last_boundary
            return [line]
        if kind == "stream_event" and isinstance(m.get("event"), dict):
            return self._stream_event(m, m["event"])
        return []

    def _stream_event(self, m: dict, event: dict) -> list[dict]:
        parent_call = m.get("parent_tool_use_id")
        if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            if _str(message.get("id")):
                self._current[parent_call] = message["id"]
                seen = self._usage.setdefault(message["id"], {"usage": {}, "model": message.get("model"),
                                                              "timestamp": m.get("timestamp")})
                if isinstance(message.get("usage"), dict):
                    for k, v in message["usage"].items():
                        seen["usage"].setdefault(k, v)
            return []
        if event.get("type") != "message_delta" or not isinstance(event.get("usage"), dict):
            return []
        message_id = self._current.get(parent_call)
        seen = self._usage.get(message_id) if message_id else None
        if seen is None:
            return []
        usage = dict(seen["usage"])
        for k, v in event["usage"].items():  # cumulative counts: the final output_tokens is here
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                usage[k] = max(v, _int(usage.get(k)))
        seen["usage"] = usage
        # A copy of the response with its final usage and no content: the store keeps the largest copy.
        line = self._envelope({**m, "uuid": None, "timestamp": m.get("timestamp") or seen.get("timestamp")},
                              "assistant")
        line.pop("uuid", None)
        line["message"] = {"id": message_id, "type": "message", "role": "assistant", "model": seen["model"],
                           "content": [], "usage": usage}
        return [line]


def parse_job(
    messages: list[dict],
    *,
    received_at: str,
    output_format: str = "stream-json",
    job_id: str | None = None,
    prompt: str | None = None,
    reuse_of: str | None = None,
    original_prompt: str | None = None,
    host: str | None = None,
    source_text: str = "",
) -> Job:
    """A run's ``jobs`` row and the records of its session.

    ``received_at`` is when the run is taken to have ended if its output has no timestamps of its own
    (json output has none): the caller passes the time it read the output, or the time it first did.
    """
    init = next((m for m in messages if m.get("type") == "system" and m.get("subtype") == "init"), {})
    result = next((m for m in reversed(messages) if m.get("type") == "result"), None)
    res = result or {}
    session_id = (_str(res.get("session_id")) or _str(init.get("session_id"))
                  or next((_str(m.get("session_id")) for m in messages if _str(m.get("session_id"))), None))
    job_id = job_id or session_id or "job:" + hashlib.sha1(source_text.encode()).hexdigest()[:16]

    seen = _read_stream(messages, session_id, init, job_id, host)
    records = seen.records
    duration = _opt_int(res, "duration_ms")
    started_at, completed_at = _run_times(seen.stamps, duration, received_at)
    _date_records(records, session_id, started_at, completed_at)
    tool_names, failed, modified = _activity(records)
    streamed = any(m.get("type") in ("user", "assistant") for m in messages)
    tokens, cost, missing, unpriced, price_source = _tokens_and_cost(result, init, records)
    model = (_str(init.get("model"))
             or max(((t["output_tokens"], m) for m, t in (_model_tokens(result) if result else {}).items() if m),
                    default=(0, None))[1]
             or next((r["model"] for t, r in records if t == "api_requests" and r.get("model")), None))
    status, is_error = _outcome(result)
    denials = _denials(res, messages)
    errors = res.get("errors")
    summary = _str(res.get("result"))
    api_status = res.get("api_error_status") if isinstance(res.get("api_error_status"), int) else None
    prompt = prompt or seen.prompt

    if session_id and is_error:
        records.append(("errors", {
            "id": f"job:{job_id}", "session_id": session_id, "timestamp": completed_at, "kind": status,
            "message": "; ".join(e for e in errors if isinstance(e, str)) if isinstance(errors, list) and errors
            else summary or ("no result: the run was killed or crashed" if result is None else None),
            "status": api_status,
            "model": model,
        }))
    prompt_uuid = _str(res.get("user_message_uuid"))
    if session_id and prompt and prompt_uuid and seen.prompt is None:
        records.append(("prompts", {"id": prompt_uuid, "uuid": prompt_uuid, "session_id": session_id,
                                    "timestamp": started_at, "text": prompt}))

    counts = Counter(tool_names.values())
    row = {
        "id": job_id,
        "session_id": session_id,
        "status": status,
        "subtype": _str(res.get("subtype")),
        "is_error": is_error,
        "terminal_reason": _str(res.get("terminal_reason")),
        "stop_reason": _str(res.get("stop_reason")),
        "api_error_status": api_status,
        "model": model,
        "cwd": _str(init.get("cwd")),
        "prompt": prompt,
        "summary": summary,
        "started_at": started_at,
        "completed_at": completed_at if result else None,
        "duration_ms": duration,
        "duration_api_ms": _opt_int(res, "duration_api_ms"),
        "num_turns": _opt_int(res, "num_turns"),
        **tokens,
        "total_cost_usd": _reported_cost(result),
        "cost_usd": cost,
        "priced": 0 if missing else (1 if cost is not None else None),
        "price_source": price_source if cost is not None else None,
        "tool_call_count": len(tool_names) if streamed else None,
        "failed_tool_calls": len(failed) if streamed else None,
        "primary_tool": max(counts, key=lambda name: (counts[name], -list(counts).index(name))) if counts else None,
        "files_modified": len(modified) if streamed else None,
        "files_modified_json": json.dumps(sorted(modified), ensure_ascii=False) if streamed else None,
        "message_count": seen.message_count if streamed else None,
        "user_message_count": seen.user_message_count if streamed else None,
        "permission_denials": len(denials) if denials is not None else None,
        "permission_denials_json": json.dumps(denials, ensure_ascii=False) if denials else None,
        "errors_json": json.dumps(errors, ensure_ascii=False) if isinstance(errors, list) and errors else None,
        "reuse_of": reuse_of,
        "original_prompt": original_prompt,
        "output_format": output_format,
        "result_uuid": _str(res.get("uuid")),
        "host": host,
        "recorded_at": received_at,
    }
    return Job(row=row, records=records, bad_lines=seen.bad, unpriced=unpriced)


@dataclass
class _Stream:
    """What a run's messages say, read as its transcript would be."""

    records: list = field(default_factory=list)
    bad: int = 0
    stamps: list = field(default_factory=list)
    message_count: int = 0
    user_message_count: int = 0
    prompt: str | None = None  # the first prompt a person typed, as the stream shows it


def _read_stream(messages: list[dict], session_id: str | None, init: dict, job_id: str, host) -> _Stream:
    convert = _StreamToTranscript(messages, session_id, init)
    parser = TranscriptParser(FileContext(path=f"claude -p job {job_id}", kind="main", host=host))
    out = _Stream()
    for m in messages:
        if m.get("type") in ("user", "assistant"):
            out.message_count += 1
            ts = utc_timestamp(m.get("timestamp"))
            if ts:
                out.stamps.append(ts)
        if m.get("type") == "user" and isinstance(m.get("message"), dict):
            content = m["message"].get("content")
            has_result = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
            text = block_text(content)
            if not has_result and text and not m.get("isSynthetic"):
                out.user_message_count += 1
                if out.prompt is None and not m.get("parent_tool_use_id") and not text.startswith(COMPACT_SUMMARY):
                    out.prompt = text
        if session_id is None:
            continue
        for line in convert.lines(m):
            try:
                out.records += parser.feed(line)
            except BadLine:
                out.bad += 1
        if m.get("type") == "system" and m.get("subtype") == "api_retry":
            error = m.get("error")
            out.records.append(("errors", {
                "id": _str(m.get("uuid")) or f"{session_id}:retry:{m.get('attempt')}",
                "session_id": session_id, "timestamp": utc_timestamp(m.get("timestamp")), "kind": "api_retry",
                "message": error if isinstance(error, str) else json.dumps(error) if error else None,
                "status": m.get("error_status") if isinstance(m.get("error_status"), int) else None,
            }))
    out.records = _largest_copies(out.records + parser.finish())
    return out


def _run_times(stamps: list[str], duration: int | None, received_at: str) -> tuple[str, str]:
    """When the run started and ended: from its messages' times, else from when it was received."""
    if stamps:
        started_at = min(stamps)
        return started_at, (_ms_after(started_at, duration) if duration else max(stamps))
    return _ms_before(received_at, duration), received_at


def _date_records(records: list, session_id: str | None, started_at: str, completed_at: str) -> None:
    """Stream messages carry no time before CC ~2.1: the run's times stand in for them."""
    for table, row in records:
        if table == "api_requests":
            row["source"] = "stream-json"
            if row.get("timestamp") is None:
                row["timestamp"] = started_at
        elif table == "sessions" and row.get("id") == session_id:
            row["started_at"] = row.get("started_at") or started_at
            row["ended_at"] = row.get("ended_at") or completed_at


def _activity(records: list) -> tuple[dict, set, set]:
    """The run's tool calls (id -> name), the failed ones, and the files it changed."""
    tool_names: dict[str, str] = {}
    failed: set[str] = set()
    modified: set[str] = set()
    for table, row in records:
        if table == "tool_calls":
            if row.get("tool_name"):
                tool_names[row["tool_use_id"]] = row["tool_name"]
            if row.get("is_error"):
                failed.add(row["tool_use_id"])
        elif table == "file_events" and row.get("operation") in MODIFYING_OPERATIONS:
            modified.add(row["file_path"])
    return tool_names, failed, modified


def _tokens_and_cost(result: dict | None, init: dict, records: list
                     ) -> tuple[dict, float | None, list, Counter, str | None]:
    """Tokens and cost: the result's totals, else (no result arrived) the responses the stream showed."""
    kinds = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    unpriced: Counter = Counter()
    if result:
        by_model = _model_tokens(result)
        if None in by_model:  # usage without modelUsage: the run's model
            by_model[_str(init.get("model"))] = by_model.pop(None)
        cost, missing, source = estimate_cost(by_model)
        for model in missing:
            unpriced[model] += 1
        tokens = {k: sum(t[k] for t in by_model.values()) if by_model else None for k in kinds}
        return tokens, cost, missing, unpriced, source
    responses = [row for table, row in records if table == "api_requests"]  # one row each already
    tokens = {k: sum(r[k] for r in responses) if responses else None for k in kinds}
    costs = [r["cost_usd"] for r in responses]
    cost = None if any(c is None for c in costs) else sum(costs)
    for r in responses:
        if r["cost_usd"] is None:
            unpriced[r["model"] or "(none)"] += 1
    sources = list(dict.fromkeys(r["price_source"] for r in responses if r.get("price_source")))
    return tokens, cost, list(unpriced), unpriced, "; ".join(sources) or None


def _outcome(result: dict | None) -> tuple[str, int]:
    if result is None:
        return "crashed", 1
    if result.get("is_error"):
        subtype = _str(result.get("subtype")) or ""
        return (subtype if subtype.startswith("error") else "error"), 1
    return "success", 0


def _denials(res: dict, messages: list[dict]) -> list | None:
    denials = res.get("permission_denials")
    if isinstance(denials, list):
        return denials
    denials = [m for m in messages if m.get("type") == "system" and m.get("subtype") == "permission_denied"]
    return [{k: d.get(k) for k in ("tool_name", "tool_use_id")} for d in denials] if denials else None


def _opt_int(obj: dict, key: str) -> int | None:
    return _int(obj[key]) if obj.get(key) is not None else None


def _largest_copies(records: list) -> list:
    """One row per API response: the copy with the largest usage, as the store would keep it. Done
    here so that recording the same output again sends the same row and changes nothing."""
    best: dict[tuple, dict] = {}
    out = []
    for table, row in records:
        if table != "api_requests":
            out.append((table, row))
            continue
        key = (row["message_id"], row["request_id"])
        kept = best.get(key)
        if kept is None:
            best[key] = row = dict(row)
            out.append((table, row))
        elif row["usage_total"] > kept["usage_total"]:
            kept.update(row)
        elif row["usage_total"] == kept["usage_total"]:
            kept.update({k: v for k, v in row.items() if kept.get(k) is None})
    return out


def _reported_cost(result: dict | None) -> float | None:
    if not result:
        return None
    for key in ("total_cost_usd", "total_cost", "cost_usd"):  # renamed in CC 1.0.22; older names kept
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
