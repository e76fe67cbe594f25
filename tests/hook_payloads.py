"""Derive the hook payloads Claude Code would have sent for a recorded transcript.

For the convergence tests: the same session seen by hooks and by its transcript must give the same
rows. Payloads follow ../shared/FORMATS.md section 1 for the transcript's version (2.1.39: tool_use_id
and agent_id present, no prompt_id) and carry a ``timestamp`` from the transcript line, as a
logging hook would add, so that the hook's times are the ones the transcript records.
"""

import json
from pathlib import Path

from ingest.parse.common import block_text, prompt_text


def _lines(path: Path):
    for raw in path.read_text().splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


def _shift(ts: str, seconds: float) -> str:
    from datetime import datetime, timedelta

    dt = datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def payloads_for_session(main: Path) -> list[dict]:
    """Every payload of one session: its main transcript and its subagents' (``<id>/subagents``)."""
    out: list[dict] = []
    seen_tools: dict = {}  # ("pre"|"post", tool_use_id) -> the tool_use block
    first = last = None
    common = {}
    for d in _lines(main):
        ts = d.get("timestamp")
        if d.get("type") not in ("user", "assistant", "system", "progress") or not ts:
            continue
        if not common and d.get("sessionId"):
            common = {"session_id": d["sessionId"], "transcript_path": str(main), "cwd": d.get("cwd")}
        first = first or ts
        last = ts
        if d.get("type") == "progress":
            data = d.get("data") or {}
            if data.get("type") == "agent_progress" and isinstance(data.get("message"), dict):
                inner = data["message"]
                out += _tool_payloads({**inner, "timestamp": inner.get("timestamp") or ts}, common, seen_tools,
                                      agent_id=data.get("agentId"))
            continue
        if d.get("type") == "system" and d.get("subtype") == "compact_boundary":
            trigger = (d.get("compactMetadata") or {}).get("trigger")
            out.append({**common, "hook_event_name": "PreCompact", "trigger": trigger, "custom_instructions": "",
                        "timestamp": _shift(ts, -40)})
            out.append({**common, "hook_event_name": "PostCompact", "trigger": trigger,
                        "compact_summary": "summary", "timestamp": _shift(ts, 1)})
            continue
        if d.get("type") == "user" and not d.get("isSidechain") and not d.get("isMeta"):
            content = (d.get("message") or {}).get("content")
            has_result = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
            text = block_text(content)
            typed = prompt_text(text) if text and not has_result and not d.get("isCompactSummary") else None
            if typed:
                out.append({**common, "hook_event_name": "UserPromptSubmit", "permission_mode": "default",
                            "prompt": typed, "timestamp": _shift(ts, -0.05)})
        out += _tool_payloads(d, common, seen_tools, agent_id=d.get("agentId") if d.get("isSidechain") else None)
    out.insert(0, {**common, "hook_event_name": "SessionStart", "source": "startup", "model": "claude-opus-4-6",
                   "timestamp": first})
    subagents = main.with_suffix("") / "subagents"
    for agent_file in sorted(subagents.glob("agent-*.jsonl")) if subagents.is_dir() else []:
        agent_id = agent_file.stem[len("agent-"):]
        lines = [d for d in _lines(agent_file) if d.get("timestamp")]
        if not lines:
            continue
        meta_file = agent_file.with_suffix(".meta.json")
        agent_type = json.loads(meta_file.read_text()).get("agentType") if meta_file.exists() else "general-purpose"
        out.append({**common, "hook_event_name": "SubagentStart", "agent_id": agent_id, "agent_type": agent_type,
                    "timestamp": lines[0]["timestamp"]})
        for d in lines:
            out += _tool_payloads(d, common, seen_tools, agent_id=agent_id)
        out.append({**common, "hook_event_name": "SubagentStop", "agent_id": agent_id, "agent_type": agent_type,
                    "stop_hook_active": False, "agent_transcript_path": str(agent_file),
                    "timestamp": lines[-1]["timestamp"]})
    out.append({**common, "hook_event_name": "SessionEnd", "reason": "other", "timestamp": last})
    return out


def _tool_payloads(d, common, seen, agent_id=None):
    content = (d.get("message") or {}).get("content") if isinstance(d.get("message"), dict) else None
    if not isinstance(content, list):
        return []
    extra = {"agent_id": agent_id, "agent_type": "general-purpose"} if agent_id else {}
    out = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if d.get("type") == "assistant" and block.get("type") == "tool_use":
            key = ("pre", block["id"])
            if key not in seen:
                seen[key] = block
                out.append({**common, **extra, "hook_event_name": "PreToolUse", "tool_name": block.get("name"),
                            "tool_input": block.get("input"), "tool_use_id": block["id"],
                            "permission_mode": "default", "timestamp": _shift(d["timestamp"], 0.01)})
        elif d.get("type") == "user" and block.get("type") == "tool_result":
            key = ("post", block["tool_use_id"])
            if key in seen:
                continue
            seen[key] = block
            text = block_text(block.get("content"))
            call = seen.get(("pre", block["tool_use_id"])) or {}
            base = {**common, **extra, "tool_use_id": block["tool_use_id"], "tool_name": call.get("name"),
                    "tool_input": call.get("input") or {}, "timestamp": _shift(d["timestamp"], -0.01)}
            if block.get("is_error"):
                out.append({**base, "hook_event_name": "PostToolUseFailure", "error": text})
            else:
                out.append({**base, "hook_event_name": "PostToolUse", "tool_response": {"stdout": text}})
    return out
