"""An inline SVG timeline of an area's interruptions: when, how long, which cause, counted or not."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from core.clock import LOCAL_TZ
from maps.styles import CAUSE_COLORS

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 14, 58
Y_TICKS_H = (0, 1, 4, 12, 24, 48)


def _e(v: object) -> str:
    return html.escape(str(v))


def _months(start: datetime, end: datetime) -> list[datetime]:
    """First days of months (local time) inside [start, end]."""
    local = start.astimezone(LOCAL_TZ)
    y, m = local.year, local.month
    out: list[datetime] = []
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        t = datetime(y, m, 1, tzinfo=LOCAL_TZ)
        if t > end:
            return out
        out.append(t)


def fmt_duration(minutes: float | None) -> str:
    """``2 h 05 min`` / ``45 min``."""
    if minutes is None:
        return "—"
    total = int(round(minutes))
    if total < 60:
        return f"{total} min"
    return f"{total // 60} h {total % 60:02d} min"


def timeline_svg(rows: Sequence[dict[str, Any]], *, now: datetime, days: int = 730,
                 year_days: int = 365) -> str:
    """The SVG: x is the start time (local), y the duration (square-root scale, capped at 48 h)."""
    start = now - timedelta(days=days)
    earliest = min((r["start_time"] for r in rows), default=start)
    start = min(start, earliest)
    span = (now - start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = math.sqrt(Y_TICKS_H[-1])

    def x(t: datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (t - start).total_seconds() / span))

    def y(hours: float) -> float:
        return TOP + plot_h * (1 - min(math.sqrt(max(hours, 0.0)), y_max) / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gw-timeline" width="100%" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Interruption timeline" '
           'font-family="sans-serif" font-size="10">']
    year_x = x(now - timedelta(days=year_days))
    out.append(f'<rect x="{year_x:.1f}" y="{TOP}" width="{x(now) - year_x:.1f}" height="{plot_h}" '
               'fill="#fff3e0"/>')
    out.append(f'<text x="{x(now) - 4:.1f}" y="{TOP + 10}" text-anchor="end" fill="#a0522d">'
               f"last {year_days} days</text>")
    for h in Y_TICKS_H:
        yy = y(h)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 4}" y="{yy + 3:.1f}" text-anchor="end" fill="#555">{h} h</text>')
    months = _months(start, now)
    step = max(1, math.ceil(len(months) / 12))
    for i, t in enumerate(months):
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                   'stroke="#777"/>')
        if i % step == 0:
            out.append(f'<text x="{xx:.1f}" y="{TOP + plot_h + 15}" text-anchor="middle" fill="#555">'
                       f"{t:%Y-%m}</text>")
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
               'stroke="#555"/>')
    for r in sorted(rows, key=lambda r: r["start_time"]):
        hours = float(r.get("minutes") or 0.0) / 60.0
        color = CAUSE_COLORS.get(str(r.get("cause")), "#333")
        xx, yy = x(r["start_time"]), y(hours)
        counted = bool(r.get("counts"))
        ongoing = r.get("end_time") is None
        tip = (f"{r['start_time'].astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} · {fmt_duration(r.get('minutes'))}"
               f"{' (ongoing)' if ongoing else ''} · {r.get('cause')} · {r.get('source')}"
               f"{'' if counted else ' · not counted'}")
        out.append(f'<g class="gw-int"><title>{_e(tip)}</title>'
                   f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP + plot_h}" y2="{yy:.1f}" stroke="{color}" '
                   'stroke-width="1.5"/>'
                   f'<circle cx="{xx:.1f}" cy="{yy:.1f}" r="4" stroke="{color}" stroke-width="1.5" '
                   f'fill="{color if counted else "#fff"}"/></g>')
    lx = LEFT
    ly = HEIGHT - 18
    for cause, color in CAUSE_COLORS.items():
        out.append(f'<circle cx="{lx + 4}" cy="{ly - 3}" r="4" fill="{color}"/>'
                   f'<text x="{lx + 11}" y="{ly}" fill="#333">{cause}</text>')
        lx += 14 + 7 * len(cause) + 10
    out.append(f'<circle cx="{lx + 4}" cy="{ly - 3}" r="4" fill="#fff" stroke="#333"/>'
               f'<text x="{lx + 11}" y="{ly}" fill="#333">not counted</text>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" fill="#777">start time (Asia/Shanghai) · '
               "height: duration (square-root scale, capped at 48 h)</text>")
    out.append("</svg>")
    return "".join(out)
