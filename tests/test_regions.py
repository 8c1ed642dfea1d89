"""Regions (SPEC section 6): each asset's county by largest overlap, and its prefecture."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from spatial import tags
from tests.builders import add_area
from tests.test_tags import add_line, rect


def add_county(session: Session, adcode: str, name: str, ewkt: str) -> None:
    session.execute(
        text("INSERT INTO admin_division (adcode, name, level, parent_adcode, geom) "
             "VALUES (:a, :n, 'county', :p, ST_GeomFromEWKT(:g))"),
        {"a": adcode, "n": name, "p": adcode[:4] + "00", "g": ewkt},
    )


def regions(session: Session) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    rows = session.execute(
        text("SELECT asset_type, asset_id, county_adcode, prefecture_adcode FROM asset_region")
    ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_county_by_largest_overlap(db_session: Session) -> None:
    # Two counties side by side, split at 106.75; a third one far away.
    add_county(db_session, "520102", "南明区", rect(106.60, 26.40, 106.75, 26.70))
    add_county(db_session, "520302", "红花岗区", rect(106.75, 26.40, 106.90, 26.70))
    add_county(db_session, "522601", "凯里市", rect(107.90, 26.40, 108.10, 26.70))
    add_line(db_session, "F1", 106.70, 26.50, 106.80, 26.50)  # 50/50: tie goes to the smaller code
    add_line(db_session, "F2", 106.74, 26.55, 106.79, 26.55)  # 20 % west, 80 % east
    add_area(db_session, "A-west", "F1", lon=106.743, lat=26.50)  # 70 % west
    add_area(db_session, "A-east", "F1", lon=106.747, lat=26.50)  # 30 % west
    add_area(db_session, "A-out", "F1", lon=105.00, lat=26.50)  # outside every county

    tags.refresh(session=db_session, settings=Settings())
    got = regions(db_session)
    assert got[("area", "A-west")] == ("520102", "520100")
    assert got[("area", "A-east")] == ("520302", "520300")
    assert got[("area", "A-out")] == (None, None)
    assert got[("feeder", "F1")] == ("520102", "520100")
    assert got[("feeder", "F2")] == ("520302", "520300")


def test_regions_follow_a_moved_asset_and_new_counties(db_session: Session) -> None:
    add_county(db_session, "520102", "南明区", rect(106.60, 26.40, 106.75, 26.70))
    add_line(db_session, "F1", 106.70, 26.50, 106.72, 26.50)
    add_area(db_session, "A", "F1", lon=106.70, lat=26.50)
    tags.refresh(session=db_session, settings=Settings())
    assert regions(db_session)[("area", "A")] == ("520102", "520100")

    db_session.execute(text(
        "UPDATE area SET geom = ST_GeomFromEWKT(:g), updated_at = clock_timestamp() "
        "WHERE area_id = 'A'"), {"g": rect(107.95, 26.50, 107.96, 26.51)})
    tags.refresh(session=db_session, settings=Settings())
    assert regions(db_session)[("area", "A")] == (None, None)

    add_county(db_session, "522601", "凯里市", rect(107.90, 26.40, 108.10, 26.70))
    db_session.execute(text("UPDATE admin_division SET updated_at = clock_timestamp()"))
    tags.refresh(session=db_session, settings=Settings())
    assert regions(db_session)[("area", "A")] == ("522601", "522600")
    assert regions(db_session)[("feeder", "F1")] == ("520102", "520100")
