"""Zero-perception rule (SPEC section 5) and its report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.reports.zero_perception import build
from monitoring.rules.zero_perception import evaluate, zone_rates
from tests.builders import add_area, add_feeder, add_outage, square

S = Settings()
P0 = datetime(2026, 5, 10, 1, 0, tzinfo=UTC)
P1 = P0 + timedelta(hours=4)
PERIOD = (datetime(2026, 4, 30, 16, 0, tzinfo=UTC), datetime(2026, 5, 31, 16, 0, tzinfo=UTC))


def _work(s: Session, work_id: str, asset_type: str, asset_id: str,
          start: datetime = P0, end: datetime = P1) -> None:
    s.execute(text("INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, "
                   "planned_end, method) VALUES (:w, :t, :a, :s, :e, 'live_line')"),
              {"w": work_id, "t": asset_type, "a": asset_id, "s": start, "e": end})


def _tag(s: Session, area: str, zone: str = "Z1", share: float = 1.0) -> None:
    s.execute(text("INSERT INTO asset_tag (asset_type, asset_id, layer, share, feature_ids, "
                   "feature_names) VALUES ('area', :a, 'core_zone', :sh, ARRAY[:z], ARRAY[:z])"),
              {"a": area, "sh": share, "z": zone})


@pytest.fixture
def grid(db_session: Session) -> Session:
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "C1", "F1", customers=100)
    add_area(s, "C2", "F1", customers=50)
    add_area(s, "N1", "F1", customers=70)  # not in a core zone
    add_feeder(s, "F2")
    add_area(s, "C3", "F2", customers=10)
    add_area(s, "N2", "F2", customers=10)
    _tag(s, "C1")
    _tag(s, "C2", "Z2")
    _tag(s, "C3")
    _tag(s, "N1", share=0.49)
    for zone in ("Z1", "Z2"):
        s.execute(text("INSERT INTO overlay_feature (layer, feature_id, name, geom) VALUES "
                       "('core_zone', :z, :n, ST_GeomFromEWKT(:g))"),
                  {"z": zone, "n": f"zone {zone}", "g": square(106.0, 26.0)})
    return s


def _by_id(s: Session) -> dict[str, dict]:
    return {r["work_id"]: r for r in evaluate(session=s, settings=S, start=PERIOD[0],
                                              end=PERIOD[1])}


def test_scope_core_zone_areas_only(grid: Session) -> None:
    _work(grid, "W-area-core", "area", "C1")
    _work(grid, "W-area-plain", "area", "N1")  # share 0.49 < 0.5: not core
    _work(grid, "W-feeder", "feeder", "F2")
    _work(grid, "W-outside", "area", "C1", P0 + timedelta(days=60), P1 + timedelta(days=60))
    works = _by_id(grid)
    assert set(works) == {"W-area-core", "W-feeder"}
    assert not any(w["miss"] for w in works.values())
    assert works["W-feeder"]["areas"] == [] and works["W-feeder"]["customers_affected"] == 0


def test_two_minute_blip_is_a_miss(grid: Session) -> None:
    _work(grid, "W1", "feeder", "F1")
    add_outage(grid, "blip", "area", "C2", P0 + timedelta(hours=1),
               P0 + timedelta(hours=1, minutes=2), cause="fault")
    w = _by_id(grid)["W1"]
    assert w["miss"] is True
    assert w["areas"] == ["C2"]
    assert w["customers_affected"] == 50
    assert w["customer_minutes"] == pytest.approx(100.0)


def test_record_with_work_id_outside_window_is_a_miss(grid: Session) -> None:
    _work(grid, "W2", "area", "C1")
    later = P1 + timedelta(days=2)
    add_outage(grid, "late", "feeder", "F1", later, later + timedelta(minutes=30),
               cause="planned", work_id="W2")
    w = _by_id(grid)["W2"]
    assert (w["miss"], w["areas"], w["customers_affected"]) == (True, ["C1"], 100)
    assert w["customer_minutes"] == pytest.approx(3000.0)


@pytest.mark.parametrize("cause,miss", [("weather", False), ("external", False),
                                        ("customer", True), ("planned", True)])
def test_causes(grid: Session, cause: str, miss: bool) -> None:
    _work(grid, "W3", "area", "C1")
    add_outage(grid, "o", "area", "C1", P0 - timedelta(hours=1), P0, cause=cause)  # touches
    assert _by_id(grid)["W3"]["miss"] is miss


def test_interruption_of_a_non_core_area_is_not_a_miss(grid: Session) -> None:
    _work(grid, "W4", "feeder", "F2")
    add_outage(grid, "n", "area", "N2", P0, P1)
    assert _by_id(grid)["W4"]["miss"] is False


def test_unexplained_inferred_interval_is_a_miss(grid: Session) -> None:
    _work(grid, "W5", "area", "C3")
    grid.execute(text("INSERT INTO inferred_interruption VALUES ('C3', :s, :e, 1, 2)"),
                 {"s": P0 + timedelta(minutes=5), "e": P0 + timedelta(minutes=6)})
    w = _by_id(grid)["W5"]
    assert (w["miss"], w["customer_minutes"]) == (True, pytest.approx(10.0))


def test_open_interruption_is_measured_to_the_as_of(grid: Session) -> None:
    _work(grid, "W6", "area", "C1")
    add_outage(grid, "open", "area", "C1", P0, None)
    rows = evaluate(session=grid, settings=S, start=PERIOD[0], end=PERIOD[1],
                    as_of=P0 + timedelta(minutes=90))
    assert rows[0]["customer_minutes"] == pytest.approx(100 * 90.0)


def test_zone_rates_and_report(grid: Session) -> None:
    _work(grid, "W7", "feeder", "F1")  # covers C1 (Z1) and C2 (Z2)
    _work(grid, "W8", "area", "C3")  # Z1
    add_outage(grid, "x", "area", "C2", P0, P0 + timedelta(minutes=10))
    zones = {z["zone_id"]: z for z in zone_rates(session=grid, settings=S, start=PERIOD[0],
                                                 end=PERIOD[1])}
    assert (zones["Z1"]["works"], zones["Z1"]["misses"], zones["Z1"]["rate"]) == (2, 0, 1.0)
    assert (zones["Z2"]["works"], zones["Z2"]["misses"], zones["Z2"]["rate"]) == (1, 1, 0.0)
    report = build(session=grid, settings=S, start=PERIOD[0], end=PERIOD[1])
    assert report.columns == ["work_id", "asset_type", "asset_id", "miss", "areas",
                              "customers_affected", "customer_minutes"]
    assert [(r["work_id"], r["miss"]) for r in report.rows] == [("W7", True), ("W8", False)]
    assert report.meta["rate"] == 0.5
    by_zone = build(session=grid, settings=S, start=PERIOD[0], end=PERIOD[1], by="zone")
    assert by_zone.columns == ["zone_id", "zone_name", "works", "misses", "rate"]
