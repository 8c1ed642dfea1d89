"""Frequent-outage rule (SPEC sections 3 and 4): every boundary, against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.rules.counted import counted_interruptions
from monitoring.rules.frequent_outage import evaluate
from tests.builders import add_area, add_feeder, add_outage

T = datetime(2026, 6, 30, 0, 0, tzinfo=UTC)
S = Settings()


def _status(session: Session, asset_id: str, as_of: datetime = T) -> dict:
    rows = {r["asset_id"]: r for r in evaluate(session=session, settings=S, as_of=as_of)}
    return rows[asset_id]


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_area(db_session, "A1", "F1")
    add_area(db_session, "A2", "F1")
    add_feeder(db_session, "F2")
    add_area(db_session, "B1", "F2")
    return db_session


def _outages(s: Session, asset: str, starts: list[datetime], kind: str = "area",
             minutes: float = 30, cause: str = "fault", prefix: str = "o") -> None:
    for i, st in enumerate(starts):
        add_outage(s, f"{prefix}-{asset}-{i}", kind, asset, st, st + timedelta(minutes=minutes), cause)


def test_every_asset_appears_ok_with_zeros(grid: Session) -> None:
    rows = evaluate(session=grid, settings=S, as_of=T)
    assert [(r["asset_type"], r["asset_id"]) for r in rows] == [
        ("area", "A1"), ("area", "A2"), ("area", "B1"), ("feeder", "F1"), ("feeder", "F2")]
    assert all(r["count_365"] == 0 and r["max_60"] == 0 and r["status"] == "ok" for r in rows)


def test_five_in_a_year_is_at_risk_six_is_frequent(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=10 + 50 * i) for i in range(5)])
    _outages(grid, "B1", [T - timedelta(days=10 + 50 * i) for i in range(6)])
    a1, b1 = _status(grid, "A1"), _status(grid, "B1")
    assert (a1["count_365"], a1["max_60"], a1["status"]) == (5, 2, "at_risk")
    assert (b1["count_365"], b1["max_60"], b1["status"]) == (6, 2, "frequent")


def test_four_is_ok(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=10 + 70 * i) for i in range(4)])
    assert _status(grid, "A1")["status"] == "ok"


def test_window_is_half_open_starts_exactly_60_days_apart(grid: Session) -> None:
    d0 = T - timedelta(days=200)
    _outages(grid, "A1", [d0, d0 + timedelta(days=20), d0 + timedelta(days=40), d0 + timedelta(days=60)])
    _outages(grid, "B1", [d0, d0 + timedelta(days=20), d0 + timedelta(days=40),
                          d0 + timedelta(days=60) - timedelta(seconds=1)])
    a1, b1 = _status(grid, "A1"), _status(grid, "B1")
    assert (a1["count_365"], a1["max_60"], a1["status"]) == (4, 3, "at_risk")
    assert (b1["count_365"], b1["max_60"], b1["status"]) == (4, 4, "frequent")


def test_year_lower_bound_is_excluded(grid: Session) -> None:
    year_ago = T - timedelta(days=365)
    _outages(grid, "A1", [year_ago] + [T - timedelta(days=10 + 70 * i) for i in range(4)])
    _outages(grid, "B1", [year_ago + timedelta(seconds=1)] + [T - timedelta(days=10 + 70 * i)
                                                             for i in range(4)])
    assert _status(grid, "A1")["count_365"] == 4
    assert _status(grid, "A1")["status"] == "ok"
    assert _status(grid, "B1")["count_365"] == 5
    assert _status(grid, "B1")["status"] == "at_risk"


def test_as_of_upper_bound_is_included_and_later_starts_do_not_exist(grid: Session) -> None:
    _outages(grid, "A1", [T, T + timedelta(seconds=1)])
    assert _status(grid, "A1")["count_365"] == 1


@pytest.mark.parametrize("cause", ["weather", "external", "customer"])
def test_excluded_causes(grid: Session, cause: str) -> None:
    _outages(grid, "A1", [T - timedelta(days=5 * i + 1) for i in range(8)], cause=cause)
    _outages(grid, "F1", [T - timedelta(days=5 * i + 1) for i in range(8)], kind="feeder",
             cause=cause, prefix="f")
    for asset in ("A1", "F1"):
        r = _status(grid, asset)
        assert (r["count_365"], r["max_60"], r["status"]) == (0, 0, "ok")


@pytest.mark.parametrize("cause", ["fault", "planned", "unknown"])
def test_counted_causes(grid: Session, cause: str) -> None:
    _outages(grid, "A1", [T - timedelta(days=5 * i + 1) for i in range(4)], cause=cause)
    assert _status(grid, "A1")["max_60"] == 4


def test_exactly_three_minutes_is_short(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=d) for d in (1, 11, 21)], minutes=3)
    _outages(grid, "B1", [T - timedelta(days=d) for d in (1, 11, 21)], minutes=3 + 1 / 60)
    assert _status(grid, "A1")["count_365"] == 0
    assert _status(grid, "B1")["count_365"] == 3
    assert _status(grid, "B1")["status"] == "at_risk"


def test_open_outage_counts_and_end_after_as_of_is_ongoing(grid: Session) -> None:
    add_outage(grid, "open", "area", "A1", T - timedelta(days=2), None)
    # a blip that ends 1 minute after T is, at T, an ongoing interruption: it counts
    add_outage(grid, "blip", "area", "B1", T - timedelta(minutes=1), T + timedelta(minutes=1))
    assert _status(grid, "A1")["count_365"] == 1
    assert _status(grid, "B1")["count_365"] == 1
    assert _status(grid, "B1", T + timedelta(minutes=5))["count_365"] == 0
    rows = counted_interruptions(session=grid, settings=S, as_of=T, asset_type="area")
    assert {r["asset_id"]: r["end_time"] for r in rows} == {"A1": None, "B1": None}


def test_touching_merge_and_gap_does_not(grid: Session) -> None:
    a = T - timedelta(days=30)
    add_outage(grid, "t1", "area", "A1", a, a + timedelta(hours=1))
    add_outage(grid, "t2", "area", "A1", a + timedelta(hours=1), a + timedelta(hours=2))
    add_outage(grid, "g1", "area", "B1", a, a + timedelta(hours=1))
    add_outage(grid, "g2", "area", "B1", a + timedelta(hours=1, seconds=1), a + timedelta(hours=2))
    assert _status(grid, "A1")["count_365"] == 1
    assert _status(grid, "B1")["count_365"] == 2
    merged = counted_interruptions(session=grid, settings=S, as_of=T, asset_type="area")
    a1 = [m for m in merged if m["asset_id"] == "A1"]
    assert a1 == [{"asset_type": "area", "asset_id": "A1", "start_time": a,
                   "end_time": a + timedelta(hours=2), "parts": 2}]


def test_feeder_outage_overlapping_area_record_is_one_interruption(grid: Session) -> None:
    a = T - timedelta(days=3)
    add_outage(grid, "fo", "feeder", "F1", a, a + timedelta(hours=2))
    add_outage(grid, "ao", "area", "A1", a + timedelta(hours=1), a + timedelta(hours=3))
    assert _status(grid, "A1")["count_365"] == 1
    assert _status(grid, "A2")["count_365"] == 1  # the feeder outage interrupts every area on it
    assert _status(grid, "F1")["count_365"] == 1
    assert _status(grid, "B1")["count_365"] == 0
    merged = counted_interruptions(session=grid, settings=S, as_of=T, asset_type="area")
    assert [(m["asset_id"], m["start_time"], m["end_time"]) for m in merged
            if m["asset_id"] == "A1"] == [("A1", a, a + timedelta(hours=3))]


def test_feeder_counts_only_its_own_records(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=5 * i + 1) for i in range(6)])
    assert _status(grid, "F1")["count_365"] == 0
    assert _status(grid, "A1")["status"] == "frequent"


def _inferred(s: Session, area: str, start: datetime, end: datetime | None, off: int = 2,
              total: int = 4) -> None:
    s.execute(text("INSERT INTO inferred_interruption (area_id, start_time, end_time, meters_off, "
                   "meters_total) VALUES (:a, :s, :e, :o, :t)"),
              {"a": area, "s": start, "e": end, "o": off, "t": total})


def test_unexplained_inferred_counts_explained_does_not(grid: Session) -> None:
    a = T - timedelta(days=10)
    # explained by a weather record on the feeder: dropped, and weather does not count
    add_outage(grid, "w", "feeder", "F1", a, a + timedelta(hours=1), cause="weather")
    _inferred(grid, "A1", a + timedelta(minutes=10), a + timedelta(hours=2))
    # unexplained: an interruption with cause unknown
    _inferred(grid, "B1", a, a + timedelta(hours=1))
    _inferred(grid, "A2", a + timedelta(hours=2), None)  # open, after the weather record
    assert _status(grid, "A1")["count_365"] == 0
    assert _status(grid, "B1")["count_365"] == 1
    assert _status(grid, "A2")["count_365"] == 1


def test_short_unexplained_inferred_does_not_count(grid: Session) -> None:
    a = T - timedelta(days=10)
    _inferred(grid, "B1", a, a + timedelta(minutes=3))
    assert _status(grid, "B1")["count_365"] == 0


def test_long_interruption_starting_before_year_absorbs_later_ones(grid: Session) -> None:
    start = T - timedelta(days=400)
    add_outage(grid, "long", "area", "A1", start, T - timedelta(days=300))
    add_outage(grid, "inside", "area", "A1", T - timedelta(days=330), T - timedelta(days=320))
    assert _status(grid, "A1")["count_365"] == 0


def test_at_risk_by_window_only(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=d) for d in (1, 20, 40)])
    r = _status(grid, "A1")
    assert (r["count_365"], r["max_60"], r["status"]) == (3, 3, "at_risk")


def test_limits_are_settings(grid: Session) -> None:
    _outages(grid, "A1", [T - timedelta(days=d) for d in (1, 20, 40)])
    loose = Settings(frequent_window_limit=4, frequent_year_limit=8)
    rows = {r["asset_id"]: r for r in evaluate(session=grid, settings=loose, as_of=T)}
    assert rows["A1"]["status"] == "ok"
