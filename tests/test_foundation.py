"""Foundation: schema, migrations, CRS handling, loaders and the command line's error contract."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from sqlalchemy import text

from spatial.crs import gcj02_to_wgs84, wgs84_to_gcj02
from tests.builders import add_feeder

# Public eviltransform test vectors: (wgs lat, lon), (gcj lat, lon).
VECTORS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_schema_has_hypertables_gist_and_apache_license(shared_db: str) -> None:
    with psycopg.connect(_libpq(shared_db)) as conn:
        hts = {r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert {"meter_event", "outage_record"} <= hts
        lic = conn.execute("SHOW timescaledb.license").fetchone()
        assert lic is not None and lic[0] in ("apache", "timescale")
        geoms = conn.execute(
            "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema='public'"
        ).fetchall()
        assert {t for t, _ in geoms} >= {"feeder", "area", "meter", "overlay_feature",
                                          "admin_division"}
        assert all(srid == 4326 for _, srid in geoms)
        gist = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist (geom)%'")}
        assert gist >= {"feeder", "area", "meter", "overlay_feature", "admin_division"}
        # every unique index on a hypertable includes its time column
        uniques = conn.execute(
            """SELECT tablename, indexdef FROM pg_indexes
               WHERE tablename IN ('meter_event','outage_record') AND indexdef LIKE '%UNIQUE%'"""
        ).fetchall()
        assert uniques
        for table, ddl in uniques:
            assert ("time" if table == "meter_event" else "start_time") in ddl


def test_migrations_downgrade_and_upgrade_again(fresh_db: str) -> None:
    import migrations

    migrations.downgrade(fresh_db, "base")
    with psycopg.connect(_libpq(fresh_db)) as conn:
        assert conn.execute("SELECT to_regclass('public.area')").fetchone() == (None,)
    migrations.upgrade(fresh_db)
    with psycopg.connect(_libpq(fresh_db)) as conn:
        assert conn.execute("SELECT to_regclass('public.area')").fetchone() == ("area",)


@pytest.mark.parametrize("wgs,gcj", VECTORS)
def test_gcj02_matches_published_vectors(wgs, gcj) -> None:  # type: ignore[no-untyped-def]
    glon, glat = wgs84_to_gcj02(np.array([wgs[1]]), np.array([wgs[0]]))
    assert glat[0] == pytest.approx(gcj[0], abs=1e-9)
    assert glon[0] == pytest.approx(gcj[1], abs=1e-9)
    wlon, wlat = gcj02_to_wgs84(np.array([gcj[1]]), np.array([gcj[0]]))
    assert wlat[0] == pytest.approx(wgs[0], abs=1e-7)
    assert wlon[0] == pytest.approx(wgs[1], abs=1e-7)


FEEDER_LINE = shapely.LineString([(106.70, 26.55), (106.75, 26.60), (106.80, 26.58)])


def _write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    driver = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}[path.suffix]
    gdf.to_file(path, driver=driver, engine="pyogrio")
    return path


def _stored_feeder(cli, feeder_id: str) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    with psycopg.connect(_libpq(cli.url)) as conn:
        row = conn.execute(
            "SELECT ST_AsText(geom) FROM feeder WHERE feeder_id = %s", (feeder_id,)
        ).fetchone()
    assert row is not None
    return list(shapely.from_wkt(row[0]).geoms[0].coords)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "gcj02", "EPSG:3857"])
def test_every_format_and_crs_stores_the_same_geometry(cli, tmp_path, suffix, crs) -> None:  # type: ignore[no-untyped-def]
    base = gpd.GeoDataFrame(
        {"feeder_id": ["F1"], "name": ["10kV 测试线"], "voltage_kv": [10.0]},
        geometry=[FEEDER_LINE], crs="EPSG:4326",
    )
    option: list[str] = []
    if crs == "gcj02":
        x, y = np.array(FEEDER_LINE.coords).T
        gx, gy = wgs84_to_gcj02(x, y)
        data = base.set_geometry([shapely.LineString(np.column_stack([gx, gy]))], crs="EPSG:4326")
        option = ["--crs", "gcj02"]
    elif crs == "EPSG:4490":
        data = base.set_crs("EPSG:4490", allow_override=True)  # declared in the file
        if suffix == ".geojson":  # GeoJSON cannot declare it reliably: use the override
            data = base
            option = ["--crs", "EPSG:4490"]
    else:
        data = base.to_crs(crs)
    path = _write(data, tmp_path / f"feeders{suffix}")
    result = cli("load", "feeders", str(path), *option)
    assert result.exit_code == 0, result.output
    got = _stored_feeder(cli, "F1")
    assert np.allclose(got, list(FEEDER_LINE.coords), atol=1e-6)


def test_reload_replaces_and_does_not_duplicate(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gdf = gpd.GeoDataFrame({"feeder_id": ["F1", "F2"], "name": ["a", "b"]},
                           geometry=[FEEDER_LINE, FEEDER_LINE], crs="EPSG:4326")
    path = _write(gdf, tmp_path / "f.geojson")
    first = cli("load", "feeders", str(path), "--format", "json")
    assert json.loads(first.output)["accepted"] == 2
    gdf["name"] = ["a2", "b2"]
    _write(gdf, path)
    second = cli("load", "feeders", str(path), "--format", "json")
    acct = json.loads(second.output)
    assert (acct["accepted"], acct["updated"]) == (0, 2)
    third = cli("load", "feeders", str(path), "--format", "json")  # the same file again
    acct = json.loads(third.output)
    assert (acct["accepted"], acct["updated"], acct["duplicates"]) == (0, 0, 2)
    with psycopg.connect(_libpq(cli.url)) as conn:
        rows = conn.execute("SELECT feeder_id, name FROM feeder ORDER BY 1").fetchall()
    assert rows == [("F1", "a2"), ("F2", "b2")]


def test_areas_reject_unknown_feeder_and_unrepairable_geometry(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    feeders = gpd.GeoDataFrame({"feeder_id": ["F1"]}, geometry=[FEEDER_LINE], crs="EPSG:4326")
    cli("load", "feeders", str(_write(feeders, tmp_path / "f.geojson")))
    bowtie = shapely.Polygon([(106.7, 26.5), (106.71, 26.51), (106.71, 26.5), (106.7, 26.51)])
    square = shapely.box(106.7, 26.5, 106.71, 26.51)
    line_poly = shapely.Polygon([(106.7, 26.5), (106.71, 26.5), (106.72, 26.5)])  # zero area
    areas = gpd.GeoDataFrame(
        {"area_id": ["A1", "A2", "A3", "A4"], "feeder_id": ["F1", "F9", "F1", "F1"],
         "customers": [10, 5, 7, 3]},
        geometry=[square, square, bowtie, line_poly], crs="EPSG:4326",
    )
    result = cli("load", "areas", str(_write(areas, tmp_path / "a.geojson")), "--format", "json")
    assert result.exit_code == 3
    acct = json.loads(result.output)
    assert acct["accepted"] == 2  # A1, and the bow-tie repaired into two triangles
    reasons = {r["line"]: (r["field"], r["reason"]) for r in acct["rejects"]}
    assert reasons[2][0] == "feeder_id" and "F9" in reasons[2][1]
    assert reasons[4][0] == "geometry"
    with psycopg.connect(_libpq(cli.url)) as conn:
        valid = conn.execute("SELECT bool_and(ST_IsValid(geom)) FROM area").fetchone()
    assert valid == (True,)


def test_user_errors_are_one_line_without_traceback(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [ {"type": ')
    good = _write(gpd.GeoDataFrame({"feeder_id": ["F1"]}, geometry=[FEEDER_LINE],
                                   crs="EPSG:4326"), tmp_path / "ok.geojson")
    cases = [
        (["load", "feeders", str(bad)], (1, 2)),
        (["load", "feeders", str(good), "--crs", "EPSG:999999"], (2,)),
        (["load", "feeders", str(good), "--crs", "marsdatum"], (2,)),
        (["load", "feeders", str(tmp_path / "missing.geojson")], (1, 2)),
    ]
    for args, codes in cases:
        result = cli(*args)
        assert result.exit_code in codes, (args, result.output)
        assert "Traceback" not in result.output
        lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
        assert len(lines) == 1, result.output


def test_meters_load_rejects_unknown_area(db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from spatial.loaders import load_meters
    from tests.builders import add_area

    add_feeder(db_session, "F1")
    add_area(db_session, "A1", "F1")
    csv = tmp_path / "meters.csv"
    csv.write_text("\ufeffmeter_id,area_id,lon,lat,extra\nM1,A1,106.7,26.5,x\nM2,A9,,,\nM3,A1,,,\n")
    acct = load_meters(session=db_session, path=csv)
    assert (acct.accepted, acct.rejected) == (2, 1)
    assert acct.rejects[0].line == 3 and acct.rejects[0].field == "area_id"
    assert acct.warnings  # the unknown column was reported once
    n = db_session.execute(text("SELECT count(*) FROM meter")).scalar()
    assert n == 2


def test_help_everywhere(cli) -> None:  # type: ignore[no-untyped-def]
    from gridwatch.cli import cli as root

    def walk(group, path):  # type: ignore[no-untyped-def]
        yield path
        for name, cmd in getattr(group, "commands", {}).items():
            yield from walk(cmd, [*path, name])

    for path in walk(root, []):
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage:" in result.output


def test_periods_are_local_calendar_and_bad_years_are_usage_errors() -> None:
    from datetime import UTC, datetime

    from core.clock import parse_period
    from core.errors import UsageError

    q2 = parse_period("2026Q2")
    assert q2.start == datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert q2.end == datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert parse_period("2026-12").end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    for bad in ("0000Q1", "9999", "2026-13", "26Q2"):
        with pytest.raises(UsageError):
            parse_period(bad)


@pytest.mark.skipif(os.geteuid() != 0, reason="the database user is only switched when root")
def test_cluster_moves_out_of_a_directory_the_database_user_cannot_reach() -> None:
    import shutil
    import tempfile

    from core.embedded import RELOCATED_ROOT, cluster
    from core.settings import Settings

    base = Path(tempfile.mkdtemp(prefix="gw-reach-", dir="/tmp"))  # pytest's tmp is root-only
    try:
        private = base / "private"
        private.mkdir(mode=0o700)
        hidden = cluster(Settings(data_dir=private / ".gridwatch"))
        assert hidden.pgdata.is_relative_to(RELOCATED_ROOT)
        private.chmod(0o755)
        base.chmod(0o755)
        visible = cluster(Settings(data_dir=private / ".gridwatch"))
        assert visible.pgdata == (private / ".gridwatch" / "pgdata").resolve()
    finally:
        shutil.rmtree(base)


def test_command_logs_show_a_failure_in_one_line_without_traceback() -> None:
    import logging
    import sys

    from core.logging import OneLineFormatter

    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "job failed", None,
                                   sys.exc_info())
    text = OneLineFormatter("%(levelname)s %(message)s").format(record)
    assert "Traceback" not in text
    assert text.splitlines() == ["ERROR job failed", "  (ZeroDivisionError: division by zero)"]
