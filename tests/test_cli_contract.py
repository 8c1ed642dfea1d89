"""SPEC section 10 details: --out next to --format json everywhere, ISO 8601 times in JSON."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import shapely


def _grid(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gpd.GeoDataFrame({"feeder_id": ["F1"]}, geometry=[shapely.LineString([(106.7, 26.5), (106.8, 26.6)])],
                     crs="EPSG:4326").to_file(tmp_path / "f.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"area_id": ["A1"], "feeder_id": ["F1"], "customers": [10]},
                     geometry=[shapely.box(106.7, 26.5, 106.71, 26.51)], crs="EPSG:4326").to_file(
        tmp_path / "a.geojson", driver="GeoJSON")
    assert cli("load", "feeders", str(tmp_path / "f.geojson")).exit_code == 0
    assert cli("load", "areas", str(tmp_path / "a.geojson")).exit_code == 0


def test_ingest_accounting_goes_to_out_file_with_its_exit_status(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _grid(cli, tmp_path)
    (tmp_path / "o.csv").write_text(
        "outage_id,asset_type,asset_id,start_time,end_time,cause\n"
        "o1,area,A1,2026-05-01T08:00,2026-05-01T09:00,fault\n"
        "o2,area,A9,2026-05-01T08:00,2026-05-01T09:00,fault\n")
    out = tmp_path / "acc.json"
    result = cli("ingest", "outages", str(tmp_path / "o.csv"), "--format", "json", "--out", str(out))
    assert result.exit_code == 3
    assert result.output.strip() == ""
    acct = json.loads(out.read_text())
    assert (acct["accepted"], acct["rejected"]) == (1, 1)
    assert acct["rejects"][0]["line"] == 3 and acct["rejects"][0]["field"] == "asset_id"


def test_monitor_run_json_times_are_iso_8601(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _grid(cli, tmp_path)
    out = tmp_path / "run.json"
    result = cli("monitor", "run", "--as-of", "2026-06-30T12:00:00+08:00", "--format", "json",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    stamps = re.findall(r'"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[^"]*)"', text)
    assert stamps, text
    assert all("T" in s for s in stamps), stamps
    assert json.loads(text)["as_of"].startswith("2026-06-30T04:00:00")
