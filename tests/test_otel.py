"""Claude Code's OpenTelemetry events in: `claude-ingest otel` on a real recorded export, and the
plugin's OTLP/HTTP receiver fed by the OpenTelemetry SDK's own exporter, against a real Datasette on
127.0.0.1, for a session that is also backfilled from its transcript."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from datetime import datetime

import pytest

from helpers import FIXTURES, PROJECTS, claude_ingest, rows, serve

otel_sdk = pytest.importorskip("opentelemetry.sdk._logs")
from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402

REAL = FIXTURES / "otel" / "claude-code-2.1.294.http-json.requests.jsonl"  # what Claude Code 2.1.294 posted
SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
TOKEN = "a-secret-token-for-the-laptop"


def _datasette_1() -> bool:
    import datasette

    return datasette.__version__.startswith("1.")


@pytest.fixture
def db(tmp_path):
    from ingest import backfill

    path = tmp_path / "claude.db"
    backfill(path, [PROJECTS])
    return path


@pytest.fixture
def server(db, tmp_path):
    proc, url = serve(db, tmp_path)
    yield url
    proc.terminate()
    proc.wait(10)


class Recording(OTLPLogExporter):
    """The SDK's exporter, keeping each batch it sent and what came of it (so a batch can be resent)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def export(self, batch):
        result = super().export(batch)
        self.sent.append((list(batch), result))
        return result


def exporter_for(url, *, headers=None, compression=Compression.NoCompression):
    from opentelemetry.sdk._logs import LoggerProvider

    exporter = Recording(endpoint=f"{url}/-/claude/otlp/v1/logs", headers=headers, compression=compression,
                         timeout=10)
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code", "service.version": "2.1.39",
                                                        "os.type": "linux", "host.arch": "amd64"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=512))
    return provider, provider.get_logger("com.anthropic.claude_code.events", "2.1.39"), exporter


def ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1e9)


def emit(logger, name: str, at: str, sequence: int, **attrs):
    """One event as Claude Code emits it: the body and eventName fully qualified, event.name bare,
    the standard attributes (monitoring-usage docs, 2026-08)."""
    attributes = {"session.id": SPOTTER, "event.name": name, "event.timestamp": at, "event.sequence": sequence,
                  "terminal.type": "xterm-256color", **attrs}
    logger.emit(body=f"claude_code.{name}", event_name=f"claude_code.{name}", timestamp=ns(at),
                attributes={k: v for k, v in attributes.items() if v is not None})


def api_requests_of(db):
    return rows(db, "select message_id, request_id, model, timestamp, input_tokens, output_tokens, "
                    "cache_read_input_tokens, cache_creation_input_tokens, cost_usd from api_requests "
                    "where session_id = ? and is_replay = 0 and request_id != '' order by timestamp", (SPOTTER,))


def emit_session(logger, db) -> float:
    """Claude Code's events for the spotter session: an api_request per API call its transcript holds
    (tokens from the transcript; the cost Claude Code computes from them at list prices, which is
    ours), the compaction call transcripts never show, and a tool result. Returns the compaction's cost."""
    for i, r in enumerate(api_requests_of(db)):
        emit(logger, "api_request", r["timestamp"], 100 + i, model=r["model"], request_id=r["request_id"],
             input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
             cache_read_tokens=r["cache_read_input_tokens"], cache_creation_tokens=r["cache_creation_input_tokens"],
             cost_usd=r["cost_usd"], cost_usd_micros=int(round(r["cost_usd"] * 1e6)), duration_ms=1200 + i,
             speed="normal", query_source="repl_main_thread")
    compaction = 0.25
    emit(logger, "api_request", "2026-02-12T16:00:00.000Z", 999, model="claude-opus-4-6",
         request_id="req_compaction_summary", input_tokens=150_000, output_tokens=2_000, cost_usd=compaction,
         duration_ms=40_000, query_source="compact")
    tool = rows(db, "select tool_use_id, tool_name, started_at from tool_calls where session_id = ? and "
                    "started_at is not null order by started_at limit 1", (SPOTTER,))[0]
    emit(logger, "tool_result", tool["started_at"], 1000, tool_name=tool["tool_name"], tool_use_id=tool["tool_use_id"],
         success="true", duration_ms="42", decision_type="accept", decision_source="config")
    return compaction


def reconciliation(url, **params):
    query = {"start": "", "end": "", "project": "", "session_id": "", "by": "", **params}
    from urllib.parse import urlencode

    with urllib.request.urlopen(f"{url}/claude/reconciliation.json?_shape=objects&{urlencode(query)}") as r:
        return json.load(r)["rows"]


