"""Event times must never erase history (SPEC section 17, issue 12 item 5).

The attack: with short retention, late meter events dated before the retention horizon made the
refresh of inferred interruptions reach back past it and delete what it could no longer rebuild
(19 interruptions became 9). Now such events are rejected (``older than retention``), no
refresh (incremental or full) deletes a row that starts before the horizon, retention is at
least 457 days, and events more than 10 minutes in the future are rejected.

The clock is fixed through ``core.clock.utcnow``, so the dates work whenever the tests run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core import clock
from core.settings import MIN_RETENTION_DAYS, Settings, get_settings
from ingest import service
from ingest.retention import drop_old_meter_events, horizon
from monitoring import interruptions
from tests.builders import add_area, add_feeder, add_meters

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
RETENTION = MIN_RETENTION_DAYS  # 457: the smallest valid retention
HORIZON = NOW - timedelta(days=RETENTION)
BUILT = NOW - timedelta(days=150)  # the clock while the history was ingested
ATTACKED = [560 - 22 * i for i in range(19)]  # days before NOW: 19 interruptions of area A1

Rows = list[tuple[datetime, datetime | None]]


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def spelled(t: datetime, how: str) -> str:
    """``t`` as a head-end writes it: with +08:00, as UTC (Z) or naive Beijing time."""
    local = t.astimezone(clock.LOCAL_TZ)
    if how == "+08:00":
        return local.isoformat()
    if how == "Z":
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def csv(rows: list[tuple[str, datetime, str]], how: str = "+08:00") -> str:
    return "meter_id,time,kind\n" + "".join(f"{m},{spelled(t, how)},{k}\n" for m, t, k in rows)


def blinks(meter: str, ago: list[int]) -> list[tuple[str, datetime, str]]:
    """An hour off, then on again, ``ago`` days before NOW."""
    return [e for d in ago for e in ((meter, days_ago(d), "off"),
                                     (meter, days_ago(d) + timedelta(hours=1), "on"))]


class Clock:
    """The clock the ingest and the refresh read (``core.clock.utcnow``), set by the test."""

    def __init__(self) -> None:
        self.now = NOW


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Fix the clock at NOW and the retention at 457 days (the environment the CLI reads)."""
    fixed = Clock()
    monkeypatch.setattr(clock, "utcnow", lambda: fixed.now)
    monkeypatch.setenv("GRIDWATCH_METER_EVENT_RETENTION_DAYS", str(RETENTION))
    get_settings.cache_clear()
    yield fixed
    get_settings.cache_clear()


def seed(url: str) -> None:
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        add_feeder(s, "F1")
        for area in ("A1", "B1"):
            add_area(s, area, "F1")
            add_meters(s, area, 2)  # need = 1: one meter off is an interruption
        s.commit()
    eng.dispose()


def rows(eng: Engine, table: str, area: str) -> Rows:
    with eng.connect() as c:
        return [(r[0], r[1]) for r in c.execute(text(
            f"SELECT start_time, end_time FROM {table} WHERE area_id = :a ORDER BY start_time"),
            {"a": area})]


def drop_old(eng: Engine, settings: Settings) -> int:
    with Session(eng) as s:
        dropped = drop_old_meter_events(session=s, settings=settings, now=clock.utcnow())
        s.commit()
    return dropped


