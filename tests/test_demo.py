"""``gridwatch demo --scale county``: a real-Guizhou dataset, loaded and monitored once."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from spatial.demo import generate

ANCHOR = "2026-11-01T00:00:00+08:00"


def test_demo_loads_assets_overlays_tags_regions_and_streams(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(tmp_path))
    res = cli("demo", "--scale", "county", "--seed", "7", "--anchor", ANCHOR)
    assert res.exit_code == 0, res.output
    assert "keys create --role planner" in res.output
    assert "http://127.0.0.1:8000/login" in res.output and "/maps/" in res.output
    assert (tmp_path / "demo" / "county-7" / "manifest.json").exists()

    engine = create_engine(cli.url)
    try:
        with engine.connect() as c:
            def one(sql: str) -> int:
                return int(c.execute(text(sql)).scalar_one())

            assert one("SELECT count(*) FROM admin_division") == 98
            assert 250 <= one("SELECT count(*) FROM area") <= 600
            assert one("SELECT count(*) FROM feeder") >= 15
            assert one("SELECT count(*) FROM meter") >= 10_000
            layers = c.execute(text("SELECT DISTINCT layer FROM overlay_feature")).scalars().all()
            assert set(layers) == {"weak_supply_village", "ethnic_minority_area", "old_compound",
                                   "core_zone"}
            # Every layer tags some area; every asset has its county.
            tagged = c.execute(text(
                "SELECT DISTINCT layer FROM asset_tag WHERE share >= 0.5 AND asset_type = 'area'"
            )).scalars().all()
            assert set(tagged) == set(layers)
            assert one("SELECT count(*) FROM asset_region WHERE county_adcode IS NULL") == 0
            assert one("SELECT count(*) FROM asset_region") == one(
                "SELECT (SELECT count(*) FROM area) + (SELECT count(*) FROM feeder)")
            # Urban Guiyang areas are in the core zone; Sandu is ethnic-minority.
            assert one("SELECT count(*) FROM asset_tag t JOIN asset_region r USING (asset_type, asset_id) "
                       "WHERE t.layer = 'core_zone' AND r.county_adcode IN ('520102', '520103')") > 20
            assert one("SELECT count(*) FROM asset_tag t JOIN asset_region r USING (asset_type, asset_id) "
                       "WHERE t.layer = 'ethnic_minority_area' AND t.share >= 0.5 "
                       "AND r.county_adcode = '522732'") > 0
            # Streams: the cause mix, core-zone works and misses, meter events, inferred outages.
            causes = set(c.execute(text("SELECT DISTINCT cause FROM outage_record")).scalars())
            assert {"fault", "weather", "external", "planned"} <= causes
            assert one("SELECT count(*) FROM maintenance_work "
                       "WHERE method IN ('live_line', 'load_transfer')") > 0
            assert one("SELECT count(*) FROM outage_record o JOIN maintenance_work w USING (work_id) "
                       "WHERE w.method <> 'outage'") > 0
            assert one("SELECT count(*) FROM meter_event") > 10_000
            last = c.execute(text("SELECT max(start_time) FROM outage_record")).scalar_one()
            assert last <= datetime(2026, 10, 31, 16, tzinfo=UTC)
            assert one("SELECT count(*) FROM asset_status WHERE status = 'frequent'") >= 3
    finally:
        engine.dispose()

    _planning_findings(cli.url)
    _connection_times(cli.url)
    _hosting_grades(cli.url)

    rows = json.loads(cli("report", "tags", "--format", "json").output)
    assert {r["layer"] for r in rows} >= {"core_zone", "ethnic_minority_area"}
    assert all(r["share"] >= 0.5 for r in rows)


def _planning_findings(url: str) -> None:
    """The demo's planning inputs (SPEC section 14) make every kind of finding the rules know."""
    from sqlalchemy.orm import Session

    from core.settings import Settings
    from monitoring.planning import arrears, merge_candidates, repeat_planned

    anchor = datetime.fromisoformat(ANCHOR)
    settings = Settings(database_url=url)
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            found = repeat_planned.findings(session=s, settings=settings, start=anchor - timedelta(days=60),
                                            end=anchor + timedelta(days=90))
            kinds = {(r["first_kind"], r["second_kind"]) for r in found}
            assert {("outage", "work"), ("work", "work")} <= kinds, kinds
            assert any(r["first_ref"].startswith("OT-P") for r in found)
            pairs = merge_candidates.pairs(session=s, settings=settings)
            assert any(all(w.startswith("WK-P") for w in p["work_ids"]) for p in pairs)
            reports = arrears.prereports(session=s, settings=settings, start=anchor - timedelta(days=40),
                                         end=anchor + timedelta(days=40), as_of=anchor)
            statuses = {r["status"] for r in reports}
            assert {"due", "late", "ok"} <= statuses, statuses
            assert all(r["compound_id"] and r["compound_id"].startswith("OC-")
                       for r in reports if r["status"] == "due")
            assert not any(r["households"] == 40 for r in reports)     # the safety one adds nothing
    finally:
        engine.dispose()


