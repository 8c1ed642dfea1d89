"""The overview map's PV hosting-capacity layer (SPEC section 15): areas green, yellow, red or grey.

Inline GeoJSON while the view is small, its own vector-tile layer (``/tiles/hosting/...``) when
the areas come from tiles: like an overlay layer it is switched on by itself (off by default),
so the status tiles neither carry its attributes nor change when a quarter is recomputed.

Colour-vision: green, yellow and red keep a CIEDE2000 difference of at least 15 from each other
under simulated protanopia, deuteranopia and tritanopia, opaque and as filled
(tests/test_hosting_map.py). A grade is never colour alone: red areas are cross-hatched, yellow
ones hatched, unassessed ones faint with a dotted outline, and the legend and every tooltip name
the grade in words, with C1 and C2 in kW.
"""

from __future__ import annotations

import html
from typing import Any

import folium
from sqlalchemy.orm import Session

from core.i18n import Lang
from core.i18n import _ as N_
from maps import elements
from maps.assets import Links
from monitoring.hosting.mapdata import area_features, latest_quarter

GRADES = ("green", "yellow", "red", "unassessed")
HOSTING_COLORS = {"green": "#41ab5d", "yellow": "#ffef5c", "red": "#a50026", "unassessed": "#737373"}
HOSTING_FILL_OPACITY = {"green": 0.75, "yellow": 0.75, "red": 0.75, "unassessed": 0.3}
HOSTING_PATTERNS = {"green": "solid", "yellow": "diagonal", "red": "cross", "unassessed": "dotted"}
HOSTING_LABELS = {
    "green": N_("green"),
    "yellow": N_("yellow"),
    "red": N_("red"),
    "unassessed": N_("unassessed"),
}
HOSTING_MEANINGS = {
    "green": N_("room for new PV (C2 > 0)"),
    "yellow": N_("full once registered PV connects (C2 ≤ 0 < C1)"),
    "red": N_("no room (C1 ≤ 0)"),
    "unassessed": N_("no capacity or typical load given"),
}
LAYER_NAME = N_("PV hosting capacity")
TILE_MIN_ZOOM = 10


def setup_options() -> dict[str, Any]:
    """What ``gridwatch.init`` needs to draw the layer (labels are msgids, translated by Setup)."""
    return {"hostingColors": HOSTING_COLORS, "hostingLabels": HOSTING_LABELS,
            "hostingFillOpacity": HOSTING_FILL_OPACITY}


def _quarter_words(quarter: str, lang: Lang) -> str:
    return f"{quarter[:4]}年第{quarter[-1]}季度" if lang.zh else quarter


def layer(*, session: Session, county: str | None, tiles: bool, tolerance: float, links: Links,
          lang: Lang) -> tuple[folium.map.Layer | None, str | None]:
    """The layer (off until switched on) and its legend section; (None, None) before any quarter
    was computed."""
    latest = latest_quarter(session=session)
    if latest is None:
        return None, None
    _ = lang.gettext
    quarter = str(latest["quarter"])
    name = f"{_(LAYER_NAME)} {_quarter_words(quarter, lang)}"
    if tiles and links.tiles:
        built: folium.map.Layer = elements.TileLayer(
            links.tiles.replace("{layer}", "hosting"), kind="hosting",
            name=_("{layer} (tiles)").format(layer=name), links=links, tile_names=["hosting"],
            show=False, min_zoom=TILE_MIN_ZOOM)
    else:
        rows = area_features(session=session, quarter=quarter, tolerance=tolerance, county=county)
        keys = ("id", "name", "county", "grade", "c1_kw", "c2_kw")
        data = elements.feature_collection(
            (r["geometry"], {k: r[k] for k in keys if r.get(k) is not None}) for r in rows)
        built = elements.GeoLayer(data, kind="hosting", name=name, show=False)
    return built, legend_html(quarter=quarter, computed_at=latest["computed_at"], lang=lang,
                              tiles=tiles)


def swatch(grade: str) -> str:
    """A legend swatch of a grade: its colour and its pattern (classes in map.css)."""
    return (f'<span class="sw gw-host gw-host-{grade}" style="background-color:{HOSTING_COLORS[grade]}"'
            ' aria-hidden="true"></span>')


def legend_html(*, quarter: str, computed_at: Any, lang: Lang, tiles: bool = False) -> str:
    """The legend section: each grade's swatch, word and meaning, the quarter and when computed.

    Hidden while the layer is off (``map.js`` shows it when the layer is switched on), so the
    legend does not grow over the layer control for a layer nobody looks at.
    """
    _ = lang.gettext
    colon = "：" if lang.zh else ": "
    parts = [f'<div class="gw-hosting-legend" hidden><h4>{html.escape(_(LAYER_NAME))}</h4>']
    for grade in GRADES:
        parts.append(f'<div class="gw-grade" data-grade="{grade}">{swatch(grade)}'
                     f"{html.escape(_(HOSTING_LABELS[grade]))}{colon}"
                     f"{html.escape(_(HOSTING_MEANINGS[grade]))}</div>")
    note = _("{quarter}, computed {time}").format(quarter=_quarter_words(quarter, lang),
                                                  time=lang.datetime(computed_at))
    if tiles:
        note += " " + _("Areas from zoom {zoom}.").format(zoom=TILE_MIN_ZOOM)
    parts.append(f'<div class="note">{html.escape(note)}</div></div>')
    return "".join(parts)
