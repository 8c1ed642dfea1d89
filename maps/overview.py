"""The planners' overview map: assets by frequent-outage status, overlays, alerts, county reliability."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import folium
from branca.element import Figure
from folium.template import Template
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, parse_period, utcnow
from core.errors import UsageError
from core.i18n import Lang, normalise
from core.i18n import _ as N_
from core.settings import Settings
from maps import elements, hosting, styles
from maps.assets import Links, offline
from monitoring import mapdata as mon
from monitoring.live import PROGRESS_STEPS, live_list
from monitoring.live import summary as live_summary
from spatial import mapdata as geo

log = logging.getLogger(__name__)

GUIZHOU_CENTER = (26.8, 106.9)
TILE_NAMES = {"area": ["areas"], "feeder": ["feeders"]}
# Tiled assets appear from these zoom levels (a province view shows counties and alerts).
TILE_MIN_ZOOM = {"area": 10, "feeder": 9}
# The planners' API routes the live-outage layer refreshes from (same origin, the session cookie).
LIVE_URLS = {"live": "/api/v1/outages/live?format=geojson", "summary": "/api/v1/outages/summary"}
TITLE = N_("gridwatch · planners' overview")


class LiveLayer(folium.map.Layer):
    """The areas out now and the summary box, drawn and refreshed by ``gridwatch.live``."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridwatch.live({{ this._parent.get_name() }}, {{ this.data }},
            {{ this.opts }});
        {% endmacro %}"""
    )

    def __init__(self, data: str, opts: Mapping[str, Any], *, name: str) -> None:
        super().__init__(name=elements.layer_name(name), overlay=True, control=True, show=True)
        self._name = "LiveLayer"
        self.data = elements.script_json(data)
        self.opts = elements.script_dumps(opts)


def _local(value: Any, lang: Lang) -> str | None:
    if isinstance(value, datetime):
        return lang.datetime(value)
    return None if value is None else str(value)


def page_lang(settings: Settings, lang: Lang | None) -> Lang:
    """``lang``, else the configured default language (``GRIDWATCH_LANGUAGE``)."""
    return lang or Lang(normalise(settings.language) or Lang().code)


def period_words(label: str, lang: Lang) -> str:
    """A period label (``2026``, ``2026Q2``, ``2026-05``) as the page's language writes it."""
    if not lang.zh:
        return label
    if m := re.fullmatch(r"(\d{4})Q([1-4])", label):
        return f"{m[1]}年第{m[2]}季度"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", label):
        return f"{m[1]}年{int(m[2])}月"
    return f"{label}年" if re.fullmatch(r"\d{4}", label) else label


def _props(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: row[k] for k in keys if row.get(k) is not None}


