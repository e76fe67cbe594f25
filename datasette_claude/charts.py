"""Small SVG bar charts for the overview page, drawn on the server.

Every mark is a ``<rect class="mark">`` with a ``<title>`` tooltip; the page needs no JavaScript.
(Canned query pages draw their charts with datasette-vega.)
"""

from __future__ import annotations

import re
from collections import OrderedDict
from html import escape

from ingest import clock

from .format import duration, money

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6",
           "#9d755d", "#bab0ac")


def fmt(value: float, unit: str = "") -> str:
    if unit == "$":
        return money(value)
    if unit == "s":  # seconds, as a duration: 1m 12s
        return duration(value * 1000)
    if unit == "%":
        return f"{value:.1f}%"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:g}"


def _calendar(keys: list) -> list:
    """Every day from the first key to the last, when the keys are days (a day with nothing is a gap
    in the chart, not a bar moved next to the one before it)."""
    from datetime import date, timedelta

    try:
        days = sorted(date.fromisoformat(str(k)) for k in keys)
    except ValueError:
        return keys
    if not days or (days[-1] - days[0]).days > 1500:
        return keys
    return [(days[0] + timedelta(n)).isoformat() for n in range((days[-1] - days[0]).days + 1)]


def _day_tick(key: str, previous: str | None) -> str:
    """A day's tick label: the month and day, with the year when it changes."""
    key = str(key)
    if len(key) != 10:
        return key
    return key if previous is None or previous[:4] != key[:4] else key[5:]


def _x_tick(x: float, y: float, text: str, width: int) -> str:
    """A label under the x axis, centred on ``x``, or ended at the chart's edge where a centred one
    would be cut off (11px text: about 6.2 px a character)."""
    half = 3.1 * len(text)
    if x + half > width:
        return f'<text x="{width - 1}" y="{y}" class="tick" text-anchor="end">{escape(text)}</text>'
    return f'<text x="{x:.1f}" y="{y}" class="tick" text-anchor="middle">{escape(text)}</text>'


