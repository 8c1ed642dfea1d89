"""A plausible synthetic grid: substations near county seats, radial feeders, Voronoi 台区, meters."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from spatial.crs import WGS84
from spatial.demo.boundaries import URBAN, random_points_in

log = logging.getLogger(__name__)

CAPACITIES = np.array([100, 200, 315, 400, 630], dtype=float)
"""Distribution transformer sizes (kVA) of the common series; an area's size follows its customers."""
CUSTOMER_STEPS = [60, 120, 200, 300]
"""Customers from which an area takes the next size: < 60 → 100 kVA, … , ≥ 300 → 630 kVA."""


@dataclass
class Grid:
    """The generated assets (WGS84)."""

    feeders: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    meters: pd.DataFrame


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygons of a clipping result."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _cells(rng: np.random.Generator, county: BaseGeometry, pts: np.ndarray, urban: bool) -> np.ndarray:
    """Supply polygons: Voronoi cells of the transformer points, clipped to the county.

    Rural cells are also cut to a few kilometres around their transformer, so mountain areas do
    not cover every hillside.
    """
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=county, ordered=True)
    cells = shapely.get_parts(vor)
    shapely.prepare(county)
    inside = shapely.within(cells, county)
    edge = ~inside
    cells[edge] = shapely.intersection(cells[edge], county)
    if not urban:
        reach = shapely.buffer(shapely.points(pts), rng.uniform(0.008, 0.02, len(pts)), quad_segs=4)
        cells = shapely.intersection(cells, reach)
    cells = shapely.set_precision(cells, 1e-6)
    bad = ~np.isin(shapely.get_type_id(cells), (3, 6))
    for i in np.flatnonzero(bad):
        cells[i] = _polygonal(cells[i])
    return cells  # type: ignore[no-any-return]


def _feeder_line(sub: np.ndarray, pts: np.ndarray, rng: np.random.Generator) -> BaseGeometry:
    """A radial line from the substation through its areas' transformers, nearest first."""
    d = np.hypot(pts[:, 0] - sub[0], pts[:, 1] - sub[1])
    order = np.argsort(d)
    k = min(len(order), 8)
    picks = order[np.unique(np.linspace(0, len(order) - 1, k).round().astype(int))]
    coords = np.vstack([sub, pts[picks]])
    coords[1:] += rng.normal(0, 0.0005, coords[1:].shape)
    if len(coords) < 2 or np.allclose(coords[0], coords[-1]):
        coords = np.vstack([sub, sub + 0.002])
    return shapely.MultiLineString([coords])


def build_grid(
    rng: np.random.Generator, counties: gpd.GeoDataFrame, areas_per_county: dict[str, int],
    areas_per_feeder: float,
) -> Grid:
    """Generate substations, feeders, areas and meters for the given counties."""
    feeder_rows: list[dict[str, object]] = []
    feeder_geoms: list[BaseGeometry] = []
    area_frames: list[pd.DataFrame] = []
    area_geoms: list[np.ndarray] = []
    for code, n in areas_per_county.items():
        if n <= 0:
            continue
        county = counties.loc[code]
        geom, name, urban = county.geometry, str(county["name"]), code in URBAN
        seat = geom.representative_point()
        centre = (seat.x, seat.y)
        n_gauss = int(n * (0.7 if urban else 0.4))
        pts = np.vstack([
            random_points_in(rng, geom, n_gauss, centre, 0.025 if urban else 0.05),
            random_points_in(rng, geom, n - n_gauss),
        ])
        pts += rng.normal(0, 1e-6, pts.shape)
        cells = _cells(rng, geom, pts, urban)

        n_feeders = max(1, round(n / areas_per_feeder))
        n_subs = max(1, round(n_feeders / (10 if urban else 6)))
        subs = np.vstack([np.array([centre]), random_points_in(
            rng, geom, n_subs - 1, centre if urban else None, 0.03 if urban else 0.0)])
        dist = np.hypot(pts[:, None, 0] - subs[None, :, 0], pts[:, None, 1] - subs[None, :, 1])
        nearest = dist.argmin(axis=1)
        counts = np.bincount(nearest, minlength=n_subs)
        sectors = np.maximum(1, np.round(counts / max(counts.sum(), 1) * n_feeders)).astype(int)
        ang = np.arctan2(pts[:, 1] - subs[nearest, 1], pts[:, 0] - subs[nearest, 0])
        sector = np.minimum(((ang + np.pi) / (2 * np.pi) * sectors[nearest]).astype(int),
                            sectors[nearest] - 1)
        key = nearest * 1000 + sector
        uniq, feeder_idx = np.unique(key, return_inverse=True)
        fids = np.array([f"FD-{code}-{i + 1:03d}" for i in range(len(uniq))])
        for i, k in enumerate(uniq):
            s, sec = divmod(int(k), 1000)
            members = pts[feeder_idx == i]
            feeder_rows.append({
                "feeder_id": fids[i], "name": f"{name}{s + 1}号变10kV{sec + 1}回线",
                "substation": f"{name}{s + 1}号110kV变电站", "voltage_kv": 10.0,
                "county": code, "urban": urban,
            })
            feeder_geoms.append(_feeder_line(subs[s], members, rng))

        if urban:
            customers = np.clip(rng.lognormal(np.log(140), 0.5, n), 30, 600).astype(int)
        else:
            customers = np.clip(rng.lognormal(np.log(30), 0.6, n), 5, 200).astype(int)
        seq = np.arange(1, n + 1)
        area_frames.append(pd.DataFrame({
            "area_id": [f"TQ-{code}-{i:05d}" for i in seq],
            "feeder_id": fids[feeder_idx],
            "customers": customers,
            "name": [f"{name}{i:04d}号台区" for i in seq],
            "capacity_kva": CAPACITIES[np.searchsorted(CUSTOMER_STEPS, customers, side="right")],
            "county": code, "urban": urban, "x": pts[:, 0], "y": pts[:, 1],
        }))
        area_geoms.append(cells)
    feeders = gpd.GeoDataFrame(feeder_rows, geometry=feeder_geoms, crs=WGS84)
    areas = gpd.GeoDataFrame(pd.concat(area_frames, ignore_index=True),
                             geometry=np.concatenate(area_geoms), crs=WGS84)
    areas = areas[~areas.geometry.is_empty].reset_index(drop=True)
    return Grid(feeders=feeders, areas=areas, meters=_meters(rng, areas))


def _meters(rng: np.random.Generator, areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """One meter per customer, scattered around the area's transformer."""
    counts = areas["customers"].to_numpy()
    total = int(counts.sum())
    idx = np.repeat(np.arange(len(areas)), counts)
    spread = np.where(areas["urban"].to_numpy(), 0.0015, 0.004)[idx]
    lon = areas["x"].to_numpy()[idx] + rng.normal(0, 1, total) * spread
    lat = areas["y"].to_numpy()[idx] + rng.normal(0, 1, total) * spread
    ids = [f"M{i:09d}" for i in range(1, total + 1)]  # no wide numpy string temporaries
    return pd.DataFrame({
        "meter_id": ids, "area_id": areas["area_id"].to_numpy()[idx],
        "lon": lon.round(6), "lat": lat.round(6),
    })
