"""Live outages (SPEC section 13): which areas are out now, since when, why, for how many.

``refresh_live`` rebuilds the ``live_outage`` table from the open interruptions: a record
with no end on the area or its feeder, or an open inferred interval no record explains. It
reads only open intervals (partial indexes), so it is a full evaluation cheap enough to run
after every stream batch; rows that did not change are not rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.sqlfiles import statements

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
    """Bring ``live_outage`` to ``now``; the areas whose outage started, changed or ended.

    In the same transaction, the customers subscribed in those areas get their notifications
    queued (``monitoring.notify``): an outage started, ended, or its estimated restoration moved
    more than 30 minutes from the one last announced. Each change is queued once: the next
    refresh sees it applied, and a unique key per event and subscriber refuses a second copy.
    """
    from monitoring.notify import ESTIMATE_CHANGE, queue_outage_changes

    q = _sql()
    session.execute(text(q["scratch"]))
    session.execute(text(q["clear"]))
    session.execute(text(q["fill"].replace("{outages}", _outages(LIVE))), {"now": now})
    session.execute(text(q["estimates"]), {"etr_seconds": ESTIMATE_CHANGE.total_seconds()})
    ended = [r[0] for r in session.execute(text(q["ended"]), {"now": now})]
    changed = session.execute(text(q["upsert"])).all()
    started = [r[0] for r in changed if r[1]]
    updated = [r[0] for r in changed if not r[1]]
    session.execute(text(q["announced"]))
    changes = [dict(r) for r in session.execute(text(q["changes"])).mappings()]
    queued = queue_outage_changes(session=session, changes=changes, now=now) if changes else 0
    out_now = session.execute(text("SELECT count(*), COALESCE(sum(customers), 0) FROM live_outage")).one()
    return {"started": started, "updated": updated, "ended": ended,
            "areas": int(out_now[0]), "customers": int(out_now[1]), "notifications": queued}


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
