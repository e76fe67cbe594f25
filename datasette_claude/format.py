"""Readable cells: JSON shown formatted, long text folded, session ids linked from query results."""

from __future__ import annotations

import json

from markupsafe import Markup, escape

# Columns of the schema (and of the canned queries: last_error) shown formatted or folded.
JSON_COLUMNS = frozenset({"input_json", "payload", "files_json", "files_modified_json", "rows_json",
                          "unpriced_models", "permission_denials_json", "errors_json"})
LONG_TEXT_COLUMNS = frozenset({"output_preview", "error_message", "text", "summary_preview", "message",
                               "prompt", "summary", "last_error", "custom_instructions", "original_prompt",
                               "excerpt"})
FOLD_AT = 240


def render(value, column, table, database, datasette):
    if not isinstance(value, str) or not value:
        return None
    if column in JSON_COLUMNS and value[:1] in "{[":
        try:
            pretty = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return None
        return _fold(pretty, pre=True)
    if column == "session_id" and table is None:  # tables link through their foreign key already
        from datasette.utils import tilde_encode

        href = datasette.urls.row(database, "sessions", tilde_encode(value))
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    if column in LONG_TEXT_COLUMNS and len(value) > FOLD_AT:
        return _fold(value)
    return None


def _fold(text: str, pre: bool = False) -> Markup:
    body = f'<pre style="white-space: pre-wrap; margin: 0">{escape(text)}</pre>' if pre else (
        f'<div style="white-space: pre-wrap">{escape(text)}</div>')
    if len(text) <= FOLD_AT:
        return Markup(body)
    head = text[:200].replace("\n", " ")
    return Markup(f"<details><summary>{escape(head)}… ({len(text):,} characters)</summary>{body}</details>")
