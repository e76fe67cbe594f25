"""Small SVG bar charts for the overview page, drawn on the server.

Every mark is a ``<rect class="mark">`` with a ``<title>`` tooltip; the page needs no JavaScript.
(Canned query pages draw their charts with datasette-vega.)
"""

from __future__ import annotations

from collections import OrderedDict
from html import escape

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6",
           "#9d755d", "#bab0ac")


def fmt(value: float, unit: str = "") -> str:
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "%":
        return f"{value:.1f}%"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:g}"


def stacked_columns(rows, x: str, y: str, series: str | None = None, *, unit: str = "", width: int = 720,
                    height: int = 220, label: str = "") -> str:
    """Vertical bars per ``x`` (in the order given), stacked by ``series``."""
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
    top = max(sum(v for _, v in parts) for parts in stacks.values()) or 1
    left, bottom, plot_h = 56, 36, height - 56
    step = (width - left - 10) / len(stacks)
    bar = max(step * 0.8, 1)
    out = [_open(width, height, label),
           f'<text x="4" y="14" class="axis">{escape(fmt(top, unit))}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" class="axis"/>']
    for i, (key, parts) in enumerate(stacks.items()):
        x0 = left + i * step + (step - bar) / 2
        y0 = height - bottom
        for name, value in parts:
            h = plot_h * value / top
            y0 -= h
            color = PALETTE[names.index(name) % len(PALETTE)]
            out.append(f'<rect class="mark" x="{x0:.1f}" y="{y0:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                       f'fill="{color}"><title>{escape(str(key))} {escape(str(name))}: '
                       f'{escape(fmt(value, unit))}</title></rect>')
        if len(stacks) <= 16 or i % max(1, len(stacks) // 8) == 0:
            out.append(f'<text x="{x0 + bar / 2:.1f}" y="{height - bottom + 14}" class="tick" '
                       f'text-anchor="middle">{escape(str(key)[5:] if len(str(key)) == 10 else str(key))}</text>')
    if series and len(names) > 1:
        for j, name in enumerate(names[:6]):
            out.append(f'<rect x="{left + j * 150}" y="{height - 12}" width="10" height="10" '
                       f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{left + j * 150 + 14}" y="{height - 3}" '
                       f'class="tick">{escape(str(name)[:22])}</text>')
    out.append("</svg>")
    return "".join(out)


def ranked_bars(rows, label_key: str, value_key: str, *, unit: str = "", width: int = 720, limit: int = 10,
                label: str = "", detail=None) -> str:
    """Horizontal bars, largest first, one per row (the rows come ranked)."""
    rows = [r for r in rows if r[value_key] is not None][:limit]
    if not rows:
        return _empty(width, 80, label)
    top = max(float(r[value_key]) for r in rows) or 1
    row_h, left = 22, 300
    height = row_h * len(rows) + 8
    out = [_open(width, height, label)]
    for i, r in enumerate(rows):
        value = float(r[value_key])
        w = (width - left - 70) * value / top
        y = 4 + i * row_h
        text = str(r[label_key])
        shown = text if len(text) <= 44 else "…" + text[-43:]
        tip = f"{text}: {fmt(value, unit)}" + (f" ({detail(r)})" if detail else "")
        out.append(f'<text x="{left - 6}" y="{y + 14}" class="tick" text-anchor="end">{escape(shown)}</text>'
                   f'<rect class="mark" x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                   f'fill="{PALETTE[0]}"><title>{escape(tip)}</title></rect>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 14}" class="tick">{escape(fmt(value, unit))}</text>')
    out.append("</svg>")
    return "".join(out)


def _open(width, height, label):
    return (f'<svg class="claude-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet">')


def _empty(width, height, label):
    return _open(width, height, label) + (f'<text x="10" y="{height / 2}" class="tick">Nothing in this '
                                          f'period.</text></svg>')
