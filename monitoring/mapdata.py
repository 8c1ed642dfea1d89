"""Monitoring results for maps: asset status, tags, firing alerts and interruption history as rows."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, Period, parse_period, utcnow
from core.errors import GridwatchError, UsageError
from core.settings import Settings
from monitoring.cases import service as cases_service
from monitoring.reliability.cache import STATUS_NAMES, cached, county_rows
from spatial.mapdata import geojson_sql

log = logging.getLogger(__name__)

_ASSETS = {
    "area": ("area", "area_id", "a.feeder_id AS feeder_id, a.customers AS customers"),
    "feeder": ("feeder", "feeder_id", "a.substation AS substation, a.voltage_kv AS voltage_kv"),
}


def asset_features(
    *, session: Session, settings: Settings, asset_type: str, tolerance: float,
    county: str | None = None, limit: int | None = None,
) -> list[dict[str, Any]]:
    """Areas or feeders with id, name, county, status (NULL = never evaluated), counts, tags, geometry."""
    if asset_type not in _ASSETS:
        raise UsageError(f"asset_type must be 'area' or 'feeder', not {asset_type!r}")
    table, key, extra = _ASSETS[asset_type]
    sql = (
        f"SELECT a.{key} AS id, a.name, {extra}, c.name AS county, s.status, s.count_365, s.max_60, "
        "COALESCE((SELECT array_agg(t.layer ORDER BY t.layer) FROM asset_tag t "
        f"WHERE t.asset_type = :t AND t.asset_id = a.{key} AND t.share >= :min), '{{}}') AS tags, "
        + geojson_sql("a.geom") + " AS geometry "
        f"FROM {table} a "
        f"LEFT JOIN asset_status s ON s.asset_type = :t AND s.asset_id = a.{key} "
        f"LEFT JOIN asset_region r ON r.asset_type = :t AND r.asset_id = a.{key} "
        "LEFT JOIN admin_division c ON c.adcode = r.county_adcode "
        "WHERE (CAST(:county AS text) IS NULL OR r.county_adcode = :county OR r.prefecture_adcode = :county) "
        "ORDER BY CASE s.status WHEN 'frequent' THEN 2 WHEN 'at_risk' THEN 1 ELSE 0 END, 1"
    )
    if limit is not None:
        sql += " LIMIT :limit"
    rows = session.execute(
        text(sql),
        {"t": asset_type, "min": settings.tag_min_share, "tol": tolerance, "county": county,
         "limit": limit},
    ).mappings()
    return [dict(r) for r in rows]


def asset_status(*, session: Session, settings: Settings, asset_type: str, asset_id: str) -> dict[str, Any]:
    """An asset's latest status row (status None when never evaluated) and its tags with shares."""
    row = session.execute(
        text("SELECT status, count_365, max_60, as_of FROM asset_status "
             "WHERE asset_type = :t AND asset_id = :a"),
        {"t": asset_type, "a": asset_id},
    ).mappings().first()
    tags = session.execute(
        text("SELECT layer, share, feature_names FROM asset_tag WHERE asset_type = :t "
             "AND asset_id = :a AND share >= :min ORDER BY layer"),
        {"t": asset_type, "a": asset_id, "min": settings.tag_min_share},
    ).mappings().all()
    out: dict[str, Any] = dict(row) if row else {"status": None, "count_365": None, "max_60": None,
                                                 "as_of": None}
    out["tags"] = [dict(t) for t in tags]
    return out


