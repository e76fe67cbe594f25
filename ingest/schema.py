"""The one declaration of the database: tables, keys, columns, merge rules, indexes, FTS and views.

Plain data and the standard library only: the hook path (which may not import sqlite-utils) writes
through the same declarations as backfill, and the Datasette plugin reads them too.

Merge rules say what an upsert does when a row with the same natural key already exists
(a natural key per table, so that the same fact seen by two sources is one row):

    latest    a new non-null value replaces the old one; null never overwrites (the default)
    first     the first non-null value ever seen stays
    min, max  the smaller / larger of old and new (nulls ignored): first-seen and last-seen times, flags
    longest   the longer of old and new: a tool input stored whole replaces one an older version cut
    usage     taken from the copy with the largest ``usage_total``: the per-block copies of one API
              response repeat ``usage`` with a growing ``output_tokens``; keep the largest
    original  first non-null value, except that a row written from a forked/resumed copy
              (``is_fork_copy = 1``) gives way to the original line: usage is counted once, under
              the session where it happened
    newest    from the copy captured last (the row's ``captured_at``), whichever is written last:
              a statusline snapshot replayed late never overwrites a newer one of the same bucket
    origin    from the copy of the machine that saw the session first (the row's ``seen_at``; then
              the machine's name, then the value, so any order of merges gives the same row): a
              session seen on two machines keeps the machine, transcript path and account of the
              one it ran on, whichever archive is merged first
"""

from __future__ import annotations

# Bumped whenever a table, column, index, FTS index or view is added: ``PRAGMA user_version`` holds
# it, so a writer can tell in one cheap read whether ``ensure`` has to run.
SCHEMA_VERSION = 13  # 10: other agents (reported_cost_usd, reasoning_tokens); 11: statusline, otel,
#                       price_source; 12: usage_15min (reports); 13: machines and accounts (merge)

TEXT, INTEGER, REAL = "TEXT", "INTEGER", "REAL"


class Table:
    """One table: its natural key, columns with SQL types, merge rules, and what to index.

    A plain class rather than a dataclass: this module is imported on every hook call, where
    importing ``dataclasses`` alone costs a fifth of Python's start-up.
    """

    __slots__ = ("name", "pk", "columns", "merge", "defaults", "foreign_keys", "indexes", "fts", "partial_indexes")

    def __init__(self, name: str, pk: tuple, columns: dict, merge: dict | None = None,
                 defaults: dict | None = None, foreign_keys: tuple = (), indexes: tuple = (), fts: tuple = (),
                 partial_indexes: dict | None = None):
        self.name, self.pk, self.columns = name, pk, columns
        self.merge, self.defaults = merge or {}, defaults or {}
        self.foreign_keys, self.indexes, self.fts = foreign_keys, indexes, fts
        # name -> (columns, where): indexes over part of the table, e.g. only the calls with a command
        self.partial_indexes = partial_indexes or {}

    def rule(self, column: str) -> str:
        return self.merge.get(column, "latest")


_USAGE_COLUMNS = (
    "timestamp",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_creation_input_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
    "cache_read_input_tokens",
    "web_search_requests",
    "speed",
    "service_tier",
    "inference_geo",
    "stop_reason",
    "cost_usd",
    "priced",
    "price_source",
)

# A rollup row written through the store (only ``merge`` does: the days another archive pruned) keeps
# the larger of two copies: sums of counts only grow as more of a day is seen, so the copy of the
# machine that saw the whole day wins, whichever is merged first. Rollups are otherwise recomputed.
# What the usage rollups (usage_daily, usage_15min) sum, per day or 15 minutes, session and model
_USAGE_SUMS = {"requests": INTEGER, "input_tokens": INTEGER, "output_tokens": INTEGER,
               "cache_creation_input_tokens": INTEGER, "cache_read_input_tokens": INTEGER,
               "total_tokens": INTEGER, "cost_usd": REAL, "unpriced_requests": INTEGER}