def test_late_events_older_than_retention_are_rejected_and_erase_nothing(
        cli: Callable[..., object], now: Clock, tmp_path: Path) -> None:
    """The reproduction of issue 12 item 5, through ``gridwatch ingest meter-events``."""
    url: str = cli.url  # type: ignore[attr-defined]
    seed(url)
    eng = create_engine(url, poolclass=pool.NullPool)
    settings = Settings(database_url=url, meter_event_retention_days=RETENTION)
    history = tmp_path / "history.csv"
    history.write_text(csv(blinks("A1-m0", ATTACKED)), encoding="utf-8")
    now.now = BUILT                          # the history arrived while it was recent
    built = cli("ingest", "meter-events", str(history), "--format", "json")
    assert built.exit_code == 0, built.output  # type: ignore[attr-defined]
    before = rows(eng, "inferred_interruption", "A1")
    assert len(before) == 19
    assert sum(start < HORIZON for start, _ in before) == 5

    now.now = NOW                            # 150 days later, the nightly retention runs
    assert drop_old(eng, settings) >= 1
    late = tmp_path / "late.csv"             # two late events for one meter, before the horizon
    late.write_text(csv([("A1-m1", days_ago(500), "off"), ("A1-m1", days_ago(480), "off")]),
                    encoding="utf-8")
    attack = cli("ingest", "meter-events", str(late), "--format", "json")
    assert attack.exit_code == 3, attack.output  # type: ignore[attr-defined]
    body = json.loads(attack.output)  # type: ignore[attr-defined]
    assert (body["accepted"], body["rejected"]) == (0, 2)
    assert [r["line"] for r in body["rejects"]] == [2, 3]
    assert all(r["field"] == "time" and r["reason"].startswith("older than retention")
               for r in body["rejects"])
    assert rows(eng, "inferred_interruption", "A1") == before   # still 19, not 4
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM meter_event WHERE meter_id = 'A1-m1'")
                         ).scalar_one() == 0

    # The rejects stay queryable with their reason, and the plain output names it.
    history_out = json.loads(cli("ingest", "history", "--format", "json").output)  # type: ignore[attr-defined]
    stored = json.loads(cli("ingest", "rejects", str(history_out[0]["batch_id"]),  # type: ignore[attr-defined]
                            "--format", "json").output)
    assert [r["reason"].split(":")[0] for r in stored] == ["older than retention"] * 2
    plain = cli("ingest", "meter-events", str(late))
    assert "older than retention" in plain.output and "Traceback" not in plain.output  # type: ignore[attr-defined]

    # The same row a day inside the horizon is accepted and folded in.
    inside = tmp_path / "inside.csv"
    inside.write_text(csv(blinks("A1-m1", [RETENTION - 1])), encoding="utf-8")
    ok = cli("ingest", "meter-events", str(inside), "--format", "json")
    assert ok.exit_code == 0 and json.loads(ok.output)["accepted"] == 2  # type: ignore[attr-defined]
    assert len(rows(eng, "inferred_interruption", "A1")) == 20
    eng.dispose()


@pytest.mark.parametrize("how", ["+08:00", "Z", "naive"])
def test_events_more_than_ten_minutes_ahead_are_rejected(
        cli: Callable[..., object], now: Clock, tmp_path: Path, how: str) -> None:
    url: str = cli.url  # type: ignore[attr-defined]
    seed(url)
    f = tmp_path / "ahead.csv"
    f.write_text(csv([("A1-m0", NOW + timedelta(minutes=9), "off"),
                      ("A1-m1", NOW + timedelta(minutes=11), "off"),
                      ("A1-m1", datetime(2099, 1, 1, tzinfo=UTC), "off")], how), encoding="utf-8")
    result = cli("ingest", "meter-events", str(f), "--format", "json")
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    body = json.loads(result.output)  # type: ignore[attr-defined]
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [(r["line"], r["field"]) for r in body["rejects"]] == [(3, "time"), (4, "time")]
    assert all(r["reason"].startswith("in the future") for r in body["rejects"])
    eng = create_engine(url, poolclass=pool.NullPool)
    with eng.connect() as c:
        assert c.execute(text("SELECT meter_id FROM meter_event")).scalars().all() == ["A1-m0"]
    eng.dispose()


def test_json_lines_and_extreme_times_take_the_same_checks(
        fresh_db: str, now: Clock) -> None:
    seed(fresh_db)
    lines = [
        ("A1-m0", "2026-11-28T12:05:00+08:00"),    # NOW + 5 min: accepted
        ("A1-m0", "0001-01-01T00:00:00+14:00"),    # beyond Python's range, in the past
        ("A1-m0", "9999-12-31T23:00:00-05:00"),    # beyond Python's range, in the future
        ("A1-m1", "2025-08-27T12:00:00+08:00"),    # just before the horizon (2025-08-28 12:00)
        ("A1-m1", "2025-08-28T12:01:00+08:00"),    # just after it: accepted
    ]
    body = "".join(json.dumps({"meter_id": m, "time": t, "kind": "off"}) + "\n" for m, t in lines)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(eng) as s:
        acct = service.ingest(session=s, kind="meter-events", source=io.BytesIO(body.encode()),
                              name="e.jsonl").accounting
        s.commit()
    assert (acct.accepted, acct.rejected) == (2, 3)
    assert [(r.line, r.reason.split(":")[0]) for r in acct.rejects] == [
        (2, "older than retention"), (3, "in the future"), (4, "older than retention")]
    eng.dispose()


