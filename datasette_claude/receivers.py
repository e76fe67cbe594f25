"""Who may write through the plugin's receivers (OTLP/HTTP logs, Claude Code's http hooks): the one
access rule every route that writes starts with, instead of Datasette's view permissions (an
exporter or a hook is no Datasette actor), and what the routes share (the database a request
writes to, its body read within a bound)::

    machine = await receivers.authorize(datasette, request)   # or it raises Unauthorized/Forbidden

* With no tokens configured, only the loopback address may write (``datasette`` listens on
  127.0.0.1 unless told otherwise), and rows are this machine's.
* With tokens configured, every request needs ``Authorization: Bearer <token>``, loopback included,
  and the token names the machine whose rows it writes. Tokens are stored hashed (SHA-256, hex), in
  the plugin's settings (``metadata.yml`` on Datasette 0.65, ``datasette.yml`` on 1.0)::

      plugins:
        datasette-claude:
          tokens:
            laptop: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

  (``printf %s "$TOKEN" | sha256sum`` gives the hash; ``{"$env": "NAME"}`` reads one from the environment.)

Browsers cannot send a receiver a request without the server's consent (its bodies are
application/json or application/x-protobuf, which need a CORS preflight we never grant), and
Datasette's CSRF check is skipped for these paths only (``skip_csrf``): they take no cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

from datasette.utils.asgi import Forbidden, Response

from . import databases

PLUGIN = "datasette-claude"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# every route that writes: Datasette's CSRF check is not for them
RECEIVER_PATHS = ("/-/claude/otlp/", "/-/claude/hook")


class Unauthorized(Exception):
    """A request that needs a token and brought none, or a wrong one: 401."""


class Misconfigured(Exception):
    """The plugin's ``tokens`` setting cannot be used: no request is let in (500, saying why)."""


def tokens(datasette) -> dict[str, str]:
    """machine name -> SHA-256 of its token (hex, lower case), from the plugin's settings."""
    config = datasette.plugin_config(PLUGIN) or {}
    configured = config.get("tokens") if isinstance(config, dict) else None
    if configured is None:
        return {}
    if not isinstance(configured, dict):
        raise Misconfigured(f"plugins.{PLUGIN}.tokens must map machine names to SHA-256 hashes of their tokens")
    out = {}
    for machine, digest in configured.items():
        digest = digest.strip().lower() if isinstance(digest, str) else ""
        if not _SHA256.fullmatch(digest):
            raise Misconfigured(f"plugins.{PLUGIN}.tokens.{machine}: expected the SHA-256 of the token "
                                "(64 hex digits), not the token itself")
        out[str(machine)] = digest
    return out


def is_loopback(request) -> bool:
    client = request.scope.get("client")
    host = client[0] if client else None
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


async def authorize(datasette, request) -> str | None:
    """The machine whose rows this request writes: a token's name, or (no tokens configured, from
    the loopback address) None for this machine. Raises Unauthorized or Forbidden otherwise."""
    configured = tokens(datasette)
    if configured:
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("this receiver needs Authorization: Bearer <token> (tokens are configured)")
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        found = None
        for machine, stored in configured.items():  # every one compared, in constant time each
            if hmac.compare_digest(digest, stored):
                found = machine
        if found is None:
            raise Unauthorized("that token is not one of this receiver's")
        return found
    if not is_loopback(request):
        raise Forbidden("this receiver takes requests from this machine only, unless tokens are configured "
                        f"(plugins.{PLUGIN}.tokens)")
    return None


def refusal(e: Exception) -> Response:
    """The response for what :func:`authorize` raised (JSON: exporters log the body)."""
    if isinstance(e, Unauthorized):
        return Response.json({"error": str(e)}, status=401, headers={"WWW-Authenticate": 'Bearer realm="claude"'})
    if isinstance(e, Misconfigured):
        return Response.json({"error": str(e)}, status=500)
    return Response.json({"error": str(e) or "forbidden"}, status=403)


async def read_body(request, limit: int) -> bytes | None:
    """The request body, or None past ``limit`` bytes (read no further)."""
    chunks, size = [], 0
    more = True
    while more:
        message = await request.receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def target_database(datasette, request, names):
    """The database a request writes to: ``?db=NAME`` among ours, else the first. LookupError for a
    name not ours, PermissionError for a database served read-only."""
    wanted = request.args.get("db")
    if wanted and wanted not in names:
        raise LookupError("db: no database written by claude-ingest is served under that name")
    db = datasette.get_database(wanted or names[0])
    if not db.is_mutable or not db.path:
        raise PermissionError(f"database {db.name} is served read-only: it cannot receive events")
    return db


def error(message: str, status: int) -> Response:
    """A receiver's refusal: JSON, since exporters and Claude Code log the body."""
    return Response.json({"error": message}, status=status)


async def accept(datasette, request, *, what: str, types: tuple[str, ...], max_body: int):
    """What every receiver does before it reads what it was sent, in this order: who may write
    (:func:`authorize`), POST only, the database it writes to, its content type, its body within
    ``max_body``. ``(machine, database, content type, body)``, or the Response that refuses it."""
    try:  # the access rule, before anything is read
        machine = await authorize(datasette, request)
    except (Unauthorized, Misconfigured, Forbidden) as e:
        return refusal(e)
    if request.method != "POST":
        return Response.json({"error": f"POST {what} here"}, status=405, headers={"Allow": "POST"})
    names = await databases.recognised(datasette)
    if not names:
        return error("no database written by claude-ingest is being served", 404)
    try:
        db = target_database(datasette, request, names)
    except LookupError as e:
        return error(str(e), 400)
    except PermissionError as e:
        return error(str(e), 403)
    kind = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if kind not in types:  # what the senders send; a form post from a page is refused
        return error(f"Content-Type must be {' or '.join(types)}", 415)
    body = await read_body(request, max_body)
    if body is None:
        return error(f"a request larger than {max_body:,} bytes", 413)
    return machine, db, kind, body


def skips_csrf(scope) -> bool:
    return scope.get("type") == "http" and any(scope.get("path", "").startswith(p) for p in RECEIVER_PATHS)