_ROLLUP_MERGE = {c: "max" for c in (*_USAGE_SUMS,
                                    "calls", "failures", "interrupted", "timed_calls", "duration_ms_total",
                                    "duration_ms_max", "touches", "reads", "edits", "last_touched")}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "sessions",
            pk=("id",),
            columns={
                "id": TEXT,
                "source": TEXT,
                "project_path": TEXT,
                "cwd": TEXT,
                "git_branch": TEXT,
                "model": TEXT,
                "version": TEXT,
                "host": TEXT,
                "title": TEXT,  # the hook's session_title
                "custom_title": TEXT,  # the title a person gave (/rename)
                "ai_title": TEXT,  # the title Claude Code made up
                "label": TEXT,  # what a link to the session reads (derived: DERIVATIONS)
                "summary": TEXT,
                "slug": TEXT,
                "entrypoint": TEXT,
                "permission_mode": TEXT,
                "started_at": TEXT,
                "ended_at": TEXT,
                "end_reason": TEXT,
                "start_source": TEXT,
                "transcript_path": TEXT,
                "parent_session_id": TEXT,
                "forked_from_session_id": TEXT,
                # What the agent itself says the session cost, where that is all it keeps (the Go
                # OpenCode and Crush stores keep a running cost per session, no per-request usage)
                "reported_cost_usd": REAL,
                # The Claude Code config directory (one per account: CLAUDE_CONFIG_DIR) it came from
                "account": TEXT,
                # When the machine in ``host`` first recorded the session (its clock): the origin rule
                "seen_at": TEXT,
                # This database's own bookkeeping, never copied by a merge: a number that grows with
                # every commit that wrote one of the session's rows, and that commit's time. ``merge``
                # and ``export`` read only the sessions changed since they last read (``rev``).
                "rev": INTEGER,
                "changed_at": TEXT,
            },
            merge={
                "source": "first",
                "project_path": "first",
                "host": "origin",
                "account": "origin",
                "seen_at": "min",
                "summary": "first",
                "started_at": "min",
                "ended_at": "max",
                "transcript_path": "origin",
                "parent_session_id": "first",
                "forked_from_session_id": "first",
            },
            indexes=(("started_at",), ("project_path",), ("rev",), ("host",), ("account",)),
        ),
        Table(
            "api_requests",
            pk=("message_id", "request_id"),
            columns={
                "message_id": TEXT,
                "request_id": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "is_sidechain": INTEGER,
                "model": TEXT,
                "timestamp": TEXT,
                "input_tokens": INTEGER,
                "output_tokens": INTEGER,
                "cache_creation_input_tokens": INTEGER,
                "cache_creation_5m_tokens": INTEGER,
                "cache_creation_1h_tokens": INTEGER,
                "cache_read_input_tokens": INTEGER,
                # the part of output_tokens spent reasoning (Codex reasoning_output_tokens, Gemini
                # thoughts): already inside output_tokens, never added to it again
                "reasoning_tokens": INTEGER,
                "web_search_requests": INTEGER,
                "usage_total": INTEGER,
                "speed": TEXT,
                "service_tier": TEXT,
                "inference_geo": TEXT,
                "stop_reason": TEXT,
                "cost_usd": REAL,
                "priced": INTEGER,
                # which price table or database, and which version of it, gave cost_usd
                "price_source": TEXT,
                "reported_cost_usd": REAL,
                "is_replay": INTEGER,
                "is_fork_copy": INTEGER,
                "source": TEXT,
                "provider": TEXT,  # the provider the agent called, where it says (OpenCode's providerID)
            },
            merge={
                **{c: "usage" for c in _USAGE_COLUMNS},
                "provider": "first",
                "usage_total": "max",
                "session_id": "original",
                "agent_id": "first",
                "is_sidechain": "min",
                "model": "first",
                "reported_cost_usd": "first",
                "is_fork_copy": "min",
                "source": "first",
            },
            defaults={"is_replay": 0, "is_fork_copy": 0, "is_sidechain": 0},
            foreign_keys=(("session_id", "sessions", "id"),),
            # request_id: Claude Code's own records of a response (OpenTelemetry's api_request) carry only it
            indexes=(("session_id",), ("timestamp",), ("message_id",), ("model", "timestamp"), ("request_id",)),
        ),
        Table(
            "messages",
            pk=("uuid",),
            columns={
                "uuid": TEXT,
                "session_id": TEXT,
                "parent_uuid": TEXT,
                "type": TEXT,
                "subtype": TEXT,
                "timestamp": TEXT,
                "agent_id": TEXT,
                "is_sidechain": INTEGER,
                "is_meta": INTEGER,
                "message_id": TEXT,
                "model": TEXT,
                "content_types": TEXT,
                "text": TEXT,
                "thinking": TEXT,
                "logical_parent_uuid": TEXT,
                "is_fork_copy": INTEGER,
            },
            merge={
                "session_id": "original",
                "parent_uuid": "first",
                "logical_parent_uuid": "first",
                "type": "first",
                "timestamp": "min",
                "agent_id": "first",
                "is_sidechain": "min",
                "is_fork_copy": "min",
            },
            defaults={"is_fork_copy": 0, "is_sidechain": 0},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id", "timestamp"),),
        ),
        Table(
            "tool_calls",
            pk=("tool_use_id",),
            columns={
                "tool_use_id": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "is_sidechain": INTEGER,
                "message_uuid": TEXT,
                "tool_name": TEXT,
                "input_json": TEXT,
                "file_path": TEXT,
                "command": TEXT,
                "description": TEXT,
                "is_error": INTEGER,
                "error_message": TEXT,
                "output_preview": TEXT,
                "output_size": INTEGER,
                "interrupted": INTEGER,
                "started_at": TEXT,
                "ended_at": TEXT,
                "duration_ms": INTEGER,
                "is_fork_copy": INTEGER,
            },
            merge={
                "session_id": "original",
                "agent_id": "first",
                "is_sidechain": "min",
                "message_uuid": "first",
                "tool_name": "first",
                "input_json": "longest",
                # a tool's output as one source cut it (an older version kept less of it): the longer
                "output_preview": "longest",
                "file_path": "first",
                "command": "first",
                "description": "first",
                "is_error": "max",
                "interrupted": "max",
                "started_at": "min",
                "ended_at": "max",
                "is_fork_copy": "min",
            },
            defaults={"is_fork_copy": 0, "is_sidechain": 0},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id",), ("tool_name", "started_at"), ("started_at",), ("is_error",)),
            fts=("command", "error_message"),
            # failing_commands groups the calls that ran a command: index-only, in command order
            partial_indexes={
                "idx_tool_calls_commands": (
                    ("command", "is_error", "started_at", "ended_at", "session_id"), "command is not null"),
                # error_messages groups the failed calls' messages: index-only, over failures alone
                "idx_tool_calls_failures": (
                    ("started_at", "tool_name", "session_id", "error_message"), "is_error = 1"),
                # calls of hooks older than CC 2.0.43 (no tool_use_id), waiting for their transcript's
                "idx_tool_calls_hook": (("session_id", "tool_name"), "tool_use_id like 'hook:%'"),
            },
        ),
        Table(
            "file_events",
            pk=("tool_use_id", "file_path"),
            columns={
                "tool_use_id": TEXT,
                "file_path": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "tool_name": TEXT,
                "operation": TEXT,
                "timestamp": TEXT,
            },
            # "create" (the Write's result says it made the file) outranks the call's own "write"
            # whichever reaches the store last: rows of different columns are flushed in separate
            # statements, not always in the order of their lines.
            merge={"session_id": "first", "agent_id": "first", "tool_name": "first", "operation": "min",
                   "timestamp": "min"},
            foreign_keys=(
                ("session_id", "sessions", "id"),
                ("tool_use_id", "tool_calls", "tool_use_id"),
            ),
            indexes=(("file_path",), ("session_id",), ("timestamp",)),
            partial_indexes={"idx_file_events_hook": (("session_id",), "tool_use_id like 'hook:%'")},
        ),
        Table(
            "compactions",
            pk=("id",),
            columns={
                "id": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "timestamp": TEXT,
                "trigger": TEXT,
                "pre_tokens": INTEGER,
                "post_tokens": INTEGER,
                "summary_preview": TEXT,
                "custom_instructions": TEXT,
            },
            merge={"session_id": "first", "agent_id": "first", "timestamp": "min"},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id",), ("timestamp",)),
            partial_indexes={"idx_compactions_hook": (("session_id", "timestamp"), "id like 'hook:%'")},
        ),
        Table(
            "subagents",
            pk=("agent_id",),
            columns={
                "agent_id": TEXT,
                "session_id": TEXT,
                "agent_type": TEXT,
                "description": TEXT,
                "tool_use_id": TEXT,
                "model": TEXT,
                "parent_agent_id": TEXT,
                "spawn_depth": INTEGER,
                "transcript_path": TEXT,
                "started_at": TEXT,
                "ended_at": TEXT,
                "cwd": TEXT,  # where it ran, as its lines say
                "version": TEXT,
                "git_branch": TEXT,
            },
            merge={"session_id": "first", "started_at": "min", "ended_at": "max", "transcript_path": "first"},
            foreign_keys=(
                ("session_id", "sessions", "id"),
                ("tool_use_id", "tool_calls", "tool_use_id"),
            ),
            indexes=(("session_id",),),
        ),
        Table(
            "prompts",
            pk=("id",),
            columns={
                "id": TEXT,
                "uuid": TEXT,
                "prompt_id": TEXT,
                "session_id": TEXT,
                "timestamp": TEXT,
                "text": TEXT,
                "is_fork_copy": INTEGER,
            },
            merge={"uuid": "first", "session_id": "original", "timestamp": "min", "is_fork_copy": "min"},
            defaults={"is_fork_copy": 0},
            foreign_keys=(("session_id", "sessions", "id"),),
            # (session_id, timestamp): a hook's prompt finds the transcript's within two minutes by range
            indexes=(("session_id", "timestamp"), ("timestamp",), ("uuid",)),
            fts=("text",),
            # the hook-keyed prompts still waiting for their transcript line: a derivation reads only these
            partial_indexes={"idx_prompts_hook": (("session_id", "timestamp"), "id like 'hook:%'")},
        ),
        Table(
            "errors",
            pk=("id",),
            columns={
                "id": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "timestamp": TEXT,
                "kind": TEXT,
                "message": TEXT,
                "status": INTEGER,
                "model": TEXT,
            },
            merge={"session_id": "first", "timestamp": "min"},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id",), ("timestamp",), ("kind",)),
            fts=("message",),
        ),
        Table(
            "hook_events",
            pk=("id",),
            columns={
                "id": TEXT,  # sha256 of the payload bytes: a retried call is the same event
                "received_at": TEXT,
                "event": TEXT,
                "known": INTEGER,
                "session_id": TEXT,
                "agent_id": TEXT,
                "tool_use_id": TEXT,
                "cwd": TEXT,
                "source": TEXT,
                "size": INTEGER,
                "payload": TEXT,
                "derive_error": TEXT,
            },
            merge={"received_at": "first", "source": "first", "payload": "first"},
            indexes=(("session_id",), ("event", "received_at"), ("received_at",), ("tool_use_id",)),
        ),
        Table(
            "permission_decisions",
            pk=("id",),
            columns={
                "id": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "timestamp": TEXT,
                "event": TEXT,
                "decision": TEXT,
                "tool_use_id": TEXT,
                "tool_name": TEXT,
                "input_json": TEXT,
                "file_path": TEXT,
                "command": TEXT,
                "reason": TEXT,
                "permission_mode": TEXT,
            },
            merge={"timestamp": "first"},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id",), ("tool_name", "timestamp"), ("timestamp",)),
        ),
        Table(
            "commits",
            pk=("sha",),
            columns={
                "sha": TEXT,
                "repository": TEXT,
                "branch": TEXT,
                "author_name": TEXT,
                "author_email": TEXT,
                "committed_at": TEXT,
                "message": TEXT,
                "files_json": TEXT,
                "files_changed": INTEGER,
                "session_id": TEXT,
                "host": TEXT,
                "recorded_at": TEXT,
            },
            merge={"session_id": "first", "recorded_at": "first"},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("repository", "committed_at"), ("session_id",), ("committed_at",)),
            fts=("message",),
        ),
        # Per-day rollups of the detail tables, recomputed for the sessions an ingest touches (see
        # ROLLUPS): year-long questions read thousands of these rows instead of millions of calls,
        # and they outlive the detail rows that `prune` deletes.
        Table(
            "usage_daily",
            pk=("day", "session_id", "model", "is_subagent"),
            columns={
                "day": TEXT,
                "session_id": TEXT,
                "model": TEXT,
                "is_subagent": INTEGER,
                **_USAGE_SUMS,
            },
            merge=_ROLLUP_MERGE,
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id", "day"),),
        ),
        # The same sums per 15 minutes (UTC): a day in any time zone is a whole number of these
        # (every zone's offset and clock change is a multiple of 15 minutes), and the first and last
        # request time of each let 5-hour billing blocks be cut exactly, after the detail is pruned.
        Table(
            "usage_15min",
            pk=("day", "slot", "session_id", "model", "is_subagent"),
            columns={
                "day": TEXT,
                "slot": TEXT,  # start of the 15 minutes, UTC: 2026-02-12T15:30
                "session_id": TEXT,
                "model": TEXT,
                "is_subagent": INTEGER,
                **_USAGE_SUMS,
                "first_at": TEXT,
                "last_at": TEXT,
            },
            merge={**_ROLLUP_MERGE, "first_at": "min", "last_at": "max"},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id", "day"), ("slot",)),
        ),
        Table(
            "tool_daily",
            pk=("day", "session_id", "tool_name", "is_subagent"),
            columns={
                "day": TEXT,
                "session_id": TEXT,
                "tool_name": TEXT,
                "is_subagent": INTEGER,
                "calls": INTEGER,
                "failures": INTEGER,
                "interrupted": INTEGER,
                "timed_calls": INTEGER,
                "duration_ms_total": INTEGER,
                "duration_ms_max": INTEGER,
            },
            merge=_ROLLUP_MERGE,
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id", "day"),),
        ),
        Table(
            "file_daily",
            pk=("day", "session_id", "file_path"),
            columns={
                "day": TEXT,
                "session_id": TEXT,
                "file_path": TEXT,
                "touches": INTEGER,
                "reads": INTEGER,
                "edits": INTEGER,
                "last_touched": TEXT,
            },
            merge=_ROLLUP_MERGE,
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("session_id", "day"), ("file_path", "day", "session_id", "touches", "reads", "edits")),
        ),
        Table(
            "ingest_files",
            pk=("path",),
            columns={
                "path": TEXT,
                "kind": TEXT,
                "session_id": TEXT,
                "agent_id": TEXT,
                "size": INTEGER,
                "mtime": TEXT,
                "mtime_ns": INTEGER,
                "offset": INTEGER,
                "head_hash": TEXT,
                "lines": INTEGER,
                "bad_lines": INTEGER,
                "rereads": INTEGER,
                "first_read_at": TEXT,
                "last_read_at": TEXT,
            },
            merge={"first_read_at": "first", "session_id": "first", "agent_id": "first"},
        ),
        Table(
            "ingest_runs",
            pk=("id",),
            columns={
                "id": TEXT,
                "command": TEXT,
                "host": TEXT,
                "started_at": TEXT,
                "ended_at": TEXT,
                "seconds": REAL,
                "files_seen": INTEGER,
                "files_read": INTEGER,
                "files_skipped": INTEGER,
                "bytes_read": INTEGER,
                "lines": INTEGER,
                "bad_lines": INTEGER,
                "rows_json": TEXT,
                "unpriced_models": TEXT,
                "status": TEXT,
            },
            indexes=(("started_at",),),
        ),
        Table(
            "ingest_skips",
            pk=("path", "offset"),
            columns={
                "path": TEXT,
                "offset": INTEGER,
                "run_id": TEXT,
                "reason": TEXT,
                "excerpt": TEXT,
                "seen_at": TEXT,
            },
            merge={"run_id": "first", "seen_at": "first"},
        ),
        # The schema steps this database has had (ingest/migrations.py), each applied once.
        Table("migrations", pk=("name",), columns={"name": TEXT, "applied_at": TEXT}),
        # Who this archive is: made once, kept by every copy of the file, so a copied archive merged
        # again is known as the same source (``merge_sources``), whatever its path.
        Table("archive", pk=("id",), columns={"id": TEXT, "created_at": TEXT, "host": TEXT},
              merge={"created_at": "first", "host": "first"}),
        # Every archive ``claude-ingest merge`` brought into this one, by its identity: how far it was
        # read (its sessions' ``rev`` and each table's last rowid then), so the next merge of it
        # reads only what changed since.
        Table(
            "merge_sources",
            pk=("id",),
            columns={
                "id": TEXT,  # the source's archive id (or, for one made before archives had one, a hash)
                "path": TEXT,  # where it was read from last
                "host": TEXT,  # the machine that made it
                "schema_version": INTEGER,
                "rev": INTEGER,  # the largest sessions.rev read; NULL: the source has none, read whole
                "rowids_json": TEXT,  # table -> the largest rowid read
                "sessions": INTEGER,  # sessions it holds, at the last merge
                "pruned_before": TEXT,  # it kept only the rollups of the days before this (reports: _STALE_DAYS)
                "first_merged_at": TEXT,
                "last_merged_at": TEXT,
                "rows_json": TEXT,  # what the last merge of it added and changed
            },
            merge={"first_merged_at": "first", "pruned_before": "max"},
        ),
        # Every ``claude-ingest export``: the sessions it took were those changed after ``rev_from``
        # up to ``rev_to``, so the next export without --since starts where this one ended.
        Table(
            "exports",
            pk=("id",),
            columns={"id": TEXT, "exported_at": TEXT, "path": TEXT, "since": TEXT, "rev_from": INTEGER,
                     "rev_to": INTEGER, "rowids_json": TEXT, "sessions": INTEGER, "bytes": INTEGER,
                     "rows_json": TEXT},
        ),
        # Every ``claude-ingest prune``: the days before ``before`` are final from then on (ROLLUPS).
        Table(
            "prunes",
            pk=("before",),
            columns={"before": TEXT, "pruned_at": TEXT, "rows_json": TEXT},
            merge={"pruned_at": "first"},
        ),
        # Claude Code's statusline payloads (``claude-ingest statusline``): its own view of a session
        # (cost, context, rate limits), at most one row per session per few seconds.
        Table(
            "statusline_snapshots",
            pk=("session_id", "bucket"),
            columns={
                "session_id": TEXT,
                "bucket": TEXT,  # the start of the few seconds it was captured in (parse.statusline.BUCKET_S)
                "captured_at": TEXT,
                "model": TEXT,
                "model_name": TEXT,
                "version": TEXT,
                "session_name": TEXT,
                "prompt_id": TEXT,
                "cwd": TEXT,
                "project_dir": TEXT,
                "transcript_path": TEXT,
                "total_cost_usd": REAL,  # Claude Code's own estimate, cumulative for the session
                "total_duration_ms": INTEGER,
                "total_api_duration_ms": INTEGER,
                "lines_added": INTEGER,
                "lines_removed": INTEGER,
                "context_input_tokens": INTEGER,  # in the context window after the latest response
                "context_output_tokens": INTEGER,
                "context_window_size": INTEGER,
                "context_used_pct": REAL,
                "exceeds_200k_tokens": INTEGER,
                "five_hour_pct": REAL,  # Claude.ai plans: share of the 5-hour limit used, 0-100
                "five_hour_resets_at": TEXT,
                "seven_day_pct": REAL,  # ... and of the weekly one
                "seven_day_resets_at": TEXT,
                "host": TEXT,
                "payload": TEXT,  # the payload as it came (redacted), for what no column holds yet
            },
            merge={"captured_at": "max", "host": "first",
                   **{c: "newest" for c in ("model", "model_name", "version", "session_name", "prompt_id", "cwd",
                                            "project_dir", "transcript_path", "total_cost_usd", "total_duration_ms",
                                            "total_api_duration_ms", "lines_added", "lines_removed",
                                            "context_input_tokens", "context_output_tokens", "context_window_size",
                                            "context_used_pct", "exceeds_200k_tokens", "five_hour_pct",
                                            "five_hour_resets_at", "seven_day_pct", "seven_day_resets_at",
                                            "payload")}},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("captured_at",), ("session_id", "captured_at")),
        ),
        # Claude Code's OpenTelemetry log events (``claude-ingest otel``, the plugin's OTLP/HTTP
        # receiver): one row per event, keyed by what it says, so a batch sent again is the same rows.
        # api_request events are Claude Code's own record of each API call (compaction calls too).
        Table(
            "otel_events",
            pk=("id",),
            columns={
                "id": TEXT,  # sha256 of the event's time, name and attributes (parse.otel.event_id)
                "received_at": TEXT,
                "timestamp": TEXT,
                "event": TEXT,  # api_request, tool_result, user_prompt, api_error, ... (no claude_code. prefix)
                "session_id": TEXT,
                "prompt_id": TEXT,
                "request_id": TEXT,  # api_request, api_error: the transcript's requestId
                "tool_use_id": TEXT,  # tool_result, tool_decision
                "sequence": INTEGER,  # event.sequence: the order within a session
                "model": TEXT,
                "query_source": TEXT,  # repl_main_thread, compact, a subagent's name, sdk, ...
                "cost_usd": REAL,  # Claude Code's own estimate for the request
                "input_tokens": INTEGER,
                "output_tokens": INTEGER,
                "cache_read_tokens": INTEGER,
                "cache_creation_tokens": INTEGER,
                "duration_ms": INTEGER,
                "success": INTEGER,
                "status_code": INTEGER,
                "error": TEXT,
                "tool_name": TEXT,
                "decision": TEXT,
                "version": TEXT,  # Claude Code's, from the resource's service.version
                "host": TEXT,  # the machine: a receiver token's name, the resource's host.name, or this one
                "source": TEXT,  # otel-file, otlp-http, otlp-spool
                "attributes": TEXT,  # every attribute as plain JSON (identities left out), redacted
                "resource": TEXT,
            },
            merge={"received_at": "first", "host": "first", "source": "first"},
            foreign_keys=(("session_id", "sessions", "id"), ("tool_use_id", "tool_calls", "tool_use_id"),
                          ("prompt_id", "prompts", "id")),
            indexes=(("session_id", "timestamp"), ("request_id",), ("event", "timestamp"), ("timestamp",),
                     ("tool_use_id",)),
        ),
        # Headless ``claude -p`` runs (``claude-ingest job``). Counts are of what the
        # run's own output showed; NULL where its output mode did not show it (json has no tool calls).
        Table(
            "jobs",
            pk=("id",),
            columns={
                "id": TEXT,  # --job-id, else the session id
                "session_id": TEXT,
                "status": TEXT,  # success | the error subtype (error_max_turns, ...) | error | crashed
                "subtype": TEXT,
                "is_error": INTEGER,
                "terminal_reason": TEXT,
                "stop_reason": TEXT,
                "api_error_status": INTEGER,
                "model": TEXT,
                "cwd": TEXT,
                "prompt": TEXT,
                "summary": TEXT,  # the final result text, in full
                "started_at": TEXT,
                "completed_at": TEXT,
                "duration_ms": INTEGER,
                "duration_api_ms": INTEGER,
                "num_turns": INTEGER,
                "input_tokens": INTEGER,
                "output_tokens": INTEGER,
                "cache_creation_input_tokens": INTEGER,
                "cache_read_input_tokens": INTEGER,
                "total_cost_usd": REAL,  # what Claude Code reported
                "cost_usd": REAL,  # our estimate from the price table; NULL when a model has no price
                "priced": INTEGER,
                "price_source": TEXT,  # the price table or database (and version) the estimate came from
                "tool_call_count": INTEGER,
                "failed_tool_calls": INTEGER,
                "primary_tool": TEXT,
                "files_modified": INTEGER,
                "files_modified_json": TEXT,  # JSON array of paths: json_each(files_modified_json)
                "message_count": INTEGER,
                "user_message_count": INTEGER,
                "permission_denials": INTEGER,
                "permission_denials_json": TEXT,
                "errors_json": TEXT,
                "reuse_of": TEXT,  # the job whose prompt this one reused (--reuse-of)
                "reuse_count": INTEGER,  # how many jobs reused this one, recomputed from reuse_of
                "original_prompt": TEXT,  # the prompt of the first job of a reuse chain
                "output_format": TEXT,  # json | json-verbose | stream-json
                "result_uuid": TEXT,
                "host": TEXT,
                "recorded_at": TEXT,
            },
            merge={"started_at": "first", "completed_at": "first", "recorded_at": "first", "host": "first"},
            defaults={"reuse_count": 0},
            foreign_keys=(("session_id", "sessions", "id"),),
            indexes=(("started_at",), ("session_id",), ("status", "started_at"), ("reuse_of",)),
            fts=("prompt", "summary"),
        ),
    )
}

