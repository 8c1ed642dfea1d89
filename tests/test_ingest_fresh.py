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
