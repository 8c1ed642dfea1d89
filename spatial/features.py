"""Feature queries for OGC API Features and vector tiles: feeders, areas and overlay layers."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound, UsageError

log = logging.getLogger(__name__)

OVERLAY_LAYERS = ("weak_supply_village", "ethnic_minority_area", "old_compound", "core_zone")
OVERLAY_TITLES = {
    "weak_supply_village": "Weak-supply villages (供电薄弱村)",
    "ethnic_minority_area": "Ethnic-minority areas (民族地区)",
    "old_compound": "Old residential compounds (老旧小区)",
    "core_zone": "Zero-perception core zones (零感知核心区)",
}
Bbox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Collection:
    """One feature collection: its id, title, description and geometry type."""

    id: str
    title: str
    description: str
    geometry: str


ASSET_COLLECTIONS = (
    Collection(
        "feeders",
        "Feeders (10 kV lines, 馈线)",
        "Feeders with their frequent-outage status, tags and county.",
        "MultiLineString",
    ),
    Collection(
        "areas",
        "Transformer areas (台区)",
        "Transformer areas with status, count_365, max_60, tags and county.",
        "MultiPolygon",
    ),
)
OVERLAY_COLLECTIONS = tuple(
    Collection(layer, OVERLAY_TITLES[layer], f"Overlay layer {layer}.", "MultiPolygon")
    for layer in OVERLAY_LAYERS
)
COLLECTIONS = {c.id: c for c in ASSET_COLLECTIONS + OVERLAY_COLLECTIONS}

_ASSET = {
    "feeders": ("feeder", "feeder_id", "feeder", ""),
    "areas": ("area", "area_id", "area", ""),
}

_ASSET_PROPS = """
    LEFT JOIN asset_status s ON s.asset_type = :atype AND s.asset_id = f.{key}
    LEFT JOIN asset_region r ON r.asset_type = :atype AND r.asset_id = f.{key}
    LEFT JOIN admin_division c ON c.adcode = r.county_adcode
    LEFT JOIN admin_division p ON p.adcode = r.prefecture_adcode
    LEFT JOIN LATERAL (
        SELECT coalesce(array_agg(t.layer ORDER BY t.layer), '{{}}') AS tags
          FROM asset_tag t
         WHERE t.asset_type = :atype AND t.asset_id = f.{key} AND t.share >= :min_share
    ) g ON true
