"""The reconciliation and rate_limits canned queries through Datasette: our transcript figures beside
Claude Code's own (statusline, OpenTelemetry, headless results), and what used a plan's limits."""

from __future__ import annotations

import json

import pytest
from datasette.app import Datasette

from helpers import FIXTURES, HOOKS, PROJECTS, rows

SPOTTER = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
DOCUMENTED = HOOKS / "statusline-docs-example-2026-08.json"
WEEK_ENDS = 1770940800  # 2026-02-13T00:00:00Z


@pytest.fixture
def db(tmp_path):
    from ingest import backfill

    path = tmp_path / "claude.db"
    backfill(path, [PROJECTS])
    return path


def snapshot(conn, session, at, *, cost, week=None, five=None):
    from ingest.load.statusline import write_snapshot

    p = json.loads(DOCUMENTED.read_text())
    p.update(session_id=session, cost={"total_cost_usd": cost})
    p["rate_limits"] = {"seven_day": {"used_percentage": week, "resets_at": WEEK_ENDS},
                        "five_hour": {"used_percentage": five, "resets_at": WEEK_ENDS - 10 * 3600}}
    assert write_snapshot(conn, json.dumps(p).encode(), at)


async def query(path, name, **params):
    ds = Datasette([str(path)])
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    r = await ds.client.get(f"/claude/{name}.json?_shape=array&{qs}")
    assert r.status_code == 200, r.text[:500]
    return r.json()


async def test_statusline_and_a_job_s_figures_beside_the_transcript_s(db):
    from ingest import store
    from ingest.load.jobs import ingest_job

    ours = rows(db, "select sum(cost_usd) c from api_requests where session_id = ? and is_replay = 0", (SPOTTER,))[0]["c"]
    conn = store.connect(db)
    snapshot(conn, SPOTTER, "2026-02-12T15:40:00.000Z", cost=1.00)
    snapshot(conn, SPOTTER, "2026-02-12T16:30:00.000Z", cost=round(ours * 1.004, 6))  # within 1%
    conn.close()
    # a real headless result's own cost, under a session of its own with no transcript
    ingest_job(db, (FIXTURES / "headless" / "claude-p-output-json.result-1h-cache-writes.real-2026-08.json").read_text())
    got = {r["session_id"]: r for r in await query(db, "reconciliation")}
    spotter = got[SPOTTER]
    assert spotter["claude_code_source"] == "statusline" and spotter["flag"] == ""
    assert spotter["statusline_cost_usd"] == pytest.approx(ours * 1.004, abs=1e-5)
    assert spotter["ratio"] == pytest.approx(1.004, abs=1e-4)
    job = got["a83b4b61-293d-44c8-816d-4184e934ff7f"]
    assert job["job_cost_usd"] == pytest.approx(3.3026609) and job["flag"] == "only Claude Code's figure"
    # one session, as the session page will ask
    (one,) = await query(db, "reconciliation", session_id=SPOTTER)
    assert one["session_id"] == SPOTTER and one["transcript_cost_usd"] == pytest.approx(ours, abs=1e-6)
    # Claude Code's figure more than 1% above ours is flagged
    conn = store.connect(db)
    snapshot(conn, SPOTTER, "2026-02-12T16:50:00.000Z", cost=round(ours * 1.02, 6))
    conn.close()
    (one,) = await query(db, "reconciliation", session_id=SPOTTER)
    assert one["flag"] == "off by more than 1%" and one["ratio"] == pytest.approx(1.02, abs=1e-4)
    # the session page says it too, beside its own cost
    from datasette_claude import format as fmt

    page = (await Datasette([str(db)]).client.get(f"/-/claude/session/{SPOTTER}")).text
    said = page[page.index('id="reconciliation"'):]
    said = said[:said.index("</p>")]
    assert "its status line" in said and fmt.money(ours * 1.02) in said and fmt.money(ours) in said
    assert "1.020× ours" in said and "off by more than 1%" in said
    # and in the session report's table (not in its ccusage JSON, whose shape is ccusage's)
    from helpers import claude_ingest

    text = claude_ingest("report", "session", "--db", db, "--timezone", "UTC").stdout
    assert "Claude Code" in text and f"{fmt.money(ours * 1.02)} (statusline)" in text
    report = (await Datasette([str(db)]).client.get("/-/claude/report/session?timezone=UTC")).text
    assert ">Claude Code</th>" in report and f'<span title="from statusline">{fmt.money(ours * 1.02)}</span>' in report
    ccusage_shape = (await Datasette([str(db)]).client.get("/-/claude/report/session.json?timezone=UTC")).json()
    assert "report" not in ccusage_shape and all("claude_code" not in s for s in ccusage_shape["sessions"])


async def test_rate_limits_window_by_window_with_the_sessions_that_used_them(db):
    from ingest import store

    conn = store.connect(db)
    snapshot(conn, SPOTTER, "2026-02-12T15:40:00.000Z", cost=1.0, week=10, five=5)
    snapshot(conn, SPOTTER, "2026-02-12T16:10:00.000Z", cost=6.0, week=14, five=9)
    snapshot(conn, "another", "2026-02-12T16:20:00.000Z", cost=0.5, week=15, five=10)
    snapshot(conn, SPOTTER, "2026-02-12T16:30:00.000Z", cost=9.0, week=18, five=13)
    conn.close()
    got = await query(db, "rate_limits")
    assert {r["window_start"] for r in got} == {"2026-02-06T00:00:00.000Z"}
    by_session = {r["session_id"]: r for r in got}
    assert by_session[SPOTTER]["points_used"] == 7.0 and by_session[SPOTTER]["share_pct"] == 87.5
    assert by_session["another"]["points_used"] == 1.0 and by_session[SPOTTER]["peak_pct"] == 18.0
    assert by_session[SPOTTER]["claude_code_cost_usd"] == 8.0  # what its status line rose by in the window
    assert by_session[SPOTTER]["transcript_cost_usd"] == pytest.approx(10.5123, abs=1e-4)
    # a session that ran in the window without the status line shows with its spend and no points
    other = [r for r in got if r["session_id"] not in (SPOTTER, "another")]
    assert other and all(r["points_used"] is None and r["transcript_cost_usd"] > 0 for r in other)
    five = await query(db, "rate_limits", window="5h")
    assert {r["window_end"] for r in five} == {"2026-02-12T14:00:00.000Z"}