def test_outage_records_from_the_future_are_rejected_but_planned_works_are_not(
        cli: Callable[..., object], now: Clock, tmp_path: Path) -> None:
    """A record says an outage happened: one that starts later than 10 minutes from now is
    rejected. Works are plans and may lie in the future. Records are not subject to retention."""
    url: str = cli.url  # type: ignore[attr-defined]
    seed(url)
    f = tmp_path / "outages.csv"
    f.write_text(
        "outage_id,asset_type,asset_id,start_time,end_time,cause\n"
        f"O1,area,A1,{spelled(NOW + timedelta(minutes=9), '+08:00')},,fault\n"
        f"O2,area,A1,{spelled(NOW + timedelta(minutes=11), '+08:00')},,planned\n"
        f"O3,area,A1,{spelled(days_ago(3 * 365), 'naive')},{spelled(days_ago(3 * 365 - 1), 'naive')},"
        "fault\n", encoding="utf-8")
    result = cli("ingest", "outages", str(f), "--format", "json")
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    body = json.loads(result.output)  # type: ignore[attr-defined]
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["rejects"][0]["line"] == 3 and body["rejects"][0]["field"] == "start_time"
    assert body["rejects"][0]["reason"].startswith("in the future")
    w = tmp_path / "works.csv"
    w.write_text("work_id,asset_type,asset_id,planned_start,planned_end,method\n"
                 f"W1,area,A1,{spelled(NOW + timedelta(days=30), '+08:00')},"
                 f"{spelled(NOW + timedelta(days=30, hours=4), '+08:00')},outage\n", encoding="utf-8")
    works = cli("ingest", "works", str(w), "--format", "json")
    assert works.exit_code == 0 and json.loads(works.output)["accepted"] == 1  # type: ignore[attr-defined]