# Derived numbers are views over the base rows, never counters kept in step by hand.
# ``is_replay = 0`` drops the /btw side-question logs that replay parent responses (they repeat a message.id under a new requestId).
VIEWS: dict[str, str] = {
    "usage_by_day": """
select
  date(timestamp) as day,
  model,
  count(*) as requests,
  sum(input_tokens) as input_tokens,
  sum(output_tokens) as output_tokens,
  sum(cache_creation_input_tokens) as cache_creation_input_tokens,
  sum(cache_read_input_tokens) as cache_read_input_tokens,
  sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)
      + coalesce(cache_creation_input_tokens, 0) + coalesce(cache_read_input_tokens, 0)) as total_tokens,
  round(sum(cost_usd), 6) as cost_usd,
  sum(case when priced then 0 else 1 end) as unpriced_requests
from api_requests
where is_replay = 0
group by day, model
""",
    "session_usage": """
select
  session_id,
  min(timestamp) as first_request_at,
  max(timestamp) as last_request_at,
  count(*) as requests,
  sum(input_tokens) as input_tokens,
  sum(output_tokens) as output_tokens,
  sum(cache_creation_input_tokens) as cache_creation_input_tokens,
  sum(cache_read_input_tokens) as cache_read_input_tokens,
  round(sum(cost_usd), 6) as cost_usd,
  sum(case when agent_id is not null or is_sidechain then 1 else 0 end) as subagent_requests,
  sum(case when priced then 0 else 1 end) as unpriced_requests
from api_requests
where is_replay = 0
group by session_id
""",
    # Claude Code's own record of each API call (OpenTelemetry api_request) beside the transcript's
    # copy of the same response, joined on request_id: per request, its tokens and cost and ours.
    # A call with no transcript row (a compaction summary) has empty columns on our side.
    "otel_api_requests": """
select
  o.session_id,
  o.timestamp,
  o.request_id,
  o.model,
  o.query_source,
  o.input_tokens as claude_code_input_tokens,
  a.input_tokens,
  o.output_tokens as claude_code_output_tokens,
  a.output_tokens,
  o.cache_read_tokens as claude_code_cache_read_tokens,
  a.cache_read_input_tokens,
  o.cache_creation_tokens as claude_code_cache_creation_tokens,
  a.cache_creation_input_tokens,
  o.cost_usd as claude_code_cost_usd,
  a.cost_usd,
  a.price_source,
  a.message_id,
  o.duration_ms,
  o.host
from otel_events o
left join api_requests a on a.request_id = o.request_id and a.is_replay = 0
where o.event = 'api_request'
""",
    # Headless runs per UTC day of their start: the daily job metrics, derived from jobs.
    "jobs_by_day": """
select
  date(started_at) as day,
  count(*) as started,
  sum(case when status = 'success' and is_error = 0 then 1 else 0 end) as completed,
  sum(case when is_error = 1 or status = 'crashed' then 1 else 0 end) as failed,
  sum(case when status = 'crashed' then 1 else 0 end) as crashed,
  sum(input_tokens) as input_tokens,
  sum(output_tokens) as output_tokens,
  sum(cache_creation_input_tokens) as cache_creation_input_tokens,
  sum(cache_read_input_tokens) as cache_read_input_tokens,
  sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)
      + coalesce(cache_creation_input_tokens, 0) + coalesce(cache_read_input_tokens, 0)) as total_tokens,
  sum(duration_ms) as elapsed_ms,
  cast(avg(duration_ms) as integer) as avg_elapsed_ms,
  sum(files_modified) as files_modified,
  sum(tool_call_count) as tool_calls,
  round(sum(total_cost_usd), 6) as reported_cost_usd,
  round(sum(cost_usd), 6) as cost_usd
from jobs
group by day
""",
}