# -- the receiver ---------------------------------------------------------------------------------
def test_sdk_exported_events_meet_the_transcript_and_reconcile(server, db):
    provider, logger, exporter = exporter_for(server, compression=Compression.Gzip)
    compaction = emit_session(logger, db)
    provider.force_flush()
    assert exporter.sent and all(result == LogRecordExportResult.SUCCESS for _, result in exporter.sent)
    transcript = api_requests_of(db)
    got = rows(db, "select event, count(*) n from otel_events group by event order by event")
    assert got == [{"event": "api_request", "n": len(transcript) + 1}, {"event": "tool_result", "n": 1}]
    # api_request events join the transcript's responses on request_id: all but the compaction call
    joined = rows(db, "select count(*) n from otel_events o join api_requests a on a.request_id = o.request_id "
                      "where o.event = 'api_request' and a.is_replay = 0")[0]["n"]
    assert joined == len(transcript)
    assert rows(db, "select query_source from otel_events o where event = 'api_request' and not exists "
                    "(select 1 from api_requests a where a.request_id = o.request_id)") == [{"query_source": "compact"}]
    assert rows(db, "select count(*) n from otel_events o join tool_calls t on t.tool_use_id = o.tool_use_id")[0]["n"] == 1
    pairs = rows(db, "select request_id, claude_code_output_tokens, output_tokens, claude_code_cost_usd, cost_usd "
                     "from otel_api_requests")
    assert len(pairs) == len(transcript) + 1
    assert all(p["claude_code_output_tokens"] == p["output_tokens"] for p in pairs if p["output_tokens"] is not None)
    assert [p["request_id"] for p in pairs if p["cost_usd"] is None] == ["req_compaction_summary"]
    assert rows(db, "select distinct source, host, version from otel_events") == [
        {"source": "otlp-http", "host": None, "version": "2.1.39"}]

    # the reconciliation query shows both figures for the session, with the ratio, flagged past 1%
    (row,) = [r for r in reconciliation(server) if r["session_id"] == SPOTTER]
    ours = rows(db, "select sum(cost_usd) c from api_requests where session_id = ? and is_replay = 0", (SPOTTER,))[0]["c"]
    theirs = sum(r["cost_usd"] for r in transcript) + compaction
    assert row["transcript_cost_usd"] == pytest.approx(ours, abs=1e-6)
    assert row["otel_cost_usd"] == pytest.approx(theirs, abs=1e-6) and row["claude_code_source"] == "otel"
    assert row["ratio"] == pytest.approx(theirs / ours, abs=1e-4) and row["flag"] == "off by more than 1%"
    assert row["otel_requests"] == len(transcript) + 1
    by_day = {r["day"]: r for r in reconciliation(server, by="day")}
    assert by_day["2026-02-12"]["claude_code_cost_usd"] == pytest.approx(theirs, abs=1e-6)
    assert by_day["2026-02-10"]["flag"] == "only our transcripts"

    # a resent batch changes nothing
    before = rows(db, "select * from otel_events order by id")
    batch, _ = exporter.sent[0]
    assert exporter.export(batch) == LogRecordExportResult.SUCCESS
    assert rows(db, "select * from otel_events order by id") == before
    provider.shutdown()