def area_history(
    *, session: Session, settings: Settings, area_id: str, limit: int = 500
) -> list[dict[str, Any]]:
    """The area's interruptions (SPEC section 3 steps 1-2), newest first, with duration and source.

    Each row: start_time, end_time (None while ongoing), minutes (to now when ongoing), cause,
    source (record / feeder_record / inferred), outage_id, work_id, meters_off, meters_total,
    counts (cause fault/planned/unknown and longer than the short-interruption limit, before merging).
    """
    rows = session.execute(
        text(
            "SELECT i.start_time, i.end_time, i.cause, i.source, i.outage_id, i.work_id, "
            "ii.meters_off, ii.meters_total, "
            "EXTRACT(EPOCH FROM (COALESCE(i.end_time, :now) - i.start_time)) / 60.0 AS minutes, "
            "(i.cause IN ('fault', 'planned', 'unknown') AND (i.end_time IS NULL "
            " OR i.end_time - i.start_time > make_interval(secs => :short))) AS counts "
            "FROM area_interruption i LEFT JOIN inferred_interruption ii ON i.source = 'inferred' "
            "AND ii.area_id = i.area_id AND ii.start_time = i.start_time "
            "WHERE i.area_id = :a ORDER BY i.start_time DESC LIMIT :limit"
        ),
        {"a": area_id, "now": utcnow(), "short": settings.short_interruption_minutes * 60.0,
         "limit": limit},
    ).mappings()
    return [dict(r) for r in rows]


_ALERT_POINTS = """
WITH firing AS (
    -- A work's asset and a meter's area are looked up only for those alerts (CASE evaluates a
    -- branch's subquery only when it is taken): 38,000 firing alerts on the province demo.
    SELECT a.id, a.rule, a.severity, a.subject_type, a.subject_id, a.summary, a.starts_at,
           CASE a.subject_type WHEN 'area' THEN 'area' WHEN 'feeder' THEN 'feeder' WHEN 'meter' THEN 'area'
                WHEN 'work' THEN (SELECT w.asset_type FROM maintenance_work w WHERE w.work_id = a.subject_id)
           END AS at,
           CASE a.subject_type WHEN 'area' THEN a.subject_id WHEN 'feeder' THEN a.subject_id
                WHEN 'work' THEN (SELECT w.asset_id FROM maintenance_work w WHERE w.work_id = a.subject_id)
                WHEN 'meter' THEN (SELECT m.area_id FROM meter m WHERE m.meter_id = a.subject_id)
           END AS ai,
           CASE WHEN a.subject_type = 'meter'
                THEN (SELECT m.geom FROM meter m WHERE m.meter_id = a.subject_id) END AS meter_geom
      FROM alert a
     WHERE a.state = 'firing'
), placed AS (
    SELECT f.* FROM firing f
     WHERE CAST(:county AS text) IS NULL
        OR EXISTS (SELECT 1 FROM asset_region r
                    WHERE r.asset_type = f.at AND r.asset_id = f.ai
                      AND :county IN (r.county_adcode, r.prefecture_adcode))
), counted AS (
    SELECT p.*, count(*) OVER () AS total FROM placed p
    ORDER BY (p.severity = 'critical') DESC, p.starts_at DESC, p.id DESC
    LIMIT :limit
)
SELECT c.id, c.rule, c.severity, c.subject_type, c.subject_id, c.summary, c.starts_at, c.total,
       ST_X(g.g) AS lon, ST_Y(g.g) AS lat
  FROM counted c
  -- OFFSET 0 keeps the point a subquery computed once per alert, not once per use below.
  CROSS JOIN LATERAL (SELECT COALESCE(c.meter_geom, CASE c.at
      WHEN 'area' THEN (SELECT ST_PointOnSurface(x.geom) FROM area x WHERE x.area_id = c.ai)
      WHEN 'feeder' THEN (SELECT ST_ClosestPoint(x.geom, ST_Centroid(x.geom)) FROM feeder x
                           WHERE x.feeder_id = c.ai) END) AS g OFFSET 0) g
 WHERE g.g IS NOT NULL
"""


def firing_alerts(
    *, session: Session, county: str | None = None, limit: int = 5000
) -> tuple[list[dict[str, Any]], int]:
    """Firing alerts (critical first, newest first, at most ``limit``) with a point on their subject.

    The point is on the area (point on surface), on the feeder line, the meter's own point (else its
    area's), or on a work's asset. Returns (alerts, how many fire in the region).
    """
    rows = session.execute(text(_ALERT_POINTS), {"county": county, "limit": limit}).mappings().all()
    total = int(rows[0]["total"]) if rows else 0
    return [dict(r) for r in rows], total