# Statements run after a batch of writes, for each session it touched (``:session_id``), when the
# batch wrote to one of the tables named beside the statement: facts that need two rows from
# different places (a tool_use and its tool_result; an Agent call and the subagent it started; a /btw
# replay and the response it replays; a hook's view and a transcript's view of the same event).
DERIVATIONS: tuple[tuple[frozenset, str], ...] = (
    # A /btw side question replays parent responses: same message.id, a new requestId, sidechain.
    (frozenset({"api_requests"}), """
update api_requests set is_replay = 1
 where session_id = :session_id and is_sidechain = 1 and is_replay = 0
   and exists (select 1 from api_requests o
               where o.message_id = api_requests.message_id
                 and o.request_id != api_requests.request_id
                 and o.is_sidechain = 0)"""),
    # Timing from first to last sign of the call (tool_use line or PreToolUse, tool_result line or
    # PostToolUse), unless a PostToolUse hook reported the tool's own duration.
    (frozenset({"tool_calls"}), """
update tool_calls
   set duration_ms = cast(round((julianday(ended_at) - julianday(started_at)) * 86400000) as integer)
 where session_id = :session_id and duration_ms is null
   and started_at is not null and ended_at is not null"""),
    # Hooks older than CC 2.0.43 had no tool_use_id: their fallback key gives way to the transcript's.
    (frozenset({"tool_calls"}), """
delete from tool_calls
 where session_id = :session_id and tool_use_id like 'hook:%'
   and exists (select 1 from tool_calls t
               where t.session_id = tool_calls.session_id and t.tool_use_id not like 'hook:%'
                 and t.tool_name = tool_calls.tool_name and t.input_json = tool_calls.input_json)"""),
    (frozenset({"tool_calls", "file_events"}), """
delete from file_events
 where session_id = :session_id and tool_use_id like 'hook:%'
   and tool_use_id not in (select tool_use_id from tool_calls where session_id = :session_id)"""),
    # A subagent's type and task come from the Agent (formerly Task) call that started it.
    (frozenset({"subagents", "tool_calls"}), """
update subagents
   set agent_type = coalesce(agent_type,
         (select json_extract(t.input_json, '$.subagent_type') from tool_calls t
          where t.tool_use_id = subagents.tool_use_id and json_valid(t.input_json))),
       description = coalesce(description,
         (select json_extract(t.input_json, '$.description') from tool_calls t
          where t.tool_use_id = subagents.tool_use_id and json_valid(t.input_json)))
 where session_id = :session_id and tool_use_id is not null
   and (agent_type is null or description is null)"""),
    # A session known only from its subagents' files (its main transcript gone or not read yet) takes
    # where they ran and the model they used; its own lines, when they come, say it first.
    (frozenset({"sessions", "subagents", "api_requests"}), """
update sessions
   set project_path = coalesce(project_path, (select a.cwd from subagents a where a.session_id = sessions.id
                                                and a.cwd is not null order by a.started_at limit 1)),
       cwd = coalesce(cwd, (select a.cwd from subagents a where a.session_id = sessions.id
                              and a.cwd is not null order by a.started_at limit 1)),
       version = coalesce(version, (select a.version from subagents a where a.session_id = sessions.id
                                      and a.version is not null order by a.started_at limit 1)),
       git_branch = coalesce(git_branch, (select a.git_branch from subagents a where a.session_id = sessions.id
                                            and a.git_branch is not null order by a.started_at limit 1)),
       model = coalesce(model, (select r.model from api_requests r where r.session_id = sessions.id
                                  and r.model is not null and r.model != '<synthetic>'
                                group by r.model order by count(*) desc limit 1))
 where id = :session_id and (project_path is null or version is null or model is null or git_branch is null)"""),
    # What a link to a session reads: the title a person gave, the one Claude Code made, the hook's,
    # the old summary line, the slug, the first prompt's first words; never nothing.
    (frozenset({"sessions", "prompts"}), """
update sessions
   set label = coalesce(custom_title, ai_title, title, summary, slug,
                        (select trim(substr(replace(replace(p.text, char(10), ' '), char(13), ' '), 1, 80))
                           from prompts p where p.session_id = sessions.id and p.is_fork_copy = 0
                          order by p.timestamp limit 1),
                        'session ' || substr(id, 1, 8))
 where id = :session_id"""),
    # A prompt seen by UserPromptSubmit without a prompt_id (CC < 2.1.196) is the transcript's
    # prompt with the same text in the same session, written within two minutes of it.
    (frozenset({"prompts"}), """
delete from prompts
 where session_id = :session_id and id like 'hook:%'
   and exists (select 1 from prompts t
               where t.session_id = prompts.session_id and t.id not like 'hook:%' and t.id not like 'history:%'
                 and t.text = prompts.text
                 -- a range the (session_id, timestamp) index serves: linear, not a scan per prompt
                 and t.timestamp between strftime('%Y-%m-%dT%H:%M:%fZ', prompts.timestamp, '-120 seconds')
                                     and strftime('%Y-%m-%dT%H:%M:%fZ', prompts.timestamp, '+120 seconds')
                 and abs(julianday(t.timestamp) - julianday(prompts.timestamp)) * 86400 < 120)"""),
    # A prompt from Claude Code's prompt history (~/.claude/history.jsonl) is the transcript's
    # prompt of the same session with the same text, written within two minutes of it: the history
    # row goes, the transcript's stays. (A history line keeps what was typed with "[Pasted text #N]"
    # placeholders where the paste was not kept with it: those match on the text before the first.)
    (frozenset({"prompts"}), """
delete from prompts
 where session_id = :session_id and id like 'history:%'
   and exists (select 1 from prompts t
               where t.session_id = prompts.session_id and t.id not like 'history:%'
                 and t.timestamp between strftime('%Y-%m-%dT%H:%M:%fZ', prompts.timestamp, '-120 seconds')
                                     and strftime('%Y-%m-%dT%H:%M:%fZ', prompts.timestamp, '+120 seconds')
                 and (trim(t.text) = trim(prompts.text)
                      or (instr(prompts.text, '[Pasted text #') > 1
                          and substr(t.text, 1, instr(prompts.text, '[Pasted text #') - 1)
                              = substr(prompts.text, 1, instr(prompts.text, '[Pasted text #') - 1))))"""),
    # PreCompact and PostCompact carry no id the transcript shares: they are the compaction whose
    # compact_boundary lies within ten minutes (summarising takes a while); with no transcript, a
    # PostCompact belongs to the PreCompact before it. What only the hooks saw is kept on the
    # surviving row before the hook rows go.
    (frozenset({"compactions"}), """
update compactions
   set trigger = coalesce(trigger, (select h.trigger from compactions h
         where h.session_id = compactions.session_id and h.id like 'hook:%' and h.id != compactions.id
           and h.trigger is not null
           and abs(julianday(h.timestamp) - julianday(compactions.timestamp)) * 86400 < 600)),
       custom_instructions = coalesce(custom_instructions, (select h.custom_instructions from compactions h
         where h.session_id = compactions.session_id and h.id like 'hook:pre:%' and h.id != compactions.id
           and h.custom_instructions is not null
           and abs(julianday(h.timestamp) - julianday(compactions.timestamp)) * 86400 < 600)),
       summary_preview = coalesce(summary_preview, (select h.summary_preview from compactions h
         where h.session_id = compactions.session_id and h.id like 'hook:post:%' and h.id != compactions.id
           and h.summary_preview is not null
           and abs(julianday(h.timestamp) - julianday(compactions.timestamp)) * 86400 < 600))
 where session_id = :session_id and id not like 'hook:post:%'"""),
    (frozenset({"compactions"}), """
delete from compactions
 where session_id = :session_id and id like 'hook:%'
   and exists (select 1 from compactions o
               where o.session_id = compactions.session_id and o.id != compactions.id
                 and (o.id not like 'hook:%'
                      or (compactions.id like 'hook:post:%' and o.id like 'hook:pre:%'
                          and o.timestamp <= compactions.timestamp))
                 and abs(julianday(o.timestamp) - julianday(compactions.timestamp)) * 86400 < 600)"""),
    # stream-json lines carry no requestId: a job's copy of an API response is keyed
    # (message.id, '') and gives way to the transcript's copy of the same response, whichever comes
    # first; a larger usage it saw (the final output count of a stream_event) is kept on the survivor.
    (frozenset({"api_requests"}), """
update api_requests
   set (input_tokens, output_tokens, cache_creation_input_tokens, cache_creation_5m_tokens,
        cache_creation_1h_tokens, cache_read_input_tokens, web_search_requests, usage_total, cost_usd, priced,
        price_source) =
       (select s.input_tokens, s.output_tokens, s.cache_creation_input_tokens, s.cache_creation_5m_tokens,
               s.cache_creation_1h_tokens, s.cache_read_input_tokens, s.web_search_requests, s.usage_total,
               s.cost_usd, s.priced, s.price_source
          from api_requests s
         where s.message_id = api_requests.message_id and s.request_id = '' and s.source = 'stream-json'
         order by s.usage_total desc limit 1)
 where session_id = :session_id and request_id != ''
   and usage_total < (select max(s.usage_total) from api_requests s
                      where s.message_id = api_requests.message_id and s.request_id = ''
                        and s.source = 'stream-json')"""),
    (frozenset({"api_requests"}), """
delete from api_requests
 where session_id = :session_id and request_id = '' and source = 'stream-json'
   and exists (select 1 from api_requests t where t.message_id = api_requests.message_id and t.request_id != '')"""),
    # A job's prompt (keyed by the stream message's uuid) is the transcript's prompt with that uuid.
    (frozenset({"prompts"}), """
delete from prompts
 where session_id = :session_id and prompt_id is null and id = uuid
   and exists (select 1 from prompts o where o.uuid = prompts.uuid and o.id != prompts.id)"""),
)


