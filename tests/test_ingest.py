"""Ingest of meter events, outage records and works: validation, accounting, merge semantics."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.accounting import Accounting
from core.errors import InputError, NotFound
from ingest import service
from tests.builders import add_area, add_feeder, add_meters


def run(session: Session, kind: str, body: str | bytes, name: str = "in.csv") -> Accounting:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return service.ingest(session=session, kind=kind, source=io.BytesIO(data), name=name).accounting


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_feeder(db_session, "F2")
    add_area(db_session, "A1", "F1")
    add_area(db_session, "A2", "F1")
    add_meters(db_session, "A1", 4)
    add_meters(db_session, "A2", 2)
    return db_session


def events(session: Session) -> list[tuple[str, datetime, str]]:
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        text("SELECT meter_id, time, kind FROM meter_event ORDER BY meter_id, time, kind")
    )]


def reasons(acct: Accounting) -> list[tuple[int, str]]:
    return [(r.line, r.field) for r in acct.rejects]


def test_meter_event_rejections_name_line_field_and_reason(grid: Session) -> None:
    acct = run(grid, "meter-events", (
        "meter_id,time,kind,event_id\n"
        "A1-m0,2026-05-01T08:00:00+08:00,off,e1\n"   # 2 ok
        ",2026-05-01T08:00:00+08:00,off,\n"           # 3 missing meter_id
        "A1-m1,,off,\n"                               # 4 missing time
        "A1-m1,2026-05-01T08:00:00+08:00,,\n"         # 5 missing kind
        "A1-m1,2026-05-01T08:00:00+08:00,blink,\n"    # 6 unknown kind
        "A1-m1,yesterday,off,\n"                      # 7 unparsable time
        "A1-m1,2026-02-30 08:00,off,\n"               # 8 impossible date
        "NOPE,2026-05-01T08:00:00+08:00,off,\n"       # 9 unknown meter
    ))
    assert (acct.accepted, acct.duplicates, acct.updated, acct.rejected) == (1, 0, 0, 7)
    assert reasons(acct) == [(3, "meter_id"), (4, "time"), (5, "kind"), (6, "kind"), (7, "time"),
                             (8, "time"), (9, "meter_id")]
    text_of = {r.line: r.reason for r in acct.rejects}
    assert "missing" in text_of[3]
    assert "off, on" in text_of[6] and "blink" in text_of[6]
    assert "ISO 8601" in text_of[7]
    assert "unknown meter 'NOPE'" in text_of[9] and "gridwatch load meters" in text_of[9]
    assert len(events(grid)) == 1


def test_outage_rejections(grid: Session) -> None:
    acct = run(grid, "outages", (
        "outage_id,asset_type,asset_id,start_time,end_time,cause,work_id\n"
        "O1,area,A1,2026-05-01 08:00,2026-05-01 09:00,fault,\n"      # 2 ok
        "O2,substation,A1,2026-05-01 08:00,,fault,\n"                 # 3 unknown asset_type
        "O3,area,A1,2026-05-01 08:00,,lightning,\n"                   # 4 unknown cause
        "O4,area,A1,2026-05-01 08:00,2026-05-01 07:00,fault,\n"       # 5 end before start
        "O5,feeder,F9,2026-05-01 08:00,,fault,\n"                     # 6 unknown feeder
        "O6,area,A9,2026-05-01 08:00,,fault,\n"                       # 7 unknown area
        "O7,feeder,A1,2026-05-01 08:00,,fault,\n"                     # 8 an area named as feeder
        "O8,area,A1,,,fault,\n"                                       # 9 missing start_time
        ",area,A1,2026-05-01 08:00,,fault,\n"                         # 10 missing outage_id
        "O9,area,A1,2026-05-01 08:00,soon,fault,\n"                   # 11 bad end_time
        "O10,area,A1,2026-05-01 08:00,,,\n"                           # 12 missing cause
    ))
    assert (acct.accepted, acct.rejected) == (1, 10)
    assert reasons(acct) == [(3, "asset_type"), (4, "cause"), (5, "end_time"), (6, "asset_id"),
                             (7, "asset_id"), (8, "asset_id"), (9, "start_time"), (10, "outage_id"),
                             (11, "end_time"), (12, "cause")]
    text_of = {r.line: r.reason for r in acct.rejects}
    assert "before start_time" in text_of[5]
    assert "unknown feeder 'F9'" in text_of[6]
    assert "unknown area 'A9'" in text_of[7]


def test_work_rejections_and_update(grid: Session) -> None:
    head = "work_id,asset_type,asset_id,planned_start,planned_end,method\n"
    acct = run(grid, "works", head + (
        "W1,feeder,F1,2026-05-01 08:00,2026-05-01 12:00,live_line\n"   # 2 ok
        "W2,feeder,F1,2026-05-01 08:00,2026-05-01 07:00,outage\n"      # 3 end before start
        "W3,feeder,F1,2026-05-01 08:00,2026-05-01 12:00,magic\n"       # 4 unknown method
        "W4,area,A7,2026-05-01 08:00,2026-05-01 12:00,outage\n"        # 5 unknown area
        "W5,area,A1,2026-05-01 08:00,,outage\n"                        # 6 missing planned_end
        "W6,area,A1,2026-05-01 08:00,2026-05-01 09:00,\n"              # 7 ok, no method
    ))
    assert (acct.accepted, acct.rejected) == (2, 4)
    assert reasons(acct) == [(3, "planned_end"), (4, "method"), (5, "asset_id"), (6, "planned_end")]
    again = run(grid, "works", head + (
        "W1,feeder,F1,2026-05-01 08:00,2026-05-01 12:00,live_line\n"
        "W6,area,A1,2026-05-01 08:00,2026-05-01 10:00,load_transfer\n"
    ))
    assert (again.accepted, again.duplicates, again.updated) == (0, 1, 1)
    end, method = grid.execute(
        text("SELECT planned_end, method FROM maintenance_work WHERE work_id = 'W6'")).one()
    assert method == "load_transfer" and end == datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def test_duplicates_within_and_across_files(grid: Session) -> None:
    body = (
        "meter_id,time,kind\n"
        "A1-m0,2026-05-01T08:00:00+08:00,off\n"
        "A1-m0,2026-05-01T08:00:00+08:00,off\n"   # same row again
        "A1-m0,2026-05-01T00:00:00Z,off\n"        # same instant, other spelling
        "A1-m0,2026-05-01T08:05:00+08:00,on\n"
    )
    first = run(grid, "meter-events", body)
    assert (first.accepted, first.duplicates, first.rejected) == (2, 2, 0)
    second = run(grid, "meter-events", body)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 4, 0)
    assert len(events(grid)) == 2


def test_duplicate_in_a_fresh_chunk_keeps_the_first_copy_and_one_change_row(grid: Session) -> None:
    acct = run(grid, "meter-events", (
        "meter_id,time,kind,event_id\n"
        "A1-m0,2026-06-01T08:00:00+08:00,off,E1\n"
        "A1-m1,2026-06-01T08:00:00+08:00,off,E2\n"
        "A1-m0,2026-06-01T00:00:00Z,off,E3\n"       # duplicate of line 2, other spelling
    ))
    assert (acct.accepted, acct.duplicates) == (2, 1)
    stored = grid.execute(text(
        "SELECT meter_id, event_id FROM meter_event ORDER BY meter_id")).all()
    assert [tuple(r) for r in stored] == [("A1-m0", "E1"), ("A1-m1", "E2")]
    changes = grid.execute(text(
        "SELECT asset_id, from_time FROM ingest_change WHERE stream = 'meter-events'")).all()
    assert [tuple(r) for r in changes] == [("A1", datetime(2026, 6, 1, 0, 0, tzinfo=UTC))]


def test_three_timestamp_spellings_mean_the_same_instant(grid: Session) -> None:
    acct = run(grid, "meter-events", (
        "meter_id,time,kind\n"
        "A1-m0,2026-05-01T08:00:00+08:00,off\n"
        "A1-m1,2026-05-01T00:00:00Z,off\n"
        "A1-m2,2026-05-01 08:00:00,off\n"
        "A1-m3,2026-05-01T08:00,off\n"
    ))
    assert acct.accepted == 4
    times = {r[1] for r in events(grid)}
    assert times == {datetime(2026, 5, 1, 0, 0, tzinfo=UTC)}


def test_outage_resent_identical_changed_and_new_start_time(grid: Session) -> None:
    head = "outage_id,asset_type,asset_id,start_time,end_time,cause,work_id\n"
    first = run(grid, "outages", head + "O1,area,A1,2026-05-01 08:00,,fault,\n")
    assert first.accepted == 1
    same = run(grid, "outages", head + "O1,area,A1,2026-05-01 08:00,,fault,\n")
    assert (same.accepted, same.duplicates, same.updated) == (0, 1, 0)
    ended = run(grid, "outages", head + "O1,area,A1,2026-05-01 08:00,2026-05-01 10:00,fault,\n")
    assert (ended.accepted, ended.duplicates, ended.updated) == (0, 0, 1)
    moved = run(grid, "outages", head + "O1,area,A1,2026-05-01 07:30,2026-05-01 10:00,fault,\n")
    assert moved.updated == 1
    rows = grid.execute(text(
        "SELECT start_time, end_time FROM outage_record WHERE outage_id = 'O1'")).all()
    assert rows == [(datetime(2026, 4, 30, 23, 30, tzinfo=UTC), datetime(2026, 5, 1, 2, 0, tzinfo=UTC))]


def test_same_outage_twice_in_one_file_last_wins(grid: Session) -> None:
    head = "outage_id,asset_type,asset_id,start_time,end_time,cause,work_id\n"
    acct = run(grid, "outages", head + (
        "O2,feeder,F1,2026-05-02 08:00,,fault,\n"
        "O2,feeder,F1,2026-05-02 08:00,,fault,\n"
        "O2,feeder,F1,2026-05-02 07:00,2026-05-02 09:00,weather,\n"
    ))
    assert (acct.accepted, acct.duplicates, acct.updated) == (1, 1, 1)
    rows = grid.execute(text(
        "SELECT start_time, cause FROM outage_record WHERE outage_id = 'O2'")).all()
    assert rows == [(datetime(2026, 5, 1, 23, 0, tzinfo=UTC), "weather")]
    again = run(grid, "outages", head + "O2,feeder,F1,2026-05-02 07:00,2026-05-02 09:00,weather,\n")
    assert (again.accepted, again.duplicates, again.updated) == (0, 1, 0)


def test_outage_change_is_logged_for_the_feeders_areas(grid: Session) -> None:
    head = "outage_id,asset_type,asset_id,start_time,end_time,cause,work_id\n"
    result = service.ingest(session=grid, kind="outages", name="o.csv", source=io.BytesIO(
        (head + "O3,feeder,F1,2026-05-03 08:00,,fault,\n").encode()))
    logged = grid.execute(text(
        "SELECT asset_type, asset_id, to_time FROM ingest_change WHERE batch_id = :b "
        "ORDER BY 1, 2"), {"b": result.batch_id}).all()
    assert logged == [("area", "A1", None), ("area", "A2", None), ("feeder", "F1", None)]


def test_jsonl_input_and_bom(grid: Session) -> None:
    jsonl = (
        '{"meter_id": "A1-m0", "time": "2026-05-01T08:00:00+08:00", "kind": "off", "extra": 1}\n'
        '\n'
        '{"meter_id": "A1-m1", "time": "2026-05-01T08:00:00+08:00", "kind": "sideways"}\n'
        'not json\n'
        '{"meter_id": "A1-m2", "time": 12345, "kind": "off"}\n'
    )
    acct = run(grid, "meter-events", "\ufeff" + jsonl, name="events.jsonl")
    assert acct.accepted == 1
    assert reasons(acct) == [(3, "kind"), (4, ""), (5, "time")]
    csv_bom = "\ufeffmeter_id,time,kind,note\nA1-m3,2026-05-01T08:00:00+08:00,off,x\n,,,\n"
    bom = run(grid, "meter-events", csv_bom)
    assert (bom.accepted, bom.rejected) == (1, 0)
    assert bom.warnings == ["ignoring unknown field(s): note"]


def test_unreadable_inputs_raise_input_error(grid: Session) -> None:
    with pytest.raises(InputError, match="missing required column"):
        run(grid, "meter-events", "meter_id,kind\nA1-m0,off\n")
    with pytest.raises(InputError, match="(?i)utf-8"):
        run(grid, "meter-events", b"meter_id,time,kind\nA1-m0,2026-05-01 08:00,\xff\xfe\n")
    with pytest.raises(InputError, match="no such file"):
        service.ingest(session=grid, kind="outages", source=__import__("pathlib").Path("/nope.csv"))


def test_batches_and_rejects_are_recorded(grid: Session) -> None:
    result = service.ingest(session=grid, kind="meter-events", name="b.csv", source=io.BytesIO(
        b"meter_id,time,kind\nA1-m0,2026-05-01 08:00,off\nZZ,2026-05-01 08:00,off\n"))
    batches = service.list_batches(session=grid, limit=5)
    assert batches[0]["batch_id"] == result.batch_id
    assert (batches[0]["source"], batches[0]["accepted"], batches[0]["rejected"]) == ("b.csv", 1, 1)
    assert batches[0]["finished_at"] is not None
    rejects = service.batch_rejects(session=grid, batch_id=result.batch_id)
    assert [(r["line"], r["field"]) for r in rejects] == [(3, "meter_id")]
    with pytest.raises(NotFound):
        service.batch_rejects(session=grid, batch_id=10**9)


def test_chunked_merge_counts_duplicates_across_chunks(grid: Session) -> None:
    from ingest.meter_events import from_rows, ingest_meter_events

    rows = [(i + 2, {"meter_id": "A1-m0", "time": f"2026-05-01T08:{i % 7:02d}:00+08:00",
                     "kind": "off", "event_id": None}) for i in range(30)]
    acct = Accounting()
    batch = service.ingest(session=grid, kind="meter-events", source=io.BytesIO(
        b"meter_id,time,kind\n")).batch_id
    conn = grid.connection().connection.driver_connection
    ingest_meter_events(conn=conn, batch_id=batch, rows=from_rows(iter(rows)), acct=acct,
                        chunk_rows=4)
    assert (acct.accepted, acct.duplicates) == (7, 23)


def test_fast_time_path_agrees_with_parse_timestamp() -> None:
    from datetime import datetime as dt

    from core.clock import parse_timestamp
    from ingest.meter_events import copy_time

    for value in ("2026-05-01T08:00:00+08:00", "2026-05-01T00:00:00Z", "2026-05-01 08:00:00",
                  "2026-05-01T08:00", "2026-05-01T08:00:00.123456-05:30", "1988-07-01 12:00:00",
                  "20260501T080000+0800", "1991-07-01T12:00:00", "2026-05-01 08:00:00+08:00",
                  "2026-05-01 08:00:00Z"):
        assert dt.fromisoformat(copy_time(value).replace("Z", "+00:00")) == parse_timestamp(value)
    for bad in ("2026-02-30 08:00:00", "2026-02-30T08:00:00+08:00", "2026-05-01T24:00:00+08:00",
                "2026-05-01T08:00:0a+08:00", "２０２６-05-01 08:00:00", "2026-5-01 08:00:00+08:00"):
        with pytest.raises(ValueError):
            copy_time(bad)
