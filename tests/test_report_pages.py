"""ccusage's reports as dashboard pages, ``/-/claude/report/<kind>``: through ``Datasette([path]).client``
on the real fixture database. The page's JSON is ccusage 20.0.24's own output on the same transcripts
(tokens exactly, costs to 1e-9), its totals row says what the library says, and a bad parameter is a
400 with a message, never a 500.

Runs unchanged on Datasette 0.65 and on the 1.0 alpha (tests/test_datasette_versions.py).
"""

import json
import re

import pytest
from datasette.app import Datasette

from helpers import EXPECTED, PLAIN, file_names, options, same
from datasette_claude import format as fmt
from ingest import reports

KINDS = ("daily", "weekly", "monthly", "session", "blocks")


@pytest.fixture
def ds(fixture_db):
    return Datasette([str(fixture_db)])


@pytest.mark.parametrize("name", sorted(PLAIN))
async def test_the_pages_json_is_ccusages(ds, fixture_db, name):
    ref = PLAIN[name]
    page = await ds.client.get(f"/-/claude/report/{ref['report']}.json", params=options(ref))
    assert page.status_code == 200, page.text[-300:]
    ours = page.json()
    names = file_names(fixture_db)  # ccusage names a session by its file: tool_heavy.jsonl's lines carry another id
    for s in ours.get("sessions", []):
        s["sessionId"] = names.get(s["sessionId"], s["sessionId"])
    same(ours, json.loads((EXPECTED / name).read_text()))


def _cells(html: str, part: str) -> list[str]:
    body = html[html.index(f"<{part}>"):html.index(f"</{part}>")]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_report_page_has_a_chart_a_table_and_its_totals(ds, fixture_db, kind):
    page = await ds.client.get(f"/-/claude/report/{kind}", params={"timezone": "UTC", "breakdown": "1"})
    assert page.status_code == 200, page.text[-500:]
    html = page.text
    assert '<svg class="claude-chart"' in html and 'class="mark"' in html
    result = reports.report(kind, fixture_db, timezone="UTC")
    totals = _cells(html, "tfoot")
    assert totals[0] == "Total"
    if kind == "blocks":
        blocks = [b for b in result["blocks"] if not b["isGap"]]
        cost = sum(b["costUSD"] for b in blocks)
        tokens = sum(b["totalTokens"] for b in blocks)
        assert totals[1] == fmt.counted(len(blocks), "block")
        assert html.count('<tr class="gap">') == sum(b["isGap"] for b in result["blocks"])
    else:
        cost, tokens = result["totals"]["totalCost"], result["totals"]["totalTokens"]
    assert totals[-1] == fmt.money(cost) == "$12.77"  # ccusage's grand total on these transcripts: 12.77166385
    assert totals[-2] == f"{tokens:,}"
    # each period (session, block) a row, each model of it a row beneath with breakdown=1
    key = {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "session": "sessions", "blocks": "blocks"}[kind]
    assert html.count("<tr class=\"sub\">") == sum(len(r.get("modelBreakdowns", [])) for r in result[key])


async def test_session_rows_link_to_their_session_page_by_label(ds):
    html = (await ds.client.get("/-/claude/report/session")).text
    assert '<a href="/-/claude/session/fa812bfe-b295-4cca-9c2f-fdf01028cb46">linked-soaring-matsumoto</a>' in html


async def test_filters_narrow_the_page_as_they_narrow_the_report(ds, fixture_db):
    for params in ({"since": "2026-02-01", "until": "2026-02-28"}, {"project": "spotter"}, {"agent": "claude"},
                   {"timezone": "Asia/Tokyo", "since": "20260212"}):
        want = reports.daily(fixture_db, **{"timezone": "UTC", **params})
        page = await ds.client.get("/-/claude/report/daily", params={"timezone": "UTC", **params})
        totals = _cells(page.text, "tfoot")
        assert totals[-1] == fmt.money(want["totals"]["totalCost"]), params
        assert totals[1] == fmt.counted(len(want["daily"]), "day"), params
    nothing = await ds.client.get("/-/claude/report/daily", params={"agent": "gemini"})
    assert nothing.status_code == 200 and "No usage for this choice" in nothing.text


