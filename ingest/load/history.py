"""Claude Code's prompt history, ``history.jsonl`` beside ``projects/``, read by ``backfill``.

The file is appended to, so it is read like a transcript (:class:`ingest.load.transcripts.Backfill`
reads it, after the transcripts of the same run, with the parser here): from where the last run
stopped, a bad line counted and recorded. A line older than ``sessionId`` is given the Claude Code
session that ran in its project at its time, when the database knows one.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Iterable

from ..parse.history import HistoryParser

NAME = "history.jsonl"
KIND = "history"


def history_files(projects_dirs: Iterable[Path]) -> list[Path]:
    """The history.jsonl of each Claude Code config directory whose projects/ dir is given."""
    out = []
    for projects in projects_dirs:
        candidate = Path(projects).expanduser().absolute().parent / NAME
        if candidate.is_file() and candidate not in out:
            out.append(candidate)
    return out


class SessionsByProject:
    """Which Claude Code session ran in a project at a time (a minute's slack either side)."""

    def __init__(self, conn):
        self.spans: dict[str, list[tuple[str, str, str]]] = {}
        # sessions a transcript (or a hook) already told about: their times are not the history's to set
        self.known = {r[0] for r in conn.execute("select id from sessions where transcript_path is not null")}
        for sid, project, first, last in conn.execute(
                "select id, project_path, started_at, ended_at from sessions "
                "where source = 'claude' and started_at is not null and id not like 'history:%'"):
            self.spans.setdefault(project, []).append((first, last or first, sid))
        for spans in self.spans.values():
            spans.sort()

    def __call__(self, project: str, ts: str) -> str | None:
        spans = self.spans.get(project)
        if not spans:
            return None
        from datetime import datetime, timedelta

        t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        lo = (t + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for first, last, sid in reversed(spans[: bisect.bisect_right(spans, (lo, "\uffff", ""))]):
            end = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(minutes=1)
            if t <= end:
                return sid
        return None


def make_parser(path: Path, conn, host: str | None) -> HistoryParser:
    sessions = SessionsByProject(conn)
    return HistoryParser(str(path), host=host, resolve=sessions, known=sessions.known)
