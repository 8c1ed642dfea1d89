"""One area's page: its map (area, feeder, overlays, county) and its interruption history and case."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

import folium
from branca.element import Figure
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, utcnow
from core.settings import Settings
from maps import elements, styles
from maps.assets import Links, offline
from maps.timeline import fmt_duration, timeline_svg
from monitoring import mapdata as mon
from spatial import mapdata as geo

log = logging.getLogger(__name__)

HISTORY_LIMIT = 500
CASE_FIELDS = (
    ("case_id", "Case"), ("status", "Status"), ("opened_at", "Opened"), ("measures", "Measures"),
    ("responsible_unit", "Responsible unit"), ("due_date", "Due"), ("completion_date", "Completed"),
    ("verified_at", "Verified"), ("signed_off_at", "Signed off"),
)


def _e(v: object) -> str:
    return html.escape("—" if v is None or v == "" else str(v))


def _when(v: Any) -> str:
    if v is None:
        return "—"
    if hasattr(v, "astimezone") and getattr(v, "tzinfo", None) is not None:
        return f"{v.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
    return str(v)


def _badge(status: str | None) -> str:
    key = status or "none"
    return (f'<span class="badge" style="background:{styles.STATUS_COLORS.get(key, "#999")}">'
            f"{_e(styles.STATUS_LABELS.get(key, key))}</span>")


def _source(r: dict[str, Any]) -> str:
    if r.get("source") == "inferred":
        return f"meters {r.get('meters_off')}/{r.get('meters_total')} off"
    kind = "feeder record" if r.get("source") == "feeder_record" else "record"
    work = f" (work {r['work_id']})" if r.get("work_id") else ""
    return f"{kind} {r.get('outage_id')}{work}"


def history_table(rows: Sequence[dict[str, Any]]) -> str:
    """The interruption table, newest first."""
    if not rows:
        return '<p class="muted">No interruptions recorded or inferred for this area.</p>'
    body = []
    for r in rows:
        body.append(
            f"<tr><td>{_e(_when(r['start_time']))}</td>"
            f"<td>{_e(_when(r['end_time'])) if r.get('end_time') else 'ongoing'}</td>"
            f"<td>{_e(fmt_duration(r.get('minutes')))}</td>"
            f'<td><span style="color:{styles.CAUSE_COLORS.get(str(r.get("cause")), "#333")}">'
            f"{_e(r.get('cause'))}</span></td><td>{_e(_source(r))}</td>"
            f"<td>{'yes' if r.get('counts') else 'no'}</td></tr>"
        )
    return ("<table><thead><tr><th>Start</th><th>End</th><th>Duration</th><th>Cause</th><th>Source</th>"
            "<th>Counts</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def case_html(case: dict[str, Any] | None) -> str:
    """The remediation case panel."""
    if case is None:
        return '<p class="muted">No remediation case for this area.</p>'
    items = "".join(f"<dt>{label}</dt><dd>{_e(_when(case.get(k)) if k.endswith('_at') else case.get(k))}</dd>"
                    for k, label in CASE_FIELDS)
    return f"<dl>{items}</dl>"


def _panel(*, detail: dict[str, Any], status: dict[str, Any], feeder: dict[str, Any],
           history: list[dict[str, Any]], case: str, links: Links, settings: Settings) -> str:
    tags = "".join(
        f"<li>{_e(styles.OVERLAY_LABELS.get(t['layer'], t['layer']))}: {100 * float(t['share']):.0f}%"
        f"{' — ' + _e(', '.join(t['feature_names'])) if t.get('feature_names') else ''}</li>"
        for t in status["tags"]
    ) or "<li>none</li>"
    counted = sum(1 for r in history if r.get("counts"))
    facts = [
        ("Feeder", f"{_e(detail['feeder_id'])} {_e(detail.get('feeder_name') or '')} · "
                   f"{_badge(feeder.get('status'))}"),
        ("County", f"{detail.get('county') or '—'} ({detail.get('county_adcode') or '—'})"
                   f"{' · ' + detail['prefecture'] if detail.get('prefecture') else ''}"),
        ("Customers", detail.get("customers")),
        ("Capacity", f"{detail['capacity_kva']:g} kVA" if detail.get("capacity_kva") is not None else None),
        ("count_365", status.get("count_365")),
        ("max_60", status.get("max_60")),
        ("Status as of", _when(status.get("as_of"))),
    ]
    dl = "".join(f"<dt>{label}</dt><dd>{v if label in ('Feeder',) else _e(v)}</dd>" for label, v in facts)
    back = f'<a href="{html.escape(links.overview)}">&larr; overview</a>'
    return (
        f'<div class="gw-panel">{back}<h1>{_e(detail.get("name") or detail["area_id"])}</h1>'
        f'<div>Area (台区) <code>{_e(detail["area_id"])}</code> {_badge(status.get("status"))}</div>'
        f"<h2>Facts</h2><dl>{dl}</dl><h2>Tags</h2><ul>{tags}</ul>"
        f"<h2>Interruption history</h2><p>{len(history)} interruptions shown, {counted} of a counted "
        f"cause and length (limits: {settings.frequent_year_limit} per {settings.frequent_year_days} days, "
        f"{settings.frequent_window_limit} per {settings.frequent_window_days} days).</p>"
        f"{timeline_svg(history, now=utcnow(), year_days=settings.frequent_year_days)}"
        f"{history_table(history)}<h2>Remediation case</h2>{case}</div>"
    )


def area_html(*, session: Session, settings: Settings, area_id: str, links: Links | None = None) -> str:
    """The area page as one HTML document; NotFound for an unknown area."""
    links = links or Links()
    detail = geo.area_detail(session=session, area_id=area_id)
    status = mon.asset_status(session=session, settings=settings, asset_type="area", asset_id=area_id)
    feeder = mon.asset_status(session=session, settings=settings, asset_type="feeder",
                              asset_id=str(detail["feeder_id"]))
    history = mon.area_history(session=session, settings=settings, area_id=area_id, limit=HISTORY_LIMIT)
    case = mon.area_case(session=session, area_id=area_id)

    m = folium.Map(location=[float(detail["y1"]), float(detail["x1"])], zoom_start=14, tiles=None,
                   control_scale=True, width="55%", height="100%")
    offline(m, links)
    elements.add_basemap(m, settings)
    elements.Setup({
        "statusColors": styles.STATUS_COLORS, "statusLabels": styles.STATUS_LABELS,
        "overlayColors": styles.OVERLAY_COLORS, "overlayLabels": styles.OVERLAY_LABELS,
        "areaLink": None, "attribution": elements.attribution(settings),
    }).add_to(m)
    if detail.get("county_geometry"):
        county = [(detail["county_geometry"], {"name": detail.get("county")})]
        elements.GeoLayer(elements.feature_collection(county), kind="county", name="County outline").add_to(m)
    overlays = geo.overlays_near(session=session, area_id=area_id)
    present = []
    for layer in geo.OVERLAY_LAYERS:
        feats = [(r["geometry"], {"name": r["name"], "id": r["feature_id"]})
                 for r in overlays if r["layer"] == layer]
        if feats:
            present.append(layer)
            elements.GeoLayer(elements.feature_collection(feats), kind="overlay", layer=layer,
                              name=styles.OVERLAY_LABELS[layer]).add_to(m)
    tag_names = [t["layer"] for t in status["tags"]]
    feeder_props = {"id": detail["feeder_id"], "name": detail.get("feeder_name"),
                    "county": detail.get("county"),
                    "status": feeder.get("status"), "count_365": feeder.get("count_365"),
                    "max_60": feeder.get("max_60"), "tags": [t["layer"] for t in feeder["tags"]]}
    elements.GeoLayer(elements.feature_collection([(detail["feeder_geometry"], feeder_props)]), kind="feeder",
                      name=f"Feeder {detail['feeder_id']}").add_to(m)
    area_props = {"id": detail["area_id"], "name": detail.get("name"), "county": detail.get("county"),
                  "status": status.get("status"), "count_365": status.get("count_365"),
                  "max_60": status.get("max_60"), "tags": tag_names}
    elements.GeoLayer(elements.feature_collection([(detail["geometry"], area_props)]), kind="area",
                      name=f"Area {detail['area_id']}").add_to(m)
    elements.Legend(styles.legend_html(overlays=present)).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[float(detail["y1"]), float(detail["x1"])], [float(detail["y2"]), float(detail["x2"])]],
                 padding=(20, 20))
    root = m.get_root()
    assert isinstance(root, Figure)
    title = html.escape(f"gridwatch · area {detail['area_id']}")
    icon = '<link rel="icon" href="data:,">'
    root.header.add_child(folium.Element(f"<title>{title}</title>{icon}"), name="title")
    root.html.add_child(folium.Element(_panel(
        detail=detail, status=status, feeder=feeder, history=history,
        case=case_html(case), links=links, settings=settings)))
    return str(root.render())
