"""Hand-written SVG charts: the HTML report must open from disk, with no script and no CDN."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 860
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 28, 34
MAX_POINTS = 4000


@dataclass(frozen=True)
class Band:
    """A shaded x-range (a fault window), seconds from the start of the run."""

    start: float
    end: float
    label: str


def nice_step(span: float, target_ticks: int = 6) -> float:
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _thin(points: Sequence[tuple[float, float]], keep_above: float | None
          ) -> list[tuple[float, float]]:
    """At most ~MAX_POINTS points; those above the limit are always kept (they matter)."""
    if len(points) <= MAX_POINTS:
        return list(points)
    stride = math.ceil(len(points) / MAX_POINTS)
    return [p for i, p in enumerate(points)
            if i % stride == 0 or (keep_above is not None and p[1] > keep_above)]


def chart(title: str, points: Sequence[tuple[float, float]], *, bands: Sequence[Band] = (),
          x_max: float | None = None, y_label: str = "", style: str = "line",
          limit: float | None = None, limit_label: str = "", css_class: str = "chart") -> str:
    """An SVG line (``style="line"``) or scatter (``"points"``) chart; x in seconds."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    xs = [x for x, _ in points] + [b.end for b in bands]
    x_hi = x_max if x_max is not None else max(xs, default=1.0)
    x_hi = max(x_hi, 1.0)
    y_hi = max([y for _, y in points] + [limit or 0.0, 1.0]) * 1.1

    def sx(x: float) -> float:
        return LEFT + max(0.0, min(x, x_hi)) / x_hi * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - max(0.0, min(y, y_hi)) / y_hi * plot_h

    out = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="{LEFT}" y="18" class="title">{escape(title)}</text>']
    for band in bands:
        x0, x1 = sx(band.start), sx(band.end)
        out.append(f'<rect class="fault-window" x="{x0:.1f}" y="{TOP}" '
                   f'width="{max(x1 - x0, 1.0):.1f}" height="{plot_h}">'
                   f'<title>{escape(band.label)}</title></rect>')
    step = nice_step(y_hi)
    tick = 0.0
    while tick <= y_hi:
        y = sy(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/><text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{tick:g}</text>')
        tick += step
    step = nice_step(x_hi)
    tick = 0.0
    while tick <= x_hi + 1e-9:
        x = sx(tick)
        out.append(f'<text class="tick" x="{x:.1f}" y="{TOP + plot_h + 16}" '
                   f'text-anchor="middle">{tick:g}s</text>')
        tick += step
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" '
               f'y2="{TOP + plot_h}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" '
               f'y1="{TOP}" y2="{TOP + plot_h}"/>')
    if y_label:
        out.append(f'<text class="tick" x="14" y="{TOP + plot_h / 2:.1f}" '
                   f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    if limit is not None:
        y = sy(limit)
        out.append(f'<line class="limit" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/><text class="limit-label" x="{LEFT + plot_w - 4}" '
                   f'y="{y - 4:.1f}" text-anchor="end">{escape(limit_label)}</text>')
    shown = _thin(sorted(points), limit)
    if not shown:
        out.append(f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
                   f'text-anchor="middle">no data</text>')
    elif style == "points":
        out.append('<g class="points">' + "".join(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="1.6"/>' for x, y in shown)
            + "</g>")
    else:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown)
        out.append(f'<polyline class="series" points="{path}"/>')
    out.append("</svg>")
    return "\n".join(out)
