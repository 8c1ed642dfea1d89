"""Geometry for maps: counties, overlays and assets as GeoJSON-ready rows, simplified per scale."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound

log = logging.getLogger(__name__)

OVERLAY_LAYERS = ("weak_supply_village", "ethnic_minority_area", "old_compound", "core_zone")
Bbox = tuple[float, float, float, float]

# Douglas-Peucker tolerances in degrees (1e-4 deg is about 10 m in Guizhou).
TOLERANCE = {"area": 0.0, "county": 0.0002, "province": 0.002}
COUNTY_TOLERANCE = {"area": 0.0005, "county": 0.001, "province": 0.005}


def geojson_sql(column: str, tolerance_param: str = ":tol") -> str:
    """SQL giving RFC 7946 GeoJSON text of ``column``: simplified, counter-clockwise, 6 decimals."""
    return (
        f"ST_AsGeoJSON(ST_ForcePolygonCCW(CASE WHEN {tolerance_param} > 0 "
        f"THEN ST_SimplifyPreserveTopology({column}, {tolerance_param}) ELSE {column} END), 6)"
    )


def _county_filter(alias: str, asset_type: str) -> str:
    return (
        f"(CAST(:county AS text) IS NULL OR EXISTS (SELECT 1 FROM asset_region r "
        f"WHERE r.asset_type = '{asset_type}' AND r.asset_id = {alias} "
        f"AND (r.county_adcode = :county OR r.prefecture_adcode = :county)))"
    )


def feature_counts(*, session: Session, county: str | None = None) -> dict[str, int]:
    """How many areas, feeders and features of each overlay layer a view of the region holds."""
    row = session.execute(
        text(
            "SELECT (SELECT count(*) FROM area a WHERE " + _county_filter("a.area_id", "area")
            + ") AS areas, (SELECT count(*) FROM feeder f WHERE " + _county_filter("f.feeder_id", "feeder")
            + ") AS feeders"
        ),
        {"county": county},
    ).one()
    counts = {"areas": int(row.areas), "feeders": int(row.feeders)}
    bounds = region_bounds(session=session, county=county) if county else None
    layer_rows = session.execute(
        text(
            "SELECT layer, count(*) FROM overlay_feature o WHERE CAST(:has AS boolean) IS FALSE "
            "OR o.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326) GROUP BY layer"
        ),
        _bbox_params(bounds),
    ).all()
    for layer in OVERLAY_LAYERS:
        counts[layer] = 0
    for layer, n in layer_rows:
        counts[str(layer)] = int(n)
    return counts


def _bbox_params(bounds: Bbox | None) -> dict[str, Any]:
    x1, y1, x2, y2 = bounds or (0.0, 0.0, 0.0, 0.0)
    return {"has": bounds is not None, "x1": x1, "y1": y1, "x2": x2, "y2": y2}


def region_bounds(*, session: Session, county: str | None = None) -> Bbox | None:
    """(west, south, east, north) of a county or prefecture (adcode), else of the grid (or the counties)."""
    if county is not None:
        row = session.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e "
                "FROM admin_division WHERE adcode = :c OR parent_adcode = :c) s"
            ),
            {"c": county},
        ).one()
        if row[0] is None:
            raise NotFound(f"no county or prefecture with adcode {county}")
        return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT COALESCE("
            "(SELECT ST_Extent(geom) FROM feeder), "
            "(SELECT ST_Extent(geom) FROM admin_division WHERE level = 'county')) AS e) s"
        )
    ).one()
    if row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def counties(
    *, session: Session, tolerance: float, county: str | None = None, bounds: Bbox | None = None
) -> list[dict[str, Any]]:
    """County divisions: adcode, name, prefecture (name), geometry (GeoJSON text)."""
    rows = session.execute(
        text(
            "SELECT c.adcode, c.name, p.name AS prefecture, " + geojson_sql("c.geom") + " AS geometry "
            "FROM admin_division c LEFT JOIN admin_division p ON p.adcode = c.parent_adcode "
            "WHERE c.level = 'county' AND (CAST(:county AS text) IS NULL OR c.adcode = :county "
            "OR c.parent_adcode = :county) AND (CAST(:has AS boolean) IS FALSE "
            "OR c.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)) ORDER BY c.adcode"
        ),
        {"tol": tolerance, "county": county, **_bbox_params(bounds)},
    ).mappings()
    return [dict(r) for r in rows]


def overlay_features(
    *, session: Session, tolerance: float, layer: str | None = None, bounds: Bbox | None = None
) -> list[dict[str, Any]]:
    """Overlay features: layer, feature_id, name, geometry (GeoJSON text), within ``bounds`` if given."""
    rows = session.execute(
        text(
            "SELECT o.layer, o.feature_id, o.name, " + geojson_sql("o.geom") + " AS geometry "
            "FROM overlay_feature o WHERE (CAST(:layer AS text) IS NULL OR o.layer = :layer) "
            "AND (CAST(:has AS boolean) IS FALSE OR o.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326)) "
            "ORDER BY o.layer, o.feature_id"
        ),
        {"tol": tolerance, "layer": layer, **_bbox_params(bounds)},
    ).mappings()
    return [dict(r) for r in rows]


def area_ids(*, session: Session, county: str | None = None) -> list[str]:
    """Ids of the areas in a county or prefecture (adcode), or of every area."""
    rows = session.execute(
        text("SELECT a.area_id FROM area a WHERE " + _county_filter("a.area_id", "area") + " ORDER BY 1"),
        {"county": county},
    ).scalars()
    return [str(r) for r in rows]


def area_detail(*, session: Session, area_id: str) -> dict[str, Any]:
    """One area with its feeder and county: ids, names, customers, geometries and bounds."""
    row = session.execute(
        text(
            "SELECT a.area_id, a.name, a.customers, a.capacity_kva, a.feeder_id, f.name AS feeder_name, "
            "f.substation, f.voltage_kv, r.county_adcode, c.name AS county, p.name AS prefecture, "
            "ST_AsGeoJSON(ST_ForcePolygonCCW(a.geom), 6) AS geometry, "
            "ST_AsGeoJSON(f.geom, 6) AS feeder_geometry, "
            "ST_AsGeoJSON(ST_ForcePolygonCCW(ST_SimplifyPreserveTopology(c.geom, 0.0005)), 6) "
            "AS county_geometry, "
            "ST_XMin(e) AS x1, ST_YMin(e) AS y1, ST_XMax(e) AS x2, ST_YMax(e) AS y2 "
            "FROM area a JOIN feeder f ON f.feeder_id = a.feeder_id "
            "LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = a.area_id "
            "LEFT JOIN admin_division c ON c.adcode = r.county_adcode "
            "LEFT JOIN admin_division p ON p.adcode = r.prefecture_adcode "
            "CROSS JOIN LATERAL (SELECT ST_Extent(g)::geometry AS e FROM (SELECT a.geom AS g "
            "UNION ALL SELECT f.geom) u) ext WHERE a.area_id = :a"
        ),
        {"a": area_id},
    ).mappings().first()
    if row is None:
        raise NotFound(f"no area with id {area_id!r}")
    return dict(row)


def overlays_near(*, session: Session, area_id: str) -> list[dict[str, Any]]:
    """Overlay features that intersect an area: layer, feature_id, name, geometry (GeoJSON text)."""
    rows = session.execute(
        text(
            "SELECT o.layer, o.feature_id, o.name, ST_AsGeoJSON(ST_ForcePolygonCCW("
            "ST_SimplifyPreserveTopology(o.geom, 0.0001)), 6) AS geometry "
            "FROM overlay_feature o JOIN area a ON ST_Intersects(o.geom, a.geom) "
            "WHERE a.area_id = :a ORDER BY o.layer, o.feature_id"
        ),
        {"a": area_id},
    ).mappings()
    return [dict(r) for r in rows]
