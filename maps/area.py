"""One area's page: its map (area, feeder, overlays, county) and its interruption history and case.

Every word is in the page's language (``lang``: zh-CN by default); ids, names and free text from
the database are shown as they are, escaped. On a desk the map is on the left and the facts on
the right; below 700 px the map sits above the facts and the page scrolls (``AREA_CSS``). The
map fits the area itself, with a margin, and the feeder is drawn around it.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import folium
from branca.element import Figure
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, utcnow
from core.i18n import Lang, normalise
from core.i18n import _ as N_
from core.settings import Settings
from maps import elements, styles
from maps.assets import Links, offline
from maps.timeline import cause_label, fmt_duration, timeline_svg
from monitoring import mapdata as mon
from monitoring.planning import repeat_planned
from spatial import mapdata as geo

log = logging.getLogger(__name__)

HISTORY_LIMIT = 500
FIT_PADDING = (28, 28)
"""The margin (px) between the area and the map's edges when the page opens."""
FIT_MAX_ZOOM = 18
"""The closest the map opens on a very small area."""
NARROW = 699
"""Up to this width (px; map.css folds the map's controls at the same width) the map sits above
the facts."""
PHONE_MAP_HEIGHT = "max(52vh, 260px)"
"""The map's height on a narrow screen, above the facts."""

CASE_FIELDS = (
    ("case_id", N_("Case")), ("status", N_("Status")), ("opened_at", N_("Opened")),
    ("measures", N_("Measures")), ("responsible_unit", N_("Responsible unit")),
    ("due_date", N_("Due")), ("completion_date", N_("Completed")), ("verified_at", N_("Verified")),
    ("signed_off_at", N_("Signed off")),
)
CASE_STATUS = {
    "open": N_("open"), "in_progress": N_("in progress"), "completed": N_("completed"),
    "closed": N_("closed (struck off)"),
}
TAG_LABELS = {
    "weak_supply_village": N_("Weak-supply village"), "ethnic_minority_area": N_("Ethnic-minority area"),
    "old_compound": N_("Old residential compound"), "core_zone": N_("Core zone"),
}

PLANNED_KIND = {"outage": N_("record {id}"), "work": N_("work {id}")}
"""A planned interruption's ref as the findings table names it (SPEC section 14's kinds)."""
FINDINGS_FROM = "frequent_year_days"
"""The repeat-planned findings shown are those whose second interruption starts at most this
setting's days ago (the history the page shows), or later: planned works ahead included."""

AREA_CSS = """
#{map}.folium-map {{ position: absolute; top: 0; left: 0; bottom: 0; width: 55%; height: 100%; }}
.gw-panel.gw-area-panel {{ position: absolute; top: 0; bottom: 0; right: 0; left: auto; width: 45%;
  overflow-y: auto; overflow-wrap: anywhere; box-sizing: border-box; padding: 10px 16px 24px;
  font-size: 13px; background: #fff; border-left: 1px solid #ccc; }}
.gw-area-panel .gw-area-top {{ display: flex; justify-content: space-between; align-items: baseline;
  gap: 8px; flex-wrap: wrap; }}
.gw-area-panel .gw-lang a {{ color: #08519c; }}
.gw-area-panel .gw-lang a[aria-current] {{ font-weight: bold; color: #222; text-decoration: none; }}
.gw-panel.gw-area-panel dl {{ grid-template-columns: minmax(6em, max-content) minmax(0, 1fr); }}
.gw-panel.gw-area-panel dd {{ min-width: 0; }}
.gw-area-panel .gw-table {{ max-width: 100%; overflow-x: auto; }}
.gw-panel.gw-area-panel td, .gw-panel.gw-area-panel th {{ vertical-align: top; overflow-wrap: normal; }}
.gw-panel.gw-area-panel .t {{ white-space: nowrap; }}
.gw-area-panel .gw-status {{ display: inline-flex; align-items: center; gap: 5px; padding: 0 8px 0 3px;
  border: 1px solid #999; border-radius: 10px; background: #fff; color: #222; font-weight: bold;
  white-space: nowrap; }}
.gw-area-panel .gw-status .sw {{ display: inline-block; width: 14px; height: 10px; margin: 0;
  border: 1px solid #666; }}
.gw-area-panel svg.gw-timeline {{ display: block; max-width: 100%; height: auto; }}
@media (max-width: {narrow}px) {{
  html:root, html:root body {{ height: auto; }}
  #{map}.folium-map {{ position: absolute; top: 0; left: 0; right: 0; width: 100%; height: {phone_map}; }}
  .gw-panel.gw-area-panel {{ position: static; width: 100%; margin-top: {phone_map}; overflow: visible;
    border-left: 0; border-top: 1px solid #ccc; padding: 8px 12px 24px; font-size: 14px; }}
  .gw-panel.gw-area-panel dl {{ grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }}
  .gw-panel.gw-area-panel .t {{ white-space: normal; overflow-wrap: anywhere; }}
  .gw-panel.gw-area-panel table {{ font-size: 12px; }}
}}
"""


