"""The direct fresh-chunk path of meter-event ingest: same accounting and change log as staging."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.accounting import Accounting
from ingest import service
from ingest.meter_events import from_rows, ingest_meter_events
from tests.builders import add_area, add_feeder, add_meters


def run(session: Session, body: str) -> Accounting:
    return service.ingest(session=session, kind="meter-events", source=io.BytesIO(body.encode()),
                          name="in.csv").accounting


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_area(db_session, "A1", "F1")
    add_area(db_session, "A2", "F1")
    add_meters(db_session, "A1", 3)
    add_meters(db_session, "A2", 2)
    return db_session


def stored(session: Session) -> list[tuple[str, datetime, str, str | None]]:
    return [tuple(r) for r in session.execute(text(  # type: ignore[misc]
        "SELECT meter_id, time, kind, event_id FROM meter_event ORDER BY meter_id, time, kind"))]


def changes(session: Session) -> list[tuple[str, datetime, datetime]]:
    return [tuple(r) for r in session.execute(text(  # type: ignore[misc]
        "SELECT asset_id, from_time, to_time FROM ingest_change WHERE stream = 'meter-events' "
        "ORDER BY asset_id, from_time"))]


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 1, hour, minute, tzinfo=UTC)


def test_exact_repeat_in_a_fresh_chunk_is_a_duplicate_and_the_first_copy_is_kept(grid: Session) -> None:
    acct = run(grid, (
        "meter_id,time,kind,event_id\n"
        "A1-m0,2026-06-01T08:00:00+08:00,off,E1\n"
        "A1-m0,2026-06-01T08:00:00+08:00,off,E2\n"   # exact repeat of line 2
        "A1-m0,2026-06-01T08:10:00+08:00,on,E3\n"
    ))
    assert (acct.accepted, acct.duplicates, acct.rejected) == (2, 1, 0)
    assert stored(grid) == [("A1-m0", at(0), "off", "E1"), ("A1-m0", at(0, 10), "on", "E3")]
    assert changes(grid) == [("A1", at(0), at(0, 10))]


def test_repeat_spelled_with_another_offset_falls_back_and_keeps_the_first_copy(grid: Session) -> None:
    acct = run(grid, (
        "meter_id,time,kind,event_id\n"
        "A2-m1,2026-06-01T09:00:00+09:00,off,E1\n"
        "A2-m0,2026-06-01 08:30,off,E2\n"
        "A2-m1,2026-06-01T05:30:00+05:30,off,E3\n"   # line 2's instant, other offset
        "A2-m1,2026-06-01T00:00:00Z,off,E4\n"        # and again in UTC
    ))
    assert (acct.accepted, acct.duplicates, acct.rejected) == (2, 2, 0)
    assert stored(grid) == [("A2-m0", at(0, 30), "off", "E2"), ("A2-m1", at(0), "off", "E1")]
    assert changes(grid) == [("A2", at(0), at(0, 30))]


def test_unknown_meter_in_a_fresh_chunk_is_rejected_with_its_line(grid: Session) -> None:
    acct = run(grid, (
        "meter_id,time,kind\n"
        "A1-m0,2026-06-01T08:00:00+08:00,off\n"
        "NOPE,2026-06-01T08:01:00+08:00,off\n"
        "A1-m1,2026-06-01T08:02:00+08:00,off\n"
        "NOPE,2026-06-01T08:01:00+08:00,off\n"   # a repeat of an unknown meter is rejected too
        "A1-m1,2026-06-01T08:02:00+08:00,off\n"  # a repeat of a known one is a duplicate
    ))
    assert (acct.accepted, acct.duplicates, acct.rejected) == (2, 1, 2)
    assert [(r.line, r.field) for r in acct.rejects] == [(3, "meter_id"), (5, "meter_id")]
    assert all(r.reason == "unknown meter 'NOPE'; load it with 'gridwatch load meters' first"
               for r in acct.rejects)
    assert [r[0] for r in stored(grid)] == ["A1-m0", "A1-m1"]
    assert changes(grid) == [("A1", at(0), at(0, 2))]


def test_change_log_has_one_row_per_area_with_its_earliest_and_latest_event(grid: Session) -> None:
    acct = run(grid, (
        "meter_id,time,kind\n"
        "A1-m0,2026-06-01 10:00,off\n"             # naive = Beijing time
        "A2-m0,2026-06-01T01:00:00Z,off\n"
        "A1-m2,2026-06-01T07:30:00+08:00,off\n"
        "A1-m0,2026-06-01T04:00:00Z,on\n"
        "A2-m1,2026-05-31T20:00:00-04:00,off\n"
    ))
    assert (acct.accepted, acct.duplicates, acct.rejected) == (5, 0, 0)
    assert changes(grid) == [("A1", datetime(2026, 5, 31, 23, 30, tzinfo=UTC), at(4)),
                             ("A2", at(0), at(1))]


def test_chunk_overlapping_stored_events_counts_like_staging(grid: Session) -> None:
    run(grid, "meter_id,time,kind\nA1-m0,2026-06-01T08:00:00+08:00,off\n")
    acct = run(grid, (
        "meter_id,time,kind\n"
        "A1-m1,2026-06-01T07:00:00+08:00,off\n"
        "A1-m0,2026-06-01T00:00:00Z,off\n"         # stored already
        "A1-m1,2026-06-01T09:00:00+08:00,on\n"
    ))
    assert (acct.accepted, acct.duplicates) == (2, 1)
    assert changes(grid) == [("A1", datetime(2026, 5, 31, 23, 0, tzinfo=UTC), at(1)), ("A1", at(0), at(0))]


@pytest.mark.parametrize("cache_meters", [2, 1000])  # the per-ingest meter cache overflows or not
def test_many_small_chunks_with_unknown_meters_and_repeats(grid: Session, cache_meters: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingest.meter_events.AREA_CACHE_METERS", cache_meters)
    rows: list[tuple[int, dict[str, str | None]]] = []
    for i in range(40):
        meter = "GHOST" if i % 9 == 0 else f"A{1 + i % 2}-m{i % 2}"
        rows.append((i + 2, {"meter_id": meter, "time": f"2026-06-0{1 + i // 10} 08:{i % 5:02d}",
                             "kind": "off", "event_id": str(i)}))
    acct = Accounting()
    batch = service.ingest(session=grid, kind="meter-events",
                           source=io.BytesIO(b"meter_id,time,kind\n")).batch_id
    conn = grid.connection().connection.driver_connection
    assert conn is not None
    ingest_meter_events(conn=conn, batch_id=batch, rows=from_rows(iter(rows)), acct=acct, chunk_rows=3)
    keys = {(r[1]["meter_id"], r[1]["time"]) for r in rows if r[1]["meter_id"] != "GHOST"}
    assert acct.rejected == 5
    assert [r.line for r in acct.rejects] == [2, 11, 20, 29, 38]
    assert acct.accepted == len(keys) == len(stored(grid))
    assert acct.accepted + acct.duplicates + acct.rejected == 40


def test_time_python_cannot_shift_to_beijing_is_rejected_as_in_the_future(grid: Session) -> None:
    acct = run(grid, (
        "meter_id,time,kind\n"
        "A1-m0,9999-12-31T23:00:00Z,off\n"
        "A1-m0,2026-06-01T08:00:00+08:00,off\n"
        "A1-m0,9999-12-31T23:00:00Z,off\n"
    ))
    assert (acct.accepted, acct.duplicates, acct.rejected) == (1, 0, 2)
    assert all(r.reason.startswith("in the future") for r in acct.rejects)  # SPEC section 17
    assert changes(grid)[0][:2] == ("A1", at(0))


def test_copied_ranges_leave_exactly_the_uncopied_parts_of_a_range() -> None:
    """``Copied.gaps`` against a brute-force check on a grid of instants."""
    import random
    from datetime import timedelta

    from ingest.meter_events import Copied

    rng = random.Random(5)
    t0 = at(0)

    def t(i: int) -> datetime:
        return t0 + timedelta(minutes=i)

    for _ in range(300):
        copied, points = Copied(), set()
        for _ in range(rng.randrange(0, 6)):
            a = rng.randrange(0, 60)
            b = a + rng.randrange(0, 15)
            copied.add(t(a), t(b))
            points |= set(range(a, b + 1))
        assert copied.ranges == sorted(copied.ranges)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(copied.ranges, copied.ranges[1:], strict=False))
        lo = rng.randrange(0, 70)
        hi = lo + rng.randrange(0, 20)
        gaps = copied.gaps(t(lo), t(hi))
        covered = {i for i in range(lo, hi + 1) for g in gaps if g[0] <= t(i) <= g[1]}
        # every instant of [lo, hi] not copied is in a gap; a gap holds copied instants only at
        # its ends (where the events of this batch are excluded by the check)
        assert set(range(lo, hi + 1)) - points <= covered
        assert all(t(i) in (g[0], g[1]) for i in covered & points for g in gaps
                   if g[0] <= t(i) <= g[1])


def _events(rows: list[tuple[str, int, str]]) -> list[tuple[int, dict[str, str | None]]]:
    return [(i + 2, {"meter_id": m, "time": f"2026-06-01 08:{minute:02d}", "kind": k,
                     "event_id": None}) for i, (m, minute, k) in enumerate(rows)]


def _ingest_chunked(session: Session, rows: list[tuple[int, dict[str, str | None]]],
                    chunk_rows: int) -> Accounting:
    acct = Accounting()
    batch = service.ingest(session=session, kind="meter-events",
                           source=io.BytesIO(b"meter_id,time,kind\n")).batch_id
    conn = session.connection().connection.driver_connection
    assert conn is not None
    ingest_meter_events(conn=conn, batch_id=batch, rows=from_rows(iter(rows)), acct=acct,
                        chunk_rows=chunk_rows)
    return acct


def test_file_in_episode_order_takes_the_fresh_path_in_every_chunk(
        grid: Session, caplog: pytest.LogCaptureFixture) -> None:
    """Outages written one after another (every meter off, then every meter on): each chunk's
    range reaches back into the previous one's, yet no chunk goes through staging, and what
    is stored and logged is what staging would store and log."""
    import logging

    episodes = [("A1", 0, 30), ("A2", 10, 40), ("A1", 35, 50), ("A2", 45, 59)]
    rows: list[tuple[str, int, str]] = []
    for area, down, up in episodes:
        meters = [f"{area}-m{i}" for i in range(3 if area == "A1" else 2)]
        rows += [(m, down, "off") for m in meters] + [(m, up, "on") for m in meters]
    with caplog.at_level(logging.DEBUG, logger="ingest.meter_events"):
        acct = _ingest_chunked(grid, _events(rows), chunk_rows=4)
    paths = [r.getMessage().split(" in ")[0].split()[-1] for r in caplog.records
             if r.getMessage().startswith("chunk of")]
    assert paths and set(paths) == {"copied"}
    assert (acct.accepted, acct.duplicates, acct.rejected) == (len(rows), 0, 0)
    assert len(stored(grid)) == len(rows)
    first = {a: min(d for x, d, _ in episodes if x == a) for a in ("A1", "A2")}
    last = {a: max(u for x, _, u in episodes if x == a) for a in ("A1", "A2")}
    logged: dict[str, tuple[datetime, datetime]] = {}
    for area, lo, hi in changes(grid):
        old = logged.get(area, (lo, hi))
        logged[area] = (min(old[0], lo), max(old[1], hi))
    assert logged == {a: (at(0, first[a]), at(0, last[a])) for a in ("A1", "A2")}


def test_repeat_of_an_earlier_chunk_in_a_copied_range_is_a_duplicate(grid: Session) -> None:
    """The check skips ranges this ingest copied into; a repeat spelled differently there still
    hits the unique index, and the chunk is merged with the first copy kept."""
    rows = _events([("A1-m0", 0, "off"), ("A1-m1", 5, "off"), ("A1-m0", 20, "on"),
                    ("A1-m2", 6, "off")])
    rows.insert(3, (99, {"meter_id": "A1-m1", "time": "2026-06-01T01:05:00+01:00",  # line 3 again
                         "kind": "off", "event_id": "late"}))
    acct = _ingest_chunked(grid, rows, chunk_rows=3)
    assert (acct.accepted, acct.duplicates, acct.rejected) == (4, 1, 0)
    assert ("A1-m1", at(0, 5), "off", None) in stored(grid)
    assert len(stored(grid)) == 4


def test_stored_event_of_another_batch_between_copied_ranges_sends_the_chunk_to_staging(
        grid: Session) -> None:
    run(grid, "meter_id,time,kind\nA2-m0,2026-06-01 08:40,off\n")          # another batch
    rows = _events([("A1-m0", 0, "off"), ("A1-m1", 1, "off"), ("A1-m0", 2, "on"),
                    ("A2-m0", 50, "on"), ("A2-m0", 40, "off"), ("A1-m1", 45, "on")])
    acct = _ingest_chunked(grid, rows, chunk_rows=3)
    assert (acct.accepted, acct.duplicates, acct.rejected) == (5, 1, 0)
    assert len(stored(grid)) == 6
