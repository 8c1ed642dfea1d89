"""Live outages (SPEC section 13): the areas out now, as the live_outage table keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from monitoring.live import refresh_live
from tests.builders import add_area, add_feeder, add_outage

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _inferred(session: Session, area: str, start: datetime, end: datetime | None) -> None:
    session.execute(text(
        "INSERT INTO inferred_interruption (area_id, start_time, end_time, meters_off, meters_total) "
        "VALUES (:a, :s, :e, 3, 4)"), {"a": area, "s": start, "e": end})


def _live(session: Session) -> dict[str, tuple[object, ...]]:
    rows = session.execute(text(
        "SELECT area_id, since, cause, customers, source FROM live_outage ORDER BY 1")).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_who_is_out_now_from_records_feeders_and_meters(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_feeder(s, "F2", lon=107.0)
    for area, feeder, customers in (("A1", "F1", 10), ("A2", "F1", 20), ("A3", "F2", 30),
                                    ("A4", "F2", 40), ("A5", "F2", 50)):
        add_area(s, area, feeder, customers=customers)
    h = timedelta(hours=1)
    add_outage(s, "O-F1", "feeder", "F1", NOW - 3 * h, None, cause="weather")
    add_outage(s, "O-A1", "area", "A1", NOW - 5 * h, None, cause="fault")
    _inferred(s, "A3", NOW - 2 * h, None)                 # meters only: out, cause unknown
    _inferred(s, "A4", NOW - 2 * h, None)                 # ... but a record explains it
    add_outage(s, "O-A4", "area", "A4", NOW - 4 * h, NOW - h, cause="planned")
    _inferred(s, "A5", NOW - 9 * h, NOW - 8 * h)          # over: not out
    add_outage(s, "O-A5", "area", "A5", NOW + h, None)    # not begun at NOW
    result = refresh_live(session=s, now=NOW)
    assert _live(s) == {
        "A1": (NOW - 5 * h, "fault", 10, "record"),       # the earliest record's cause
        "A2": (NOW - 3 * h, "weather", 20, "record"),     # its feeder is out
        "A3": (NOW - 2 * h, "unknown", 30, "meters"),
    }
    assert sorted(result["started"]) == ["A1", "A2", "A3"]
    assert (result["areas"], result["customers"]) == (3, 60)
    # The feeder comes back; A1's own outage goes on; A3's meters come back.
    s.execute(text("UPDATE outage_record SET end_time = :e WHERE outage_id = 'O-F1'"),
              {"e": NOW + h / 2})
    s.execute(text("UPDATE inferred_interruption SET end_time = :e WHERE area_id = 'A3'"),
              {"e": NOW + h / 2})
    again = refresh_live(session=s, now=NOW + h)
    assert _live(s) == {"A1": (NOW - 5 * h, "fault", 10, "record"),
                        "A5": (NOW + h, "fault", 50, "record")}   # it has begun by now
    assert sorted(again["ended"]) == ["A2", "A3"] and again["started"] == ["A5"]
    assert refresh_live(session=s, now=NOW + h)["updated"] == []  # nothing rewritten
