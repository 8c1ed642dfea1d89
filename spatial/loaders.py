"""Load feeders, areas, meters, overlay layers and admin divisions into PostGIS."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.accounting import Accounting
from core.errors import InputError, UsageError
from spatial.crs import GCJ02, WGS84, gcj02_geometry_to_wgs84, parse_crs
from spatial.meters import load_meters as load_meters  # streamed bulk load, re-exported here

log = logging.getLogger(__name__)

OVERLAY_LAYERS = ("weak_supply_village", "ethnic_minority_area", "old_compound", "core_zone")
GEOMETRY_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb")


@dataclass(frozen=True)
class AssetSpec:
    """Fields of one kind of geometry input."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    geometry: str  # "line" | "polygon"


FEEDERS = AssetSpec("feeders", ("feeder_id",), ("name", "substation", "voltage_kv"), "line")
AREAS = AssetSpec(
    "areas", ("area_id", "feeder_id", "customers"), ("name", "capacity_kva"), "polygon"
)
OVERLAY = AssetSpec("overlay", ("name",), ("id",), "polygon")
ADMIN = AssetSpec("admin", ("adcode",), ("name", "level"), "polygon")


def read_geofile(path: str | Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoJSON, GeoPackage or Shapefile and return it in EPSG:4326.

    The declared CRS is used; GeoJSON without one is WGS84 (RFC 7946); ``crs`` overrides both,
    and ``gcj02`` is converted to WGS84 here.
    """
    p = Path(path)
    override = parse_crs(crs)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    try:
        gdf = gpd.read_file(p, engine="pyogrio", on_invalid="ignore")
    except Exception as exc:  # pyogrio raises several types for unreadable data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read {p.name} as a geometry file: {first}") from None
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{p.name} has no geometry column")
    if override == GCJ02:
        gdf = gdf.set_crs(WGS84, allow_override=True)
        gdf["geometry"] = gcj02_geometry_to_wgs84(gdf.geometry.values)
        return gdf
    if isinstance(override, CRS):
        gdf = gdf.set_crs(override, allow_override=True)
    elif gdf.crs is None:
        if p.suffix.lower() in (".geojson", ".json"):
            gdf = gdf.set_crs(WGS84)
        else:
            raise InputError(f"{p.name} declares no CRS; say which with --crs (e.g. EPSG:4490)")
    if not CRS(gdf.crs).equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf


def _repair(geom: BaseGeometry | None, kind: str) -> tuple[BaseGeometry | None, str | None]:
    """Return a valid Multi geometry of the right kind, or None with a reason."""
    if geom is None or geom.is_empty:
        return None, "missing or empty geometry"
    want = ("Polygon", "MultiPolygon") if kind == "polygon" else ("LineString", "MultiLineString")
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        geom = shapely.make_valid(geom)
        parts = [
            g for g in getattr(geom, "geoms", [geom]) if g.geom_type in want and not g.is_empty
        ]
        if not parts:
            return None, f"invalid geometry that cannot be repaired ({reason})"
        geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        if geom.is_empty or geom.geom_type not in want:
            return None, f"invalid geometry that cannot be repaired ({reason})"
    if geom.geom_type not in want:
        return None, f"expected a {' or '.join(want)}, got a {geom.geom_type}"
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        return None, "coordinates are outside longitude/latitude range; is the CRS right?"
    if geom.has_z:
        geom = shapely.force_2d(geom)
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    elif geom.geom_type == "LineString":
        geom = shapely.MultiLineString([geom])
    return geom, None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _number(v: Any) -> float | None:
    s = _text(v)
    return None if s is None else float(s)


def _warn_unknown(acct: Accounting, columns: Iterable[str], spec: AssetSpec) -> None:
    known = set(spec.required) | set(spec.optional) | {"geometry"}
    unknown = [c for c in columns if c not in known]
    if unknown:
        msg = f"{acct.source}: ignoring unknown column(s): {', '.join(unknown)}"
        acct.warnings.append(msg)
        log.warning(msg)


def _features(
    gdf: gpd.GeoDataFrame, spec: AssetSpec, acct: Accounting
) -> list[tuple[int, dict[str, Any], BaseGeometry]]:
    """Validate attributes and geometry; rows are (1-based feature index, attrs, geometry)."""
    missing = [c for c in spec.required if c not in gdf.columns]
    if missing:
        raise InputError(f"{acct.source}: missing required field(s): {', '.join(missing)}")
    _warn_unknown(acct, gdf.columns, spec)
    out = []
    records = gdf.drop(columns="geometry").to_dict("records")
    for i, (attrs, geom) in enumerate(zip(records, gdf.geometry.values, strict=True), start=1):
        bad = next((c for c in spec.required if _text(attrs.get(c)) is None), None)
        if bad:
            acct.reject(i, bad, f"required field '{bad}' is empty")
            continue
        fixed, reason = _repair(geom, spec.geometry)
        if fixed is None:
            acct.reject(i, "geometry", reason or "bad geometry")
            continue
        out.append((i, attrs, fixed))
    return out


def _dedupe_ids(
    rows: list[tuple[int, dict[str, Any], BaseGeometry]], key: str, acct: Accounting
) -> list[tuple[int, dict[str, Any], BaseGeometry]]:
    """Keep the last feature of each id in a file; earlier ones count as duplicates."""
    last: dict[str, int] = {}
    for pos, (_, attrs, _) in enumerate(rows):
        last[str(_text(attrs.get(key)))] = pos
    kept = []
    for pos, row in enumerate(rows):
        if last[str(_text(row[1].get(key)))] == pos:
            kept.append(row)
        else:
            acct.duplicates += 1
    return kept


def _upsert(
    session: Session,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple[Any, ...]],
    acct: Accounting,
) -> None:
    """COPY rows (geometry last, as WKB hex) into a temp table, then upsert; count both kinds."""
    if not rows:
        return
    conn = session.connection().connection.driver_connection
    assert conn is not None
    cols = ", ".join(columns)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE _load (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cur.copy(f"COPY _load ({cols}, geom) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        value_cols = [c for c in (*columns, "geom") if c not in key]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in value_cols)
        changed_old = ", ".join(f"{table}.{c}" for c in value_cols)
        changed_new = ", ".join(f"EXCLUDED.{c}" for c in value_cols)
        cur.execute(
            f"""
            INSERT INTO {table} ({cols}, geom, updated_at)
            SELECT {cols}, geom, now() FROM _load
            ON CONFLICT ({", ".join(key)}) DO UPDATE SET {updates}, updated_at = now()
            WHERE ({changed_old}) IS DISTINCT FROM ({changed_new})
            RETURNING (xmax = 0)
            """
        )
        inserted = [r[0] for r in cur.fetchall()]
        cur.execute("DROP TABLE _load")
    # A row identical to the stored one is not written (its updated_at stays, so tags are not
    # recomputed for it) and counts as a duplicate: loading the same file twice changes nothing.
    acct.accepted += sum(1 for r in inserted if r)
    acct.updated += sum(1 for r in inserted if not r)
    acct.duplicates += len(rows) - len(inserted)


def _ewkb(geom: BaseGeometry) -> str:
    return shapely.to_wkb(geom, hex=True, include_srid=True, output_dimension=2)  # type: ignore[no-any-return]


def _with_srid(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    arr = np.array(geoms, dtype=object)
    return list(shapely.set_srid(arr, 4326))


def load_feeders(*, session: Session, path: str | Path, crs: str | None = None) -> Accounting:
    """Load or replace feeders from a geometry file."""
    acct = Accounting(source=str(path))
    feats = _dedupe_ids(_features(read_geofile(path, crs), FEEDERS, acct), "feeder_id", acct)
    rows = []
    geoms = _with_srid([g for _, _, g in feats])
    for (i, a, _), g in zip(feats, geoms, strict=True):
        try:
            kv = _number(a.get("voltage_kv"))
        except ValueError:
            acct.reject(i, "voltage_kv", f"voltage_kv is not a number: {a.get('voltage_kv')!r}")
            continue
        rows.append(
            (_text(a["feeder_id"]), _text(a.get("name")), _text(a.get("substation")), kv, _ewkb(g))
        )
    _upsert(session, "feeder", ("feeder_id", "name", "substation", "voltage_kv"),
            ("feeder_id",), rows, acct)
    return acct


def load_areas(*, session: Session, path: str | Path, crs: str | None = None) -> Accounting:
    """Load or replace transformer areas (台区); unknown feeders are rejected."""
    acct = Accounting(source=str(path))
    feats = _dedupe_ids(_features(read_geofile(path, crs), AREAS, acct), "area_id", acct)
    feeders = {r[0] for r in session.execute(text("SELECT feeder_id FROM feeder"))}
    rows = []
    geoms = _with_srid([g for _, _, g in feats])
    for (i, a, _), g in zip(feats, geoms, strict=True):
        fid = _text(a["feeder_id"])
        if fid not in feeders:
            acct.reject(i, "feeder_id", f"unknown feeder '{fid}' (load the feeders first)")
            continue
        try:
            cust_f = float(str(_text(a["customers"])))
        except ValueError:
            acct.reject(i, "customers", f"customers is not a number: {a['customers']!r}")
            continue
        if not cust_f.is_integer() or cust_f < 0:
            acct.reject(i, "customers", f"customers must be a whole number ≥ 0, got {cust_f:g}")
            continue
        try:
            cap = _number(a.get("capacity_kva"))
        except ValueError:
            acct.reject(i, "capacity_kva", f"capacity_kva is not a number: {a['capacity_kva']!r}")
            continue
        if cap is not None and not (math.isfinite(cap) and cap >= 0):
            acct.reject(i, "capacity_kva", f"capacity_kva must be a number of kVA ≥ 0, got {cap:g}")
            continue
        rows.append((_text(a["area_id"]), fid, int(cust_f), _text(a.get("name")), cap, _ewkb(g)))
    _upsert(session, "area", ("area_id", "feeder_id", "customers", "name", "capacity_kva"),
            ("area_id",), rows, acct)
    return acct


def _overlay_ids(gdf: gpd.GeoDataFrame, layer: str) -> list[str]:
    """The id of every feature of an overlay file, rejected or not (``<layer>-<n>`` if none)."""
    given = gdf["id"].tolist() if "id" in gdf.columns else [None] * len(gdf)
    return [_text(v) or f"{layer}-{i}" for i, v in enumerate(given, start=1)]


def load_overlay(
    *, session: Session, layer: str, path: str | Path, crs: str | None = None
) -> Accounting:
    """Load or replace one overlay layer; features without ``id`` get ``<layer>-<n>``.

    The file is the whole layer: features of the layer whose ids it no longer holds are
    removed (their ids are in ``removed``). A feature the file holds but that is rejected
    (an empty name, a geometry that cannot be repaired) keeps its stored version: a replacing
    load never deletes what it rejected (SPEC section 17). A file with no features at all
    removes nothing.
    """
    if layer not in OVERLAY_LAYERS:
        raise UsageError(f"unknown overlay layer {layer!r}; one of: {', '.join(OVERLAY_LAYERS)}")
    acct = Accounting(source=str(path), removed=[])
    gdf = read_geofile(path, crs)
    in_file = _overlay_ids(gdf, layer)
    feats = _features(gdf, OVERLAY, acct)
    for i, a, _ in feats:
        if _text(a.get("id")) is None:
            a["id"] = f"{layer}-{i}"
    feats = _dedupe_ids(feats, "id", acct)
    geoms = _with_srid([g for _, _, g in feats])
    rows = [
        (layer, _text(a["id"]), _text(a["name"]), _ewkb(g))
        for (_, a, _), g in zip(feats, geoms, strict=True)
    ]
    _upsert(session, "overlay_feature", ("layer", "feature_id", "name"),
            ("layer", "feature_id"), rows, acct)
    if acct.rejected:
        acct.warnings.append(f"{acct.rejected} rejected feature(s) of {layer} keep their "
                             "stored version, if they have one")
    if not in_file:
        acct.warnings.append(f"{path} holds no features; nothing of {layer} was removed")
        return acct
    acct.removed = sorted(session.execute(
        text("DELETE FROM overlay_feature WHERE layer = :l AND NOT feature_id = ANY(:ids) "
             "RETURNING feature_id"),
        {"l": layer, "ids": sorted(set(in_file))},
    ).scalars())
    if acct.removed:
        acct.warnings.append(f"{len(acct.removed)} feature(s) of {layer} not in {path} were removed")
        log.info("overlay %s: removed %d feature(s) not in the new file", layer, len(acct.removed))
    return acct


def admin_level(adcode: str) -> str:
    """Level from the adcode pattern: xx0000 province, xxxx00 prefecture, else county."""
    if adcode.endswith("0000"):
        return "province"
    if adcode.endswith("00"):
        return "prefecture"
    return "county"


def admin_parent(adcode: str) -> str | None:
    """The parent adcode (county → prefecture → province)."""
    level = admin_level(adcode)
    if level == "county":
        return adcode[:4] + "00"
    if level == "prefecture":
        return adcode[:2] + "0000"
    return None


def _read_admin(path: Path) -> gpd.GeoDataFrame:
    """Admin files may be FeatureCollections or bare geometries carrying ``properties``."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path.name} is not valid GeoJSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("type") not in ("Feature", "FeatureCollection"):
        props = doc.get("properties") or {}
        try:
            geom = shapely.geometry.shape(doc)
        except Exception as exc:
            raise InputError(f"{path.name}: cannot read the geometry: {exc}") from None
        return gpd.GeoDataFrame([props], geometry=[geom], crs=WGS84)
    return read_geofile(path)


def load_admin(
    *, session: Session, paths: Sequence[str | Path], crs: str | None = None
) -> Accounting:
    """Load or replace admin divisions (province, prefecture, county) from GeoJSON files."""
    acct = Accounting(source=", ".join(str(p) for p in paths))
    override = parse_crs(crs)
    frames = []
    for p in paths:
        gdf = _read_admin(Path(p))
        if override == GCJ02:
            gdf["geometry"] = gcj02_geometry_to_wgs84(gdf.geometry.values)
        elif isinstance(override, CRS):
            gdf = gdf.set_crs(override, allow_override=True).to_crs(WGS84)
        frames.append(gdf)
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=WGS84)
    feats = _dedupe_ids(_features(gdf, ADMIN, acct), "adcode", acct)
    geoms = _with_srid([g for _, _, g in feats])
    rows = []
    for (i, a, _), g in zip(feats, geoms, strict=True):
        code = str(_text(a["adcode"]))
        level = _text(a.get("level")) or admin_level(code)
        if level not in ("province", "prefecture", "county"):
            acct.reject(i, "level", f"level must be province, prefecture or county, not {level!r}")
            continue
        rows.append((code, _text(a.get("name")), level, admin_parent(code), _ewkb(g)))
    _upsert(session, "admin_division", ("adcode", "name", "level", "parent_adcode"),
            ("adcode",), rows, acct)
    return acct
