"""``gridwatch ingest`` on the command line: accounting, exit statuses, history, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from ingest.retention import drop_old_meter_events
from tests.builders import add_area, add_feeder, add_meters


def seed(url: str) -> None:
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        add_meters(s, "A1", 2)
        s.commit()
    eng.dispose()


def query(url: str, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    eng = create_engine(url, poolclass=pool.NullPool)
    with eng.connect() as c:
        rows = [tuple(r) for r in c.execute(text(sql))]
    eng.dispose()
    return rows


def test_ingest_twice_accepts_nothing_the_second_time(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed(cli.url)
    f = tmp_path / "events.csv"
    f.write_text("meter_id,time,kind\nA1-m0,2026-05-01 08:00,off\nA1-m1,2026-05-01 08:01,off\n"
                 "A1-m1,2026-05-01 08:30,on\nA1-m0,2026-05-01 09:00,on\n", encoding="utf-8")
    first = cli("ingest", "meter-events", str(f), "--format", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"accepted": 4, "duplicates": 0, "updated": 0,
                                        "rejected": 0, "rejects": []}
    again = cli("ingest", "meter-events", str(f), "--format", "json")
    assert again.exit_code == 0
    assert json.loads(again.output) == {"accepted": 0, "duplicates": 4, "updated": 0,
                                        "rejected": 0, "rejects": []}
    plain = cli("ingest", "meter-events", str(f))
    assert plain.exit_code == 0 and "0 accepted, 4 duplicates" in plain.output
    assert query(cli.url, "SELECT count(*) FROM meter_event") == [(4,)]
    assert query(cli.url, "SELECT start_time, end_time FROM inferred_interruption") == [
        (datetime(2026, 5, 1, 0, 0, tzinfo=UTC), datetime(2026, 5, 1, 1, 0, tzinfo=UTC))]


def test_rejected_rows_exit_3_and_valid_rows_are_committed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed(cli.url)
    f = tmp_path / "outages.jsonl"
    f.write_text(
        '{"outage_id": "O1", "asset_type": "area", "asset_id": "A1", '
        '"start_time": "2026-05-01T08:00:00+08:00", "cause": "fault"}\n'
        '{"outage_id": "O2", "asset_type": "area", "asset_id": "A1", '
        '"start_time": "2026-05-01T08:00:00+08:00", "cause": "aliens"}\n', encoding="utf-8")
    result = cli("ingest", "outages", str(f), "--format", "json")
    assert result.exit_code == 3
    body = json.loads(result.output)
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["rejects"][0]["line"] == 2 and body["rejects"][0]["field"] == "cause"
    assert set(body["rejects"][0]) == {"line", "field", "reason"}
    assert query(cli.url, "SELECT outage_id FROM outage_record") == [("O1",)]

    history = cli("ingest", "history", "--format", "json")
    batches = json.loads(history.output)
    assert batches[0]["kind"] == "outages" and batches[0]["rejected"] == 1
    rejects = cli("ingest", "rejects", str(batches[0]["batch_id"]), "--format", "json")
    assert json.loads(rejects.output)[0]["line"] == 2
    missing = cli("ingest", "rejects", "999999")
    assert missing.exit_code == 1 and "no ingest batch" in missing.output


def test_unreadable_file_is_a_one_line_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("ingest", "works", str(tmp_path / "absent.csv"))
    assert result.exit_code == 1 and "no such file" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("work_id,asset_id\nW1,F1\n", encoding="utf-8")
    result = cli("ingest", "works", str(bad))
    assert result.exit_code == 1 and "missing required column" in result.output
    assert "Traceback" not in result.output


def test_help_texts(cli) -> None:  # type: ignore[no-untyped-def]
    for sub in ("meter-events", "outages", "works", "history", "rejects"):
        result = cli("ingest", sub, "--help")
        assert result.exit_code == 0
    assert "outage_id" in cli("ingest", "outages", "--help").output


def test_retention_drops_old_raw_events_and_keeps_interruptions(
        fresh_db: str, fresh_settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from core import clock
    from ingest import service
    from monitoring import interruptions

    seed(fresh_db)
    now = datetime(2026, 11, 26, tzinfo=UTC)
    old, recent = now - timedelta(days=4 * 365), now - timedelta(days=10)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(eng) as s:
        for t in (old, recent):   # each arrived while it was recent (older ones are rejected)
            monkeypatch.setattr(clock, "utcnow", lambda t=t: t + timedelta(days=1))
            body = "meter_id,time,kind\n" + "".join(
                f"A1-m{i % 2},{(t + timedelta(minutes=i)).isoformat()},{k}\n"
                for i, k in ((0, "off"), (1, "off"), (2, "on"), (3, "on")))
            service.ingest(session=s, kind="meter-events", source=io.BytesIO(body.encode()))
            interruptions.refresh(session=s, settings=fresh_settings)
        s.commit()
        monkeypatch.setattr(clock, "utcnow", lambda: now)
        assert drop_old_meter_events(session=s, settings=fresh_settings, now=now) >= 1
        s.commit()
        times = s.execute(text("SELECT min(time) FROM meter_event")).scalar_one()
        assert times >= recent
        assert s.execute(text("SELECT count(*) FROM inferred_interruption")).scalar_one() == 2
        assert drop_old_meter_events(session=s, settings=fresh_settings, now=now) == 0
        interruptions.refresh(session=s, settings=fresh_settings, full=True)  # from the horizon
        assert s.execute(text("SELECT count(*) FROM inferred_interruption")).scalar_one() == 2
    eng.dispose()


def test_not_utf8_in_the_middle_of_a_file_stores_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed(cli.url)
    f = tmp_path / "gbk.csv"
    good = "".join(f"A1-m0,2026-05-01T08:{i % 60:02d}:{i // 60:02d}+08:00,off\n" for i in range(3000))
    f.write_bytes(b"meter_id,time,kind\n" + good.encode() + "A1-m1,2026-05-01 09:00,关\n".encode("gbk"))
    result = cli("ingest", "meter-events", str(f))
    assert result.exit_code == 1 and "UTF-8" in result.output
    assert query(cli.url, "SELECT count(*) FROM meter_event") == [(0,)]
    assert query(cli.url, "SELECT count(*) FROM ingest_batch") == [(0,)]


def test_a_failed_refresh_keeps_the_batch_and_warns(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The batch is committed before the refresh: if the refresh fails the rows stay stored, the
    command says so, and the next refresh (monitor run) folds them in."""
    seed(cli.url)
    f = tmp_path / "events.csv"
    f.write_text("meter_id,time,kind\nA1-m0,2026-05-01 08:00,off\nA1-m1,2026-05-01 08:01,off\n"
                 "A1-m1,2026-05-01 08:30,on\nA1-m0,2026-05-01 09:00,on\n", encoding="utf-8")
    eng = create_engine(cli.url, poolclass=pool.NullPool)
    with eng.begin() as c:                      # a real failure: a table the refresh writes is gone
        c.execute(text("ALTER TABLE area_meter_off_span RENAME TO spans_away"))
    result = cli("ingest", "meter-events", str(f))
    assert result.exit_code == 0, result.output
    assert "4 accepted" in result.output
    assert "inferred interruptions were not refreshed" in result.output
    assert "Traceback" not in result.output
    assert query(cli.url, "SELECT count(*) FROM meter_event") == [(4,)]
    assert query(cli.url, "SELECT count(*) FROM ingest_change WHERE refreshed_at IS NULL") == [(1,)]
    with eng.begin() as c:
        c.execute(text("ALTER TABLE spans_away RENAME TO area_meter_off_span"))
    eng.dispose()
    assert cli("monitor", "run", "--format", "json").exit_code == 0
    assert query(cli.url, "SELECT start_time, end_time FROM inferred_interruption") == [
        (datetime(2026, 5, 1, 0, 0, tzinfo=UTC), datetime(2026, 5, 1, 1, 0, tzinfo=UTC))]  # 1 of 2 off