def _asset_layer(
    *, session: Session, settings: Settings, kind: str, count: int, county: str | None, tiles: bool,
    tolerance: float, links: Links, href: Callable[[str], str | None] | None, lang: Lang,
) -> folium.map.Layer:
    _ = lang.gettext
    name = _("Areas by status") if kind == "area" else _("Feeders by status")
    if tiles and links.tiles:
        plural = "areas" if kind == "area" else "feeders"
        return elements.TileLayer(links.tiles.replace("{layer}", plural), kind=kind,
                                  name=_("{layer} (tiles)").format(layer=name),
                                  links=links, tile_names=TILE_NAMES[kind], min_zoom=TILE_MIN_ZOOM[kind])
    rows = mon.asset_features(session=session, settings=settings, asset_type=kind, tolerance=tolerance,
                              county=county)
    keys = ("id", "name", "county", "status", "count_365", "max_60", "tags")
    features = []
    for r in rows:
        props = _props(r, keys)
        if href is not None and kind == "area":
            props["href"] = href(str(r["id"]))
        features.append((r["geometry"], props))
    return elements.GeoLayer(elements.feature_collection(features), kind=kind, name=name)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _live_layer(
    *, session: Session, settings: Settings, counties: list[str] | None, inline_only: bool,
    href: Callable[[str], str | None] | None, lang: Lang,
) -> tuple[LiveLayer, str]:
    """The live-outage layer with the state of now embedded, and its legend note.

    The server page refreshes it every ``live_refresh_seconds`` from the planners' API; a static
    export has no server, so it carries the state at export time, labelled as such, unrefreshed.
    ``counties``: the adcodes of the view (None: everything, including areas with no county).
    """
    now = utcnow()
    in_view = set(counties) if counties is not None else None
    features = []
    for r in live_list(session=session, geometry=True):
        if in_view is not None and r.get("county_adcode") not in in_view:
            continue
        props = {k: _iso(v) for k, v in r.items() if k != "geometry"}
        if href is not None:
            props["href"] = href(str(r["area_id"]))
        features.append((r["geometry"], props))
    data = ('{"live":' + elements.feature_collection(features) + ',"summary":'
            + json.dumps(live_summary(session=session), ensure_ascii=False) + "}")
    refresh = None if inline_only else settings.live_refresh_seconds
    _ = lang.gettext
    stamp = lang.datetime(now)
    name = _(styles.LIVE_LAYER_NAME) if refresh else _("Out at {time}").format(time=stamp)
    opts = {
        "title": name, "asOf": now.isoformat(), "refreshSeconds": refresh,
        "urls": LIVE_URLS if refresh else None, "counties": counties,
        "bands": [[upper, color, _(label)] for upper, color, label in styles.LIVE_BANDS],
        "steps": list(PROGRESS_STEPS), "progress": styles.translated(styles.PROGRESS_LABELS, lang),
    }
    note = (_("Refreshed every {seconds} s.").format(seconds=refresh) if refresh else
            _("A static copy: the areas out at {time} (Asia/Shanghai), not refreshed.").format(time=stamp))
    return LiveLayer(data, opts, name=name), note


def _reliability(
    *, session: Session, settings: Settings, period_text: str, metric: str
) -> tuple[dict[str, float] | None, str]:
    period = parse_period(period_text)
    values = mon.reliability_by_county(session=session, settings=settings, period=period, metric=metric)
    return values, period.label


def _title(*, counts: dict[str, dict[str, int]], period: str, metric: str, links: Links,
           county: str | None, form: bool, lang: Lang, switch: str | None) -> str:
    """The header box: the language switch, the title, the counts and the reliability form.

    On a narrow screen (map.css) it is one line, the counts, with a button that unfolds the rest.
    """
    _ = lang.gettext
    a = counts["area"]
    f = counts["feeder"]

    def bold(status: str, n: int) -> str:
        return f'<b class="gw-count-{status}" style="color:{styles.STATUS_COLORS[status]}">{n}</b>'

    areas = html.escape(lang.ngettext("{total} area: {frequent} frequent, {at_risk} at risk",
                                      "{total} areas: {frequent} frequent, {at_risk} at risk",
                                      sum(a.values())))
    feeders = html.escape(lang.ngettext("{total} feeder: {frequent} frequent, {at_risk} at risk",
                                        "{total} feeders: {frequent} frequent, {at_risk} at risk",
                                        sum(f.values())))
    line = (areas.format(total=sum(a.values()), frequent=bold("frequent", a["frequent"]),
                         at_risk=bold("at_risk", a["at_risk"]))
            + " · " + feeders.format(total=sum(f.values()), frequent=f["frequent"], at_risk=f["at_risk"]))
    if county:
        line += " · " + html.escape(_("region {adcode}")).format(adcode=html.escape(county))
    more = html.escape(_("More"))
    top = (f'<div class="gw-title-top">{switch or ""}<button type="button" class="gw-more" '
           f'aria-expanded="false" aria-controls="gw-title-more">{more}</button></div>')
    metric_name = html.escape(_(styles.METRIC_NAMES[metric]))
    if form:
        words = {k: html.escape(v) for k, v in (
            ("title", _("County reliability")), ("metric", _("Metric")), ("period", _("Period")),
            ("show", _("Show")), ("hint", _("2026, 2026Q2 or 2026-05")))}
        sel = "".join(
            f'<option value="{m}"{" selected" if m == metric else ""}>'
            f"{html.escape(_(styles.METRIC_NAMES[m]))}</option>" for m in ("saidi", "saifi")
        )
        hidden = f'<input type="hidden" name="county" value="{html.escape(county)}">' if county else ""
        rest = (
            f'<form method="get" action="{html.escape(links.overview)}">'
            f'<span class="gw-form-title">{words["title"]}{"：" if lang.zh else ": "}</span>'
            f'<label>{words["metric"]} <select name="metric">{sel}</select></label> '
            f'<label>{words["period"]} <input name="period" size="7" value="{html.escape(period)}"'
            f' title="{words["hint"]}" placeholder="{words["hint"]}"></label>{hidden} '
            f'<button type="submit">{words["show"]}</button></form>'
        )
    else:
        rest = html.escape(_("County reliability: {metric} {period}")).format(
            metric=metric_name, period=html.escape(period_words(period, lang)))
    return (f'{top}<h1>{html.escape(_(TITLE))}</h1>'
            f'<div class="gw-counts">{line}</div><div class="gw-title-more" id="gw-title-more">{rest}</div>')


