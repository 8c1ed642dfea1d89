"""Inferred interruptions from meter events: the rule, late and out-of-order arrival, storms."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from ingest import service
from monitoring import interruptions
from tests.builders import add_area, add_feeder, add_meters

T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
SETTINGS = Settings()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def feed(session: Session, rows: list[tuple[str, float, str]], settings: Settings = SETTINGS,
         kind: str = "meter-events") -> None:
    body = "meter_id,time,kind\n" + "".join(
        f"{m},{at(t).isoformat()},{k}\n" for m, t, k in rows)
    service.ingest(session=session, kind=kind, source=io.BytesIO(body.encode()), name="e.csv")
    interruptions.refresh(session=session, settings=settings)


def intervals(session: Session, area: str) -> list[tuple[datetime, datetime | None, int, int]]:
    return [tuple(r) for r in session.execute(text(  # type: ignore[misc]
        "SELECT start_time, end_time, meters_off, meters_total FROM inferred_interruption "
        "WHERE area_id = :a ORDER BY start_time"), {"a": area})]


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_area(db_session, "A4", "F1")
    add_meters(db_session, "A4", 4)
    return db_session


def test_half_of_meters_off_is_an_interruption(grid: Session) -> None:
    feed(grid, [("A4-m0", 0, "off"), ("A4-m1", 1, "off"), ("A4-m2", 2, "off"),
                ("A4-m0", 10, "on"), ("A4-m1", 12, "on")])
    assert intervals(grid, "A4") == [(at(1), at(12), 3, 4)]


def test_just_under_half_is_not(db_session: Session) -> None:
    add_feeder(db_session, "F1")
    add_area(db_session, "A7", "F1")
    add_meters(db_session, "A7", 7)
    add_area(db_session, "A6", "F1")
    add_meters(db_session, "A6", 6)
    rows = [(f"A7-m{i}", i, "off") for i in range(3)] + [(f"A6-m{i}", i, "off") for i in range(3)]
    feed(db_session, rows)
    assert intervals(db_session, "A7") == []                        # 3 of 7 < half
    assert intervals(db_session, "A6") == [(at(2), None, 3, 6)]     # 3 of 6 = half, still off
    feed(db_session, [("A7-m3", 30, "off")])                        # 4 of 7 >= half
    assert intervals(db_session, "A7") == [(at(30), None, 4, 7)]


def test_fraction_is_a_setting(grid: Session) -> None:
    feed(grid, [("A4-m0", 0, "off"), ("A4-m1", 1, "off"), ("A4-m2", 2, "off")],
         settings=Settings(meter_off_fraction=0.75))
    assert intervals(grid, "A4") == [(at(2), None, 3, 4)]


def test_repeated_events_change_nothing(grid: Session) -> None:
    feed(grid, [("A4-m0", 0, "on"), ("A4-m0", 1, "off"), ("A4-m1", 2, "off"),
                ("A4-m0", 5, "off"), ("A4-m1", 6, "off"), ("A4-m0", 9, "on"), ("A4-m0", 11, "on")])
    assert intervals(grid, "A4") == [(at(2), at(9), 2, 4)]


def test_storm_all_meters_of_a_feeder_off_then_explained_by_feeder_record(
        db_session: Session) -> None:
    add_feeder(db_session, "FS")
    meters = []
    for a in range(3):
        add_area(db_session, f"S{a}", "FS")
        meters += add_meters(db_session, f"S{a}", 10)
    rows = [(m, i * 0.02, "off") for i, m in enumerate(meters)]            # last gasps in 36 s
    rows += [(m, 90 + i * 0.01, "on") for i, m in enumerate(reversed(meters))]
    random.Random(7).shuffle(rows)
    feed(db_session, rows)
    for a in range(3):
        got = intervals(db_session, f"S{a}")
        assert len(got) == 1 and got[0][2:] == (10, 10)
        assert at(0) <= got[0][0] <= at(1) and at(90) <= got[0][1] <= at(91)   # type: ignore[operator]
    unexplained = db_session.execute(text(
        "SELECT count(*) FROM area_interruption WHERE area_id LIKE 'S%' AND source = 'inferred'"
    )).scalar_one()
    assert unexplained == 3
    body = ("outage_id,asset_type,asset_id,start_time,end_time,cause\n"
            f"OS,feeder,FS,{at(0).isoformat()},{at(91).isoformat()},weather\n")
    service.ingest(session=db_session, kind="outages", source=io.BytesIO(body.encode()))
    interruptions.refresh(session=db_session, settings=SETTINGS)
    sources = db_session.execute(text(
        "SELECT source, count(*) FROM area_interruption WHERE area_id LIKE 'S%' GROUP BY source"
    )).all()
    assert sources == [("feeder_record", 3)]


def test_late_events_split_and_extend_an_interruption(grid: Session) -> None:
    feed(grid, [("A4-m0", 0, "off"), ("A4-m1", 0, "off"), ("A4-m0", 60, "on"),
                ("A4-m1", 60, "on")])
    assert intervals(grid, "A4") == [(at(0), at(60), 2, 4)]
    feed(grid, [("A4-m1", 20, "on"), ("A4-m1", 30, "off")])               # a late blink
    assert intervals(grid, "A4") == [(at(0), at(20), 2, 4), (at(30), at(60), 2, 4)]
    feed(grid, [("A4-m2", -5, "off"), ("A4-m2", 35, "on")])                # bridges the gap
    assert intervals(grid, "A4") == [(at(0), at(60), 3, 4)]
    feed(grid, [("A4-m3", 50, "off"), ("A4-m2", 55, "off")])               # never come back
    assert intervals(grid, "A4") == [(at(0), None, 4, 4)]


def test_out_of_order_batches_equal_in_order_arrival(db_session: Session) -> None:
    add_feeder(db_session, "F1")
    add_area(db_session, "IN", "F1")
    add_area(db_session, "OUT", "F1")
    add_meters(db_session, "IN", 5)
    add_meters(db_session, "OUT", 5)
    rng = random.Random(42)
    pattern = [(rng.randrange(5), rng.randrange(0, 600), rng.choice(["off", "off", "on"]))
               for _ in range(400)]
    pattern.sort(key=lambda p: p[1])
    feed(db_session, [(f"IN-m{m}", t, k) for m, t, k in pattern])          # in order, one batch
    late = [(f"OUT-m{m}", t, k) for m, t, k in pattern]
    rng.shuffle(late)
    for i in range(0, len(late), 37):                                       # 11 shuffled batches
        feed(db_session, late[i:i + 37])
    expected = intervals(db_session, "IN")
    assert len(expected) > 3
    assert intervals(db_session, "OUT") == expected
    interruptions.refresh(session=db_session, settings=SETTINGS, full=True)
    assert intervals(db_session, "OUT") == expected == intervals(db_session, "IN")


def test_refresh_only_touches_areas_with_new_events(grid: Session) -> None:
    add_area(grid, "B2", "F1")
    add_meters(grid, "B2", 2)
    feed(grid, [("A4-m0", 0, "off"), ("A4-m1", 0, "off"), ("B2-m0", 0, "off")])
    service.ingest(session=grid, kind="meter-events", source=io.BytesIO(
        f"meter_id,time,kind\nB2-m0,{at(5).isoformat()},on\n".encode()))
    assert interruptions.refresh(session=grid, settings=SETTINGS) == 1
    assert interruptions.refresh(session=grid, settings=SETTINGS) == 0
    assert intervals(grid, "B2") == [(at(0), at(5), 1, 2)]


def test_off_and_on_at_the_same_instant_cancel_out(grid: Session) -> None:
    feed(grid, [("A4-m0", 0, "off"), ("A4-m1", 5, "off"), ("A4-m1", 5, "on"), ("A4-m0", 9, "on")])
    assert intervals(grid, "A4") == []
    feed(grid, [("A4-m1", 7, "off"), ("A4-m1", 8, "on")])       # the meter was on after the blink
    assert intervals(grid, "A4") == [(at(7), at(8), 2, 4)]


def _all_intervals(session: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in session.execute(text(
        "SELECT area_id, start_time, end_time, meters_off, meters_total FROM inferred_interruption "
        "UNION ALL SELECT area_id, start_time, end_time, NULL, NULL FROM area_meter_off_span "
        "ORDER BY 1, 2, 4"))]


def test_refresh_split_over_connections_equals_one_pass(fresh_settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's refresh, split by area bucket over three connections, gives what one pass gives."""
    from sqlalchemy import create_engine

    from core.db import session_scope

    engine = create_engine(fresh_settings.sqlalchemy_url())
    rng = random.Random(7)
    areas = [f"P{a}" for a in range(16)]
    with session_scope(engine) as s:
        add_feeder(s, "F1")
        for a in areas:
            add_area(s, a, "F1")
            add_meters(s, a, 4)
    with engine.connect() as conn:                                 # the areas spread over buckets
        buckets = {conn.execute(text("SELECT (hashtext(:a) & 2147483647) % :n"),
                                {"a": a, "n": interruptions.BUCKETS}).scalar() for a in areas}
    assert len(buckets) >= 4

    def batch(n: int, lo: int, hi: int) -> str:
        rows = [(f"{rng.choice(areas)}-m{rng.randrange(4)}", rng.randrange(lo, hi),
                 rng.choice(["off", "off", "on"])) for _ in range(n)]
        return "meter_id,time,kind\n" + "".join(f"{m},{at(t).isoformat()},{k}\n" for m, t, k in rows)

    monkeypatch.setattr(interruptions, "PARALLEL_MIN_AREAS", 1)
    for body in (batch(600, 0, 500), batch(300, 100, 700)):       # the second one arrives late
        with session_scope(engine) as s:
            service.ingest(session=s, kind="meter-events", source=io.BytesIO(body.encode()))
        with engine.connect() as conn:                             # one pass, rolled back
            one = Session(bind=conn)
            interruptions.refresh(session=one, settings=fresh_settings)
            expected = _all_intervals(one)
            one.rollback()
        assert interruptions.refresh_committed(engine=engine, settings=fresh_settings,
                                               workers=3) == len(areas)
        with session_scope(engine) as s:
            assert _all_intervals(s) == expected
            assert s.execute(text(
                "SELECT count(*) FROM ingest_change WHERE refreshed_at IS NULL")).scalar() == 0
    assert any(r[3] is not None for r in expected)                 # there are interruptions
    with session_scope(engine) as s:                               # a full rebuild, split too
        before = _all_intervals(s)
    assert interruptions.refresh_committed(engine=engine, settings=fresh_settings, full=True,
                                           workers=2) == len(areas)
    with session_scope(engine) as s:
        assert _all_intervals(s) == before
    engine.dispose()


