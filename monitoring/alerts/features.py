"""Alerts as GeoJSON features (OGC API collection ``alerts``): each alert at its asset's geometry."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound, UsageError
from spatial.features import Bbox

log = logging.getLogger(__name__)

COLLECTION_ID = "alerts"
TITLE = "Alerts"
DESCRIPTION = "Alerts (firing and resolved) placed at the geometry of the asset they are about."

# The subject's geometry: an area or feeder itself; a work's asset; a meter's point (or its area);
# a disconnection's area; a connection application's area (none when it names no area).
_GEOM = """
    CASE a.subject_type
      WHEN 'area' THEN (SELECT ST_ForcePolygonCCW(x.geom) FROM area x WHERE x.area_id = a.subject_id)
      WHEN 'feeder' THEN (SELECT x.geom FROM feeder x WHERE x.feeder_id = a.subject_id)
      WHEN 'work' THEN (
        SELECT CASE w.asset_type
                 WHEN 'area' THEN (SELECT ST_ForcePolygonCCW(x.geom) FROM area x WHERE x.area_id = w.asset_id)
                 ELSE (SELECT x.geom FROM feeder x WHERE x.feeder_id = w.asset_id) END
          FROM maintenance_work w WHERE w.work_id = a.subject_id)
      WHEN 'meter' THEN (
        SELECT coalesce(m.geom, (SELECT ST_ForcePolygonCCW(x.geom) FROM area x WHERE x.area_id = m.area_id))
          FROM meter m WHERE m.meter_id = a.subject_id)
      WHEN 'disconnection' THEN (
        SELECT ST_ForcePolygonCCW(x.geom) FROM disconnection d JOIN area x ON x.area_id = d.area_id
         WHERE d.disconnection_id = a.subject_id)
      WHEN 'application' THEN (
        SELECT ST_ForcePolygonCCW(x.geom) FROM application p JOIN area x ON x.area_id = p.area_id
         WHERE p.app_id = a.subject_id)
    END
"""

_BASE = f"""
    SELECT a.id, a.rule, a.severity, a.state, a.subject_type, a.subject_id, a.summary,
           a.starts_at, a.ends_at, a.acknowledged_by, a.acknowledged_at, {_GEOM} AS geom
      FROM alert a
"""


def _where(bbox: Bbox | None, state: str | None, params: dict[str, Any]) -> str:
    clauses = ["true"]
    if state:
        clauses.append("q.state = :state")
        params["state"] = state
    if bbox is not None:
        clauses.append("ST_Intersects(q.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
    return " AND ".join(clauses)


def _feature(row: Any) -> dict[str, Any]:
    props = {
        "id": row.id,
        "rule": row.rule,
        "severity": row.severity,
        "state": row.state,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "summary": row.summary,
        "starts_at": row.starts_at.isoformat() if row.starts_at else None,
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
    }
    return {"type": "Feature", "id": row.id, "geometry": row.geometry, "properties": props}


def items(
    *, session: Session, bbox: Bbox | None = None, limit: int = 10, offset: int = 0, state: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """(number matched, one page of alert features), newest first; optional bbox and state."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = _where(bbox, state, params)
    matched = int(
        session.execute(text(f"SELECT count(*) FROM ({_BASE}) q WHERE {where}"), params).scalar_one()
    )
    if offset >= matched:
        return matched, []
    rows = session.execute(
        text(
            f"SELECT q.*, ST_AsGeoJSON(q.geom, 7)::json AS geometry FROM ({_BASE}) q WHERE {where} "
            "ORDER BY q.starts_at DESC, q.id DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    return matched, [_feature(r) for r in rows]


def item(*, session: Session, alert_id: str) -> dict[str, Any]:
    """One alert feature; NotFound when there is none."""
    if not alert_id.isdigit() or len(alert_id) > 18:
        raise NotFound(f"no alert {alert_id!r}")
    row = session.execute(
        text(f"SELECT q.*, ST_AsGeoJSON(q.geom, 7)::json AS geometry FROM ({_BASE}) q WHERE q.id = :id"),
        {"id": int(alert_id)},
    ).first()
    if row is None:
        raise NotFound(f"no alert {alert_id!r}")
    return _feature(row)


def extent(*, session: Session) -> Bbox | None:
    """The bounding box of every alert's geometry, or None."""
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(q.geom) AS e FROM ({_BASE}) q) s"
        )
    ).first()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


# The alert list of ``service.list_alerts`` as one driver-level statement (psycopg parameters),
# for the API's async pool; same columns, same order, same state check.
_LIST_COLUMNS = (
    "id", "fingerprint", "rule", "severity", "state", "subject_type", "subject_id", "summary", "labels",
    "annotations", "starts_at", "ends_at", "last_seen_at", "acknowledged_by", "acknowledged_at",
)
_LIST_SQL = (
    f"SELECT {', '.join(_LIST_COLUMNS)} FROM alert {{where}} "  # noqa: S608 - fixed fragments only
    "ORDER BY state = 'firing' DESC, id DESC"
)


def list_query(state: str | None) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """(SQL, parameters, column names) listing alerts like ``service.list_alerts``."""
    from monitoring.alerts.service import STATES

    if state not in (None, "all", *STATES):
        raise UsageError(f"state must be firing, resolved or all, not {state!r}")
    if state in (None, "all"):
        return _LIST_SQL.format(where=""), {}, _LIST_COLUMNS
    return _LIST_SQL.format(where="WHERE state = %(state)s"), {"state": state}, _LIST_COLUMNS