# Columns a database keeps about its own writing, not about what happened: never counted as a change
# (store.RowCounter). LOCAL ones mean something in this database only and are never copied by merge.
BOOKKEEPING: dict[str, tuple[str, ...]] = {"sessions": ("seen_at", "rev", "changed_at")}
LOCAL: dict[str, tuple[str, ...]] = {"sessions": ("rev", "changed_at")}

def archive_id(conn) -> str | None:
    """This archive's identity (the ``archive`` table), or for one made before it had one, the
    identity ensure() will give it: a hash of its first ingest run's id (random, and kept in every
    copy of the file). None when there is neither (nothing was ever ingested)."""
    import hashlib

    names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if "archive" in names:
        row = conn.execute("select id from archive order by created_at, id limit 1").fetchone()
        if row:
            return row[0]
    if "ingest_runs" in names:
        row = conn.execute("select min(id) from ingest_runs").fetchone()
        if row and row[0]:
            return "runs-" + hashlib.sha1(row[0].encode()).hexdigest()[:20]
    return None

# Columns whose text may carry secrets (tool inputs and outputs, prompts, conversation text, raw
# payloads, job prompts and results, error text): the store redacts them before writing unless
# redaction is turned off (ingest/redact.py). "json" columns are redacted string by string.
REDACTED: dict[str, dict[str, str]] = {
    "tool_calls": {"input_json": "json", "command": "text", "description": "text", "output_preview": "text",
                   "error_message": "text"},
    "permission_decisions": {"input_json": "json", "command": "text"},
    "prompts": {"text": "text"},
    "messages": {"text": "text", "thinking": "text"},
    "hook_events": {"payload": "json"},
    "statusline_snapshots": {"payload": "json"},
    "otel_events": {"attributes": "json", "resource": "json", "error": "text"},
    "errors": {"message": "text"},
    "compactions": {"summary_preview": "text", "custom_instructions": "text"},
    "subagents": {"description": "text"},
    "sessions": {"title": "text", "custom_title": "text", "ai_title": "text", "label": "text", "summary": "text"},
    "jobs": {"prompt": "text", "summary": "text", "original_prompt": "text", "errors_json": "json",
             "permission_denials_json": "json"},
    "commits": {"message": "text"},
    "ingest_skips": {"excerpt": "text"},
}

