"""The shipped Guizhou boundaries: GCJ-02 as shipped, WGS84 once loaded, lining up with WGS84 data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from spatial import loaders
from spatial.crs import wgs84_to_gcj02
from spatial.demo.boundaries import admin_path, counties

# Known WGS84 places (from GPS / OpenStreetMap, not from AMap).
PLACES = [
    ("Guiyang, Penshuichi (city centre)", 106.7135, 26.5805, {"520102", "520103"}),
    ("Guiyang, Jinyang (municipal government)", 106.630, 26.647, {"520115"}),
    ("Zunyi, city centre", 106.927, 27.725, {"520302", "520303"}),
    ("Kaili, city centre", 107.98, 26.58, {"522601"}),
    ("Anshun, city centre", 105.946, 26.253, {"520402"}),
    ("Bijie, city centre", 105.285, 27.302, {"520502"}),
]


def test_shipped_file_has_the_real_divisions() -> None:
    doc = json.loads(admin_path().read_text(encoding="utf-8"))
    levels = [f["properties"]["level"] for f in doc["features"]]
    assert levels.count("province") == 1 and levels.count("prefecture") == 9
    assert levels.count("county") == 88
    names = {f["properties"]["adcode"]: f["properties"]["name"] for f in doc["features"]}
    assert names["520102"] == "南明区" and names["522600"] == "黔东南苗族侗族自治州"
    assert admin_path().stat().st_size < 3_000_000
    assert (admin_path().parent / "LICENSE").exists()


@pytest.mark.parametrize(("place", "lon", "lat", "expected"), PLACES)
def test_known_wgs84_points_fall_in_their_converted_county(
    place: str, lon: float, lat: float, expected: set[str]
) -> None:
    cty = counties()
    hits = set(cty.index[shapely.contains_xy(cty.geometry.values, lon, lat)])
    assert hits == hits & expected and hits, place


def test_conversion_moves_boundaries_by_the_gcj02_offset() -> None:
    doc = json.loads(admin_path().read_text(encoding="utf-8"))
    raw = {f["properties"]["adcode"]: shapely.geometry.shape(f["geometry"]) for f in doc["features"]}
    converted = counties().loc["520102"].geometry
    gx, gy = np.asarray(shapely.get_coordinates(converted)).T
    fx, fy = wgs84_to_gcj02(gx, gy)
    # Forward-offsetting the WGS84 boundary gives back the shipped GCJ-02 one.
    shipped = shapely.get_coordinates(raw["520102"])
    assert np.abs(np.column_stack([fx, fy]) - shipped).max() < 1e-6
    # ... and the offset in Guizhou is a few hundred metres, not zero.
    shift = np.hypot((fx - gx) * 99_000, (fy - gy) * 111_000)
    assert 200 < shift.mean() < 800


def test_loaded_admin_divisions_are_wgs84(db_session: Session) -> None:
    acct = loaders.load_admin(session=db_session, paths=[admin_path()], crs="gcj02")
    assert acct.rejected == 0 and acct.accepted + acct.updated == 98
    for place, lon, lat, expected in PLACES:
        got = db_session.execute(text(
            "SELECT adcode FROM admin_division WHERE level = 'county' AND "
            "ST_Contains(geom, ST_SetSRID(ST_Point(:x, :y), 4326))"), {"x": lon, "y": lat}).scalars().all()
        assert len(got) == 1 and got[0] in expected, place
    parent = db_session.execute(text(
        "SELECT parent_adcode FROM admin_division WHERE adcode = '522601'")).scalar_one()
    assert parent == "522600"