def page_lang(settings: Settings, lang: Lang | None) -> Lang:
    """``lang``, else the configured default language (``GRIDWATCH_LANGUAGE``)."""
    return lang or Lang(normalise(settings.language) or Lang().code)


def _e(v: object) -> str:
    return html.escape("—" if v is None or v == "" else str(v))


def _when(v: Any, lang: Lang) -> str:
    """A moment or a day as the page's language writes it (Asia/Shanghai)."""
    if v is None or v == "":
        return "—"
    if isinstance(v, datetime):
        return lang.datetime(v if v.tzinfo is not None else v.replace(tzinfo=UTC))
    if isinstance(v, date):
        return lang.date(v)
    return str(v)


def status_badge(status: str | None, lang: Lang) -> str:
    """The status as a word beside its swatch (colour and pattern), never colour alone."""
    key = status if status in styles.STATUS_COLORS else "none"
    word = lang.gettext(styles.STATUS_LABELS[key])
    return f'<span class="gw-status" data-status="{key}">{styles.swatch(key)}{_e(word)}</span>'


def _source(r: dict[str, Any], lang: Lang) -> str:
    _ = lang.gettext
    if r.get("source") == "inferred":
        return _("meters {off}/{total} off").format(off=r.get("meters_off"), total=r.get("meters_total"))
    text = (_("feeder record {id}") if r.get("source") == "feeder_record" else _("record {id}")).format(
        id=r.get("outage_id"))
    return text + (" " + _("(work {id})").format(id=r["work_id"]) if r.get("work_id") else "")


