"""Small charts drawn on the server as SVG: no script, readable on a phone (the SVG scales
to its container), with a text title and a table nearby for the exact numbers."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 16, 34
COLOURS = {"green": "#2e8540", "yellow": "#d9a400", "red": "#c62828"}


def _svg(label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def _nice_max(value: float) -> float:
    for step in (4, 8, 12, 24, 48, 72, 96, 120, 168, 240, 336, 500, 1000):
        if value <= step:
            return float(step)
    return float(value)


def mailbox_weeks(weeks: Sequence[dict[str, Any]], sla_hours: float) -> Markup:
    """Per week: the median wait for a team reply (bar), the slowest (tick above it), the
    SLA (dashed line) and the share answered inside it (right axis, dots and line)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max([sla_hours, *(float(w.get("max_hours") or 0) for w in weeks)]))
    slot = plot_w / max(1, len(weeks))

    def y_hours(h: float) -> float:
        return TOP + plot_h - plot_h * min(h, top) / top

    def y_share(share: float) -> float:
        return TOP + plot_h - plot_h * share

    body = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" class="tick" text-anchor="end">{top:g}h</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" class="tick" text-anchor="end">0</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + 4}" class="tick">100%</text>',
        f'<text x="{LEFT + plot_w + 6}" y="{TOP + plot_h}" class="tick">0%</text>',
    ]
    sla_y = y_hours(sla_hours)
    body.append(f'<line x1="{LEFT}" y1="{sla_y:.1f}" x2="{LEFT + plot_w}" y2="{sla_y:.1f}" class="sla"/>')
    body.append(f'<text x="{LEFT + 4}" y="{sla_y - 4:.1f}" class="tick">SLA {sla_hours:g}h</text>')
    points: list[tuple[float, float, float] | None] = []
    for i, week in enumerate(weeks):
        x = LEFT + i * slot
        centre = x + slot / 2
        label = str(week.get("week", ""))[-3:]
        body.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - 14}" class="tick" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
        answered = int(week.get("answered") or 0)
        body.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - 2}" class="tick" text-anchor="middle">{answered}</text>'
        )
        median = week.get("median_hours")
        if median is not None:
            y = y_hours(float(median))
            over = " over" if float(median) > sla_hours else ""
            body.append(
                f'<rect x="{x + slot * 0.2:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" '
                f'height="{TOP + plot_h - y:.1f}" class="bar{over}"><title>{escape(week["week"])}: '
                f"median {float(median):g}h, {answered} answered</title></rect>"
            )
        slowest = week.get("max_hours")
        if slowest is not None:
            y = y_hours(float(slowest))
            body.append(
                f'<line x1="{x + slot * 0.3:.1f}" y1="{y:.1f}" x2="{x + slot * 0.7:.1f}" '
                f'y2="{y:.1f}" class="max"/>'
            )
        share = week.get("share_within_sla")
        points.append((centre, y_share(float(share)), float(share)) if share is not None else None)
    # The line joins neighbouring weeks only: a week nobody was answered has no share.
    for left, right in pairwise(points):
        if left is not None and right is not None:
            body.append(
                f'<line x1="{left[0]:.1f}" y1="{left[1]:.1f}" x2="{right[0]:.1f}" '
                f'y2="{right[1]:.1f}" class="share"/>'
            )
    for x, y, share in (p for p in points if p is not None):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="share-dot">'
            f"<title>{share:.0%} within the SLA</title></circle>"
        )
    return _svg(
        "Waits for a team reply per week: median (bars), slowest (ticks), share within the SLA (line)", body
    )


def health_days(days: Sequence[dict[str, Any]]) -> Markup:
    """Accounts per health category, day by day: stacked areas, red at the bottom."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    known = [d for d in days if d.get("known")]
    if not known:
        return _svg(
            "No health categories recorded yet",
            [
                f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="tick" text-anchor="middle">'
                "no health categories recorded yet</text>"
            ],
        )
    total = max(1, max(sum(int(d.get(c, 0)) for c in COLOURS) for d in days))
    step = plot_w / max(1, len(days) - 1)
    body = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" class="tick" text-anchor="end">{total}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    floor = [0.0] * len(days)
    for category in ("red", "yellow", "green"):
        ceiling = [floor[i] + int(d.get(category, 0)) for i, d in enumerate(days)]

        def y(v: float) -> float:
            return TOP + plot_h - plot_h * v / total

        upper = [f"{LEFT + i * step:.1f},{y(v):.1f}" for i, v in enumerate(ceiling)]
        lower = [f"{LEFT + i * step:.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(floor)))]
        last = days[-1]
        body.append(
            f'<polygon points="{" ".join(upper + lower)}" fill="{COLOURS[category]}" class="area">'
            f"<title>{category}: {int(last.get(category, 0))} accounts on {escape(last['day'])}</title>"
            "</polygon>"
        )
        floor = ceiling
    for i in (0, len(days) // 2, len(days) - 1):
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        body.append(
            f'<text x="{LEFT + i * step:.1f}" y="{HEIGHT - 14}" class="tick" text-anchor="{anchor}">'
            f"{escape(str(days[i]['day']))}</text>"
        )
    return _svg("Accounts per health category, day by day (green, yellow, red)", body)
