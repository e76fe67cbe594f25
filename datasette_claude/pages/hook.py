"""``POST /-/claude/hook``: Claude Code's ``"type": "http"`` hooks, so that a running
``datasette team.db`` is a team's archive: every machine's hooks post their events to it
(``claude-ingest install-hooks --remote URL --token-env VAR`` writes them).

The body is the payload a command hook reads on stdin, and it goes through the same code path as
``claude-ingest hook`` (:func:`ingest.load.hooks.handle`): the raw payload first, keyed by the hash of
its bytes (a machine that also keeps its own archive and merges it later converges on the same rows),
then what it says, in one transaction; spooled when the database is busy and replayed by a later
request. Its rows are labelled with the machine its token names (receivers.authorize), never with
anything the payload says.

The answer is 200 with an empty body: Claude Code reads a hook's response body as the hook's output
(plain text would go into the model's context on SessionStart and UserPromptSubmit; JSON could
decide for it), so a telemetry hook says nothing. Anything else is Claude Code's "non-blocking
error": the agent goes on, and the user sees why.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from functools import partial

from datasette.utils.asgi import Response

from .. import receivers

MAX_BODY = 64 * 1024 * 1024  # claude-ingest hook reads this much of a payload on stdin (hooks.MAX_PAYLOAD_BYTES)


_error = receivers.error


async def hook_event(datasette, request):
    accepted = await receivers.accept(datasette, request, what="Claude Code hook payloads",
                                      types=("application/json",), max_body=MAX_BODY)
    if isinstance(accepted, Response):
        return accepted
    machine, db, _, body = accepted
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as e:
        return _error(f"not a Claude Code hook payload (JSON): {e}", 400)
    if not isinstance(payload, dict):
        return _error("not a Claude Code hook payload (a JSON object)", 400)
    from ingest.load import hooks

    handle = partial(hooks.handle, hooks.posted(body, machine), db.path, None, hooks.POSTED_HOOK, size=len(body),
                     event_id=hashlib.sha256(body).hexdigest())
    try:
        outcome = await asyncio.get_running_loop().run_in_executor(None, handle)
    except Exception as e:  # noqa: BLE001 - a payload that cannot be written: said, not a traceback
        return _error(f"the event could not be stored: {type(e).__name__}: {e}", 500)
    if outcome == "lost":
        return _error("the database cannot take the event now, nor the spool", 503)
    return Response(b"", status=200, content_type="text/plain")  # nothing for Claude Code to act on