def history_table(rows: Sequence[dict[str, Any]], lang: Lang | None = None) -> str:
    """The interruption table, newest first."""
    lang = lang or Lang()
    _ = lang.gettext
    if not rows:
        none = _("No interruptions recorded or inferred for this area.")
        return f'<p class="muted">{_e(none)}</p>'
    ongoing, yes, no = _("ongoing"), _("yes"), _("no")
    body = []
    for r in rows:
        color = styles.CAUSE_COLORS.get(str(r.get("cause")), "#333")
        end = _when(r["end_time"], lang) if r.get("end_time") else ongoing
        body.append(
            f'<tr><td class="t">{_e(_when(r["start_time"], lang))}</td><td class="t">{_e(end)}</td>'
            f'<td class="t">{_e(fmt_duration(r.get("minutes"), lang))}</td>'
            f'<td><span style="color:{color}">{_e(cause_label(r.get("cause"), lang))}</span></td>'
            f"<td>{_e(_source(r, lang))}</td><td>{_e(yes if r.get('counts') else no)}</td></tr>"
        )
    heads = "".join(f'<th scope="col">{_e(h)}</th>'
                    for h in (_("Start"), _("End"), _("Duration"), _("Cause"), _("Source"), _("Counted")))
    return (f'<div class="gw-table"><table><thead><tr>{heads}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def case_html(case: dict[str, Any] | None, lang: Lang | None = None) -> str:
    """The remediation case panel."""
    lang = lang or Lang()
    _ = lang.gettext
    if case is None:
        none = _("No remediation case for this area.")
        return f'<p class="muted">{_e(none)}</p>'

    def value(key: str) -> str:
        v = case.get(key)
        if key == "status" and isinstance(v, str) and v in CASE_STATUS:
            return _(CASE_STATUS[v])
        return _when(v, lang) if isinstance(v, (date, datetime)) else ("—" if v in (None, "") else str(v))

    items = "".join(f"<dt>{_e(_(label))}</dt><dd>{_e(value(k))}</dd>" for k, label in CASE_FIELDS)
    return f"<dl>{items}</dl>"


def area_findings(*, session: Session, settings: Settings,
                  area_id: str) -> tuple[datetime, list[dict[str, Any]]]:
    """The area's repeat-planned findings (一停多用) from ``FINDINGS_FROM`` days ago on, and that start."""
    since = utcnow() - timedelta(days=int(getattr(settings, FINDINGS_FROM)))
    rows = repeat_planned.findings(session=session, settings=settings, start=since,
                                   end=repeat_planned.FAR_FUTURE, area_ids=[area_id])
    return since, rows


def findings_html(rows: Sequence[dict[str, Any]], *, since: datetime, settings: Settings,
                  lang: Lang | None = None) -> str:
    """The repeated planned outages of the area: each pair, both sides dated and named, days apart."""
    lang = lang or Lang()
    _ = lang.gettext
    intro = _("Planned interruptions of this area that start at most {days} days after the one "
              "before, with the second one since {since}. Each is a second outage of the same "
              "customers that one outage could have served.").format(
        days=settings.repeat_planned_days, since=lang.date(since.astimezone(LOCAL_TZ).date()))
    if not rows:
        none = _("No repeated planned outages for this area.")
        return f'<p>{_e(intro)}</p><p class="muted">{_e(none)}</p>'

    def side(kind: Any, ref: Any, when: Any) -> str:
        label = _(PLANNED_KIND[kind]) if kind in PLANNED_KIND else "{id}"
        return (f'<span class="t">{_e(_when(when, lang))}</span><br>'
                f'<span data-kind="{_e(kind)}">{_e(label.format(id=ref))}</span>')

    body = "".join(
        f'<tr class="gw-finding"><td>{side(r["first_kind"], r["first_ref"], r["first_start"])}</td>'
        f'<td>{side(r["second_kind"], r["second_ref"], r["second_start"])}</td>'
        f'<td class="t">{_e(format(float(r["days_apart"]), "g"))}</td></tr>' for r in rows)
    heads = "".join(f'<th scope="col">{_e(h)}</th>'
                    for h in (_("First interruption"), _("Second interruption"), _("Days apart")))
    return (f'<p>{_e(intro)}</p><div class="gw-table"><table class="gw-findings"><thead><tr>{heads}'
            f"</tr></thead><tbody>{body}</tbody></table></div>")


def _tag(tag: dict[str, Any], lang: Lang) -> str:
    """One tag: the overlay, the share of the area it covers, and the features' names."""
    layer = str(tag["layer"])
    name = lang.gettext(TAG_LABELS[layer]) if layer in TAG_LABELS else layer
    features = ("、" if lang.zh else ", ").join(str(n) for n in tag.get("feature_names") or [])
    return (f"<li>{_e(name)}: {100 * float(tag['share']):.0f}%"
            f"{' — ' + _e(features) if features else ''}</li>")


def _panel(*, detail: dict[str, Any], status: dict[str, Any], feeder: dict[str, Any],
           history: list[dict[str, Any]], case: str, links: Links, settings: Settings, lang: Lang,
           switch: str, findings: str = "") -> str:
    _ = lang.gettext
    tags = "".join(_tag(t, lang) for t in status["tags"]) or "<li>" + _e(_("none")) + "</li>"
    counted = sum(1 for r in history if r.get("counts"))
    county = f"{_e(detail.get('county'))} ({_e(detail.get('county_adcode'))})"
    if detail.get("prefecture"):
        county += f" · {_e(detail['prefecture'])}"
    capacity = detail.get("capacity_kva")
    facts = [
        (_("Feeder"), f"{_e(detail['feeder_id'])} {_e(detail.get('feeder_name') or '')} "
                      f"{status_badge(feeder.get('status'), lang)}"),
        (_("County"), county),
        (_("Customers"), _e(detail.get("customers"))),
        (_("Capacity"), _e(f"{capacity:g} kVA" if capacity is not None else None)),
        (_("Interruptions in the last {days} days").format(days=settings.frequent_year_days),
         _e(status.get("count_365"))),
        (_("Most interruptions in any {days} days").format(days=settings.frequent_window_days),
         _e(status.get("max_60"))),
        (_("Status as of"), f'<span class="t">{_e(_when(status.get("as_of"), lang))}</span>'),
    ]
    dl = "".join(f"<dt>{_e(label)}</dt><dd>{v}</dd>" for label, v in facts)
    summary = lang.ngettext(
        "{n} interruption shown, {counted} of a counted cause and length (limits: {year_limit} per "
        "{year_days} days, {window_limit} per {window_days} days).",
        "{n} interruptions shown, {counted} of a counted cause and length (limits: {year_limit} per "
        "{year_days} days, {window_limit} per {window_days} days).", len(history)).format(
        n=len(history), counted=counted, year_limit=settings.frequent_year_limit,
        year_days=settings.frequent_year_days, window_limit=settings.frequent_window_limit,
        window_days=settings.frequent_window_days)
    words = {k: _e(v) for k, v in (
        ("back", _("Overview map")), ("area", _("Transformer area")), ("facts", _("Facts")),
        ("tags", _("Tags")), ("history", _("Interruption history")), ("case", _("Remediation case")),
        ("findings", _("Repeated planned outages (one outage, many jobs)")))}
    back = f'<a href="{html.escape(links.overview)}">&larr; {words["back"]}</a>'
    return (
        f'<main class="gw-panel gw-area-panel"><div class="gw-area-top">{back}{switch}</div>'
        f'<h1>{_e(detail.get("name") or detail["area_id"])}</h1>'
        f'<div class="gw-area-id">{words["area"]} <code>{_e(detail["area_id"])}</code> '
        f'{status_badge(status.get("status"), lang)}</div>'
        f'<h2>{words["facts"]}</h2><dl class="gw-facts">{dl}</dl>'
        f'<h2>{words["tags"]}</h2><ul>{tags}</ul>'
        f'<h2>{words["history"]}</h2><p>{_e(summary)}</p>'
        f"{timeline_svg(history, now=utcnow(), year_days=settings.frequent_year_days, lang=lang)}"
        f'{history_table(history, lang)}'
        f'<h2 id="repeat-planned">{words["findings"]}</h2>{findings}'
        f'<h2>{words["case"]}</h2>{case}</main>'
    )


def _points(coords: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) of a GeoJSON coordinates array, at any depth."""
    if isinstance(coords, (list, tuple)) and len(coords) >= 2 and all(isinstance(c, (int, float))
                                                                      for c in coords[:2]):
        yield float(coords[0]), float(coords[1])
    elif isinstance(coords, (list, tuple)):
        for c in coords:
            yield from _points(c)


def area_bounds(geometry: str | None) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of a GeoJSON geometry text, or None."""
    if not geometry:
        return None
    pts = list(_points(json.loads(geometry).get("coordinates")))
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def area_html(*, session: Session, settings: Settings, area_id: str, links: Links | None = None,
              lang: Lang | None = None, switch: str = "") -> str:
    """The area page as one HTML document; NotFound for an unknown area.

    ``lang`` is the page's language (default ``GRIDWATCH_LANGUAGE``); ``switch`` the language
    switch's markup (a served page has one; a static export has none).
    """
    links = links or Links()
    lang = page_lang(settings, lang)
    _ = lang.gettext
    detail = geo.area_detail(session=session, area_id=area_id)
    status = mon.asset_status(session=session, settings=settings, asset_type="area", asset_id=area_id)
    feeder = mon.asset_status(session=session, settings=settings, asset_type="feeder",
                              asset_id=str(detail["feeder_id"]))
    history = mon.area_history(session=session, settings=settings, area_id=area_id, limit=HISTORY_LIMIT)
    case = mon.area_case(session=session, area_id=area_id)
    since, found = area_findings(session=session, settings=settings, area_id=area_id)

    m = folium.Map(location=[float(detail["y1"]), float(detail["x1"])], zoom_start=14, tiles=None,
                   control_scale=False, width="55%", height="100%", zoom_snap=0.25)
    offline(m, links)
    elements.add_basemap(m, settings)
    elements.Setup({
        "statusColors": styles.STATUS_COLORS, "statusLabels": styles.STATUS_LABELS,
        "overlayColors": styles.OVERLAY_COLORS, "overlayLabels": styles.OVERLAY_LABELS,
        "areaLink": None, "attribution": elements.attribution(settings, lang), "scale": True,
    }, lang=lang).add_to(m)
    if detail.get("county_geometry"):
        county = [(detail["county_geometry"], {"name": detail.get("county")})]
        elements.GeoLayer(elements.feature_collection(county), kind="county",
                          name=_("County outline")).add_to(m)
    overlays = geo.overlays_near(session=session, area_id=area_id)
    present = []
    for layer in geo.OVERLAY_LAYERS:
        feats = [(r["geometry"], {"name": r["name"], "id": r["feature_id"]})
                 for r in overlays if r["layer"] == layer]
        if feats:
            present.append(layer)
            elements.GeoLayer(elements.feature_collection(feats), kind="overlay", layer=layer,
                              name=_(styles.OVERLAY_LABELS[layer])).add_to(m)
    tag_names = [t["layer"] for t in status["tags"]]
    feeder_props = {"id": detail["feeder_id"], "name": detail.get("feeder_name"),
                    "county": detail.get("county"),
                    "status": feeder.get("status"), "count_365": feeder.get("count_365"),
                    "max_60": feeder.get("max_60"), "tags": [t["layer"] for t in feeder["tags"]]}
    elements.GeoLayer(elements.feature_collection([(detail["feeder_geometry"], feeder_props)]), kind="feeder",
                      name=_("Feeder {id}").format(id=detail["feeder_id"])).add_to(m)
    area_props = {"id": detail["area_id"], "name": detail.get("name"), "county": detail.get("county"),
                  "status": status.get("status"), "count_365": status.get("count_365"),
                  "max_60": status.get("max_60"), "tags": tag_names}
    elements.GeoLayer(elements.feature_collection([(detail["geometry"], area_props)]), kind="area",
                      name=_("Area {id}").format(id=detail["area_id"])).add_to(m)
    elements.Legend(styles.legend_html(overlays=present, lang=lang)).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    elements.Fold().add_to(m)
    bounds = area_bounds(detail.get("geometry")) or [
        [float(detail["y1"]), float(detail["x1"])], [float(detail["y2"]), float(detail["x2"])]]
    m.fit_bounds(bounds, padding=FIT_PADDING, max_zoom=FIT_MAX_ZOOM)
    root = m.get_root()
    assert isinstance(root, Figure)
    title = html.escape(_("gridwatch · area {id}").format(id=detail["area_id"]))
    icon = '<link rel="icon" href="data:,">'
    style = AREA_CSS.format(map=m.get_name(), narrow=NARROW, phone_map=PHONE_MAP_HEIGHT)
    root.header.add_child(elements.Raw(f"<title>{title}</title>{icon}<style>{style}</style>"), name="title")
    root.html.add_child(elements.Raw(_panel(
        detail=detail, status=status, feeder=feeder, history=history,
        case=case_html(case, lang), links=links, settings=settings, lang=lang, switch=switch,
        findings=findings_html(found, since=since, settings=settings, lang=lang))))
    return elements.with_html_lang(str(root.render()), lang)
