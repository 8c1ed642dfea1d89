"""Colours, labels and the legend of gridwatch maps (labels are English msgids, shown translated).

Colour-vision: the status colours and the live-outage bands keep a CIEDE2000 difference of at
least 20 (statuses) and 12 (bands) between every pair under simulated protanopia, deuteranopia
and tritanopia (Machado et al. 2009), as drawn over the map's background; the bands also keep
their light-to-dark order. ``tests/test_i18n_maps.py`` checks it. Status is never colour alone:
the legend and tooltips name it, and areas are hatched (frequent: crossed, at risk: diagonal)
with a dotted outline when not evaluated (``STATUS_PATTERNS``, drawn by ``map.js``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from core.i18n import Lang
from core.i18n import _ as N_

STATUS_COLORS = {"frequent": "#ca0020", "at_risk": "#f7a21b", "ok": "#4d6a78", "none": "#bdbdbd"}
"""Area fill and feeder line colours by status (``none``: never evaluated)."""
STATUS_FILL_OPACITY = {"frequent": 0.75, "at_risk": 0.75, "ok": 0.35, "none": 0.12}
STATUS_PATTERNS = {"frequent": "cross", "at_risk": "diagonal", "ok": "solid", "none": "dotted"}
"""How an area of each status is drawn besides its colour: hatch (cross or diagonal), a plain
fill, or a faint fill with a dotted outline. The legend's swatches show the same."""
MAP_BACKGROUND = "#f4f1ea"
"""The map's background with no basemap (map.css ``.folium-map``), under the area fills."""
STATUS_LABELS = {
    "frequent": N_("frequent"),
    "at_risk": N_("at risk"),
    "ok": N_("ok"),
    "none": N_("not evaluated"),
}
OVERLAY_COLORS = {
    "weak_supply_village": "#6a3d9a",
    "ethnic_minority_area": "#1f78b4",
    "old_compound": "#a6611a",
    "core_zone": "#1b9e77",
}
OVERLAY_LABELS = {
    "weak_supply_village": N_("Weak-supply villages"),
    "ethnic_minority_area": N_("Ethnic-minority areas"),
    "old_compound": N_("Old compounds"),
    "core_zone": N_("Core zones"),
}
CAUSE_COLORS = {
    "fault": "#d7191c",
    "planned": "#2c7bb6",
    "unknown": "#7b3294",
    "weather": "#1a9641",
    "external": "#a6611a",
    "customer": "#878787",
}
CAUSE_LABELS = {
    "fault": N_("fault"),
    "planned": N_("planned"),
    "weather": N_("weather"),
    "external": N_("external"),
    "customer": N_("customer"),
    "unknown": N_("unknown"),
}
# Areas out now, by how long they have been out: four bands of magma (viridisLite ``magma(5)``
# without its black), light to dark, so the order survives any colour-vision deficiency.
LIVE_BANDS: tuple[tuple[float | None, str, str], ...] = (
    (1.0, "#fcfdbf", N_("< 1 h")),
    (4.0, "#fb8861", N_("1–4 h")),
    (12.0, "#b63679", N_("4–12 h")),
    (None, "#51127c", N_("≥ 12 h")),
)
"""(upper bound in hours, or None for the last band; fill colour; legend label msgid)."""
LIVE_LAYER_NAME = N_("Out now")
PROGRESS_LABELS = {
    "reported": N_("reported"),
    "dispatched": N_("dispatched"),
    "on_site": N_("on site"),
    "repairing": N_("repairing"),
    "restored": N_("restored"),
}
ALERT_COLORS = {"critical": "#b10026", "warning": "#feb24c"}
SEVERITY_LABELS = {"critical": N_("critical"), "warning": N_("warning")}
RULE_LABELS = {
    "frequent_outage": N_("frequent outages"),
    "frequent_outage_risk": N_("one outage from frequent"),
    "zero_perception_miss": N_("zero-perception miss"),
    "open_outage": N_("outage still open"),
    "silent_meter": N_("silent meter"),
    "unexplained_off": N_("meters off with no record"),
}
SUBJECT_LABELS = {
    "area": N_("area"), "feeder": N_("feeder"), "meter": N_("meter"), "work": N_("work"),
    "outage": N_("outage record"),
}
CHOROPLETH_COLORS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
METRIC_NAMES = {"saidi": N_("SAIDI"), "saifi": N_("SAIFI")}
METRIC_LABELS = {"saidi": N_("SAIDI (h per customer)"), "saifi": N_("SAIFI (interruptions per customer)")}


