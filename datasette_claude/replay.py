"""A session read back from the database alone: its header, the picture of it over time, and its
timeline, a page at a time (used by ``pages/session.py``; every query is in ``sql/session.sql``).

The timeline is the branch that was taken: the conversation's lines form a tree (``parent_uuid``;
a compaction's boundary has none, its ``logical_parent_uuid`` carries the chain across), and a
rewind leaves the abandoned steps on a side branch. Only the path from the session's last line back
to its root is shown, with whatever is not connected to that path at all (lines whose parent was
never recorded), in time order; each step once.
"""

from __future__ import annotations

import bisect
import json
import math
import sqlite3
from dataclasses import dataclass, field

from ingest import clock

from . import resources

PAGE_SIZE = 150  # timeline lines per page: a 5,000-call session is many pages, each well under 1 MB
SUBAGENT_INLINE = 40  # steps of a subagent shown inside its parent's timeline; the rest on its own page
ACTIVE_GAP_S = 300  # gaps longer than this between two steps are not active time


def _q(name: str) -> str:
    return resources.page_queries("session")[name]


def _rows(conn: sqlite3.Connection, name: str, **params) -> list[dict]:
    cur = conn.execute(_q(name), params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


# -- the branch that was taken --------------------------------------------------------------------
def taken_branch(lines: list[dict]) -> tuple[list[dict], dict[str, list[dict]]]:
    """The lines of the branch that was taken, in time order, and the abandoned ones by the line of
    the taken branch they left it at (each group in time order).

    ``lines`` come in time order (``timestamp``, then the order they were written). The last one's
    ancestors are the path; a line that descends from the path without being on it is on a branch a
    rewind abandoned; a line not connected to the path at all stays on the taken branch."""
    if not lines:
        return [], {}
    by_uuid = {line["uuid"]: line for line in lines}
    children: dict[str, list[str]] = {}
    for line in lines:
        parent = line["parent_uuid"] or line["logical_parent_uuid"]
        if parent in by_uuid:
            children.setdefault(parent, []).append(line["uuid"])
    path: set[str] = set()
    node = lines[-1]["uuid"]
    while node in by_uuid and node not in path:
        path.add(node)
        line = by_uuid[node]
        node = line["parent_uuid"] or line["logical_parent_uuid"]
    left_at: dict[str, str] = {}  # abandoned line -> the line of the taken branch it left from
    for on_path in path:
        stack = [c for c in children.get(on_path, ()) if c not in path]
        while stack:
            uuid = stack.pop()
            if uuid in left_at or uuid in path:
                continue
            left_at[uuid] = on_path
            stack.extend(children.get(uuid, ()))
    groups: dict[str, list[dict]] = {}
    for line in lines:
        if line["uuid"] in left_at:
            groups.setdefault(left_at[line["uuid"]], []).append(line)
    return [line for line in lines if line["uuid"] not in left_at], groups


def active_seconds(times: list[float]) -> float:
    """Time spent working: the gaps between consecutive steps, the long (idle) ones left out."""
    times = sorted(times)
    return sum(b - a for a, b in zip(times, times[1:]) if b - a <= ACTIVE_GAP_S)


# -- the page -----------------------------------------------------------------------------------
@dataclass
class Replay:
    session: dict
    agent: dict | None = None  # the subagent whose own timeline this is, if it is one
    usage: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    subagents: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    entries: list = field(default_factory=list)  # what the timeline shows on this page, in order
    page: int = 1
    pages: int = 1
    steps: int = 0  # timeline lines in all pages
    abandoned: int = 0
    picture: dict = field(default_factory=dict)
    active_s: float = 0.0


def load(conn: sqlite3.Connection, session_id: str, *, page: int = 1, at: str | None = None,
         agent: str | None = None) -> Replay | dict | None:
    """The replay of ``session_id`` (one page of it, the one holding ``at`` if given), or a
    ``{"redirect": ...}`` when the id is a subagent's, or None when there is no such session."""
    session = next(iter(_rows(conn, "session", session_id=session_id)), None)
    if session is None:
        parent = next(iter(_rows(conn, "subagent_of", session_id=session_id)), None)
        if parent and parent["session_id"]:
            return {"redirect": {"session_id": parent["session_id"], "agent": parent["agent_id"]}}
        return None
    r = Replay(session=session)
    r.subagents = _rows(conn, "subagents", session_id=session_id)
    if agent:
        r.agent = next((a for a in r.subagents if a["agent_id"] == agent), None)
        if r.agent is None:
            return None
    _header(conn, r, session_id)
    chain = _rows(conn, "chain", session_id=session_id)
    groups: dict[str, list[dict]] = {}
    if agent:
        lines = [line for line in chain if line["agent_id"] == agent]
    else:
        lines, groups = taken_branch([line for line in chain if not line["agent_id"] and not line["is_sidechain"]])
        r.abandoned = sum(len(g) for g in groups.values())
    r.active_s = active_seconds([t for t in (clock.seconds(line["timestamp"]) for line in lines) if t is not None])
    loose = _loose(conn, session_id)
    slots = _slots(lines, agent, loose, groups)
    r.steps = len(slots)
    r.pages = max(1, math.ceil(len(slots) / PAGE_SIZE))
    if at:
        r.page = _page_of(conn, session_id, slots, at, groups) or page
    else:
        r.page = min(max(1, page), r.pages)
    chosen = slots[(r.page - 1) * PAGE_SIZE: r.page * PAGE_SIZE]
    r.entries = _entries(conn, session_id, chosen, r.subagents, chain, loose, groups)
    r.picture = _picture(conn, session_id)
    return r


def _header(conn, r: Replay, session_id: str) -> None:
    r.usage = _rows(conn, "usage_by_model", session_id=session_id)
    writes = {row["model"]: row for row in _rows(conn, "cache_writes_by_model", session_id=session_id)}
    for row in r.usage:
        split = writes.get(row["model"] or "")
        row["w5m"], row["w1h"] = (split["w5m"], split["w1h"]) if split else (None, None)
    keys = ("requests", "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
            "total_tokens", "cost_usd", "unpriced_requests", "subagent_cost_usd")
    r.totals = {k: sum(row[k] or 0 for row in r.usage) for k in keys}
    r.counts = {**_rows(conn, "tool_totals", session_id=session_id)[0], **_rows(conn, "counts", session_id=session_id)[0]}
    r.jobs = _rows(conn, "jobs", session_id=session_id)


def _loose(conn, session_id: str) -> dict[str, list[dict]]:
    """The session's steps no transcript line holds (hook-only calls, compactions, errors and
    prompts), and its permission decisions: read once a page, for the timeline and its entries."""
    loose = {name: _rows(conn, name, session_id=session_id) for name in
             ("other_compactions", "other_errors", "other_prompts", "permission_decisions")}
    loose["unplaced_tool_calls"] = _rows(conn, "tool_calls_shown", session_id=session_id, uuids="[]", unplaced=1)
    return loose


def _slots(lines: list[dict], agent: str | None, loose_rows: dict[str, list[dict]],
           groups: dict[str, list[dict]] | None = None) -> list[tuple]:
    """(time, kind, key) for every step of the timeline, in order: the lines of the branch (each
    followed by the branches a rewind abandoned there, folded), and the steps no line holds
    (hook-only calls, compactions and errors), placed by their time."""
    slots = []
    for line in lines:
        slots.append((line["timestamp"] or "", "line", line["uuid"]))
        if groups and line["uuid"] in groups:
            slots.append((line["timestamp"] or "", "abandoned", line["uuid"]))
    if agent is None:
        loose = [(c["started_at"] or c["ended_at"] or "", "call", c["tool_use_id"])
                 for c in loose_rows["unplaced_tool_calls"]]
        loose += [(c["timestamp"] or "", "compaction", c["id"]) for c in loose_rows["other_compactions"]]
        loose += [(p["timestamp"] or "", "prompt", p["id"]) for p in loose_rows["other_prompts"]]
        loose += [(e["timestamp"] or "", "error", e["id"]) for e in loose_rows["other_errors"] if not e["agent_id"]]
        loose += [(d["timestamp"] or "", "permission", d["id"])
                  for d in loose_rows["permission_decisions"] if not d["tool_use_id"]]
        times = [s[0] for s in slots]
        for item in sorted(loose):
            at = bisect.bisect_right(times, item[0])
            slots.insert(at, item)
            times.insert(at, item[0])
    return slots


def _page_of(conn, session_id: str, slots: list[tuple], at: str, groups: dict | None = None) -> int | None:
    """The page holding the step ``at`` names: a line, a prompt, a tool call, a compaction or a subagent."""
    keys = {slot[2]: i for i, slot in enumerate(slots) if slot[1] != "abandoned"}
    for anchor, lines in (groups or {}).items():  # a line of an abandoned branch: where it is folded
        for line in lines:
            keys.setdefault(line["uuid"], keys.get(anchor, 0))
    if at in keys:
        return keys[at] // PAGE_SIZE + 1
    row = conn.execute("select message_uuid from tool_calls where tool_use_id = ? and session_id = ?",
                       (at, session_id)).fetchone()
    if row is None:
        row = conn.execute("select t.message_uuid from subagents a join tool_calls t on t.tool_use_id = a.tool_use_id "
                           "where a.agent_id = ? and a.session_id = ?", (at, session_id)).fetchone()
    if row and row[0] in keys:
        return keys[row[0]] // PAGE_SIZE + 1
    return None


def _entries(conn, session_id: str, chosen: list[tuple], subagents: list[dict], chain: list[dict],
             loose: dict[str, list[dict]], groups: dict[str, list[dict]] | None = None) -> list[dict]:
    uuids = json.dumps([key for _, kind, key in chosen if kind in ("line", "compaction", "error")])
    messages = {m["uuid"]: m for m in _rows(conn, "page_messages", uuids=uuids)}
    calls_by_line: dict[str, list] = {}
    for call in _rows(conn, "tool_calls_shown", session_id=session_id, uuids=uuids, unplaced=0):
        calls_by_line.setdefault(call["message_uuid"], []).append(call)
    compactions = {c["id"]: c for c in _rows(conn, "page_compactions", session_id=session_id, uuids=uuids)}
    errors = {e["id"]: e for e in _rows(conn, "page_errors", session_id=session_id, uuids=uuids)}
    loose_calls = {c["tool_use_id"]: c for c in loose["unplaced_tool_calls"]}
    loose_compactions = {c["id"]: c for c in loose["other_compactions"]}
    loose_errors = {e["id"]: e for e in loose["other_errors"]}
    loose_prompts = {p["id"]: p for p in loose["other_prompts"]}
    decisions = loose["permission_decisions"]
    decided = {}
    for d in decisions:
        if d["tool_use_id"]:
            decided.setdefault(d["tool_use_id"], []).append(d)
    decisions = {d["id"]: d for d in decisions}
    by_call = {a["tool_use_id"]: a for a in subagents if a["tool_use_id"]}

    out = []
    for _, kind, key in chosen:
        if kind == "line":
            m = messages.get(key)
            if m is None:
                continue
            if key in compactions:
                out.append({"kind": "compaction", **compactions[key]})
            if key in errors:
                out.append({"kind": "error", **errors[key]})
            entry = _line_entry(m)
            if entry:
                out.append(entry)
            for call in calls_by_line.get(key, ()):
                out.append(_call_entry(call, by_call, decided, conn, session_id, chain, loose))
        elif kind == "call" and key in loose_calls:
            out.append(_call_entry(loose_calls[key], by_call, decided, conn, session_id, chain, loose))
        elif kind == "compaction" and key in loose_compactions:
            out.append({"kind": "compaction", **loose_compactions[key]})
        elif kind == "error" and key in loose_errors:
            out.append({"kind": "error", **loose_errors[key]})
        elif kind == "abandoned" and groups and key in groups:
            lines = groups[key]
            steps = [(line["timestamp"] or "", "line", line["uuid"]) for line in lines]
            out.append({"kind": "abandoned", "uuid": key, "lines": len(lines),
                        "entries": _entries(conn, session_id, steps, subagents, chain, loose)})
        elif kind == "prompt" and key in loose_prompts:
            p = loose_prompts[key]
            out.append({"kind": "prompt", "uuid": p["uuid"] or p["id"], "prompt_id": p["prompt_id"] or p["id"],
                        "timestamp": p["timestamp"], "text": p["text"]})
        elif kind == "permission" and key in decisions:
            out.append({"kind": "permission", **decisions[key]})
    return out


def _line_entry(m: dict) -> dict | None:
    """What a transcript line adds to the timeline: a prompt, the assistant's text and thinking, a
    note Claude Code wrote; nothing for a line whose content is shown elsewhere (tool results are
    in their calls' cards, a compaction's summary in its card)."""
    if m["type"] == "user":
        if m["prompt_id"]:
            return {"kind": "prompt", **m}
        types = set((m["content_types"] or "").split(","))
        if types <= {"tool_result", ""} or not m["text"]:
            return None
        if m["text"].startswith("This session is being continued from a previous conversation"):
            return None
        return {"kind": "note", **m}
    if m["type"] == "assistant":
        text = (m["text"] or "").strip() or None
        if not text and not m["thinking"]:
            return None
        return {"kind": "assistant", **m, "text": text}
    if m["type"] == "system" and m["text"] and m["subtype"] not in ("compact_boundary", "api_error", "turn_duration"):
        return {"kind": "note", **m}
    return None


def _call_entry(call: dict, by_call: dict, decided: dict, conn, session_id: str, chain: list[dict],
                loose: dict[str, list[dict]]) -> dict:
    entry = {"kind": "call", **call, "glance": glance(call), "decisions": decided.get(call["tool_use_id"], [])}
    agent = by_call.get(call["tool_use_id"])
    if agent:
        entry["subagent"] = {**agent, "steps": _subagent_steps(conn, session_id, agent["agent_id"], chain, loose)}
    return entry


def _subagent_steps(conn, session_id: str, agent_id: str, chain: list[dict], loose: dict[str, list[dict]]) -> dict:
    """The first steps of a subagent, for the nested section; the rest is on its own page."""
    lines = [line for line in chain if line["agent_id"] == agent_id]
    slots = [(line["timestamp"] or "", "line", line["uuid"]) for line in lines[:SUBAGENT_INLINE]]
    entries = _entries(conn, session_id, slots, [], chain, loose) if slots else []
    return {"entries": entries, "total": len(lines), "more": len(lines) > SUBAGENT_INLINE}


def glance(call: dict) -> str:
    """What a tool call did, in a few words: the command, the file, the pattern, the address."""
    name = call["tool_name"] or "?"
    if call["command"]:
        return call["command"].strip().splitlines()[0][:200] if call["command"].strip() else call["command"]
    if call["file_path"]:
        return call["file_path"]
    if call["pattern"]:
        return call["pattern"] + (f"  in {call['path']}" if call["path"] else "")
    if call["url"]:
        return call["url"]
    if call["query"]:
        return call["query"]
    if call["subagent_type"] or name in ("Task", "Agent"):
        return " · ".join(x for x in (call["subagent_type"], call["description"]) if x) or (call["task"] or "")[:200]
    if call["description"]:
        return call["description"]
    if call["raw_head"]:
        return call["raw_head"][:200]
    head = call["input_head"] or ""
    return "" if head in ("{}", "") else head[:200]


# -- the picture --------------------------------------------------------------------------------
def _picture(conn, session_id: str) -> dict:
    return {
        "requests": _rows(conn, "requests_over_time", session_id=session_id),
        "calls": _rows(conn, "calls_over_time", session_id=session_id),
        "compactions": _rows(conn, "compactions_over_time", session_id=session_id),
    }


def call(conn: sqlite3.Connection, session_id: str, tool_use_id: str) -> dict | None:
    """One tool call whole: what its card folds out to."""
    return next(iter(_rows(conn, "call", session_id=session_id, tool_use_id=tool_use_id)), None)
