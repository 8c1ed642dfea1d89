"""The hosting-capacity map layer's data: the latest computed quarter's areas with grade, C1, C2."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from spatial.mapdata import geojson_sql


def latest_quarter(*, session: Session) -> dict[str, Any] | None:
    """The latest computed quarter (quarter, computed_at), or None before any computation."""
    row = session.execute(text(
        "SELECT quarter, computed_at FROM hosting_run ORDER BY quarter DESC LIMIT 1")).mappings().first()
    return dict(row) if row else None


def area_features(*, session: Session, quarter: str, tolerance: float,
                  county: str | None = None) -> list[dict[str, Any]]:
    """The areas of ``quarter`` with id, name, county, grade, c1_kw, c2_kw and GeoJSON geometry.

    ``county``: a county or prefecture adcode (the area's region now), or None for all.
    """
    rows = session.execute(text(
        "SELECT h.area_id AS id, a.name, h.county, h.grade, h.c1_kw, h.c2_kw, "
        + geojson_sql("a.geom") + " AS geometry "
        "FROM hosting_area h JOIN area a ON a.area_id = h.area_id "
        "LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = h.area_id "
        "WHERE h.quarter = :q AND (CAST(:county AS text) IS NULL OR r.county_adcode = :county "
        "OR r.prefecture_adcode = :county) "
        "ORDER BY CASE h.grade WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 WHEN 'green' THEN 1 ELSE 0 END, 1"),
        {"q": quarter, "tol": tolerance, "county": county}).mappings()
    return [dict(r) for r in rows]
