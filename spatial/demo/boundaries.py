"""The shipped Guizhou boundaries (GCJ-02 → WGS84) and the demo's overlay layers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from spatial.crs import WGS84, gcj02_geometry_to_wgs84

GUIYANG_URBAN = ("520102", "520103", "520111", "520112", "520113", "520115")
ZUNYI_URBAN = ("520302", "520303", "520304")
URBAN = GUIYANG_URBAN + ZUNYI_URBAN
AUTONOMOUS_PREFECTURES = ("522300", "522600", "522700")
# Gui'an New Area's built-up core, straddling Qingzhen and Huaxi (WGS84).
GUIAN_CORE = shapely.Polygon([
    (106.22, 26.38), (106.30, 26.33), (106.42, 26.34), (106.49, 26.41),
    (106.48, 26.53), (106.40, 26.59), (106.29, 26.58), (106.21, 26.49), (106.22, 26.38),
])


def admin_path() -> Path:
    """The shipped boundaries file (GCJ-02)."""
    return Path(str(resources.files("spatial").joinpath("data/guizhou/guizhou-admin-gcj02.geojson")))


@cache
def admin_wgs84() -> gpd.GeoDataFrame:
    """Province, prefectures and counties in WGS84, with adcode, name and level."""
    gdf = gpd.read_file(admin_path(), engine="pyogrio")
    gdf["geometry"] = gcj02_geometry_to_wgs84(gdf.geometry.values)
    return gdf.set_crs(WGS84, allow_override=True)


def counties() -> gpd.GeoDataFrame:
    """The 88 county-level divisions in WGS84, indexed by adcode."""
    gdf = admin_wgs84()
    return gdf[gdf["level"] == "county"].set_index("adcode", drop=False)


@dataclass
class Overlay:
    """One overlay feature of the demo."""

    layer: str
    feature_id: str
    name: str
    geom: BaseGeometry


def _blob(rng: np.random.Generator, x: float, y: float, radius: float, n: int = 9) -> BaseGeometry:
    """An irregular polygon around (x, y), radius in degrees."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius * rng.uniform(0.6, 1.2, n)
    return shapely.Polygon(np.column_stack([x + r * np.cos(ang), y + r * np.sin(ang) * 0.9]))


def random_points_in(
    rng: np.random.Generator, geom: BaseGeometry, n: int, centre: tuple[float, float] | None = None,
    spread: float = 0.0,
) -> np.ndarray:
    """``n`` random points inside ``geom``: uniform, or Gaussian around ``centre`` when spread > 0."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out: list[np.ndarray] = [np.empty((0, 2))]
    have = 0
    while have < n:
        k = max(64, 2 * (n - have))
        if centre is not None and spread > 0:
            pts = rng.normal(centre, spread, size=(k, 2))
        else:
            pts = np.column_stack([rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
        pts = pts[shapely.contains_xy(geom, pts[:, 0], pts[:, 1])]
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


VILLAGE_PARTS = list("坝寨坡沟岩河塘湾田冲坪箐") + ["新村", "大寨", "高坡", "龙井", "水口"]
COMPOUND_PARTS = ["宿舍", "新村", "花园", "家属院", "小区", "大院"]
COMPOUND_FIRST = ["机械厂", "纺织厂", "铁路", "水泥厂", "邮电", "粮食局", "供销社", "电力", "化肥厂"]


def overlays(
    rng: np.random.Generator, sites: pd.DataFrame, villages: int, compounds: int
) -> list[Overlay]:
    """Ethnic-minority areas (real), weak-supply villages, old compounds and core zones.

    ``sites`` are the areas' transformer points: x, y, urban, county_name and size (deg²).
    """
    admin = admin_wgs84()
    out: list[Overlay] = []
    eth = admin[(admin["adcode"].isin(AUTONOMOUS_PREFECTURES))
                | ((admin["level"] == "county") & admin["name"].str.endswith("自治县")
                   & ~admin["adcode"].str[:4].isin([a[:4] for a in AUTONOMOUS_PREFECTURES]))]
    for row in eth.itertuples():
        out.append(Overlay("ethnic_minority_area", f"EMA-{row.adcode}", str(row.name), row.geometry))

    # Weak-supply villages and old compounds sit on real supply points: rural transformers in
    # the mountains, urban transformers in the old town centres.
    rural = np.flatnonzero(~sites["urban"].to_numpy(dtype=bool))
    for i, k in enumerate(rng.choice(rural, min(villages, len(rural)), replace=False) if len(rural) else []):
        site = sites.iloc[k]
        name = f"{site['county_name']}{''.join(rng.choice(VILLAGE_PARTS, 2))}村"
        geom = _blob(rng, site["x"], site["y"], rng.uniform(0.008, 0.02))
        out.append(Overlay("weak_supply_village", f"WSV-{i + 1:05d}", name, geom))
    urban = np.flatnonzero(sites["urban"].to_numpy(dtype=bool))
    for i, k in enumerate(rng.choice(urban, min(compounds, len(urban)), replace=False) if len(urban) else []):
        site = sites.iloc[k]
        name = f"{site['county_name']}{rng.choice(COMPOUND_FIRST)}{rng.choice(COMPOUND_PARTS)}"
        geom = _blob(rng, site["x"], site["y"], float(np.sqrt(site["size"])) * rng.uniform(0.5, 1.0))
        out.append(Overlay("old_compound", f"OC-{i + 1:05d}", name, geom))

    cty = counties()
    zones = [
        ("CZ-GY", "贵阳中心城区零感知核心区", ("520102", "520103"), (106.70, 26.58), 0.06),
        ("CZ-ZY", "遵义中心城区零感知核心区", ("520302", "520303"), (106.93, 27.70), 0.05),
    ]
    for fid, name, codes, (x, y), radius in zones:
        base = shapely.union_all(cty.loc[list(codes)].geometry.values)
        out.append(Overlay("core_zone", fid, name, shapely.Point(x, y).buffer(radius).intersection(base)))
    out.append(Overlay("core_zone", "CZ-GA", "贵安新区零感知核心区", GUIAN_CORE))
    return [o for o in out if not o.geom.is_empty]