def stacked_columns(rows, x: str, y: str, series: str | None = None, *, unit: str = "", width: int = 720,
                    height: int = 220, label: str = "", calendar: bool = True) -> str:
    """Vertical bars per ``x`` (days in calendar order, the days between them shown as gaps; other
    keys in the order given), stacked by ``series``."""
    stacks: OrderedDict = OrderedDict()
    names: list = []
    for row in rows:
        key = row[x]
        value = float(row[y] or 0)
        name = row[series] if series else y
        if name not in names:
            names.append(name)
        stacks.setdefault(key, []).append((name, value))
    if not stacks:
        return _empty(width, height, label)
    keys = _calendar(list(stacks)) if calendar else list(stacks)
    top = max(sum(v for _, v in parts) for parts in stacks.values()) or 1
    # as many legend entries to a row as their longest name leaves room for
    per_row = max(1, min(6, int((width - 64) // (6.6 * min(max((len(str(n)) for n in names), default=1), 30) + 30))))
    legend_rows = -(-min(len(names), 12) // per_row) if series and len(names) > 1 else 0
    left, bottom = 64, 36 + 16 * legend_rows
    plot_h = height - 20 - bottom
    step = (width - left - 10) / len(keys)
    bar = min(max(step * 0.8, 1), 48)  # a few columns stay columns, not slabs
    out = [_open(width, height, label),
           f'<text x="{left - 6}" y="24" class="axis" text-anchor="end">{escape(fmt(top, unit))}</text>',
           f'<text x="{left - 6}" y="{height - bottom}" class="axis" text-anchor="end">0</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" class="axis"/>']
    every = max(1, round(len(keys) / 10))
    shown_before = None
    for i, key in enumerate(keys):
        x0 = left + i * step + (step - bar) / 2
        y0 = height - bottom
        for name, value in stacks.get(key, ()):
            h = plot_h * value / top
            y0 -= h
            color = PALETTE[names.index(name) % len(PALETTE)]
            out.append(f'<rect class="mark" x="{x0:.1f}" y="{y0:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                       f'fill="{color}"><title>{escape(str(key))} {escape(str(name))}: '
                       f'{escape(fmt(value, unit))}</title></rect>')
        if i % every == 0:
            out.append(_x_tick(x0 + bar / 2, height - bottom + 14, _day_tick(key, shown_before), width))
            shown_before = str(key)
    if legend_rows:
        for j, name in enumerate(names[:12]):
            lx, ly = left + (j % per_row) * ((width - left) / per_row), height - 16 * legend_rows + 16 * (j // per_row) + 2
            out.append(f'<rect x="{lx:.0f}" y="{ly}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                       f'<text x="{lx + 14:.0f}" y="{ly + 9}" class="tick">{escape(str(name)[:30])}</text>')
    out.append("</svg>")
    return "".join(out)


def distinct_labels(texts: list[str], *, paths: bool = False, most: int = 48) -> list[str]:
    """Labels that tell the rows apart within ``most`` characters: a path by the shortest end of it
    that is unique among these rows, other text cut in the middle, longer where two would read the same."""
    if paths:
        from .format import project_labels

        labels = project_labels(texts)
        texts = [labels.get(t, t) for t in texts]
    out = []
    for t in texts:
        t = str(t)
        out.append(t if len(t) <= most else t[: most // 2 - 1] + "…" + t[-(most // 2):])
    if len(set(out)) < len(out):  # cut the same: show the ends, which differ
        out = [str(t) if len(str(t)) <= most else "…" + str(t)[-(most - 1):] for t in texts]
    return out


def ranked_bars(rows, label_key: str, value_key: str, *, unit: str = "", width: int = 720, limit: int = 12,
                label: str = "", detail=None, note=None, paths: bool = False, tips=None) -> str:
    """Horizontal bars, largest first, one per row, each labelled so the rows are told apart;
    ``note(row)`` is written beside the value (``1 of 7``), ``detail`` and ``tips`` go in tooltips."""
    given = bool(rows)
    rows = sorted((r for r in rows if r[value_key] is not None), key=lambda r: -float(r[value_key]))[:limit]
    if not rows:
        return _empty(width, 80, label, f"No row has a {value_key} to draw." if given else "Nothing in this period.")
    top = max(float(r[value_key]) for r in rows) or 1
    labels = distinct_labels([r[label_key] if r[label_key] is not None else "—" for r in rows], paths=paths)
    left = min(max(6.2 * max(len(t) for t in labels) + 14, 110), width * 0.5)
    row_h = 22
    height = row_h * len(rows) + 8
    texts = [fmt(float(r[value_key]), unit) + (f" · {note(r)}" if note else "") for r in rows]
    # room right of the longest bar for the longest value and note (text is ~6.3 px a character)
    value_room = min(max(6.3 * max(len(t) for t in texts) + 12, 80), width - left - 60)
    out = [_open(width, height, label)]
    for i, (r, shown) in enumerate(zip(rows, labels)):
        value = float(r[value_key])
        w = (width - left - value_room) * value / top
        y = 4 + i * row_h
        full = tips(r) if tips else str(r[label_key])
        tip = f"{full}: {fmt(value, unit)}" + (f" ({detail(r)})" if detail else "")
        text = texts[i]
        out.append(f'<text x="{left - 6:.0f}" y="{y + 14}" class="tick label" text-anchor="end"><title>{escape(full)}'
                   f'</title>{escape(shown)}</text>'
                   f'<rect class="mark" x="{left:.0f}" y="{y}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                   f'fill="{PALETTE[0]}" data-value="{value}"><title>{escape(tip)}</title></rect>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 14}" class="tick">{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def lines(rows, x: str, y: str, series: str | None = None, *, unit: str = "", width: int = 720,
          height: int = 220, label: str = "") -> str:
    """A line per series over days; a day with nothing breaks the line (a gap is shown as a gap)."""
    data: OrderedDict = OrderedDict()
    for row in rows:
        data.setdefault(row[series] if series else y, {})[str(row[x])] = float(row[y] or 0)
    if not data:
        return _empty(width, height, label)
    keys = _calendar(sorted({k for d in data.values() for k in d}))
    top = max(max(d.values()) for d in data.values()) or 1
    left, bottom = 64, 36 + (16 if len(data) > 1 else 0)
    plot_h = height - 20 - bottom
    step = (width - left - 10) / max(len(keys) - 1, 1)
    out = [_open(width, height, label),
           f'<text x="{left - 6}" y="24" class="axis" text-anchor="end">{escape(fmt(top, unit))}</text>',
           f'<text x="{left - 6}" y="{height - bottom}" class="axis" text-anchor="end">0</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" class="axis"/>']
    for j, (name, values) in enumerate(data.items()):
        color = PALETTE[j % len(PALETTE)]
        run: list[str] = []
        for i, key in enumerate(keys + [None]):
            if key is not None and key in values:
                px, py = left + i * step, height - bottom - plot_h * values[key] / top
                run.append(f"{px:.1f},{py:.1f}")
                out.append(f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"><title>'
                           f'{escape(key)} {escape(str(name))}: {escape(fmt(values[key], unit))}</title></circle>')
            elif run:
                if len(run) > 1:
                    out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(run)}"/>')
                run = []
    every = max(1, round(len(keys) / 10))
    before = None
    for i, key in enumerate(keys):
        if i % every == 0:
            out.append(_x_tick(left + i * step, height - bottom + 14, _day_tick(key, before), width))
            before = key
    if len(data) > 1:
        for j, name in enumerate(list(data)[:6]):
            lx = left + j * ((width - left) / 6)
            out.append(f'<rect x="{lx:.0f}" y="{height - 14}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                       f'<text x="{lx + 14:.0f}" y="{height - 5}" class="tick">{escape(str(name)[:24])}</text>')
    out.append("</svg>")
    return "".join(out)


def _open(width, height, label):
    return (f'<svg class="claude-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet">')


def _empty(width, height, label, message: str = "Nothing in this period."):
    return _open(width, height, label) + f'<text x="10" y="{height / 2}" class="tick">{escape(message)}</text></svg>'



# -- a session over time --------------------------------------------------------------------------
IDLE_GAP_S = 15 * 60  # a longer pause is drawn as a break in the time axis, not as empty space
BREAK_PX = 14


class _TimeAxis:
    """Time to x, with pauses longer than IDLE_GAP_S cut down to a narrow break."""

    def __init__(self, times: list[float], left: float, width: float):
        times = sorted(times)
        self.segments: list[list[float]] = []  # [start, end] of each stretch of activity
        for t in times:
            if self.segments and t - self.segments[-1][1] <= IDLE_GAP_S:
                self.segments[-1][1] = t
            else:
                self.segments.append([t, t])
        active = sum(max(b - a, 1.0) for a, b in self.segments)
        breaks = BREAK_PX * (len(self.segments) - 1)
        self.scale = max(width - breaks, 10) / active
        self.starts, x = [], left
        for a, b in self.segments:
            self.starts.append(x)
            x += max(b - a, 1.0) * self.scale + BREAK_PX
        self.breaks = [(self.starts[i] - BREAK_PX, self.segments[i - 1][1], self.segments[i][0])
                       for i in range(1, len(self.segments))]

    def x(self, t: float) -> float:
        import bisect

        i = max(0, bisect.bisect_right([a for a, _ in self.segments], t) - 1)
        a, b = self.segments[i]
        return self.starts[i] + (min(max(t, a), max(b, a + 1.0)) - a) * self.scale


def session_picture(requests: list[dict], calls: list[dict], compactions: list[dict], *, width: int = 1100,
                    height: int = 200) -> str:
    """Cost per API request (bars) and context size (line) over the session, tool calls as marks
    below (failed ones red), compactions as dashed lines; long pauses shown as breaks."""
    req = [(t, r) for r in requests if (t := clock.seconds(r["timestamp"])) is not None]
    cal = [(t, c) for c in calls if (t := clock.seconds(c["at"])) is not None]
    com = [(t, c) for c in compactions if (t := clock.seconds(c["timestamp"])) is not None]
    times = [t for t, _ in req] + [t for t, _ in cal] + [t for t, _ in com]
    label = "the session over time"
    if not times:
        return _empty(width, 60, label)
    left, right, top, plot_h, strip_top, strip_h = 60, 70, 10, 120, 150, 26
    axis = _TimeAxis(times, left, width - left - right)
    out = [_open(width, height, label)]
    # breaks in the time axis
    for x, a, b in axis.breaks:
        out.append(f'<rect class="gap" x="{x + 3:.1f}" y="{top}" width="{BREAK_PX - 6}" height="{strip_top + strip_h - top}" '
                   f'fill="#eee"><title>paused {escape(_pause(b - a))}</title></rect>')
    top_cost = max((r["cost_usd"] or 0) for _, r in req) if req else 0
    top_ctx = max((r["context_tokens"] or 0) for _, r in req) if req else 0
    # cost per request
    for t, r in req:
        if r["cost_usd"]:
            h = plot_h * r["cost_usd"] / (top_cost or 1)
            x = axis.x(t)
            color = PALETTE[1] if r["is_subagent"] else PALETTE[0]
            out.append(f'<rect class="mark cost" x="{x - 1:.1f}" y="{top + plot_h - h:.1f}" width="2" height="{max(h, 0.5):.1f}" '
                       f'fill="{color}"><title>{escape(fmt(r["cost_usd"], "$"))} at {escape(r["timestamp"][11:19])}'
                       f'{" (subagent)" if r["is_subagent"] else ""}</title></rect>')
    # context size, per main-thread request
    points = [(axis.x(t), top + plot_h - plot_h * (r["context_tokens"] or 0) / (top_ctx or 1))
              for t, r in req if not r["is_subagent"]]
    if len(points) > 1:
        out.append('<polyline class="context" fill="none" stroke="#e45756" stroke-width="1.5" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"><title>context size per request</title></polyline>')
    # compactions
    for t, c in com:
        x = axis.x(t)
        out.append(f'<line class="compaction" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#b279a2" '
                   f'stroke-dasharray="4 3"><title>compaction ({escape(c["trigger"] or "?")}) at '
                   f'{escape(c["timestamp"][11:19])}</title></line>')
    # tool calls, counted per pixel column
    buckets: dict[int, list[int]] = {}
    for t, c in cal:
        b = buckets.setdefault(int(axis.x(t)), [0, 0])
        b[0] += 1
        b[1] += 1 if c["is_error"] else 0
    most = max((b[0] for b in buckets.values()), default=1)
    for x, (n, failed) in sorted(buckets.items()):
        h = strip_h * n / most
        out.append(f'<rect class="mark call" x="{x}" y="{strip_top + strip_h - h:.1f}" width="1.5" height="{h:.1f}" '
                   f'fill="#888"><title>{n} tool call{"s" if n != 1 else ""}</title></rect>')
        if failed:
            fh = max(strip_h * failed / most, 3)
            out.append(f'<rect class="mark failed" x="{x - 0.5}" y="{strip_top + strip_h - fh:.1f}" width="2.5" '
                       f'height="{fh:.1f}" fill="#d62728"><title>{failed} failed</title></rect>')
    # axes and legend
    out.append(f'<text x="{left - 6}" y="{top + 10}" class="axis" text-anchor="end">{escape(fmt(top_cost, "$"))}</text>')
    out.append(f'<text x="{left - 6}" y="{top + plot_h}" class="axis" text-anchor="end">$0</text>')
    out.append(f'<text x="{width - right + 6}" y="{top + 10}" class="axis" fill="#e45756">{escape(fmt(top_ctx))} ctx</text>')
    out.append(f'<text x="{left - 6}" y="{strip_top + strip_h}" class="axis" text-anchor="end">calls</text>')
    first, last = min(times), max(times)
    out.append(f'<text x="{left}" y="{height - 4}" class="tick">{escape(_hhmm(first))}</text>')
    out.append(f'<text x="{width - right}" y="{height - 4}" class="tick" text-anchor="end">{escape(_hhmm(last))}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>')
    out.append("</svg>")
    return "".join(out)


def _hhmm(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _pause(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h" if minutes < 2880 else f"{minutes / 1440:.1f} days"


ONE_OF_A_PLURAL = re.compile(r"(?<![\d.,])(1) ((?:timed )?\w+?)s\b")


def _note_value(column: str, value):
    if value is None:
        return "—"
    if isinstance(value, float) and column.endswith("_usd"):
        return money(value)
    return f"{value:,}" if isinstance(value, int) else value


# -- a canned query's chart ---------------------------------------------------------------------------
def for_query(spec: dict, rows: list[dict], params: dict, *, width: int = 1100, label: str = "") -> str:
    """The chart a canned query's header asks for (``chart:``), drawn from its rows:
    ``type`` columns (per day, stacked by ``series``), bars (ranked, largest first) or lines (per
    day, gaps broken); ``x``, ``y``, ``label`` (a bar's text column, or a list of them: the first
    with a value), ``series``, ``unit``
    ($, %, s), ``paths`` (labels that are paths: told apart by their ends), ``note`` (text beside a
    bar's value, from its row: '{failures} of {calls} calls'), ``by_param`` (the y column chosen
    by a parameter, e.g. the leaderboard's order_by), ``day`` (x is a time: its day), ``empty`` (what
    to say when there are no rows, if not "Nothing in this period.")."""
    y = spec.get("y")
    for param, choices in (spec.get("by_param") or {}).items():
        y = choices.get(params.get(param) or "", y)
    unit = str(spec.get("unit") or "")
    kind = spec.get("type", "bars")
    if not rows or y not in rows[0]:
        return _empty(width, 80, label, spec.get("empty") or "Nothing in this period.")
    if kind in ("columns", "lines"):
        x, series = spec["x"], spec.get("series")
        sums: OrderedDict = OrderedDict()
        for r in rows:
            key = str(r[x])[:10] if spec.get("day") and r[x] else r[x]
            name = r[series] if series else y
            sums[(key, name)] = sums.get((key, name), 0.0) + float(r[y] or 0)
        names = [n for _, n in sums]
        shown = dict(zip(names, distinct_labels([str(n) for n in names], paths=bool(spec.get("paths")), most=30)))
        data = [{"x": k, "y": v, "s": shown.get(n, n)} for (k, n), v in sorted(sums.items(), key=lambda kv: str(kv[0][0]))]
        draw = stacked_columns if kind == "columns" else lines
        return draw(data, "x", "y", "s" if series else None, unit=unit, width=width, height=300, label=label)
    text = spec.get("label")
    if isinstance(text, list):  # the first of these columns that has a value (per session, or per day)
        rows = [{**r, "_label": next((r[c] for c in text if r.get(c) is not None), None)} for r in rows]
        text = "_label"
    note = spec.get("note")

    def noted(r):
        try:
            text = note.format(**{k: _note_value(k, v) for k, v in r.items()}).strip()
            return ONE_OF_A_PLURAL.sub(r"\1 \2", text)  # "1 sessions" reads "1 session"
        except (KeyError, IndexError, ValueError):
            return ""

    return ranked_bars(rows, text, y, unit=unit, width=width, limit=25, label=label, paths=bool(spec.get("paths")),
                       note=noted if note else None)
