"""Claude Code's prompt history (``~/.claude/history.jsonl``) to records.

Pure. Claude Code appends one line per prompt typed, for its up-arrow recall, and keeps it after the
transcripts are deleted (anthropics/claude-code #62476): ``{display, pastedContents, timestamp (epoch
ms), project, sessionId}`` (``sessionId`` since ~2.0; older lines name only the project). ``display``
is what was typed, a paste shown as ``[Pasted text #N +M lines]``; where the paste is kept inline
(``pastedContents[N].content``) it is put back, so the text is the prompt the transcript has.

Each line is a ``prompts`` row keyed ``history:...``: where the session's transcript has the same
prompt, the transcript's row is the one kept (schema.DERIVATIONS); where the transcript is gone, this
is the prompt, under its session (made from the history when nothing else knows it), so search finds it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable

from .common import BadLine, account_of, utc_timestamp
from .common import text_or_none as _str

_PASTE = re.compile(r"\[Pasted text #(\d+)(?: \+\d+ lines)?\]")


def prompt_text(display: str, pasted) -> str:
    """``display`` with each paste whose content is kept put back in place of its placeholder."""
    if not isinstance(pasted, dict) or "[Pasted text #" not in display:
        return display

    def back(m):
        item = pasted.get(m.group(1))
        content = item.get("content") if isinstance(item, dict) else None
        return content if isinstance(content, str) else m.group(0)

    return _PASTE.sub(back, display)


def history_session(project: str) -> str:
    """The session a line with no sessionId belongs to when no transcript's session covers it."""
    return "history:" + hashlib.sha1(project.encode("utf-8", "replace")).hexdigest()[:12]


class HistoryParser:
    """``resolve(project, timestamp)``: the session of a line without a ``sessionId`` (the loader
    knows which sessions ran in that project when), or None. ``known``: sessions a transcript
    described, whose times and project are not the history's to set."""

    def __init__(self, path: str, *, host: str | None = None,
                 resolve: Callable[[str, str], str | None] | None = None, known=frozenset()):
        self.path, self.host, self.resolve, self.known = path, host, resolve, known
        self.session_id = None
        self.unpriced: dict = {}
        self._sessions: dict[str, list] = {}  # id -> [project, first, last, from history only]

    def feed(self, obj) -> list[tuple[str, dict]]:
        if not isinstance(obj, dict):
            raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
        display = obj.get("display")
        if not isinstance(display, str):
            raise BadLine("no 'display' text")
        ts = utc_timestamp(obj.get("timestamp"))
        project = _str(obj.get("project"))
        text = prompt_text(display, obj.get("pastedContents"))
        if not text.strip() or not ts:
            return []
        sid = _str(obj.get("sessionId"))
        if sid is None and project:
            sid = (self.resolve(project, ts) if self.resolve else None) or history_session(project)
        if sid is None:
            raise BadLine("neither a session nor a project")
        seen = self._sessions.setdefault(sid, [project, ts, ts])
        seen[1], seen[2] = min(seen[1], ts), max(seen[2], ts)
        digest = hashlib.sha1(display.encode("utf-8", "replace")).hexdigest()[:10]
        return [("prompts", {"id": f"history:{sid}:{obj.get('timestamp')}:{digest}", "session_id": sid,
                             "timestamp": ts, "text": text})]

    def finish(self) -> list[tuple[str, dict]]:
        """A sessions row for each session the lines named: a session whose transcript is gone is
        still there, with its project and the time of its prompts (merge rules keep a transcript's)."""
        out = []
        for sid, (project, first, last) in self._sessions.items():
            if sid in self.known:
                continue
            row = {"id": sid, "source": "claude", "project_path": project, "cwd": project, "host": self.host,
                   "account": account_of(self.path), "started_at": first, "ended_at": last}
            if sid.startswith("history:"):
                row["title"] = f"Prompts in {project} (history.jsonl, no transcript)"
            out.append(("sessions", {k: v for k, v in row.items() if v is not None}))
        self._sessions = {}
        return out
