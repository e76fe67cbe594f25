"""Cut after redacting, never before (issue 9, section 2): a secret across the place where a
preview, a tool input's string or a skipped line's excerpt is cut is never stored half-visible."""

from __future__ import annotations

import json

from helpers import rows
from ingest import backfill, schema
from ingest.load import hooks as hook

KEY = "sk-ant-api03-" + "Zq7" * 15 + "AA"  # an Anthropic key's shape


def _no_part_of_the_key(text: str) -> bool:
    """Not even its first characters: what remains of a key cut in two is still a key's start."""
    return text is not None and KEY[:5] not in text


def test_a_key_across_the_cut_of_a_tool_output_is_redacted_whole(tmp_path):
    db = tmp_path / "claude.db"
    output = "x" * (schema.PREVIEW_CHARS - 20) + " " + KEY + " and more output"
    payload = {"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "toolu_cut",
               "tool_input": {"command": "cat .env", "description": "d" * (schema.INPUT_STRING_CHARS - 10) + " " + KEY},
               "tool_response": {"stdout": output}}
    assert hook.handle(json.dumps(payload).encode(), db) == "stored"
    (call,) = rows(db, "select output_preview, output_size, input_json from tool_calls")
    assert len(call["output_preview"]) <= schema.PREVIEW_CHARS + 40 and _no_part_of_the_key(call["output_preview"])
    assert call["output_size"] == len(output)
    assert _no_part_of_the_key(call["input_json"]) and json.loads(call["input_json"])["command"] == "cat .env"


def test_a_key_across_the_cut_of_a_bad_lines_excerpt_is_redacted_whole(tmp_path):
    project = tmp_path / "projects" / "-w"
    project.mkdir(parents=True)
    (project / "s.jsonl").write_text('{"type": "user", "broken' + "y" * 269 + " " + KEY + "\n")  # across 300
    backfill(tmp_path / "claude.db", [project])
    (skip,) = rows(tmp_path / "claude.db", "select excerpt from ingest_skips")
    assert _no_part_of_the_key(skip["excerpt"]) and len(skip["excerpt"]) <= 340