def reliability_by_county(
    *, session: Session, settings: Settings, period: Period, metric: str, variant: str = "all"
) -> dict[str, float] | None:
    """SAIDI or SAIFI per county adcode for a period (customer basis); None when unavailable.

    The figures of ``monitoring.reports.reliability`` (by county), kept per change stamp by
    ``monitoring.reliability.cache`` so that a view does not recompute them.
    """
    if metric not in ("saidi", "saifi"):
        raise UsageError(f"metric must be saidi or saifi, not {metric!r}")
    try:
        with session.begin_nested():
            rows = county_rows(session=session, settings=settings, period=period)
    except (DBAPIError, GridwatchError):
        log.exception("county reliability for %s failed; the map goes without it", period.label)
        return None
    out: dict[str, float] = {}
    for row in rows:
        if row.get("variant") != variant or row.get(metric) is None:
            continue
        out[str(row["region_id"])] = float(row[metric])
    return out


def area_case(*, session: Session, area_id: str) -> dict[str, Any] | None:
    """The area's latest remediation case (open first), or None."""
    cases = [c for c in cases_service.list_cases(session=session)
             if c.get("asset_type") == "area" and str(c.get("asset_id")) == area_id]
    if not cases:
        return None

    def rank(c: dict[str, Any]) -> tuple[int, datetime]:
        opened = c.get("opened_at") or datetime.min.replace(tzinfo=utcnow().tzinfo)
        return (0 if c.get("status") == "closed" else 1, opened)

    return max(cases, key=rank)


def status_counts(*, session: Session, county: str | None = None) -> dict[str, dict[str, int]]:
    """How many areas and feeders have each status (``none`` = never evaluated), per asset type.

    Kept per change stamp (``monitoring.reliability.cache``)."""
    value = cached(session, f"status_counts:{county or ''}", STATUS_NAMES,
                   lambda: _status_counts(session=session, county=county))
    return {t: {k: int(v) for k, v in c.items()} for t, c in value.items()}


def _status_counts(*, session: Session, county: str | None = None) -> dict[str, dict[str, int]]:
    out = {t: {"frequent": 0, "at_risk": 0, "ok": 0, "none": 0} for t in _ASSETS}
    for asset_type, (table, key, _) in _ASSETS.items():
        rows = session.execute(
            text(
                f"SELECT COALESCE(s.status, 'none'), count(*) FROM {table} a "
                f"LEFT JOIN asset_status s ON s.asset_type = :t AND s.asset_id = a.{key} "
                f"LEFT JOIN asset_region r ON r.asset_type = :t AND r.asset_id = a.{key} "
                "WHERE (CAST(:county AS text) IS NULL OR r.county_adcode = :county "
                "OR r.prefecture_adcode = :county) GROUP BY 1"
            ),
            {"t": asset_type, "county": county},
        ).all()
        for status, n in rows:
            out[asset_type][str(status)] = int(n)
    return out


def flagged_area_ids(*, session: Session, county: str | None = None) -> list[str]:
    """Ids of the areas whose latest status is frequent or at_risk, in a region if given."""
    rows = session.execute(
        text(
            "SELECT s.asset_id FROM asset_status s LEFT JOIN asset_region r ON r.asset_type = 'area' "
            "AND r.asset_id = s.asset_id "
            "WHERE s.asset_type = 'area' AND s.status IN ('frequent', 'at_risk') "
            "AND (CAST(:county AS text) IS NULL OR r.county_adcode = :county "
            "OR r.prefecture_adcode = :county) ORDER BY 1"
        ),
        {"county": county},
    ).scalars()
    return [str(r) for r in rows]


def precompute(*, session: Session, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Bring the map's cached figures up to date: county reliability of the current year (the
    page's default period) and the province's status counts; what was current is left alone."""
    now = now or utcnow()
    period = parse_period(str(now.astimezone(LOCAL_TZ).year))
    rows = county_rows(session=session, settings=settings, period=period, now=now)
    status_counts(session=session)
    return {"rows": len(rows), "period": period.label}