def test_json_bodies_of_a_real_claude_code_export_and_the_same_events_from_a_file(server, db, tmp_path):
    for line in REAL.read_text().splitlines():
        request = urllib.request.Request(f"{server}/-/claude/otlp/v1/logs", data=line.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as r:
            assert r.status == 200 and json.load(r) == {}
    (api,) = rows(db, "select * from otel_events where event = 'api_request'")
    assert (api["request_id"], api["model"], api["cost_usd"], api["cache_creation_tokens"], api["version"]) == (
        "req_011CfpSK96NthX9vPNsW9X2b", "claude-haiku-5-5", 0.0027651900000000003, 13356, "2.1.294")
    attributes = json.loads(api["attributes"])
    assert "user.email" not in attributes and attributes["ttft_ms"] == 729 and attributes["effort"] == "medium"
    # the same events read from the file are the same rows
    before = rows(db, "select id, event, cost_usd from otel_events order by id")
    assert len(before) == 6
    r = claude_ingest("otel", REAL, "--db", db)
    assert r.returncode == 0 and "6 events" in r.stdout and "0 new" in r.stdout
    assert rows(db, "select id, event, cost_usd from otel_events order by id") == before


def test_what_the_receiver_refuses(server, db):
    def post(body, content_type="application/json", method="POST", headers=None):
        request = urllib.request.Request(f"{server}/-/claude/otlp/v1/logs", data=body, method=method,
                                         headers={"Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(request) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    assert post(b"{}", "text/plain")[0] == 415  # what a browser could send without asking first
    assert post(b"{not json")[0] == 400
    assert post(b"\x00\x01garbage", "application/x-protobuf")[0] == 400
    assert post(b"x" * 100, "application/json", headers={"Content-Encoding": "br"})[0] == 400
    assert post(None, method="GET")[0] == 405
    assert post(b'{"resourceLogs": []}', headers={"Content-Encoding": "gzip"})[0] == 400  # not gzip
    assert rows(db, "select count(*) n from otel_events") == [{"n": 0}]


def test_with_a_token_configured_every_request_needs_it_and_it_names_the_machine(db, tmp_path):
    proc, url = serve(db, tmp_path, tokens={"laptop": hashlib.sha256(TOKEN.encode()).hexdigest()})
    try:
        for headers in (None, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN}):
            provider, logger, exporter = exporter_for(url, headers=headers)
            emit(logger, "user_prompt", "2026-02-12T15:00:00.000Z", 1, prompt_length=12)
            provider.force_flush()
            assert [result for _, result in exporter.sent] == [LogRecordExportResult.FAILURE], headers
            provider.shutdown()
        assert rows(db, "select count(*) n from otel_events") == [{"n": 0}]
        provider, logger, exporter = exporter_for(url, headers={"Authorization": f"Bearer {TOKEN}"})
        emit(logger, "user_prompt", "2026-02-12T15:00:00.000Z", 1, prompt_length=12)
        provider.force_flush()
        assert [result for _, result in exporter.sent] == [LogRecordExportResult.SUCCESS]
        provider.shutdown()
        assert rows(db, "select event, host from otel_events") == [{"event": "user_prompt", "host": "laptop"}]
    finally:
        proc.terminate()
        proc.wait(10)


async def test_without_tokens_only_the_loopback_address_may_write(db):
    """A request from another address, in process (no traffic leaves the machine): refused; the same
    from 127.0.0.1: stored."""
    import httpx
    from datasette.app import Datasette

    ds = Datasette([str(db)])
    await ds.invoke_startup()
    body = REAL.read_text().splitlines()[1].encode()
    for client, status in ((("203.0.113.7", 40000), 403), (("::1", 40000), 200), (("127.0.0.1", 40000), 200)):
        transport = httpx.ASGITransport(app=ds.app(), client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            r = await c.post("/-/claude/otlp/v1/logs", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (client, r.text)
    assert rows(db, "select count(*) n from otel_events where event = 'api_request'") == [{"n": 1}]


async def test_a_token_setting_that_holds_a_token_instead_of_its_hash_lets_nobody_in(db):
    from datasette.app import Datasette

    config = {"plugins": {"datasette-claude": {"tokens": {"laptop": TOKEN}}}}
    ds = Datasette([str(db)], **({"config": config} if _datasette_1() else {"metadata": config}))
    r = await ds.client.post("/-/claude/otlp/v1/logs", content=REAL.read_text().splitlines()[1],
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 500 and "SHA-256" in r.json()["error"]
    assert rows(db, "select count(*) n from otel_events") == [{"n": 0}]


# -- the command ----------------------------------------------------------------------------------
def test_otel_reads_a_file_incrementally_and_counts_what_it_cannot_read(tmp_path, db):
    log = tmp_path / "claude-code-logs.jsonl"
    first, second = REAL.read_text().splitlines()
    log.write_text(first + "\n")
    r = claude_ingest("otel", log, "--db", db)
    assert r.returncode == 0 and "2 events" in r.stdout and "2 new" in r.stdout
    assert "unchanged since the last read" in claude_ingest("otel", log, "--db", db).stdout
    with log.open("a") as f:  # the collector appends: a metrics line, a bad line, the next request
        f.write(json.dumps({"resourceMetrics": []}) + "\n" + "{cut\n" + second + "\n")
    r = claude_ingest("otel", log, "--db", db)
    assert "3 lines" in r.stdout and "4 events" in r.stdout and "4 new" in r.stdout, r.stdout
    assert "1 bad lines skipped" in r.stdout and "1 lines of metrics or traces passed over" in r.stdout
    assert rows(db, "select count(*) n from otel_events") == [{"n": 6}]
    assert rows(db, "select reason from ingest_skips where path like '%#otel'")[0]["reason"].startswith("JSONDecodeError")
    # stdin, a pretty-printed body: the same events, nothing new
    pretty = json.dumps(json.loads(second), indent=2)
    r = claude_ingest("otel", "-", "--db", db, input=pretty)
    assert r.returncode == 0 and "4 events" in r.stdout and "0 new" in r.stdout
    assert claude_ingest("otel", tmp_path / "missing.jsonl", "--db", db).returncode == 2
