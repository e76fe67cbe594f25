"""``claude-ingest job``: one headless ``claude -p`` run's output into the database.

Reads the output (a file or stdin), parses it with :mod:`ingest.parse.jobs`, and writes the run's
``jobs`` row and its session's records through the store in one transaction. Re-ingesting the same
output changes nothing: the rows keep their keys, and a run whose output has no timestamps of its
own keeps the time it was first recorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import numbers, schema
from .. import store as store_mod
from ..clock import from_timestamp, now_iso
from ..errors import IngestError
from ..identity import host as this_host
from ..parse.jobs import Job, parse_job, read_output
from .runs import no_rows, rows_text, unpriced_text


class NoJobOutput(IngestError, ValueError):
    """The text given is not what a headless run prints."""


@dataclass
class JobSummary:
    job: Job
    output_format: str
    reuse_missing: bool = False
    rows: dict = field(default_factory=no_rows)  # added, changed, removed per table (store.RowCounter)

    def line(self) -> str:
        r = self.job.row
        counts = rows_text(self.rows)
        cost = numbers.cost(r["cost_usd"])
        reported = numbers.cost(r["total_cost_usd"], unpriced="none")
        tools = r["tool_call_count"] if r["tool_call_count"] is not None else "?"
        extra = f"; {self.job.bad_lines} bad lines skipped" if self.job.bad_lines else ""
        if self.reuse_missing:
            extra += f"; --reuse-of {r['reuse_of']} is not a recorded job"
        unpriced = unpriced_text(self.job.unpriced)
        return (f"job {r['id']}: {r['status']} ({self.output_format}), {tools} tool calls, "
                f"{r['files_modified'] if r['files_modified'] is not None else '?'} files modified, "
                f"cost {cost} (reported {reported}); {counts}; unpriced models: {unpriced}{extra}")


def ingest_job(
    db,
    text: str,
    *,
    job_id: str | None = None,
    prompt: str | None = None,
    reuse_of: str | None = None,
    received_at: str | None = None,
    host: str | None = None,
) -> JobSummary:
    """Record one run from the text ``claude -p`` printed into ``db`` (a database path or an open
    connection). ``received_at`` defaults to now."""
    messages, bad, output_format = read_output(text)
    if not messages:
        raise NoJobOutput("no claude -p output found (expected a JSON result, a JSON array or stream-json lines)")
    with store_mod.opened(db) as conn:
        host = host or this_host()
        received_at = received_at or now_iso()
        # Parse once to learn the job id, then again with the time it was first recorded, if it was.
        probe = parse_job(messages, received_at=received_at, output_format=output_format, job_id=job_id,
                          source_text=text)
        known = conn.execute("select recorded_at from jobs where id = ?", (probe.row["id"],)).fetchone()
        original_prompt = None
        reuse_missing = False
        if reuse_of:
            found = conn.execute("select prompt, original_prompt from jobs where id = ?", (reuse_of,)).fetchone()
            if found:
                original_prompt = found[1] or found[0]
            else:
                reuse_missing = True
        job = parse_job(messages, received_at=known[0] if known and known[0] else received_at,
                        output_format=output_format, job_id=job_id, prompt=prompt, reuse_of=reuse_of,
                        original_prompt=original_prompt, host=host, source_text=text)
        job.bad_lines += bad
        store = store_mod.Store(conn, count_rows=True)
        try:
            with store.atomic():
                store.write(job.records)
                store.add("jobs", {k: v for k, v in job.row.items() if v is not None})
                store.derive()
                store.flush()
                if reuse_of:
                    conn.execute(schema.JOB_REUSE_COUNT_SQL, {"job_id": reuse_of})
            counts = store.counts()
        finally:
            store.stop_counting()
        return JobSummary(job=job, output_format=output_format, reuse_missing=reuse_missing, rows=counts)


def ingest_job_file(db, path, **kwargs) -> JobSummary:
    """A saved run's output: it is taken to have ended when the file was last written."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    kwargs.setdefault("received_at", from_timestamp(os.stat(path).st_mtime))
    return ingest_job(db, text, **kwargs)
