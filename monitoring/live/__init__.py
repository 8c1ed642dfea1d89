"""Live outages (SPEC section 13): which areas are out now, since when, why, for how many.

``refresh_live`` rebuilds the ``live_outage`` table from the open interruptions: a record
with no end on the area or its feeder, or an open inferred interval no record explains. It
reads only open intervals (partial indexes), so it is a full evaluation cheap enough to run
after every stream batch; rows that did not change are not rewritten.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.sqlfiles import statements

WEEK = timedelta(days=7)
PROGRESS_STEPS = ("reported", "dispatched", "on_site", "repairing", "restored")
"""The repair steps in order, so a page can show where this outage is."""


def _sql() -> dict[str, str]:
    return statements("monitoring.live", "live.sql")


LIVE = {"r_open": "r.end_time IS NULL", "i_open": "i.end_time IS NULL"}
"""Out now: an interruption with no end (SPEC section 13); read through partial indexes."""
AT = {"r_open": "(r.end_time IS NULL OR r.end_time > CAST(:now AS timestamptz))",
      "i_open": "(i.end_time IS NULL OR i.end_time > CAST(:now AS timestamptz))"}
"""Out at a moment: started at or before it and not ended by it."""
COLUMNS = ["area_id", "since", "cause", "customers", "source", "estimated_end", "progress"]


def _outages(condition: dict[str, str]) -> str:
    sql = _sql()["outages"].strip().rstrip(";")
    for key, value in condition.items():
        sql = sql.replace("{" + key + "}", value)
    return sql


def outages_at(*, session: Session, as_of: datetime) -> list[dict[str, Any]]:
    """The areas out at ``as_of`` (``report live-outages``), by area id."""
    rows = session.execute(text(_outages(AT) + " ORDER BY 1"), {"now": as_of}).all()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]


def refresh_live(*, session: Session, now: datetime) -> dict[str, Any]:
    """Bring ``live_outage`` to ``now``; the areas whose outage started, changed or ended."""
    q = _sql()
    session.execute(text(q["scratch"]))
    session.execute(text(q["clear"]))
    session.execute(text(q["fill"].replace("{outages}", _outages(LIVE))), {"now": now})
    ended = [r[0] for r in session.execute(text(q["ended"]))]
    changed = session.execute(text(q["upsert"])).all()
    started = [r[0] for r in changed if r[1]]
    updated = [r[0] for r in changed if not r[1]]
    out_now = session.execute(text("SELECT count(*), COALESCE(sum(customers), 0) FROM live_outage")).one()
    return {"started": started, "updated": updated, "ended": ended,
            "areas": int(out_now[0]), "customers": int(out_now[1])}


def live_list(*, session: Session, geometry: bool = False) -> list[dict[str, Any]]:
    """The areas out now (``live_outage``) with their name and county; GeoJSON geometry too."""
    geom = ", ST_AsGeoJSON(a.geom, 7) AS geometry" if geometry else ""
    rows = session.execute(text(f"""
        SELECT l.area_id, a.name, l.since, l.cause, l.customers, l.source, l.estimated_end,
               l.progress, r.county_adcode, COALESCE(c.name, r.county_adcode) AS county{geom}
          FROM live_outage l
          JOIN area a ON a.area_id = l.area_id
          LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = l.area_id
          LEFT JOIN admin_division c ON c.adcode = r.county_adcode
         ORDER BY l.since, l.area_id""")).mappings()
    return [dict(r) for r in rows]


def summary(*, session: Session) -> dict[str, Any]:
    """Outages and customers out now, by county and in total."""
    rows = session.execute(text("""
        SELECT r.county_adcode, COALESCE(c.name, r.county_adcode) AS county,
               count(*) AS outages, sum(l.customers) AS customers
          FROM live_outage l
          LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = l.area_id
          LEFT JOIN admin_division c ON c.adcode = r.county_adcode
         GROUP BY r.county_adcode, c.name
         ORDER BY customers DESC, r.county_adcode""")).mappings()
    counties = [{"county_adcode": r["county_adcode"], "county": r["county"],
                 "outages": int(r["outages"]), "customers": int(r["customers"])} for r in rows]
    return {"outages": sum(c["outages"] for c in counties),
            "customers": sum(c["customers"] for c in counties), "by_county": counties}


def public_feed(*, session: Session) -> list[dict[str, Any]]:
    """The live outages as published with no key (SPEC section 13): area-level facts only.

    Fields after the IEC CIM PubOutages profile (ODIN): ``mRID`` (the area and the outage's
    start), ``cause``, ``customersAffected``, ``reportedStartTime``,
    ``estimatedRestorationTime``, ``statusKind`` (``active``: out now), the area's
    ``centroid`` (a point inside it, 5 decimals) and its ``county``. No meter, no customer,
    no record or work id.
    """
    rows = session.execute(text("""
        SELECT l.area_id, l.since, l.cause, l.customers, l.estimated_end,
               round(ST_X(ST_PointOnSurface(a.geom))::numeric, 5) AS lon,
               round(ST_Y(ST_PointOnSurface(a.geom))::numeric, 5) AS lat,
               COALESCE(c.name, r.county_adcode) AS county
          FROM live_outage l
          JOIN area a ON a.area_id = l.area_id
          LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = l.area_id
          LEFT JOIN admin_division c ON c.adcode = r.county_adcode
         ORDER BY l.since, l.area_id""")).mappings()
    return [{
        "mRID": f"{r['area_id']}@{r['since'].isoformat()}",
        "cause": r["cause"],
        "customersAffected": int(r["customers"]),
        "reportedStartTime": r["since"].isoformat(),
        "estimatedRestorationTime": r["estimated_end"].isoformat() if r["estimated_end"] else None,
        "statusKind": "active",
        "centroid": {"lon": float(r["lon"]), "lat": float(r["lat"])},
        "county": r["county"],
    } for r in rows]


def lookup(*, session: Session, meter_id: str, now: datetime) -> dict[str, Any] | None:
    """What a customer may learn about their own supply (task 53); None for an unknown meter.

    Only the meter's own area: out now or not (since, cause, estimated restoration,
    progress), its last five interruptions (SPEC section 3, steps 1 and 2) and the works
    planned on it or its feeder in the next 7 days. No other meter and no record id.
    """
    area = session.execute(text(
        "SELECT m.area_id, a.feeder_id FROM meter m JOIN area a ON a.area_id = m.area_id "
        "WHERE m.meter_id = :m"), {"m": meter_id}).first()
    if area is None:
        return None
    live = session.execute(text(
        "SELECT since, cause, estimated_end, progress FROM live_outage WHERE area_id = :a"),
        {"a": area.area_id}).mappings().first()
    recent = session.execute(text("""
        SELECT start_time, end_time, cause FROM area_interruption
         WHERE area_id = :a AND start_time <= :now
         ORDER BY start_time DESC LIMIT 5"""), {"a": area.area_id, "now": now}).mappings()
    works = session.execute(text("""
        SELECT planned_start, planned_end, method FROM maintenance_work
         WHERE ((asset_type = 'area' AND asset_id = :a) OR (asset_type = 'feeder' AND asset_id = :f))
           AND planned_end >= :now AND planned_start <= :until
         ORDER BY planned_start"""),
        {"a": area.area_id, "f": area.feeder_id, "now": now, "until": now + WEEK}).mappings()
    return {
        "out_now": live is not None,
        "outage": None if live is None else {
            "since": live["since"], "cause": live["cause"],
            "estimated_restoration": live["estimated_end"], "progress": live["progress"],
            "progress_steps": list(PROGRESS_STEPS),
        },
        "recent_interruptions": [dict(r) for r in recent],
        "planned_works": [dict(w) for w in works],
    }
