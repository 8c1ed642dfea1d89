"""Tags (SPEC section 6): shares inside overlay layers, on the ellipsoid, and the tags report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from spatial import tags
from tests.builders import add_area, add_feeder


def rect(x1: float, y1: float, x2: float, y2: float) -> str:
    return f"SRID=4326;MULTIPOLYGON((({x1} {y1},{x2} {y1},{x2} {y2},{x1} {y2},{x1} {y1})))"


def add_overlay(session: Session, layer: str, fid: str, name: str, ewkt: str) -> None:
    session.execute(
        text("INSERT INTO overlay_feature (layer, feature_id, name, geom) "
             "VALUES (:l, :f, :n, ST_GeomFromEWKT(:g))"),
        {"l": layer, "f": fid, "n": name, "g": ewkt},
    )


def add_line(session: Session, feeder_id: str, x1: float, y1: float, x2: float, y2: float) -> None:
    session.execute(
        text("INSERT INTO feeder (feeder_id, name, geom) VALUES (:f, :f, ST_GeomFromEWKT(:g))"),
        {"f": feeder_id, "g": f"SRID=4326;MULTILINESTRING(({x1} {y1},{x2} {y2}))"},
    )


def tag_rows(session: Session) -> dict[tuple[str, str, str], tuple[float, list[str], list[str]]]:
    rows = session.execute(
        text("SELECT asset_type, asset_id, layer, share, feature_ids, feature_names FROM asset_tag")
    ).all()
    return {(r[0], r[1], r[2]): (r[3], list(r[4]), list(r[5])) for r in rows}


@pytest.fixture
def settings() -> Settings:
    return Settings(tag_min_share=0.5)


def test_area_shares_match_known_geometry(db_session: Session, settings: Settings) -> None:
    add_feeder(db_session, "F1")
    # 0.01° squares; overlays cut them along meridians, so the true share is the lon fraction.
    add_area(db_session, "A30", "F1", lon=106.70, lat=26.50)
    add_area(db_session, "A50", "F1", lon=106.72, lat=26.50)
    add_area(db_session, "A80", "F1", lon=106.74, lat=26.50)
    add_area(db_session, "A00", "F1", lon=106.76, lat=26.50)
    add_overlay(db_session, "weak_supply_village", "w1", "甲村", rect(106.69, 26.49, 106.703, 26.52))
    add_overlay(db_session, "old_compound", "o1", "老院子", rect(106.70, 26.49, 106.725, 26.52))
    add_overlay(db_session, "core_zone", "c1", "核心区", rect(106.742, 26.49, 106.76, 26.52))
    # Touches A00 only along its west edge: no tag, not even a zero one.
    add_overlay(db_session, "ethnic_minority_area", "e1", "边界", rect(106.75, 26.49, 106.76, 26.52))

    tags.refresh(session=db_session, settings=settings)
    got = tag_rows(db_session)

    assert got[("area", "A30", "weak_supply_village")][0] == pytest.approx(0.3, abs=1e-5)
    assert got[("area", "A50", "old_compound")][0] == 0.5
    assert got[("area", "A80", "core_zone")][0] == pytest.approx(0.8, abs=1e-5)
    assert got[("area", "A80", "core_zone")][2] == ["核心区"]
    assert ("area", "A00", "ethnic_minority_area") not in got
    assert ("area", "A00", "core_zone") not in got
    # old_compound o1 also covers all of A30 (x 106.70..106.71 inside 106.70..106.725).
    assert got[("area", "A30", "old_compound")][0] == 1.0


def test_overlapping_features_count_once_and_names_are_kept(
    db_session: Session, settings: Settings
) -> None:
    add_feeder(db_session, "F1")
    add_area(db_session, "A", "F1", lon=106.70, lat=26.50)
    # Two features of one layer over the same west half: the union is still half.
    add_overlay(db_session, "core_zone", "z1", "观山湖核心区", rect(106.69, 26.49, 106.705, 26.52))
    add_overlay(db_session, "core_zone", "z2", "南明核心区", rect(106.695, 26.49, 106.705, 26.52))
    tags.refresh(session=db_session, settings=settings)
    share, ids, names = tag_rows(db_session)[("area", "A", "core_zone")]
    assert share == 0.5
    assert sorted(ids) == ["z1", "z2"]
    assert sorted(names) == ["南明核心区", "观山湖核心区"]


def test_feeder_length_shares(db_session: Session, settings: Settings) -> None:
    # East-west lines of 0.05°, cut by meridians at 30 %, 50 % and 80 % of their length.
    add_line(db_session, "L30", 106.80, 26.60, 106.85, 26.60)
    add_line(db_session, "L50", 106.80, 26.62, 106.85, 26.62)
    add_line(db_session, "L80", 106.80, 26.64, 106.85, 26.64)
    add_overlay(db_session, "weak_supply_village", "w", "村", rect(106.79, 26.59, 106.815, 26.61))
    add_overlay(db_session, "old_compound", "o", "院", rect(106.825, 26.61, 106.86, 26.63))
    add_overlay(db_session, "core_zone", "c", "区", rect(106.79, 26.63, 106.84, 26.65))
    tags.refresh(session=db_session, settings=settings)
    got = tag_rows(db_session)
    assert got[("feeder", "L30", "weak_supply_village")][0] == pytest.approx(0.3, abs=1e-5)
    assert got[("feeder", "L50", "old_compound")][0] == pytest.approx(0.5, abs=1e-6)
    assert got[("feeder", "L80", "core_zone")][0] == pytest.approx(0.8, abs=1e-5)


def test_refresh_follows_changes_of_assets_and_overlays(
    db_session: Session, settings: Settings
) -> None:
    add_feeder(db_session, "F1")
    add_area(db_session, "A", "F1", lon=106.70, lat=26.50)
    add_overlay(db_session, "core_zone", "z", "核心区", rect(106.69, 26.49, 106.703, 26.52))
    tags.refresh(session=db_session, settings=settings)
    assert tag_rows(db_session)[("area", "A", "core_zone")][0] == pytest.approx(0.3, abs=1e-5)
    # The overlay grows to cover 80 %.
    db_session.execute(text(
        "UPDATE overlay_feature SET geom = ST_GeomFromEWKT(:g), updated_at = clock_timestamp()"
    ), {"g": rect(106.69, 26.49, 106.708, 26.52)})
    tags.refresh(session=db_session, settings=settings)
    assert tag_rows(db_session)[("area", "A", "core_zone")][0] == pytest.approx(0.8, abs=1e-5)
    # The area moves away from the zone.
    db_session.execute(text(
        "UPDATE area SET geom = ST_GeomFromEWKT(:g), updated_at = clock_timestamp() "
        "WHERE area_id = 'A'"
    ), {"g": rect(106.90, 26.50, 106.91, 26.51)})
    tags.refresh(session=db_session, settings=settings)
    assert ("area", "A", "core_zone") not in tag_rows(db_session)


def _features(*feats: tuple[dict[str, object], str, list[list[float]]]) -> str:
    out = []
    for props, kind, coords in feats:
        geom = ({"type": "Polygon", "coordinates": [coords]} if kind == "polygon"
                else {"type": "LineString", "coordinates": coords})
        out.append({"type": "Feature", "properties": props, "geometry": geom})
    return json.dumps({"type": "FeatureCollection", "features": out}, ensure_ascii=False)


def _box(x1: float, y1: float, x2: float, y2: float) -> list[list[float]]:
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]


def test_cli_tags_report_threshold_and_overlay_reload(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feeders = tmp_path / "feeders.geojson"
    feeders.write_text(_features(
        ({"feeder_id": "F1"}, "line", [[106.70, 26.50], [106.75, 26.50]]),
    ))
    areas = tmp_path / "areas.geojson"
    areas.write_text(_features(
        ({"area_id": "HALF", "feeder_id": "F1", "customers": 10}, "polygon",
         _box(106.70, 26.50, 106.71, 26.51)),
        ({"area_id": "LESS", "feeder_id": "F1", "customers": 10}, "polygon",
         _box(106.72, 26.50, 106.73, 26.51)),
    ))
    zone = tmp_path / "zone.geojson"
    # Covers exactly the west half of HALF and 49 % of LESS.
    zone.write_text(_features(
        ({"id": "z1", "name": "贵阳核心区"}, "polygon", _box(106.69, 26.49, 106.705, 26.52)),
        ({"id": "z2", "name": "遵义核心区"}, "polygon", _box(106.715, 26.49, 106.7249, 26.52)),
    ), encoding="utf-8")
    assert cli("load", "feeders", str(feeders)).exit_code == 0
    assert cli("load", "areas", str(areas)).exit_code == 0
    assert cli("load", "overlay", "core_zone", str(zone)).exit_code == 0

    res = cli("report", "tags", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["asset_type"], r["asset_id"], r["layer"]) for r in rows] == [
        ("area", "HALF", "core_zone")
    ]
    assert rows[0]["share"] == 0.5 and rows[0]["names"] == ["贵阳核心区"]

    # Reloading the layer replaces it: now LESS is 80 % inside and HALF is outside.
    zone.write_text(_features(
        ({"id": "z2", "name": "遵义核心区"}, "polygon", _box(106.715, 26.49, 106.728, 26.52)),
    ), encoding="utf-8")
    assert cli("load", "overlay", "core_zone", str(zone)).exit_code == 0
    rows = json.loads(cli("report", "tags", "--format", "json").output)
    assert [(r["asset_id"], r["share"]) for r in rows] == [("LESS", pytest.approx(0.8, abs=1e-5))]

    csv_out = tmp_path / "tags.csv"
    assert cli("report", "tags", "--format", "csv", "--out", str(csv_out)).exit_code == 0
    raw = csv_out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0]["asset_id"] == "LESS" and table[0]["names"] == "遵义核心区"

    xlsx_out = tmp_path / "tags.xlsx"
    assert cli("report", "tags", "--format", "xlsx", "--out", str(xlsx_out)).exit_code == 0
    sheet = load_workbook(xlsx_out).active
    assert sheet is not None
    values = list(sheet.values)
    assert values[0][:5] == ("asset_type", "asset_id", "layer", "share", "names")
    assert values[1][1] == "LESS"
