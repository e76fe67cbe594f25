"""``POST /-/claude/otlp/v1/logs``: an OTLP/HTTP logs receiver, so that Claude Code's own exporter
(``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8001/-/claude/otlp``) sends a running
``datasette claude.db`` its events directly.

Takes ``application/x-protobuf`` (decoded with opentelemetry-proto's generated classes, the
``otlp`` extra) and ``application/json`` bodies, gzip-compressed or not, and answers as the OTLP/HTTP
specification says (an empty ``ExportLogsServiceResponse`` in the request's encoding; 4xx for what
must not be retried, 503 for what may). Each request goes through the hook's never-failing event path
(:func:`ingest.load.otel.handle_request`): stored, or spooled while the database is busy.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

from datasette.utils.asgi import Response

from .. import receivers

MAX_BODY = 16 * 1024 * 1024  # a batch of Claude Code's events is kilobytes; this is far past any
PROTOBUF, JSON = "application/x-protobuf", "application/json"


_error = receivers.error


def _inflate(body: bytes, encoding: str) -> bytes | None:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ValueError(f"Content-Encoding {encoding!r} is not one this receiver reads (gzip or none)")
    d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    out = d.decompress(body, MAX_BODY + 1)
    return None if len(out) > MAX_BODY or d.unconsumed_tail else out


def _decode_protobuf(body: bytes) -> dict:
    try:
        from google.protobuf import json_format
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    except ImportError:
        raise LookupError("protobuf bodies need opentelemetry-proto: pip install 'datasette-claude[otlp]', "
                          "or set OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/json") from None
    message = ExportLogsServiceRequest()
    try:
        message.ParseFromString(body)
    except DecodeError as e:
        raise ValueError(f"not an OTLP ExportLogsServiceRequest: {e}") from None
    return json_format.MessageToDict(message)


async def otlp_logs(datasette, request):
    accepted = await receivers.accept(datasette, request, what="OTLP logs", types=(PROTOBUF, JSON), max_body=MAX_BODY)
    if isinstance(accepted, Response):
        return accepted
    machine, db, kind, body = accepted
    try:
        body = _inflate(body, (request.headers.get("content-encoding") or "").strip().lower())
        if body is None:
            return _error(f"a request larger than {MAX_BODY:,} bytes once decompressed", 413)
        payload = _decode_protobuf(body) if kind == PROTOBUF else json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an OTLP ExportLogsServiceRequest (a JSON object)")
    except LookupError as e:
        return _error(str(e), 415)
    except (ValueError, zlib.error, gzip.BadGzipFile, RecursionError) as e:
        return _error(f"the body cannot be read: {e}", 400)
    # What the spool keeps if the database is busy: the request as JSON, with the machine it is for.
    raw = json.dumps({"machine": machine, "request": payload}, ensure_ascii=False).encode()
    from ingest.load.otel import handle_request

    try:
        outcome = await asyncio.get_running_loop().run_in_executor(None, handle_request, raw, db.path)
    except Exception as e:  # noqa: BLE001 - a request's events that cannot be written: said, not a traceback
        return _error(f"the events could not be stored: {type(e).__name__}: {e}", 500)
    if outcome == "lost":
        return _error("the database cannot take the events now, nor the spool: send them again", 503)
    if kind == PROTOBUF:
        return Response(b"", status=200, content_type=PROTOBUF)  # an empty ExportLogsServiceResponse
    return Response.json({}, status=200)