def _hosting_grades(url: str) -> None:
    """The demo's PV inputs (SPEC section 15): the current quarter is computed; transformers are
    of the common series; the rural counties (Kaili, Sandu) are mostly yellow and red, the towns
    mostly green; some areas have no load (unassessed)."""
    from monitoring.hosting.capacity import current_quarter

    quarter = current_quarter(datetime.now(UTC)).label
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            sizes = set(c.execute(text("SELECT DISTINCT capacity_kva FROM area")).scalars())
            assert sizes == {100, 200, 315, 400, 630}, sizes
            grades = {(county, grade): n for county, grade, n in c.execute(text(
                "SELECT county_adcode, grade, count(*) FROM hosting_area WHERE quarter = :q "
                "GROUP BY 1, 2"), {"q": quarter})}
            assert grades, "the demo computed no hosting capacity for the current quarter"
            for county in ("522601", "522732"):
                total = sum(n for (c_, _), n in grades.items() if c_ == county)
                assert grades.get((county, "yellow"), 0) + grades.get((county, "red"), 0) > total / 2
                assert grades.get((county, "red"), 0) > 0
            assert grades.get(("520102", "green"), 0) > 40
            assert sum(n for (_, g), n in grades.items() if g == "unassessed") > 0
            assert int(c.execute(text("SELECT count(*) FROM hosting_feeder WHERE quarter = :q AND "
                                      "grade = 'red'"), {"q": quarter}).scalar_one()) > 0
    finally:
        engine.dispose()


def _connection_times(url: str) -> None:
    """The demo's applications (SPEC section 16): a year of every class and several counties,
    ok, at-risk and over-limit ones at the anchor, and a current ledger with carried-over rows
    after twelve months filed."""
    from sqlalchemy.orm import Session

    from core.settings import Settings
    from monitoring.connections import filing, times

    anchor = datetime.fromisoformat(ANCHOR)
    noon = anchor + timedelta(hours=12)
    settings = Settings(database_url=url)
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            counts = s.execute(text(
                "SELECT count(*), count(DISTINCT customer_class), count(DISTINCT area_id), "
                "min(booked_at), max(booked_at) FROM application")).one()
            assert counts[0] > 500 and counts[1] == 5 and counts[2] > 100, counts
            assert anchor - timedelta(days=366) <= counts[3] and counts[4] < anchor
            rows = times.applications(session=s, settings=settings, start=anchor - timedelta(days=400),
                                      end=anchor, as_of=noon)
            statuses = {(r["status"], r["energized_at"] is None) for r in rows}
            assert {("ok", False), ("over_limit", False), ("at_risk", True), ("over_limit", True)} <= statuses
            at_risk = times.open_applications(session=s, settings=settings, as_of=noon,
                                              statuses=("at_risk",))
            assert len(at_risk) >= 3
            ledger = filing.ledger(session=s, settings=settings, month="2026-11", as_of=noon)
            carried = [r for r in ledger["rows"] if r["carried_over"]]
            assert len(carried) >= 3 and any(not r["carried_over"] for r in ledger["rows"])
            assert all(not r["filed"] for r in ledger["rows"])
            filed = s.execute(text(
                "SELECT count(*), count(DISTINCT f.month), min(f.filed_by) "
                "FROM upgrade_filing_item i JOIN upgrade_filing f USING (filing_id)")).one()
            assert filed[0] > 10 and filed[1] >= 6 and filed[2] == "demo", filed
            late = s.execute(text("SELECT count(*) FROM application WHERE needs_upgrade "
                                  "AND app_id = ANY(:ids)"), {"ids": [r["app_id"] for r in carried]})
            assert late.scalar_one() == len(carried)
    finally:
        engine.dispose()


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def test_demo_files_are_deterministic_for_seed_and_anchor(tmp_path: Path) -> None:
    anchor = datetime.fromisoformat(ANCHOR)
    generate(out_dir=tmp_path / "a", scale="county", seed=3, anchor=anchor)
    generate(out_dir=tmp_path / "b", scale="county", seed=3, anchor=anchor)
    generate(out_dir=tmp_path / "c", scale="county", seed=4, anchor=anchor)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["areas.geojson"] != _digest(tmp_path / "c")["areas.geojson"]


def test_demo_rejects_an_unknown_scale_and_a_bad_anchor(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("demo", "--scale", "planet").exit_code == 2
    res = cli("demo", "--anchor", "yesterday-ish")
    assert res.exit_code == 2 and "Traceback" not in res.output