def translated(labels: dict[str, str], lang: Lang) -> dict[str, str]:
    """A label table in ``lang`` (its values are msgids)."""
    return {k: lang.gettext(v) for k, v in labels.items()}


def swatch(status: str) -> str:
    """A legend swatch of an area status: its colour and its pattern (classes in map.css)."""
    key = status if status in STATUS_COLORS else "none"
    return (f'<span class="sw gw-st gw-st-{key}" style="background-color:{STATUS_COLORS[key]}"'
            ' aria-hidden="true"></span>')


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
    live: str | None = None, lang: Lang | None = None,
) -> str:
    """The legend's inner HTML in ``lang`` (default the default language): live bands, status
    colours and patterns, overlays, choropleth classes, alerts, notes.

    ``live``, when given, is a note under the live-outage bands (how the layer is refreshed);
    ``live`` and ``notes`` are text in the page's language already, escaped here.
    """
    _ = (lang or Lang()).gettext

    def h4(text: str) -> str:
        return f"<h4>{_e(text)}</h4>"

    parts = []
    if live is not None:
        parts.append(h4(_("Out now: time out")) + "<div>")
        for _upper, color, label in LIVE_BANDS:
            parts.append(f'<span class="band"><span class="sw" style="background:{color};'
                         f'border:1.5px solid #1a1a1a" aria-hidden="true"></span>{_e(_(label))}</span> ')
        parts.append(f'</div><div class="note">{_e(live)}</div>')
    if statuses:
        parts.append(h4(_("Areas by frequent-outage status")))
        for key in ("frequent", "at_risk", "ok", "none"):
            parts.append(f'<div class="gw-status" data-status="{key}">{swatch(key)}'
                         f"{_e(_(STATUS_LABELS[key]))}</div>")
    if feeders:
        lines = []
        for key, width in (("frequent", 3.5), ("at_risk", 3), ("ok", 1.5)):
            lines.append(f'<span class="ln" style="border-color:{STATUS_COLORS[key]};'
                         f'border-top-width:{width}px" aria-hidden="true"></span>{_e(_(STATUS_LABELS[key]))}')
        parts.append(h4(_("Feeders (10 kV)")) + "<div>" + " ".join(lines) + "</div>")
    if overlays:
        parts.append(h4(_("Overlays")))
        for layer in overlays:
            color = OVERLAY_COLORS.get(layer, "#555")
            name = _(OVERLAY_LABELS[layer]) if layer in OVERLAY_LABELS else layer
            parts.append(f'<div><span class="sw" style="background:{color}33;border:1.5px dashed {color}"'
                         f' aria-hidden="true"></span>{_e(name)}</div>')
    if alerts is not None:
        dots = " ".join(f'<span class="dot" style="background:{ALERT_COLORS[k]}" aria-hidden="true"></span>'
                        f"{_e(_(SEVERITY_LABELS[k]))}" for k in ("critical", "warning"))
        parts.append(h4(_("Firing alerts")) + f"<div>{dots}</div>")
        shown = alerts if alerts_shown is None else alerts_shown
        note = (_("{firing} firing").format(firing=alerts) if shown == alerts
                else _("{firing} firing, {shown} shown").format(firing=alerts, shown=shown))
        parts.append(f'<div class="note">{_e(note)}</div>')
    if metric and breaks:
        comma = "，" if (lang or Lang()).zh else ", "
        parts.append(h4(f"{_(METRIC_LABELS[metric])}{comma}{period or ''}"))
        low = 0.0
        for color, high in zip(CHOROPLETH_COLORS, breaks, strict=False):
            parts.append(f'<div><span class="sw" style="background:{color}" aria-hidden="true"></span>'
                         f"{low:g} – {high:g}</div>")
            low = high
        no_data = _("no data")
        parts.append(f'<div><span class="sw" style="background:#fff" aria-hidden="true"></span>'
                     f"{_e(no_data)}</div>")
    for note in notes:
        parts.append(f'<div class="note">{_e(note)}</div>')
    return "".join(parts)