def test_retention_below_a_year_and_a_quarter_is_refused(cli: Callable[..., object],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    for days in (200, RETENTION - 1):
        with pytest.raises(ValidationError, match="GRIDWATCH_METER_EVENT_RETENTION_DAYS"):
            Settings(meter_event_retention_days=days)
    assert Settings(meter_event_retention_days=RETENTION).meter_event_retention_days == 457
    assert Settings().meter_event_retention_days >= RETENTION
    monkeypatch.setenv("GRIDWATCH_METER_EVENT_RETENTION_DAYS", "200")
    f = tmp_path / "e.csv"
    f.write_text("meter_id,time,kind\n", encoding="utf-8")
    result = cli("ingest", "meter-events", str(f))
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "GRIDWATCH_METER_EVENT_RETENTION_DAYS" in result.output  # type: ignore[attr-defined]
    assert "457" in result.output and "Traceback" not in result.output  # type: ignore[attr-defined]


def test_no_refresh_deletes_what_it_cannot_rebuild(fresh_db: str, now: Clock) -> None:
    """Incremental and full refreshes reaching back before the horizon keep the older rows.

    A1: a change logged before the horizon (accepted while it was recent, its refresh never ran)
    makes the refresh reach back past it. B1: a meter off since before the horizon (its event
    dropped), so the area's off span, where a refresh restarts, began before the horizon.
    """
    seed(fresh_db)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    settings = Settings(database_url=fresh_db, meter_event_retention_days=RETENTION)

    def ingest(events: list[tuple[str, datetime, str]], full: bool = False) -> None:
        with Session(eng) as s:
            acct = service.ingest(session=s, kind="meter-events",
                                  source=io.BytesIO(csv(events).encode()), name="e.csv").accounting
            assert acct.rejected == 0, acct.rejects
            interruptions.refresh(session=s, settings=settings, full=full)
            s.commit()

    now.now = BUILT
    ingest(blinks("A1-m0", ATTACKED) + [("B1-m0", days_ago(470), "off")])
    a1, b1 = rows(eng, "inferred_interruption", "A1"), rows(eng, "inferred_interruption", "B1")
    assert len(a1) == 19 and b1 == [(days_ago(470), None)]

    now.now = NOW
    assert horizon(settings=settings) == HORIZON
    assert drop_old(eng, settings) >= 1
    with eng.begin() as c:                   # a change from before the horizon still pending
        batch = c.execute(text("INSERT INTO ingest_batch (source, kind) VALUES ('old', "
                               "'meter-events') RETURNING batch_id")).scalar_one()
        c.execute(text("INSERT INTO ingest_change (batch_id, stream, asset_type, asset_id, "
                       "from_time, to_time) VALUES (:b, 'meter-events', 'area', 'A1', :t, :t)"),
                  {"b": batch, "t": days_ago(530)})
    ingest(blinks("B1-m1", [10]))            # B1 restarts inside the span open since day 470
    assert rows(eng, "inferred_interruption", "A1") == a1
    assert rows(eng, "inferred_interruption", "B1")[0] == (days_ago(470), None)
    assert rows(eng, "area_meter_off_span", "B1")[0] == (days_ago(470), None)

    # B1-m0 comes back: its `on` closes the interruption open since before the horizon.
    ingest([("B1-m0", days_ago(5), "on")])
    assert rows(eng, "inferred_interruption", "B1") == [(days_ago(470), days_ago(5))]
    assert rows(eng, "area_meter_off_span", "B1") == [(days_ago(470), days_ago(5))]
    assert rows(eng, "inferred_interruption", "A1") == a1

    # A full rebuild, in one transaction or split over connections, rebuilds from the horizon
    # and gives the same rows.
    expected = {a: (rows(eng, "inferred_interruption", a), rows(eng, "area_meter_off_span", a))
                for a in ("A1", "B1")}
    ingest([], full=True)
    assert {a: (rows(eng, "inferred_interruption", a), rows(eng, "area_meter_off_span", a))
            for a in ("A1", "B1")} == expected
    interruptions.refresh_committed(engine=eng, settings=settings, full=True, workers=2)
    assert {a: (rows(eng, "inferred_interruption", a), rows(eng, "area_meter_off_span", a))
            for a in ("A1", "B1")} == expected
    eng.dispose()


def test_the_refresh_carries_the_state_at_the_horizon_while_its_events_are_stored(
        fresh_db: str, now: Clock) -> None:
    """Before retention drops them, the events before the horizon give each meter's state
    there: a clamped refresh continues the interruption open across it instead of starting a
    second one, and equals what the full history gives."""
    seed(fresh_db)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    settings = Settings(database_url=fresh_db, meter_event_retention_days=RETENTION)
    now.now = BUILT
    with Session(eng) as s:
        service.ingest(session=s, kind="meter-events", name="e.csv", source=io.BytesIO(csv(
            [("A1-m0", days_ago(460), "off"), ("A1-m0", days_ago(450), "on")]).encode()))
        interruptions.refresh(session=s, settings=settings)
        s.commit()
    assert rows(eng, "inferred_interruption", "A1") == [(days_ago(460), days_ago(450))]
    now.now = NOW                            # the horizon (day 457) now cuts that interruption
    with Session(eng) as s:
        acct = service.ingest(session=s, kind="meter-events", name="e.csv", source=io.BytesIO(
            csv([("A1-m1", days_ago(455), "off"), ("A1-m1", days_ago(440), "on")]).encode())
                              ).accounting
        assert acct.accepted == 2
        interruptions.refresh(session=s, settings=settings)
        s.commit()
    assert rows(eng, "inferred_interruption", "A1") == [(days_ago(460), days_ago(440))]
    assert rows(eng, "area_meter_off_span", "A1") == [(days_ago(460), days_ago(440))]
    interruptions.refresh_committed(engine=eng, settings=settings, full=True)
    assert rows(eng, "inferred_interruption", "A1") == [(days_ago(460), days_ago(440))]
    eng.dispose()
