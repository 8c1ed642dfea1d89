"""An inline SVG timeline of an area's interruptions: when, how long, which cause, counted or not.

Its labels, axis and legend are in the page's language (``core.i18n.Lang``); times in Asia/Shanghai.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from core.clock import LOCAL_TZ
from core.i18n import Lang
from core.i18n import _ as N_
from maps.styles import CAUSE_COLORS, CAUSE_LABELS

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 14, 58
Y_TICKS_H = (0, 1, 4, 12, 24, 48)
SOURCE_LABELS = {"record": N_("outage record"), "feeder_record": N_("feeder outage record"),
                 "inferred": N_("inferred from meters")}


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


def fmt_duration(minutes: float | None, lang: Lang | None = None) -> str:
    """``2 h 05 min`` / ``45 min`` (``2 小时 05 分钟`` / ``45 分钟`` in Chinese)."""
    if minutes is None:
        return "—"
    _ = (lang or Lang()).gettext
    total = int(round(minutes))
    if total < 60:
        return _("{minutes} min").format(minutes=total)
    return _("{hours} h {minutes} min").format(hours=total // 60, minutes=f"{total % 60:02d}")


def _text_width(text: str) -> float:
    """Roughly how wide ``text`` is at font-size 10 (CJK characters are twice as wide)."""
    return sum(10.0 if ord(c) >= 0x2E80 else 5.6 for c in text)


def _month(t: datetime, lang: Lang) -> str:
    return f"{t.year}年{t.month}月" if lang.zh else f"{t:%Y-%m}"


def timeline_svg(rows: Sequence[dict[str, Any]], *, now: datetime, days: int = 730,
                 year_days: int = 365, lang: Lang | None = None) -> str:
    """The SVG: x is the start time (local), y the duration (square-root scale, capped at 48 h).

    Every word in ``lang``; the legend of causes wraps onto a second row when it must.
    """
    lang = lang or Lang()
    _ = lang.gettext
    start = now - timedelta(days=days)
    earliest = min((r["start_time"] for r in rows), default=start)
    start = min(start, earliest)
    span = (now - start).total_seconds() or 1.0
    plot_w = WIDTH - LEFT - RIGHT
    legend = [(color, cause_label(cause, lang), True) for cause, color in CAUSE_COLORS.items()]
    legend.append(("#fff", _("not counted"), False))
    rows_of_legend: list[list[tuple[float, str, str, bool]]] = [[]]
    lx = float(LEFT)
    for color, label, filled in legend:
        w = 14 + _text_width(label) + 10
        if rows_of_legend[-1] and lx + w > WIDTH - RIGHT:
            rows_of_legend.append([])
            lx = float(LEFT)
        rows_of_legend[-1].append((lx, color, label, filled))
        lx += w
    height = HEIGHT + 14 * (len(rows_of_legend) - 1)
    plot_h = HEIGHT - TOP - BOTTOM
    y_max = math.sqrt(Y_TICKS_H[-1])

    def x(t: datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (t - start).total_seconds() / span))

    def y(hours: float) -> float:
        return TOP + plot_h * (1 - min(math.sqrt(max(hours, 0.0)), y_max) / y_max)

    name = _("Interruption timeline")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gw-timeline" width="100%" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_e(name)}" '
           'font-family="sans-serif" font-size="10">']
    year_x = x(now - timedelta(days=year_days))
    out.append(f'<rect x="{year_x:.1f}" y="{TOP}" width="{x(now) - year_x:.1f}" height="{plot_h}" '
               'fill="#fff3e0"/>')
    last = _("last {days} days").format(days=year_days)
    out.append(f'<text x="{x(now) - 4:.1f}" y="{TOP + 10}" text-anchor="end" fill="#a0522d">'
               f"{_e(last)}</text>")
    hours_tick = _("{hours} h")
    for h in Y_TICKS_H:
        yy = y(h)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 4}" y="{yy + 3:.1f}" text-anchor="end" fill="#555">'
                   f"{_e(hours_tick.format(hours=h))}</text>")
    months = _months(start, now)
    label_w = max((_text_width(_month(t, lang)) for t in months), default=40.0) + 8
    step = max(1, math.ceil(len(months) * label_w / plot_w))
    for i, t in enumerate(months):
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                   'stroke="#777"/>')
        if i % step == 0:
            out.append(f'<text x="{xx:.1f}" y="{TOP + plot_h + 15}" text-anchor="middle" fill="#555">'
                       f"{_e(_month(t, lang))}</text>")
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
               'stroke="#555"/>')
    for r in sorted(rows, key=lambda r: r["start_time"]):
        hours = float(r.get("minutes") or 0.0) / 60.0
        color = CAUSE_COLORS.get(str(r.get("cause")), "#333")
        xx, yy = x(r["start_time"]), y(hours)
        counted = bool(r.get("counts"))
        ongoing = r.get("end_time") is None
        parts = [lang.datetime(r["start_time"]), fmt_duration(r.get("minutes"), lang)
                 + (" " + _("(ongoing)") if ongoing else ""),
                 cause_label(r.get("cause"), lang), source_label(r.get("source"), lang)]
        if not counted:
            parts.append(_("not counted"))
        out.append(f'<g class="gw-int"><title>{_e(" · ".join(parts))}</title>'
                   f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP + plot_h}" y2="{yy:.1f}" stroke="{color}" '
                   'stroke-width="1.5"/>'
                   f'<circle cx="{xx:.1f}" cy="{yy:.1f}" r="4" stroke="{color}" stroke-width="1.5" '
                   f'fill="{color if counted else "#fff"}"/></g>')
    ly = HEIGHT - 18
    for row in rows_of_legend:
        for lx, color, label, filled in row:
            stroke = "" if filled else ' stroke="#333"'
            out.append(f'<circle cx="{lx + 4:.1f}" cy="{ly - 3}" r="4" fill="{color}"{stroke}/>'
                       f'<text x="{lx + 11:.1f}" y="{ly}" fill="#333">{_e(label)}</text>')
        ly += 14
    axes = _("x: start time (Asia/Shanghai) · height: duration (square-root scale, capped at 48 h)")
    out.append(f'<text x="4" y="{height - 2}" fill="#777">{_e(axes)}</text>')
    out.append("</svg>")
    return "".join(out)


def cause_label(cause: object, lang: Lang) -> str:
    """A cause's name in ``lang`` (an unknown code as it is)."""
    key = str(cause)
    return lang.gettext(CAUSE_LABELS[key]) if key in CAUSE_LABELS else key


def source_label(source: object, lang: Lang) -> str:
    """Where an interruption comes from, in ``lang``."""
    key = str(source)
    return lang.gettext(SOURCE_LABELS[key]) if key in SOURCE_LABELS else key
