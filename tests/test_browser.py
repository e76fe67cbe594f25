"""A real browser: headless Chromium (Debian's `chromium`) opens pages of a running `datasette`.

Checks that charts are drawn, not only that their elements exist: each canned query page opened by
its bare URL gets its server-drawn chart above the results (page-wide, marks drawn, bars in value
order, labels that tell rows apart), the overview's and the report pages' SVG charts have marks;
session pages are read as a person reads them (a leaderboard row to its session, a tool call
unfolded, a search hit followed to its card). Screenshots go to tests/screenshots/ (gitignored; set
SCREENSHOTS_DIR to put them elsewhere), at 1,400 px wide.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from pathlib import Path

import pytest

SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(__file__).parent / "screenshots")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")

# What this machine's closed network needs (no background requests) and what root needs (no sandbox).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
COLOURED_PIXELS = """() => {
  const c = document.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i + 1], b = d[i + 2];
    if (d[i + 3] > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
  }
  return n;
}"""


@pytest.fixture(scope="module")
def server(fixture_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "datasette", str(fixture_db), "-h", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/-/versions.json", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("datasette did not start: " + proc.stderr.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _queries():
    from datasette_claude import resources

    return sorted(resources.canned_queries())


@pytest.mark.parametrize("query", _queries())
def test_canned_query_page_shows_its_chart_readably(server, browser, query):
    """Opened by its bare URL at 1,400 px: the chart drawn on the server sits above the results,
    uses the page's width, has marks, bars in value order and labels that tell the rows apart."""
    from datasette_claude import resources

    spec = resources.canned_queries()[query]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/claude/{query}" + ("?q=bead" if query == "search_prompts" else "")
              + ("?file=README&tool=Bash" if query.startswith("jobs_") else ""))
    if spec.get("chart"):
        page.wait_for_selector(".claude-query-chart svg", timeout=20_000)
        box = page.locator(".claude-query-chart svg").bounding_box()
        assert box["width"] > 900, box  # the page's width, not a 250 px thumbnail
        values = page.eval_on_selector_all(".claude-query-chart rect.mark[data-value]",
                                           "els => els.map(e => parseFloat(e.dataset.value))")
        assert values == sorted(values, reverse=True)
        labels = page.eval_on_selector_all(".claude-query-chart text.label", "els => els.map(e => e.lastChild.textContent)")
        assert len(labels) == len(set(labels)), labels
        if page.locator("table.rows-and-columns tbody tr").count():  # rows: marks; none: a sentence
            assert page.locator(".claude-query-chart .mark").count() > 0
        else:
            assert page.locator(".claude-query-chart svg text").count() == 1
    for name in [p for p in spec.get("params") or [] if p in ("start", "end")]:
        assert page.locator(f"input[name='{name}']").get_attribute("type") == "date"
    for name in spec.get("choices") or {}:
        assert page.locator(f"select[name='{name}']").count() == 1
    _shot(page, f"query-{query}")
    page.close()


def test_overview_page_draws_its_charts(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{server}/-/claude?days=3660")
    charts = page.locator("svg.claude-chart")
    assert charts.count() == 6  # and two tables: the costliest sessions, recent failures
    assert page.locator("svg.claude-chart rect.mark").count() > 20
    box = page.locator("svg.claude-chart").first.bounding_box()
    assert box["width"] > 300 and box["height"] > 100  # laid out, visible
    # no axis label runs past its chart's edge (the last day's was cut in half)
    cut = page.eval_on_selector_all("svg.claude-chart", """charts => charts.flatMap(svg => {
        const edge = svg.getBoundingClientRect();
        return [...svg.querySelectorAll("text.tick")].map(t => t.getBoundingClientRect())
            .filter(r => r.left < edge.left - 0.5 || r.right > edge.right + 0.5).map(r => [r.left, r.right, edge.right]);
    })""")
    assert cut == []
    assert "$12.77" in page.locator(".claude-figures").inner_text()
    _shot(page, "overview")
    # a chart's title leads to its canned query, where the chart is drawn too
    page.click("text=Failure rate per tool")
    page.wait_for_selector(".claude-query-chart svg", timeout=20_000)
    assert "/claude/tool_error_rates" in page.url
    page.close()


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "session", "blocks"])
def test_report_page_draws_its_chart_and_totals(server, browser, kind):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/-/claude/report/{kind}?timezone=UTC&breakdown=1")
    chart = page.locator("svg.claude-chart")
    assert chart.count() == 1 and page.locator("svg.claude-chart rect.mark").count() > 0
    assert chart.bounding_box()["width"] > 1000  # the page's width
    if kind == "session":
        values = page.eval_on_selector_all("svg.claude-chart rect.mark[data-value]",
                                           "els => els.map(e => parseFloat(e.dataset.value))")
        assert values == sorted(values, reverse=True) and len(values) >= 3
        labels = page.eval_on_selector_all("svg.claude-chart text.label", "els => els.map(e => e.lastChild.textContent)")
        assert len(labels) == len(set(labels)) and "linked-soaring-matsumoto" in labels
    totals = page.locator("table.cl-report tfoot").inner_text()
    assert totals.startswith("Total") and "$12.77" in totals
    _shot(page, f"report-{kind}")
    # the tabs lead to the other reports, keeping the filters
    page.click("nav.cl-tabs >> text=Weekly" if kind == "daily" else "nav.cl-tabs >> text=Daily")
    assert ("/-/claude/report/weekly" if kind == "daily" else "/-/claude/report/daily") + "?timezone=UTC&breakdown=1" in page.url
    page.close()


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_from_the_leaderboard_to_a_session_and_a_tool_call_unfolded(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/claude/session_leaderboard")
    page.locator("a[href*='/-/claude/session/']").first.click()
    page.wait_for_selector("h1")
    assert "/-/claude/session/" in page.url
    assert page.locator(".cl-timeline .cl-step").count() > 20
    assert page.locator("svg.claude-chart rect.mark").count() > 20  # the picture is drawn
    _shot(page, "session")
    card = page.locator("details.cl-call").first
    card.locator("summary").click()
    card.locator("[data-call]").wait_for(timeout=10_000)  # its whole input and output, fetched on opening
    assert "Input" in card.inner_text()
    card.screenshot(path=str(SHOTS / "session-card-open.png"))
    page.close()


def test_a_search_hit_opens_its_card(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/claude/search_prompts?q=bead")
    hit = page.locator("a[href*='?at=']").first
    target = hit.get_attribute("href").split("#", 1)[1]
    hit.click()
    page.wait_for_selector(f"[id='{target}']")
    assert page.evaluate("location.hash") == "#" + target
    box = page.locator(f"[id='{target}']").bounding_box()
    assert box is not None and 0 <= box["y"] < 1000  # scrolled to it
    _shot(page, "session-search-hit")
    page.close()


def test_a_bare_link_to_a_step_on_a_later_page_finds_its_page(server, browser):
    """A link written as /-/claude/session/<id>#<tool_use_id> (no ?at=) still lands on the card,
    whichever page holds it."""
    from urllib.parse import urlparse

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/claude/tool_calls.json?_shape=array&_size=1&_sort_desc=started_at&session_id=fa812bfe-b295-4cca-9c2f-fdf01028cb46")
    last = page.evaluate("JSON.parse(document.body.innerText)[0].tool_use_id")
    page.goto(f"{server}/-/claude/session/fa812bfe-b295-4cca-9c2f-fdf01028cb46#{last}")
    page.wait_for_selector(f"[id='{last}']", timeout=10_000)
    assert "at=" in urlparse(page.url).query
    page.close()