# Columns kept to a length (their full size is kept beside them where it matters: output_size): the
# store cuts them after redacting, never before, so a secret across the cut is never half-stored.
# For "json" columns the bound is per string inside the JSON (long file bodies in a tool input).
# What a session's replay shows is kept: tool inputs in full (up to 256 KB per string: a Write's file
# body), the first 16,000 characters of each tool's output (output_size keeps the whole size; the
# transcript's tool-results/ files hold the rest while they last), thinking up to 32,000 characters.
PREVIEW_CHARS = 2000
OUTPUT_CHARS = 16_000
INPUT_STRING_CHARS = 256 * 1024
BOUNDED: dict[str, dict[str, int]] = {
    "tool_calls": {"output_preview": OUTPUT_CHARS, "error_message": OUTPUT_CHARS, "input_json": INPUT_STRING_CHARS},
    "messages": {"thinking": 32_000},
    "permission_decisions": {"input_json": INPUT_STRING_CHARS},
    "compactions": {"summary_preview": PREVIEW_CHARS},
    "errors": {"message": 10 * PREVIEW_CHARS},
    "ingest_skips": {"excerpt": 300},
    "otel_events": {"attributes": INPUT_STRING_CHARS, "error": PREVIEW_CHARS},
}

# The rollups: each is one SELECT over a detail table, grouped by day (and session). For the sessions
# an ingest touched, rows from the earliest day still present in the detail onwards are recomputed
# (days already pruned from the detail keep their rollup); ensure() builds a new rollup in full.
ROLLUPS: dict[str, tuple[str, str, str]] = {
    # rollup -> (detail table, its day expression, SELECT with {where})
    "usage_daily": ("api_requests", "coalesce(date(timestamp), '')", """
select coalesce(date(timestamp), ''), session_id, coalesce(model, ''),
       (agent_id is not null or is_sidechain = 1),
       count(*), sum(input_tokens), sum(output_tokens), sum(cache_creation_input_tokens),
       sum(cache_read_input_tokens), sum(usage_total), sum(cost_usd), sum(priced = 0)
  from api_requests
 where is_replay = 0 and session_id is not null {where}
 group by 1, 2, 3, 4"""),
    "usage_15min": ("api_requests", "coalesce(date(timestamp), '')", """
select coalesce(date(timestamp), ''),
       coalesce(strftime('%Y-%m-%dT%H:', timestamp)
                || printf('%02d', cast(strftime('%M', timestamp) as integer) / 15 * 15), ''),
       session_id, coalesce(model, ''), (agent_id is not null or is_sidechain = 1),
       count(*), sum(input_tokens), sum(output_tokens), sum(cache_creation_input_tokens),
       sum(cache_read_input_tokens), sum(usage_total), sum(cost_usd), sum(priced = 0),
       min(timestamp), max(timestamp)
  from api_requests
 where is_replay = 0 and session_id is not null {where}
 group by 1, 2, 3, 4, 5"""),
    "tool_daily": ("tool_calls", "coalesce(date(coalesce(started_at, ended_at)), '')", """
select coalesce(date(coalesce(started_at, ended_at)), ''), session_id, coalesce(tool_name, ''),
       (agent_id is not null or is_sidechain = 1),
       count(*), sum(coalesce(is_error, 0)), sum(coalesce(interrupted, 0)), count(duration_ms),
       sum(duration_ms), max(duration_ms)
  from tool_calls
 where session_id is not null {where}
 group by 1, 2, 3, 4"""),
    "file_daily": ("file_events", "coalesce(date(timestamp), '')", """
select coalesce(date(timestamp), ''), session_id, file_path, count(*), sum(operation = 'read'),
       sum(operation in ('edit', 'write', 'create')), max(timestamp)
  from file_events
 where session_id is not null {where}
 group by 1, 2, 3"""),
}


