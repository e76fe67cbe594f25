"""The server-drawn charts (datasette_claude/charts.py): axis labels stay inside the chart."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from datasette_claude import charts


def _ticks(svg: str):
    for m in re.finditer(r'<text x="([0-9.]+)" y="[0-9.]+" class="tick" text-anchor="(\w+)">([^<]*)</text>', svg):
        yield float(m.group(1)), m.group(2), m.group(3)


@pytest.mark.parametrize("days", [11, 30, 541])
@pytest.mark.parametrize("draw", [charts.stacked_columns, charts.lines])
def test_no_day_label_runs_past_the_charts_edge(draw, days):
    start = date(2025, 6, 8)
    rows = [{"day": (start + timedelta(n)).isoformat(), "cost": 1.0 + n % 7} for n in range(days)]
    width = 660
    ticks = list(_ticks(draw(rows, "day", "cost", unit="$", width=width)))
    assert len(ticks) >= 5
    for x, anchor, text in ticks:
        half = 3.1 * len(text)  # 11px text
        left, right = {"middle": (x - half, x + half), "end": (x - 2 * half, x), "start": (x, x + 2 * half)}[anchor]
        assert 0 <= left and right <= width, (x, anchor, text)
