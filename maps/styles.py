"""Colours, labels and the legend of gridwatch maps."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

STATUS_COLORS = {"frequent": "#d7191c", "at_risk": "#f98e09", "ok": "#7d8c8a", "none": "#bdbdbd"}
STATUS_LABELS = {
    "frequent": "frequent (频繁停电)",
    "at_risk": "at risk (one more breaches)",
    "ok": "ok",
    "none": "not evaluated (ok)",
}
OVERLAY_COLORS = {
    "weak_supply_village": "#6a3d9a",
    "ethnic_minority_area": "#1f78b4",
    "old_compound": "#a6611a",
    "core_zone": "#1b9e77",
}
OVERLAY_LABELS = {
    "weak_supply_village": "Weak-supply villages (供电薄弱村)",
    "ethnic_minority_area": "Ethnic-minority areas (民族地区)",
    "old_compound": "Old compounds (老旧小区)",
    "core_zone": "Core zones (零感知核心区)",
}
CAUSE_COLORS = {
    "fault": "#d7191c",
    "planned": "#2c7bb6",
    "unknown": "#7b3294",
    "weather": "#1a9641",
    "external": "#a6611a",
    "customer": "#878787",
}
# Areas out now, by how long they have been out: four bands of magma (viridisLite ``magma(5)``
# without its black), light to dark, so the order survives any colour-vision deficiency.
LIVE_BANDS: tuple[tuple[float | None, str, str], ...] = (
    (1.0, "#fcfdbf", "< 1 h"),
    (4.0, "#fb8861", "1–4 h"),
    (12.0, "#b63679", "4–12 h"),
    (None, "#51127c", "≥ 12 h"),
)
"""(upper bound in hours, or None for the last band; fill colour; legend label)."""
LIVE_LAYER_NAME = "Out now (当前停电)"
PROGRESS_LABELS = {
    "reported": "reported (已报修)",
    "dispatched": "dispatched (已派工)",
    "on_site": "on site (已到场)",
    "repairing": "repairing (抢修中)",
    "restored": "restored (已恢复)",
}
CHOROPLETH_COLORS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
METRIC_LABELS = {"saidi": "SAIDI (h per customer)", "saifi": "SAIFI (interruptions per customer)"}


def nice_breaks(values: Sequence[float], classes: int = len(CHOROPLETH_COLORS)) -> list[float]:
    """Upper bounds of equal-interval classes from 0 to a rounded-up maximum."""
    top = max([v for v in values if v is not None and math.isfinite(v)], default=0.0)
    if top <= 0:
        return [0.0] * (classes - 1) + [1.0]
    magnitude = 10 ** math.floor(math.log10(top))
    step_top = math.ceil(top / magnitude * 2) / 2 * magnitude
    return [round(step_top * (i + 1) / classes, 6) for i in range(classes)]


def _e(value: object) -> str:
    return html.escape(str(value))


def legend_html(
    *, statuses: bool = True, feeders: bool = True, overlays: Sequence[str] = (),
    metric: str | None = None, period: str | None = None, breaks: Sequence[float] | None = None,
    alerts: int | None = None, alerts_shown: int | None = None, notes: Sequence[str] = (),
    live: str | None = None,
) -> str:
    """The legend's inner HTML: live bands, status colours, overlays, choropleth classes, alerts, notes.

    ``live``, when given, is a note under the live-outage bands (how the layer is refreshed).
    """
    parts = []
    if live is not None:
        parts.append("<h4>Out now (当前停电), time out</h4><div>")
        for _, color, label in LIVE_BANDS:
            parts.append(f'<span class="band"><span class="sw" style="background:{color};'
                         f'border:1.5px solid #1a1a1a"></span>{_e(label)}</span> ')
        parts.append(f'</div><div class="note">{_e(live)}</div>')
    if statuses:
        parts.append("<h4>Areas (台区) by frequent-outage status</h4>")
        for key in ("frequent", "at_risk", "ok", "none"):
            parts.append(f'<div><span class="sw" style="background:{STATUS_COLORS[key]}"></span>'
                         f"{_e(STATUS_LABELS[key])}</div>")
    if feeders:
        parts.append("<h4>Feeders (10 kV)</h4><div>"
                     f'<span class="ln" style="border-color:{STATUS_COLORS["frequent"]}"></span>frequent '
                     f'<span class="ln" style="border-color:{STATUS_COLORS["at_risk"]}"></span>at risk '
                     f'<span class="ln" style="border-color:{STATUS_COLORS["ok"]};border-top-width:1px">'
                     "</span>ok</div>")
    if overlays:
        parts.append("<h4>Overlays</h4>")
        for layer in overlays:
            color = OVERLAY_COLORS.get(layer, "#555")
            parts.append(f'<div><span class="sw" style="background:{color}33;border:1.5px dashed {color}">'
                         f"</span>{_e(OVERLAY_LABELS.get(layer, layer))}</div>")
    if alerts is not None:
        parts.append("<h4>Firing alerts</h4>"
                     '<div><span class="dot" style="background:#b10026"></span>critical '
                     '<span class="dot" style="background:#feb24c"></span>warning</div>')
        shown = alerts if alerts_shown is None else alerts_shown
        parts.append(f'<div class="note">{alerts} firing' + (f", {shown} shown" if shown != alerts else "")
                     + "</div>")
    if metric and breaks:
        parts.append(f"<h4>{_e(METRIC_LABELS[metric])}, {_e(period or '')}</h4>")
        low = 0.0
        for color, high in zip(CHOROPLETH_COLORS, breaks, strict=False):
            parts.append(f'<div><span class="sw" style="background:{color}"></span>'
                         f"{low:g} – {high:g}</div>")
            low = high
        parts.append('<div><span class="sw" style="background:#fff"></span>no data</div>')
    for note in notes:
        parts.append(f'<div class="note">{_e(note)}</div>')
    return "".join(parts)