def test_concurrent_ingests_and_split_refreshes_end_as_one_rebuild(
        fresh_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ingests into the same areas, each committing and then refreshing on two connections,
    at the same time and several times over: no deadlock, nothing left pending, and the result
    is what a full rebuild from all events gives."""
    import threading

    from sqlalchemy import create_engine

    from core.db import session_scope

    engine = create_engine(fresh_settings.sqlalchemy_url(), pool_size=8)
    areas = [f"C{a}" for a in range(12)]
    with session_scope(engine) as s:
        add_feeder(s, "F1")
        for a in areas:
            add_area(s, a, "F1")
            add_meters(s, a, 4)
    monkeypatch.setattr(interruptions, "PARALLEL_MIN_AREAS", 1)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(6):
                rows = [(f"{rng.choice(areas)}-m{rng.randrange(4)}", rng.randrange(0, 900),
                         rng.choice(["off", "off", "on"])) for _ in range(150)]
                body = "meter_id,time,kind\n" + "".join(
                    f"{m},{at(t).isoformat()},{k}\n" for m, t, k in rows)
                with session_scope(engine) as s:
                    service.ingest(session=s, kind="meter-events", source=io.BytesIO(body.encode()))
                interruptions.refresh_committed(engine=engine, settings=fresh_settings, workers=2)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    with session_scope(engine) as s:
        assert s.execute(text(
            "SELECT count(*) FROM ingest_change WHERE refreshed_at IS NULL")).scalar() == 0
        incremental = _all_intervals(s)
    with engine.connect() as conn:
        rebuilt = Session(bind=conn)
        interruptions.refresh(session=rebuilt, settings=fresh_settings, full=True)
        assert _all_intervals(rebuilt) == incremental
        rebuilt.rollback()
    assert any(r[3] is not None for r in incremental)
    engine.dispose()


def test_split_refresh_shares_are_balanced_by_pending_areas() -> None:
    """Every bucket in exactly one share, each share ascending (the lock order), and the
    pending areas split as evenly as whole buckets allow."""
    import itertools

    from monitoring.interruptions import _shares

    rng = random.Random(3)
    for _ in range(200):
        weights = [rng.choice([0, 0, 1, 5, 20, 25, 30]) for _ in range(interruptions.BUCKETS)]
        n = rng.randrange(2, 5)
        shares = _shares(weights, n)
        assert sorted(itertools.chain(*shares)) == list(range(interruptions.BUCKETS))
        assert all(share == sorted(share) for share in shares) and len(shares) <= n
        loads = [sum(weights[b] for b in share) for share in shares]
        # greedy: the heaviest share exceeds the lightest by at most one bucket
        assert max(loads) - min(loads) <= max(weights)
    assert _shares([30, 20, 25, 25, 28, 22, 26, 24], 2) == [[0, 2, 5, 7], [1, 3, 4, 6]]