BAD = [
    ("daily", "since=2026-13-01", "--since"),
    ("daily", "until=yesterday", "--until"),
    ("daily", "since=2026-02-12&until=2026-02-01", "is after"),
    ("weekly", "timezone=Mars/Olympus_Mons", "unknown time zone"),
    ("session", "agent=nobody", "unknown agent"),
    ("daily", "order=sideways", "asc or desc"),
    ("weekly", "start_of_week=someday", "start of week"),
    ("daily", "project=" + "x" * 300, "too long"),
    ("daily", "db=nope", "no database"),
]


@pytest.mark.parametrize("kind,qs,message", BAD, ids=[b[1][:30] for b in BAD])
async def test_bad_parameters_are_a_400_with_a_message(ds, kind, qs, message):
    for suffix in ("", ".json"):
        page = await ds.client.get(f"/-/claude/report/{kind}{suffix}?{qs}")
        assert page.status_code == 400, (suffix, page.text[-300:])
        assert message in page.text and "Traceback" not in page.text


async def test_unknown_report_is_a_404(ds):
    assert (await ds.client.get("/-/claude/report/yearly")).status_code == 404


async def test_report_pages_are_linked_from_the_overview(ds):
    html = (await ds.client.get("/-/claude")).text
    for kind in KINDS:
        assert f'href="/-/claude/report/{kind}' in html


async def test_the_session_report_comes_a_page_of_sessions_at_a_time(ds, monkeypatch):
    """A big archive has thousands of sessions: a page of them, the costliest first, and the totals
    row still the whole report's."""
    from datasette_claude.pages import report

    monkeypatch.setattr(report, "SESSIONS_PER_PAGE", 2)
    first = (await ds.client.get("/-/claude/report/session?timezone=UTC")).text
    assert first.count('href="/-/claude/session/') == 2 and "linked-soaring-matsumoto" in first
    assert "Sessions 1–2 of 3" in first and "page 1 of 2" in first
    assert _cells(first, "tfoot")[1] == "3 sessions" and _cells(first, "tfoot")[-1] == "$12.77"
    second = (await ds.client.get("/-/claude/report/session?timezone=UTC&page=2")).text
    assert second.count('href="/-/claude/session/') == 1 and "dazzling-imagining-barto" in second
    assert "linked-soaring-matsumoto" in second  # in the chart: the costliest, whatever the page
    assert (await ds.client.get("/-/claude/report/session?page=0")).status_code == 400
    assert (await ds.client.get("/-/claude/report/session?page=x")).status_code == 400


async def test_an_older_database_served_read_only_is_a_409_saying_what_to_do(fixture_db, tmp_path):
    """``datasette -i`` on a database an older claude-ingest wrote: startup cannot bring it up to
    date, and the pages would fail on the first newer table or column (schema 13's merge_sources and
    sessions.account): each says what to do instead."""
    import shutil
    import sqlite3

    from ingest import schema

    old = tmp_path / "old.db"
    shutil.copy(fixture_db, old)
    conn = sqlite3.connect(old)
    conn.execute("pragma journal_mode = delete")
    conn.execute("drop table merge_sources")
    conn.execute(f"pragma user_version = {schema.SCHEMA_VERSION - 1}")
    conn.commit()
    conn.close()
    ds = Datasette(immutables=[str(old)])
    await ds.invoke_startup()
    session = "d3ad4cdc-5657-435d-98fa-0035d53e383d"
    for path in ("/-/claude", "/-/claude/report/daily", "/-/claude/report/session.json", f"/-/claude/session/{session}"):
        r = await ds.client.get(path)
        assert r.status_code == 409, (path, r.status_code)
        assert f"older claude-ingest (schema {schema.SCHEMA_VERSION - 1}" in r.text and "without -i" in r.text, path
    assert (await ds.client.get("/old/sessions.json")).status_code == 200  # Datasette's own pages still serve it