# Days before the latest prune's cut-off are final: their rollups were complete when their detail
# was deleted, and detail read again later for them (a rewritten transcript, a late subagent file)
# is only part of what they counted, so recomputing them would lower kept totals.
PRUNED_BEFORE = "(select coalesce(max(before), '') from prunes)"
# The days this database may hold the rollups of only: those it pruned, and those an archive merged
# into it had pruned (merge copies their rollups; their 15-minute rollups may not exist). Reports
# read such days from usage_daily where usage_15min lacks them.
ROLLUPS_ONLY_BEFORE = ("(select coalesce(max(x), '') from (select max(before) as x from prunes "
                       "union all select max(pruned_before) from merge_sources))")


def _rollup_statements() -> tuple[tuple[frozenset, str], ...]:
    out = []
    for rollup, (detail, day, select) in ROLLUPS.items():
        columns = ", ".join(f"[{c}]" for c in TABLES[rollup].columns)
        out.append((frozenset({detail}), f"""
delete from [{rollup}] where session_id = :session_id
   and day >= max((select min({day}) from [{detail}] where session_id = :session_id), {PRUNED_BEFORE})"""))
        out.append((frozenset({detail}), f"insert or replace into [{rollup}] ({columns})"
                    + select.format(where=f"and session_id = :session_id and {day} >= {PRUNED_BEFORE}")))
    return tuple(out)


