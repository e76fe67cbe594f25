"""Claude Code's OpenTelemetry log events (FORMATS.md section 6) into records.

Input: one OTLP ``ExportLogsServiceRequest`` decoded to a dict, as OTLP/JSON spells it (``resourceLogs``
> ``scopeLogs`` > ``logRecords``; what the Collector's file exporter writes per line, what an
``http/json`` exporter posts, and what ``google.protobuf.json_format`` makes of an ``http/protobuf``
body). Claude Code names an event three ways, depending on version and exporter: the record's
``eventName``, its ``body`` (``"claude_code.api_request"``) and its ``event.name`` attribute
(``"api_request"``); attribute values come as strings, numbers or (64-bit, in JSON) quoted integers.

Output: one ``otel_events`` row per log record, keyed by a hash of what it says (its time, name and
attributes, whatever their encoding), so a batch sent again, or the same event read from a file and
received over HTTP, is one row; and the session it belongs to. The ids the events carry join them to
the other tables: ``request_id`` to ``api_requests``, ``tool_use_id`` to ``tool_calls``,
``prompt.id`` to ``prompts``, ``session.id`` to ``sessions``.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json

from .common import MAX_INT, text_or_none, utc_timestamp

PREFIX = "claude_code."
# Attributes every event carries (standard attributes, correlation ids): kept in columns, or not at
# all (user.email and the account ids say who, not what happened; the resource says where).
_NOT_KEPT = frozenset({"user.email", "user.account_uuid", "user.account_id", "organization.id", "user.id"})


def value(v):
    """An OTLP ``AnyValue`` as a plain value."""
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in v:
        d = v["doubleValue"]
        return float(d) if isinstance(d, (int, float, str)) and not isinstance(d, bool) else None
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in v:
        return attributes((v["kvlistValue"] or {}).get("values"))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(pairs) -> dict:
    out = {}
    for pair in pairs if isinstance(pairs, list) else ():
        if isinstance(pair, dict) and isinstance(pair.get("key"), str):
            out[pair["key"]] = value(pair.get("value"))
    return out


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, (int, float)) and -MAX_INT <= v <= MAX_INT:  # NaN compares false
        return v
    return None


def _int(v) -> int | None:
    n = _number(v)
    return int(n) if n is not None else None


def _flag(v) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return int(v.lower() == "true")
    return None


def event_name(record: dict, attrs: dict) -> str | None:
    """``api_request``: the event's name without Claude Code's prefix."""
    body = value(record.get("body"))
    for name in (record.get("eventName"), attrs.get("event.name"), body if isinstance(body, str) else None):
        if isinstance(name, str) and name:
            return name[len(PREFIX):] if name.startswith(PREFIX) else name
    return None


def _time(record: dict, attrs: dict) -> str | None:
    stamp = utc_timestamp(attrs.get("event.timestamp")) if isinstance(attrs.get("event.timestamp"), str) else None
    if stamp:
        return stamp
    for key in ("timeUnixNano", "observedTimeUnixNano"):
        ns = _int(record.get(key))
        if ns:
            return utc_timestamp(ns / 1e9)
    return None


def event_id(record: dict, attrs: dict) -> str:
    """The key of an event: its time, name and attributes as plain values, however encoded."""
    canonical = json.dumps({"time": str(record.get("timeUnixNano") or ""), "name": event_name(record, attrs),
                            "attributes": attrs}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def requests_in(payload) -> list[tuple[dict, str | None]]:
    """The OTLP requests in a decoded body and the machine named for them: a request itself, or our
    receiver's envelope ``{"machine": ..., "request": {...}}`` (what the spool keeps)."""
    if isinstance(payload, dict) and isinstance(payload.get("request"), dict) and "resourceLogs" not in payload:
        return [(payload["request"], text_or_none(payload.get("machine")))]
    if isinstance(payload, dict):
        return [(payload, None)]
    return []


def records(request: dict, received_at: str, host: str | None = None, source: str = "otel"
            ) -> list[tuple[str, dict]]:
    """The rows of one export request: an ``otel_events`` row per log record, and its session."""
    out: list[tuple[str, dict]] = []
    sessions: dict[str, dict] = {}
    for resource_logs in request.get("resourceLogs") or () if isinstance(request, dict) else ():
        if not isinstance(resource_logs, dict):
            continue
        resource = attributes((resource_logs.get("resource") or {}).get("attributes")
                              if isinstance(resource_logs.get("resource"), dict) else None)
        machine = host or text_or_none(resource.get("host.name"))
        version = text_or_none(resource.get("service.version"))
        for scope_logs in resource_logs.get("scopeLogs") or ():
            if not isinstance(scope_logs, dict):
                continue
            for record in scope_logs.get("logRecords") or ():
                if not isinstance(record, dict):
                    continue
                attrs = attributes(record.get("attributes"))
                row = _event_row(record, attrs, received_at, machine, version, source)
                row["resource"] = {k: v for k, v in resource.items() if k not in _NOT_KEPT}
                out.append(("otel_events", row))
                sid = row.get("session_id")
                if sid:
                    s = sessions.setdefault(sid, {"id": sid, "source": "claude", "host": machine,
                                                  "started_at": row["timestamp"], "ended_at": row["timestamp"]})
                    if row["timestamp"]:
                        s["started_at"] = min(filter(None, (s["started_at"], row["timestamp"])))
                        s["ended_at"] = max(filter(None, (s["ended_at"], row["timestamp"])))
                    if version:
                        s["version"] = version
    return [("sessions", {k: v for k, v in s.items() if v is not None}) for s in sessions.values()] + out


def _event_row(record: dict, attrs: dict, received_at: str, machine: str | None, version: str | None,
               source: str) -> dict:
    error = attrs.get("error")
    return {
        "id": event_id(record, attrs), "received_at": received_at, "timestamp": _time(record, attrs),
        "event": event_name(record, attrs), "session_id": text_or_none(attrs.get("session.id")),
        "prompt_id": text_or_none(attrs.get("prompt.id")), "request_id": text_or_none(attrs.get("request_id")),
        "tool_use_id": text_or_none(attrs.get("tool_use_id")), "sequence": _int(attrs.get("event.sequence")),
        "model": text_or_none(attrs.get("model")), "query_source": text_or_none(attrs.get("query_source")),
        "cost_usd": _number(attrs.get("cost_usd")), "input_tokens": _int(attrs.get("input_tokens")),
        "output_tokens": _int(attrs.get("output_tokens")), "cache_read_tokens": _int(attrs.get("cache_read_tokens")),
        "cache_creation_tokens": _int(attrs.get("cache_creation_tokens")),
        "duration_ms": _int(attrs.get("duration_ms")), "success": _flag(attrs.get("success")),
        "status_code": _int(attrs.get("status_code")), "error": error if isinstance(error, str) and error else None,
        "tool_name": text_or_none(attrs.get("tool_name")),
        "decision": text_or_none(attrs.get("decision")) or text_or_none(attrs.get("decision_type")),
        "version": version, "host": machine, "source": source,
        "attributes": {k: v for k, v in attrs.items() if k not in _NOT_KEPT},
    }