def overview_html(
    *, session: Session, settings: Settings, period: str | None = None, metric: str = "saidi",
    county: str | None = None, links: Links | None = None, inline_only: bool = False,
    href: Callable[[str], str | None] | None = None, lang: Lang | None = None, switch: str | None = None,
) -> str:
    """The overview page as one HTML document (server page, or a static export with ``inline_only``).

    ``lang``: the page's language (default ``GRIDWATCH_LANGUAGE``); ``switch``: the language
    switch's markup, put at the top of the header box (a static export has none).
    """
    links = links or Links()
    lang = page_lang(settings, lang)
    _ = lang.gettext
    metric = metric.lower()
    if metric not in styles.METRIC_LABELS:
        raise UsageError(f"metric must be saidi or saifi, not {metric!r}")
    period_text = period or str(datetime.now(LOCAL_TZ).year)
    if county is not None and not re.fullmatch(r"\d{6}", county):
        raise UsageError(f"county must be a 6-digit adcode, not {county!r}")
    limit = settings.map_inline_features
    counts = geo.feature_counts(session=session, county=county)
    bounds = geo.region_bounds(session=session, county=county)
    big = counts["areas"] > limit or counts["feeders"] > limit
    scale = "province" if big else "county"
    tolerance = geo.TOLERANCE[scale]
    notes: list[str] = []

    # The scale bar is drawn by gridwatch.init (metric only): folium's would add feet and miles.
    m = folium.Map(location=GUIZHOU_CENTER, zoom_start=7, tiles=None, control_scale=False,
                   width="100%", height="100%")
    offline(m, links)
    elements.add_basemap(m, settings)
    values, raw_label = _reliability(session=session, settings=settings, period_text=period_text,
                                     metric=metric)
    label = period_words(raw_label, lang)
    elements.Setup({
        "statusColors": styles.STATUS_COLORS, "statusLabels": styles.STATUS_LABELS,
        "overlayColors": styles.OVERLAY_COLORS, "overlayLabels": styles.OVERLAY_LABELS,
        "alertColors": styles.ALERT_COLORS, "areaLink": links.area,
        "metricLabel": f"{_(styles.METRIC_NAMES[metric])} {label}",
        "choropleth": {"breaks": styles.nice_breaks(list((values or {}).values())),
                       "colors": list(styles.CHOROPLETH_COLORS)},
        "attribution": elements.attribution(settings, lang), "scale": True,
        **hosting.setup_options(),
    }, lang=lang).add_to(m)

    county_rows = geo.counties(session=session, tolerance=geo.COUNTY_TOLERANCE[scale], county=county)
    live, live_note = _live_layer(
        session=session, settings=settings, inline_only=inline_only, href=href, lang=lang,
        counties=sorted({county, *(str(r["adcode"]) for r in county_rows)}) if county else None)
    live.add_to(m)
    breaks = None
    if values is None:
        notes.append(_("County reliability is not available in this build."))
    elif county_rows:
        breaks = styles.nice_breaks(list(values.values()))
        choro = [(r["geometry"], {"adcode": r["adcode"], "name": r["name"], "value": values.get(r["adcode"])})
                 for r in county_rows]
        elements.GeoLayer(elements.feature_collection(choro), kind="choropleth",
                          name=_("{metric} by county ({period})").format(
                              metric=_(styles.METRIC_NAMES[metric]), period=label)).add_to(m)
    outlines = [(r["geometry"], {"adcode": r["adcode"], "name": r["name"]}) for r in county_rows]
    elements.GeoLayer(elements.feature_collection(outlines), kind="county",
                      name=_("County outlines")).add_to(m)

    shown_overlays = []
    for layer in geo.OVERLAY_LAYERS:
        n = counts.get(layer, 0)
        if n == 0:
            continue
        shown_overlays.append(layer)
        label_l = _(styles.OVERLAY_LABELS[layer])
        if n > limit and not inline_only and links.tiles:
            elements.TileLayer(links.tiles.replace("{layer}", layer), kind="overlay",
                               name=_("{layer} (tiles)").format(layer=label_l),
                               links=links, tile_names=[layer], layer=layer, show=False).add_to(m)
            continue
        rows = geo.overlay_features(session=session, tolerance=tolerance, layer=layer,
                                    bounds=bounds if county else None)
        data = elements.feature_collection((r["geometry"], {"name": r["name"], "id": r["feature_id"]})
                                           for r in rows)
        elements.GeoLayer(data, kind="overlay", layer=layer, name=label_l, show=False).add_to(m)

    tiles = big and not inline_only and links.tiles is not None
    if big and inline_only:
        notes.append(_("Over {limit} features: geometry simplified for this static copy.").format(
            limit=limit))
    if tiles:
        notes.append(_("Over {limit} features: areas and feeders come from vector tiles; zoom in to see "
                       "feeders (zoom {feeder}+) and areas (zoom {area}+).").format(
                           limit=limit, feeder=TILE_MIN_ZOOM["feeder"], area=TILE_MIN_ZOOM["area"]))
    for kind, n in (("feeder", counts["feeders"]), ("area", counts["areas"])):
        if n:
            _asset_layer(session=session, settings=settings, kind=kind, count=n, county=county,
                         tiles=tiles and n > limit, tolerance=tolerance, links=links, href=href,
                         lang=lang).add_to(m)
    host, host_legend = hosting.layer(session=session, county=county, tiles=tiles and counts["areas"] > limit,
                                      tolerance=tolerance, links=links, lang=lang)
    if host is not None:
        host.add_to(m)

    shown, firing = mon.firing_alerts(session=session, county=county, limit=max(limit, 1))
    alert_data = elements.feature_collection(
        (f'{{"type":"Point","coordinates":[{a["lon"]:.6f},{a["lat"]:.6f}]}}',
         {"rule": a.get("rule"), "severity": a.get("severity"), "asset_type": a.get("subject_type"),
          "asset_id": a.get("subject_id"), "since": _local(a.get("starts_at"), lang),
          # The summary is English text written by the rule (for the API and logs): shown in English only.
          **({} if lang.zh else {"summary": a.get("summary")})})
        for a in shown
    )
    elements.GeoLayer(alert_data, kind="alert", name=_("Firing alerts ({n})").format(n=firing)).add_to(m)

    legend = styles.legend_html(overlays=shown_overlays, metric=metric if breaks else None, period=label,
                                breaks=breaks, alerts=firing, alerts_shown=len(shown), notes=notes,
                                live=live_note, lang=lang) + (host_legend or "")
    elements.Legend(legend).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    elements.Fold().add_to(m)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    root = m.get_root()
    assert isinstance(root, Figure)
    root.header.add_child(elements.Raw(
        f"<title>{html.escape(_(TITLE))}</title><link rel=\"icon\" href=\"data:,\">"), name="title")
    counts_by_status = mon.status_counts(session=session, county=county)
    root.html.add_child(elements.title_box(_title(counts=counts_by_status, period=raw_label, metric=metric,
                                                  links=links, county=county, form=not inline_only,
                                                  lang=lang, switch=switch)))
    log.info("overview: %s areas, %s feeders, scale %s, tiles %s", counts["areas"], counts["feeders"],
             scale, tiles)
    return elements.with_html_lang(str(root.render()), lang)