# After every other derivation: rollups sum what those settle (replays, durations, merged keys).
DERIVATIONS = DERIVATIONS + _rollup_statements()


def rebuild_rollups(conn, names=None) -> None:
    """Recompute rollups in full from the detail tables (a new rollup; a bulk load)."""
    for rollup in names or ROLLUPS:
        detail, _, select = ROLLUPS[rollup]
        columns = ", ".join(f"[{c}]" for c in TABLES[rollup].columns)
        conn.execute(f"delete from [{rollup}]")
        conn.execute(f"insert into [{rollup}] ({columns})" + select.format(where=""))


# What ``claude-ingest prune`` deletes: detail table -> the UTC day of a row, counted as its rollup
# counts it (no time at all is day '', older than any date). Whole days go, so each session's earliest
# day still in the detail stays the start of what its rollups are recomputed from, and pruned days
# keep their rollup rows (see ROLLUPS). Never pruned: sessions, subagents, jobs, commits, the rollups,
# and the ingest bookkeeping (ingest_files offsets stay, so files already read are not read again).
PRUNABLE: dict[str, str] = {
    "api_requests": ROLLUPS["usage_daily"][1],
    "messages": "coalesce(date(timestamp), '')",
    "tool_calls": ROLLUPS["tool_daily"][1],
    "file_events": ROLLUPS["file_daily"][1],
    "prompts": "coalesce(date(timestamp), '')",
    "errors": "coalesce(date(timestamp), '')",
    "hook_events": "coalesce(date(received_at), '')",
    "permission_decisions": "coalesce(date(timestamp), '')",
    "compactions": "coalesce(date(timestamp), '')",
    "ingest_skips": "coalesce(date(seen_at), '')",
}


def refresh_rollups(conn, names=None, sessions: str | None = None) -> None:
    """Recompute rollups from the earliest day still in each session's detail onwards, as an ingest
    does for the sessions it touched (``sessions``: a SELECT of their ids; default every session).
    Unlike ``rebuild_rollups``, days pruned from the detail keep their rows."""
    only = f"and session_id in ({sessions})" if sessions else ""
    for rollup in names or ROLLUPS:
        detail, day, select = ROLLUPS[rollup]
        columns = ", ".join(f"[{c}]" for c in TABLES[rollup].columns)
        conn.execute(f"""
delete from [{rollup}] where rowid in (
  select r.rowid from [{rollup}] r
    join (select session_id, min({day}) as first_day from [{detail}]
           where session_id is not null {only} group by session_id) f on f.session_id = r.session_id
   where r.day >= max(f.first_day, {PRUNED_BEFORE}))""")
        conn.execute(f"insert or replace into [{rollup}] ({columns})"
                     + select.format(where=f"{only} and {day} >= {PRUNED_BEFORE}"))


# Names earlier schema versions used (dropped by migrations.m001): not for anyone's own tables.
RETIRED_VIEWS = ("daily_usage",)

# How many jobs reused a job's prompt (``claude-ingest job --reuse-of``): recomputed from the base
# rows whenever a reuse is recorded, never incremented.
JOB_REUSE_COUNT_SQL = """
update jobs set reuse_count = (select count(*) from jobs r where r.reuse_of = jobs.id) where id = :job_id"""

# The session a commit belongs to: the latest one active in the repository's directory (or below it)
# within two hours of the commit, that has not ended.
ACTIVE_SESSION_SQL = """
select id from sessions
 where (cwd = :repository or cwd like :repository || '/%')
   and end_reason is null
   and julianday(:committed_at) - julianday(coalesce(ended_at, started_at)) between -1.0 / 24 and 2.0 / 24
 order by coalesce(ended_at, started_at) desc
 limit 1"""


def ensure(conn) -> None:
    """Apply the declarations above to a database: add what is missing, never drop data.

    Idempotent and safe to race: several processes (hooks on a fresh machine) may call it at once,
    so every step is "if not exists" and a lost race is retried. Sets ``user_version`` last, so a
    writer that sees the current version knows everything here exists.
    """
    import sqlite3

    import sqlite_utils  # only here: the hook path imports this module but never calls ensure twice

    db = sqlite_utils.Database(conn)
    for attempt in range(5):
        try:
            if conn.execute("pragma journal_mode").fetchone()[0] != "wal":
                db.enable_wal()
            _ensure_tables(db)
            conn.execute(f"pragma user_version = {SCHEMA_VERSION}")
            if conn.in_transaction:  # a connection not in autocommit mode (Datasette's writer)
                conn.commit()
            return
        except sqlite3.OperationalError as e:  # another process created the same thing first
            if attempt == 4 or not ("already exists" in str(e) or "locked" in str(e)):
                raise


def _ensure_tables(db) -> None:
    from . import migrations

    created = []
    for t in TABLES.values():
        table = db.table(t.name)
        if not table.exists():
            created.append(t.name)
            table.create(
                t.columns,
                pk=t.pk[0] if len(t.pk) == 1 else t.pk,
                foreign_keys=list(t.foreign_keys),
                defaults=dict(t.defaults),
                if_not_exists=True,
            )
        else:
            existing = {c.name for c in table.columns}
            for column, type_ in t.columns.items():
                if column not in existing:
                    table.add_column(column, type_, not_null_default=t.defaults.get(column))
        for columns in t.indexes:
            table.create_index(columns, if_not_exists=True)
        for index, (columns, where) in t.partial_indexes.items():  # sqlite-utils has no partial indexes
            cols = ", ".join(f"[{c}]" for c in columns)
            db.conn.execute(f"create index if not exists [{index}] on [{t.name}] ({cols}) where {where}")
        if t.fts and not table.detect_fts():
            table.enable_fts(t.fts, create_triggers=True)
            migrations.scope_fts_update_trigger(db, t.name, t.fts)
    migrations.apply(db)
    if not db.conn.execute("select 1 from archive").fetchone():
        import uuid

        from .clock import now_iso
        from .identity import host

        db.conn.execute("insert or ignore into archive (id, created_at, host) values (?, ?, ?)",
                        (archive_id(db.conn) or str(uuid.uuid4()), now_iso(), host()))
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)
    new_rollups = [name for name in ROLLUPS if name in created]
    if new_rollups:
        rebuild_rollups(db.conn, new_rollups)