"""


def _where_bbox(bbox: Bbox | None, params: dict[str, Any], column: str = "f.geom") -> str:
    if bbox is None:
        return "true"
    params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
    return f"ST_Intersects({column}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))"


def parse_bbox(value: str | None) -> Bbox | None:
    """Parse ``minlon,minlat,maxlon,maxlat`` (WGS84); a 6-number 3D bbox keeps its 2D part."""
    if value is None or value.strip() == "":
        return None
    try:
        nums = [float(v) for v in value.split(",")]
    except ValueError:
        raise UsageError(f"bbox must be four numbers minlon,minlat,maxlon,maxlat, not {value!r}") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or any(n != n or n in (float("inf"), float("-inf")) for n in nums):
        raise UsageError(f"bbox must be four numbers minlon,minlat,maxlon,maxlat, not {value!r}")
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise UsageError("bbox is outside WGS84 bounds (lon -180..180, lat -90..90, min before max)")
    if minx > maxx:
        raise UsageError("bbox crossing the antimeridian is not supported")
    return (minx, miny, maxx, maxy)


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"no collection {collection_id!r}") from None


_ASSET_COLUMNS = {
    "feeders": ("feeder_id", "name", "substation", "voltage_kv"),
    "areas": ("area_id", "feeder_id", "name", "customers", "capacity_kva"),
}


def _items_sql(
    collection_id: str, where: str, params: dict[str, Any], tag_min_share: float
) -> tuple[str, str]:
    """(count SQL, page SQL) for a collection; ``where`` uses the alias ``f``."""
    if collection_id in _ASSET:
        atype, key, table, _ = _ASSET[collection_id]
        params.update(atype=atype, min_share=tag_min_share)
        geom = "ST_ForcePolygonCCW(f.geom)" if atype == "area" else "f.geom"
        cols = ", ".join(f"'{c}', f.{c}" for c in _ASSET_COLUMNS[collection_id])
        page = f"""
            WITH page AS (
                SELECT f.{key} FROM {table} f WHERE {where} ORDER BY f.{key} LIMIT :limit OFFSET :offset)
            SELECT f.{key} AS id, ST_AsGeoJSON({geom}, 7)::json AS geometry,
                   json_build_object('asset_type', CAST(:atype AS text), {cols},
                       'status', s.status, 'count_365', s.count_365, 'max_60', s.max_60,
                       'status_as_of', s.as_of, 'tags', to_json(g.tags),
                       'county', r.county_adcode, 'county_name', c.name,
                       'prefecture', r.prefecture_adcode, 'prefecture_name', p.name) AS properties
              FROM page JOIN {table} f USING ({key})
              {_ASSET_PROPS.format(key=key)}
             ORDER BY f.{key}"""
        return f"SELECT count(*) FROM {table} f WHERE {where}", page
    params.update(layer=collection_id)
    count = f"SELECT count(*) FROM overlay_feature f WHERE f.layer = :layer AND {where}"
    page = f"""
        WITH page AS (
            SELECT f.layer, f.feature_id FROM overlay_feature f WHERE f.layer = :layer AND {where}
             ORDER BY f.feature_id LIMIT :limit OFFSET :offset)
        SELECT f.feature_id AS id, ST_AsGeoJSON(ST_ForcePolygonCCW(f.geom), 7)::json AS geometry,
               json_build_object('layer', f.layer, 'feature_id', f.feature_id, 'name', f.name) AS properties
          FROM page JOIN overlay_feature f USING (layer, feature_id)
         ORDER BY f.feature_id"""
    return count, page


def _prop(type_: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "type": type_, **extra}


_STATUS_PROPS: dict[str, dict[str, Any]] = {
    "status": _prop("string", "Frequent-outage status", enum=["frequent", "at_risk", "ok"]),
    "count_365": _prop("integer", "Interruptions in the last 365 days", minimum=0),
    "max_60": _prop("integer", "Most interruptions in any 60 days", minimum=0),
    "status_as_of": _prop("string", "Status computed as of", format="date-time"),
    "tags": _prop("array", "Tags (overlay layers)", items={"type": "string"}),
    "county": _prop("string", "County adcode"),
    "county_name": _prop("string", "County"),
    "prefecture": _prop("string", "Prefecture adcode"),
    "prefecture_name": _prop("string", "Prefecture"),
}
# The properties of each collection as JSON Schema (OGC API Features Part 5), in the order of
# the SQL above; the types are those of the database columns (double precision is "number").
PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    "feeders": {
        "asset_type": _prop("string", "Asset type", enum=["feeder"]),
        "feeder_id": _prop("string", "Feeder id", **{"x-ogc-role": "id"}),
        "name": _prop("string", "Name"),
        "substation": _prop("string", "Substation"),
        "voltage_kv": _prop("number", "Voltage (kV)", **{"x-ogc-unit": "kV"}),
        **_STATUS_PROPS,
    },
    "areas": {
        "asset_type": _prop("string", "Asset type", enum=["area"]),
        "area_id": _prop("string", "Area id", **{"x-ogc-role": "id"}),
        "feeder_id": _prop("string", "Feeder id"),
        "name": _prop("string", "Name"),
        "customers": _prop("integer", "Customers", minimum=0),
        "capacity_kva": _prop("number", "Transformer capacity (kVA)", **{"x-ogc-unit": "kV.A"}),
        **_STATUS_PROPS,
    },
    **{
        layer: {
            "layer": _prop("string", "Overlay layer", enum=[layer]),
            "feature_id": _prop("string", "Feature id", **{"x-ogc-role": "id"}),
            "name": _prop("string", "Name"),
        }
        for layer in OVERLAY_LAYERS
    },
}


def properties_schema(collection_id: str) -> dict[str, dict[str, Any]]:
    """JSON Schema of a collection's properties, the geometry included (``x-ogc-role``)."""
    c = _collection(collection_id)
    props = {name: dict(spec) for name, spec in PROPERTIES[collection_id].items()}
    props["geometry"] = {"title": "Geometry", "format": f"geometry-{c.geometry.lower()}",
                         "x-ogc-role": "primary-geometry"}
    for seq, spec in enumerate(props.values(), start=1):
        spec["x-ogc-propertySeq"] = seq
    return props


