"""Reliability indices (SPEC section 9) against hand-worked cases; IEEE 1366 major event days."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.reliability.indices import indices
from monitoring.reliability.med import threshold
from monitoring.reports import reliability
from tests.builders import add_area, add_feeder, add_outage, square

SETTINGS = Settings()
NOW = datetime(2026, 11, 1, tzinfo=LOCAL_TZ)
MAY_HOURS = 31 * 24


def t(*args: int) -> datetime:
    """A local (Asia/Shanghai) time."""
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[arg-type,misc]


def place(session: Session, area: str, county: str) -> None:
    session.execute(text(
        "INSERT INTO asset_region (asset_type, asset_id, county_adcode, prefecture_adcode) "
        "VALUES ('area', :a, :c, '520100')"), {"a": area, "c": county})


def scenario(session: Session) -> None:
    g = "SRID=4326;MULTIPOLYGON(((106 26,107 26,107 27,106 27,106 26)))"
    session.execute(text(
        "INSERT INTO admin_division (adcode, name, level, parent_adcode, geom) VALUES "
        "('520000', '贵州省', 'province', NULL, ST_GeomFromEWKT(:g)), "
        "('520100', '贵阳市', 'prefecture', '520000', ST_GeomFromEWKT(:g)), "
        "('520111', '花溪区', 'county', '520100', ST_GeomFromEWKT(:g)), "
        "('520112', '乌当区', 'county', '520100', ST_GeomFromEWKT(:g))"), {"g": g})
    add_feeder(session, "F1")
    add_feeder(session, "F2")
    add_area(session, "A1", "F1", customers=100)
    add_area(session, "A2", "F1", customers=300)
    add_area(session, "A3", "F2", customers=600)
    add_area(session, "A4", "F2", customers=50, lon=106.9, lat=26.9)
    for a in ("A1", "A2", "A3"):
        place(session, a, "520111")
    place(session, "A4", "520112")
    add_outage(session, "f1", "feeder", "F1", t(2026, 5, 10, 10), t(2026, 5, 10, 12), "fault")
    add_outage(session, "a3p", "area", "A3", t(2026, 5, 20, 8), t(2026, 5, 20, 11), "planned")
    add_outage(session, "a1w", "area", "A1", t(2026, 5, 25), t(2026, 5, 25, 1), "weather")
    add_outage(session, "a2x", "area", "A2", t(2026, 5, 26), t(2026, 5, 26, 0, 30), "external")
    add_outage(session, "a3s", "area", "A3", t(2026, 5, 3), t(2026, 5, 3, 0, 2), "fault")  # short
    add_outage(session, "a1a", "area", "A1", t(2026, 5, 12, 10), t(2026, 5, 12, 11), "fault")
    add_outage(session, "a1b", "area", "A1", t(2026, 5, 12, 10, 30), t(2026, 5, 12, 12), "unknown")
    add_outage(session, "a3o", "area", "A3", t(2026, 5, 31, 23), None, "fault")  # still open
    add_outage(session, "a2s", "area", "A2", t(2026, 4, 30, 23), t(2026, 5, 1, 1), "fault")
    # A4: a fault and an overlapping weather outage: merged only when both causes count.
    add_outage(session, "a4f", "area", "A4", t(2026, 5, 5, 10), t(2026, 5, 5, 11), "fault")
    add_outage(session, "a4w", "area", "A4", t(2026, 5, 5, 10, 30), t(2026, 5, 5, 12), "weather")
    add_outage(session, "june", "area", "A4", t(2026, 6, 1), t(2026, 6, 1, 5), "fault")
    # The same fault on F1 recorded on A1 too, same start: still one interruption of A1.
    add_outage(session, "f1dup", "area", "A1", t(2026, 5, 10, 10), t(2026, 5, 10, 11), "fault")


def rows_by(session: Session, by: str, **kw: object) -> dict[tuple[str, str], dict]:
    report = reliability.build(session=session, settings=SETTINGS, period="2026-05", by=by,
                               now=NOW, **kw)  # type: ignore[arg-type]
    return {(r["region_id"], r["variant"]): r for r in report.rows}


def test_hand_worked_county_indices(db_session: Session) -> None:
    scenario(db_session)
    rows = rows_by(db_session, "county")
    c1 = rows[("520111", "all")]
    assert (c1["region_name"], c1["customers"], c1["interruptions"]) == ("花溪区", 1000, 8)
    assert c1["saifi"] == pytest.approx(2.4)
    assert c1["saidi"] == pytest.approx(3.95)
    assert c1["caidi"] == pytest.approx(3.95 / 2.4)
    assert c1["asai"] == pytest.approx(1 - 3.95 / MAY_HOURS)
    ne = rows[("520111", "no_external")]
    assert (ne["interruptions"], ne["saifi"], ne["saidi"]) == (6, pytest.approx(2.0), pytest.approx(3.7))
    npl = rows[("520111", "no_planned")]
    assert (npl["interruptions"], npl["saifi"], npl["saidi"]) == (
        7, pytest.approx(1.8), pytest.approx(2.15))
    assert set(rows) == {(c, v) for c in ("520111", "520112") for v in ("all", "no_external", "no_planned")}
    assert c1["period"] == "2026-05" and c1["basis"] == "customer" and c1["region_type"] == "county"


def test_variants_filter_before_merging_and_caifi_equals_saifi(db_session: Session) -> None:
    scenario(db_session)
    rows = rows_by(db_session, "county")
    everything, no_ext = rows[("520112", "all")], rows[("520112", "no_external")]
    # all: fault 10:00-11:00 and weather 10:30-12:00 merge into one 2 h interruption;
    # no_external: the weather outage is dropped first, leaving the 1 h fault.
    assert (everything["interruptions"], everything["saidi"]) == (1, pytest.approx(2.0))
    assert (no_ext["interruptions"], no_ext["saidi"]) == (1, pytest.approx(1.0))
    # Every customer of the county was interrupted exactly once: CAIFI (Σc ÷ customers
    # affected = 50 ÷ 50) equals SAIFI, and ASAI = 1 - SAIDI / hours.
    caifi = 50 / 50
    assert everything["saifi"] == pytest.approx(caifi)
    assert everything["caidi"] == pytest.approx(2.0)
    assert everything["asai"] == pytest.approx(1 - everything["saidi"] / MAY_HOURS)


def test_area_basis_prefecture_and_province(db_session: Session) -> None:
    scenario(db_session)
    c1 = rows_by(db_session, "county", basis="area")[("520111", "all")]
    assert c1["customers"] == 3 and c1["basis"] == "area"
    assert c1["saifi"] == pytest.approx(8 / 3)
    assert c1["saidi"] == pytest.approx((5 + 3.5 + 4) / 3)
    pref = rows_by(db_session, "prefecture")[("520100", "all")]
    prov = rows_by(db_session, "province")[("520000", "all")]
    for r in (pref, prov):
        assert r["customers"] == 1050
        assert r["saifi"] == pytest.approx((2400 + 50) / 1050)
        assert r["saidi"] == pytest.approx((3950 + 100) / 1050)
    assert prov["region_name"] == "贵州省"


def test_zone_rows_and_caidi_when_nothing_happened(db_session: Session) -> None:
    scenario(db_session)
    db_session.execute(text(
        "INSERT INTO overlay_feature (layer, feature_id, name, geom) VALUES "
        "('core_zone', 'gy-core', '贵阳核心区', ST_GeomFromEWKT(:g))"),
        {"g": square(106.89, 26.89, 0.05)})
    db_session.execute(text(
        "INSERT INTO asset_tag (asset_type, asset_id, layer, share, feature_ids) VALUES "
        "('area', 'A4', 'core_zone', 1.0, '{gy-core}'), ('area', 'A1', 'core_zone', 0.1, '{}')"))
    rows = rows_by(db_session, "zone")
    assert {k[0] for k in rows} == {"gy-core"}
    zone = rows[("gy-core", "all")]
    assert (zone["region_name"], zone["customers"], zone["saidi"]) == ("贵阳核心区", 50, pytest.approx(2.0))
    quiet = reliability.build(session=db_session, settings=SETTINGS, period="2026-03", by="zone", now=NOW)
    assert quiet.rows[0]["saifi"] == 0 and quiet.rows[0]["caidi"] is None
    assert quiet.rows[0]["asai"] == 1.0


@pytest.mark.parametrize(("hours", "rs1_percent"), [(3.37, 99.9615), (12.70, 99.855)])
def test_rs1_matches_published_pairs(db_session: Session, hours: float, rs1_percent: float) -> None:
    add_feeder(db_session, "F9")
    add_area(db_session, "Z1", "F9", customers=120)
    start = t(2026, 3, 1, 8)
    add_outage(db_session, "long", "area", "Z1", start, start + timedelta(hours=hours), "fault")
    report = reliability.build(session=db_session, settings=SETTINGS, period="2026", by="province",
                               now=NOW)
    row = next(r for r in report.rows if r["variant"] == "all")
    assert report.meta["hours"] == 8760
    assert row["saidi"] == pytest.approx(hours)
    assert round(row["asai"] * 100, 4) == pytest.approx(rs1_percent)
    assert indices(1.0, 0.0, hours, 8760)["asai"] == pytest.approx(row["asai"])


def test_ieee_med_threshold_and_exclusion(db_session: Session) -> None:
    add_feeder(db_session, "F9")
    add_area(db_session, "Z1", "F9", customers=100)
    # History: two days of 10 customer-minutes per customer, two of 100.
    for i, (day, minutes) in enumerate([((2024, 3, 1), 10), ((2024, 9, 1), 10), ((2025, 2, 1), 100),
                                        ((2025, 7, 1), 100)]):
        s = t(*day, 9)
        add_outage(db_session, f"h{i}", "area", "Z1", s, s + timedelta(minutes=minutes), "fault")
    # logs: ln10, ln10, ln100, ln100 -> α = 1.5 ln10, β (sample) = 0.5 ln10 · sqrt(4/3)
    expected = math.exp(1.5 * math.log(10) + 2.5 * 0.5 * math.log(10) * math.sqrt(4 / 3))
    assert threshold([10, 10, 100, 100, 0])[0] == pytest.approx(expected)
    assert 877 < expected < 879
    add_outage(db_session, "storm", "area", "Z1", t(2026, 5, 10, 6), t(2026, 5, 10, 21), "weather")
    add_outage(db_session, "fault", "area", "Z1", t(2026, 5, 20, 6), t(2026, 5, 20, 16), "fault")
    plain = rows_by(db_session, "province")[("province", "all")]
    assert plain["saidi"] == pytest.approx(25.0)
    report = reliability.build(session=db_session, settings=SETTINGS, period="2026-05",
                               by="province", exclude_med=True, now=NOW)
    assert report.meta["major_events"]["t_med_minutes"] == pytest.approx(expected)
    assert report.meta["major_events"]["major_event_days"] == ["2026-05-10"]
    row = next(r for r in report.rows if r["variant"] == "all")
    assert row["saidi"] == pytest.approx(10.0) and row["interruptions"] == 1
    assert row["t_med_minutes"] == pytest.approx(expected) and row["major_event_days"] == 1
    assert "t_med_minutes" in report.columns


def test_cli_reliability_rank_and_errors(cli) -> None:  # type: ignore[no-untyped-def]
    eng = create_engine(cli.url)
    with Session(eng) as s:
        scenario(s)
        s.commit()
    eng.dispose()
    r = cli("report", "reliability", "--period", "2026-05", "--by", "county", "--rank",
            "--format", "json")
    assert r.exit_code == 0, r.output
    rows = [x for x in json.loads(r.stdout) if x["variant"] == "all"]
    # 乌当 (SAIDI 2.0 h) is more reliable than 花溪 (3.95 h): it ranks first.
    assert [(x["region_id"], x["rank"]) for x in rows] == [("520112", 1), ("520111", 2)]
    assert set(rows[0]) >= {"region_type", "region_id", "region_name", "period", "basis", "variant",
                            "customers", "interruptions", "saifi", "saidi", "caidi", "asai"}
    table = cli("report", "reliability", "--period", "2026-05", "--by", "province", "--exclude-med")
    assert table.exit_code == 0 and "T_MED" in table.output
    bad = cli("report", "reliability", "--period", "2026-13", "--by", "county")
    assert bad.exit_code == 2 and "month" in bad.stderr
    assert cli("report", "reliability", "--period", "2026", "--by", "city").exit_code == 2
