"""Reloading the meter registry rebuilds inferred interruptions against the new meter counts."""

from __future__ import annotations

import json

import geopandas as gpd
import psycopg
import shapely


def _inferred(url: str) -> list[tuple[str, int, int]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(
            "SELECT area_id, meters_off, meters_total FROM inferred_interruption ORDER BY 1"
        ).fetchall()


def test_more_meters_in_the_registry_undo_an_inferred_interruption(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = shapely.LineString([(106.70, 26.55), (106.75, 26.60)])
    gpd.GeoDataFrame({"feeder_id": ["F1"]}, geometry=[line], crs="EPSG:4326").to_file(
        tmp_path / "f.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"area_id": ["A1"], "feeder_id": ["F1"], "customers": [40]},
                     geometry=[shapely.box(106.7, 26.5, 106.71, 26.51)], crs="EPSG:4326").to_file(
        tmp_path / "a.geojson", driver="GeoJSON")
    assert cli("load", "feeders", str(tmp_path / "f.geojson")).exit_code == 0
    assert cli("load", "areas", str(tmp_path / "a.geojson")).exit_code == 0
    (tmp_path / "m.csv").write_text("meter_id,area_id\nM1,A1\nM2,A1\n")
    assert cli("load", "meters", str(tmp_path / "m.csv")).exit_code == 0
    (tmp_path / "e.csv").write_text(
        "meter_id,time,kind\nM1,2026-05-01T10:00:00+08:00,off\nM1,2026-05-01T11:00:00+08:00,on\n")
    result = cli("ingest", "meter-events", str(tmp_path / "e.csv"), "--format", "json")
    assert json.loads(result.output)["accepted"] == 2
    assert _inferred(cli.url) == [("A1", 1, 2)]  # one of two meters: exactly half

    (tmp_path / "m2.csv").write_text("meter_id,area_id\nM3,A1\nM4,A1\n")
    assert cli("load", "meters", str(tmp_path / "m2.csv")).exit_code == 0
    assert _inferred(cli.url) == []  # one of four is under half