def typed(properties: dict[str, Any], schema: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Properties with JSON numbers of their SQL type: a "number" is always a JSON float.

    PostgreSQL's json functions write the double precision 315.0 as ``315``, which GDAL and
    QGIS then type as Integer and truncate 315.5 to 315 on export. Non-finite values are null.
    """
    for name, spec in schema.items():
        value = properties.get(name)
        if value is None:
            continue
        if spec.get("type") == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            properties[name] = number if math.isfinite(number) else None
        elif spec.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            properties[name] = int(value)
    return properties


def _feature(row: Any, collection_id: str) -> dict[str, Any]:
    props = typed(dict(row.properties or {}), PROPERTIES[collection_id])
    return {"type": "Feature", "id": row.id, "geometry": row.geometry, "properties": props}


def items(
    *,
    session: Session,
    collection_id: str,
    tag_min_share: float,
    bbox: Bbox | None = None,
    limit: int = 10,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(number matched, one page of GeoJSON features) of a collection, filtered by ``bbox``."""
    _collection(collection_id)
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = _where_bbox(bbox, params)
    count_sql, page_sql = _items_sql(collection_id, where, params, tag_min_share)
    matched = int(session.execute(text(count_sql), params).scalar_one())
    rows = session.execute(text(page_sql), params).all() if offset < matched else []
    return matched, [_feature(r, collection_id) for r in rows]


def item(*, session: Session, collection_id: str, feature_id: str, tag_min_share: float) -> dict[str, Any]:
    """One feature by id; NotFound when there is none."""
    _collection(collection_id)
    key = _ASSET[collection_id][1] if collection_id in _ASSET else "feature_id"
    params: dict[str, Any] = {"limit": 1, "offset": 0, "fid": feature_id}
    _, page_sql = _items_sql(collection_id, f"f.{key} = :fid", params, tag_min_share)
    row = session.execute(text(page_sql), params).first()
    if row is None:
        raise NotFound(f"no feature {feature_id!r} in collection {collection_id!r}")
    return _feature(row, collection_id)


def extent(*, session: Session, collection_id: str) -> Bbox | None:
    """The WGS84 bounding box of a collection, or None when it is empty."""
    _collection(collection_id)
    if collection_id in _ASSET:
        table = _ASSET[collection_id][2]
        sql, params = f"SELECT ST_Extent(geom) FROM {table}", {}
    else:
        sql, params = (
            "SELECT ST_Extent(geom) FROM overlay_feature WHERE layer = :layer",
            {"layer": collection_id},
        )
    row = session.execute(
        text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS q(e)"), params
    ).first()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


TILE_LAYERS = ("feeders", "areas", "hosting", *OVERLAY_LAYERS)
MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64

_TILE_ENV = """
    WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
                      ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326)
                        AS env4326)
"""
_TILE_SQL = {
    "areas": _TILE_ENV
    + """
    , q AS (
        SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(f.geom, %(tol)s, true), 3857),
                            b.env, %(extent)s, %(buffer)s, true) AS geom,
               f.area_id, f.feeder_id, f.name, f.customers,
               coalesce(s.status, 'unknown') AS status, s.count_365, s.max_60,
               (SELECT string_agg(t.layer, ',' ORDER BY t.layer) FROM asset_tag t
                 WHERE t.asset_type = 'area' AND t.asset_id = f.area_id AND t.share >= %(min_share)s) AS tags
          FROM area f CROSS JOIN b
          LEFT JOIN asset_status s ON s.asset_type = 'area' AND s.asset_id = f.area_id
         WHERE f.geom && b.env4326
           AND (ST_XMax(f.geom) - ST_XMin(f.geom) >= %(px)s OR ST_YMax(f.geom) - ST_YMin(f.geom) >= %(px)s))
    SELECT ST_AsMVT(q.*, 'areas', %(extent)s, 'geom') FROM q WHERE q.geom IS NOT NULL
    """,
    "feeders": _TILE_ENV
    + """
    , q AS (
        SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(f.geom, %(tol)s, true), 3857),
                            b.env, %(extent)s, %(buffer)s, true) AS geom,
               f.feeder_id, f.name, f.substation, f.voltage_kv,
               coalesce(s.status, 'unknown') AS status, s.count_365, s.max_60,
               (SELECT string_agg(t.layer, ',' ORDER BY t.layer) FROM asset_tag t
                 WHERE t.asset_type = 'feeder' AND t.asset_id = f.feeder_id
                   AND t.share >= %(min_share)s) AS tags
          FROM feeder f CROSS JOIN b
          LEFT JOIN asset_status s ON s.asset_type = 'feeder' AND s.asset_id = f.feeder_id
         WHERE f.geom && b.env4326)
    SELECT ST_AsMVT(q.*, 'feeders', %(extent)s, 'geom') FROM q WHERE q.geom IS NOT NULL
    """,
    # PV hosting capacity (SPEC section 15): the areas of the latest computed quarter with their
    # grade, C1 and C2; its own layer, so the status tiles neither carry nor wait for it.
    "hosting": _TILE_ENV
    + """
    , r AS (SELECT quarter FROM hosting_run ORDER BY quarter DESC LIMIT 1)
    , q AS (
        SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(f.geom, %(tol)s, true), 3857),
                            b.env, %(extent)s, %(buffer)s, true) AS geom,
               f.area_id, f.name, h.county, h.grade, h.c1_kw, h.c2_kw, h.quarter
          FROM area f CROSS JOIN b
          JOIN hosting_area h ON h.area_id = f.area_id AND h.quarter = (SELECT quarter FROM r)
         WHERE f.geom && b.env4326
           AND (ST_XMax(f.geom) - ST_XMin(f.geom) >= %(px)s OR ST_YMax(f.geom) - ST_YMin(f.geom) >= %(px)s))
    SELECT ST_AsMVT(q.*, 'hosting', %(extent)s, 'geom') FROM q WHERE q.geom IS NOT NULL
    """,
    "overlay": _TILE_ENV
    + """
    , q AS (
        SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(f.geom, %(tol)s, true), 3857),
                            b.env, %(extent)s, %(buffer)s, true) AS geom,
               f.feature_id, f.name, f.layer
          FROM overlay_feature f CROSS JOIN b
         WHERE f.layer = %(layer)s AND f.geom && b.env4326)
    SELECT ST_AsMVT(q.*, %(layer)s, %(extent)s, 'geom') FROM q WHERE q.geom IS NOT NULL
    """,
}
# The ETag: a digest of the change stamps (table ``change_stamp``, bumped at commit by triggers
# in every process that writes) of the data a layer's tiles are made from, the tile SQL itself
# (an upgrade that changes it never serves a tile made by the old one), the layer and
# tag_min_share. One primary-key lookup per stamp, the same in every process.
_STAMPS = {
    "areas": ["area", "feeder", "status:area", "tags:area"],
    "feeders": ["feeder", "status:feeder", "tags:feeder"],
    "hosting": ["area", "hosting"],
}
_CODE = {kind: hashlib.md5(sql.encode(), usedforsecurity=False).hexdigest()[:8]
         for kind, sql in _TILE_SQL.items()}
_ETAG_SQL = {
    kind: f"""SELECT left(md5(concat_ws('|',
                  (SELECT string_agg(name || '=' || version || '@' || extract(epoch FROM changed_at), ','
                                    ORDER BY name)
                     FROM change_stamp WHERE name = ANY(%(stamps)s::text[])),
                  '{code}', %(layer)s::text, %(min_share)s::text)), 24) AS etag"""
    for kind, code in _CODE.items()
}


def _stamps(layer: str) -> list[str]:
    """The change stamps a layer's tiles depend on."""
    return _STAMPS.get(layer, [f"overlay:{layer}"])


# The ETag and, in the same round trip, the shared cached tile for it (unless the caller already
# holds the tile for that ETag: %(have)s).
_LOOKUP_SQL = {
    kind: f"""
    WITH e AS ({sql})
    SELECT e.etag, CASE WHEN e.etag = %(have)s::text THEN NULL ELSE c.data END
      FROM e LEFT JOIN tile_cache c
        ON c.layer = %(layer)s AND c.z = %(z)s AND c.x = %(x)s AND c.y = %(y)s AND c.etag = e.etag"""
    for kind, sql in _ETAG_SQL.items()
}
STORE_SQL = """
    INSERT INTO tile_cache (layer, z, x, y, etag, data, render_ms)
    VALUES (%(layer)s, %(z)s, %(x)s, %(y)s, %(etag)s, %(data)s, %(ms)s)
    ON CONFLICT (layer, z, x, y) DO UPDATE
       SET etag = EXCLUDED.etag, data = EXCLUDED.data, render_ms = EXCLUDED.render_ms, created_at = now()
"""


def _tile_layer(layer: str) -> str:
    if layer not in TILE_LAYERS:
        raise NotFound(f"no tile layer {layer!r}; layers: {', '.join(TILE_LAYERS)}")
    return layer if layer in ("areas", "feeders", "hosting") else "overlay"


def tile_params(layer: str, z: int, x: int, y: int, tag_min_share: float) -> tuple[str, dict[str, Any]]:
    """The SQL and bound parameters of one tile (also used by the benchmark as the bare query)."""
    kind = _tile_layer(layer)
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"no tile {z}/{x}/{y}")
    pixel = 360.0 / (2**z) / EXTENT
    params: dict[str, Any] = {
        "z": z,
        "x": x,
        "y": y,
        "extent": EXTENT,
        "buffer": BUFFER,
        "margin": BUFFER / EXTENT,
        "tol": pixel / 2 if z < 16 else 0.0,
        "px": pixel,
        "min_share": tag_min_share,
        "layer": layer,
    }
    return _TILE_SQL[kind], params


