"""Server-side SVG charts for the run history: no JavaScript, no CDN, nothing to download.

Hand-written on purpose: the charting libraries that render offline either ship a JavaScript bundle to serve
(plotly, vega) or draw no stacked time series as static SVG; two chart shapes (stacked columns, one line) are a
few dozen lines of markup. Every mark carries a `<title>` so hovering a bar names the run and its figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 24, 28


@dataclass(frozen=True)
class Series:
    """One stacked series: its name, colour and a value per point."""

    name: str
    color: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above `value` (so the axis reads in round numbers)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.2f}"


def _frame(title: str, top: float, labels: Sequence[str], unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="14" class="plot-title">{escape(title)}</text>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(top * fraction)}{unit}</text>'
        )
    if labels:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="tick">{escape(labels[0])}</text>')
        if len(labels) > 1:
            parts.append(
                f'<text x="{LEFT + plot_w}" y="{HEIGHT - 8}" text-anchor="end" class="tick">{escape(labels[-1])}</text>'
            )
    return parts


def stacked_columns(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "") -> str:
    """Columns over time (one per label, oldest left), each stacked from `series`; an empty history says so."""
    count = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = _nice_max(max(totals, default=0.0))
    parts = _frame(title, top, labels, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if count == 0:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="tick">no runs yet</text>')
    slot = plot_w / max(count, 1)
    bar = max(1.0, slot * 0.7)
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        base = float(TOP + plot_h)
        figures = ", ".join(f"{s.name} {_fmt(s.values[i])}" for s in series)
        parts.append(f"<g><title>{escape(label)}: {escape(figures)}</title>")
        for s in series:
            height = plot_h * s.values[i] / top
            if height <= 0:
                continue
            base -= height
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{s.color}"/>')
        parts.append("</g>")
    legend_x = float(WIDTH - RIGHT)
    for s in reversed(series):
        text = escape(s.name)
        legend_x -= 18 + 6.5 * len(s.name)
        parts.append(f'<rect x="{legend_x}" y="5" width="9" height="9" fill="{s.color}"/>')
        parts.append(f'<text x="{legend_x + 12}" y="14" class="tick">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line(title: str, labels: Sequence[str], values: Sequence[float], color: str, unit: str = "") -> str:
    """One series over time as a line with a dot per run."""
    top = _nice_max(max(values, default=0.0))
    parts = _frame(title, top, labels, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if not values:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="tick">no runs yet</text>')
    slot = plot_w / max(len(values), 1)
    points = [(LEFT + slot * (i + 0.5), TOP + plot_h * (1 - v / top)) for i, v in enumerate(values)]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
            f"<title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