def tile(*, session: Session, layer: str, z: int, x: int, y: int, tag_min_share: float) -> bytes:
    """One Mapbox Vector Tile of ``layer`` (feeders, areas or an overlay layer), made by ST_AsMVT."""
    sql, params = tile_params(layer, z, x, y, tag_min_share)
    data = session.connection().exec_driver_sql(sql, params).scalar()
    return bytes(data) if data else b""


def tile_etag(*, session: Session, layer: str, tag_min_share: float) -> str:
    """A validator that changes when the layer's data, statuses or tags change."""
    sql = _ETAG_SQL[_tile_layer(layer)]
    params = {"layer": layer, "min_share": tag_min_share, "stamps": _stamps(layer)}
    return str(session.connection().exec_driver_sql(sql, params).scalar())


def tile_lookup(
    layer: str, z: int, x: int, y: int, tag_min_share: float, have: str | None = None
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters giving (ETag, the shared cached tile for it or NULL) in one round trip.

    ``have`` is an ETag whose tile the caller already holds: then no tile bytes are sent back.
    """
    kind = _tile_layer(layer)
    params = {"layer": layer, "z": z, "x": x, "y": y, "min_share": tag_min_share, "have": have or "",
              "stamps": _stamps(layer)}
    return _LOOKUP_SQL[kind], params


def etag_sql(layer: str, tag_min_share: float) -> tuple[str, dict[str, Any]]:
    """SQL and parameters giving the ETag only: for a read replica, which has no (unlogged)
    tile_cache; the cached tile, if any, is then read from the primary with ``SHARED_SQL``."""
    kind = _tile_layer(layer)
    return _ETAG_SQL[kind], {"layer": layer, "min_share": tag_min_share, "stamps": _stamps(layer)}


SHARED_SQL = """SELECT data FROM tile_cache
    WHERE layer = %(layer)s AND z = %(z)s AND x = %(x)s AND y = %(y)s AND etag = %(etag)s"""


def store_params(layer: str, z: int, x: int, y: int, etag: str, data: bytes, ms: float) -> dict[str, Any]:
    """Parameters of ``STORE_SQL``: keep an expensive tile for every worker, keyed by its ETag."""
    return {"layer": layer, "z": z, "x": x, "y": y, "etag": etag, "data": data, "ms": ms}
