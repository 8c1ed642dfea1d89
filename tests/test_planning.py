"""Repeated planned outages (一停多用) and merge candidates (SPEC section 14, docs/planning.md)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.alerts.evaluate import evaluate_alerts
from monitoring.planning import merge_candidates, repeat_planned
from monitoring.planning.alerts import RULES
from tests.builders import add_area, add_feeder, add_outage

T0 = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)     # 08:30 Beijing
DAY = timedelta(days=1)
H = timedelta(hours=1)
SETTINGS = Settings()


def add_work(s: Session, work_id: str, asset_type: str, asset_id: str, start: datetime,
             hours: float = 8, method: str | None = "outage") -> None:
    s.execute(text(
        "INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, planned_end, "
        "method) VALUES (:w, :t, :a, :s, :e, :m)"),
        {"w": work_id, "t": asset_type, "a": asset_id, "s": start, "e": start + hours * H,
         "m": method})


def planned(s: Session, outage_id: str, asset_type: str, asset_id: str, start: datetime,
            length: timedelta = 2 * H, work_id: str | None = None) -> None:
    add_outage(s, outage_id, asset_type, asset_id, start, start + length, cause="planned",
               work_id=work_id)


def found(s: Session, start: datetime = T0 - 10 * DAY,
          end: datetime = T0 + 400 * DAY) -> list[tuple[Any, ...]]:
    rows = repeat_planned.findings(session=s, settings=SETTINGS, start=start, end=end)
    return [(r["area_id"], r["first_ref"], r["second_ref"], r["days_apart"], r["customers"])
            for r in rows]


def test_exactly_ninety_days_apart_is_a_finding_and_one_second_more_is_not(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1", customers=120)
    add_area(s, "A2", "F1", customers=80)
    planned(s, "P1", "area", "A1", T0)
    planned(s, "P2", "area", "A1", T0 + 90 * DAY)
    planned(s, "Q1", "area", "A2", T0)
    planned(s, "Q2", "area", "A2", T0 + 90 * DAY + timedelta(seconds=1))
    assert found(s) == [("A1", "P1", "P2", 90.0, 120)]
    row = repeat_planned.findings(session=s, settings=SETTINGS, start=T0, end=T0 + 100 * DAY)[0]
    assert (row["first_start"], row["second_start"]) == (T0, T0 + 90 * DAY)
    assert (row["first_kind"], row["second_kind"]) == ("outage", "outage")
    # The window is a setting.
    wider = Settings(repeat_planned_days=91)
    assert len(repeat_planned.findings(session=s, settings=wider, start=T0, end=T0 + 100 * DAY)) == 2
    # A finding belongs to the period its second interruption starts in.
    assert found(s, T0 + 90 * DAY + H, T0 + 200 * DAY) == []


def test_a_record_of_exactly_three_minutes_is_not_a_planned_interruption(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1", customers=10)
    planned(s, "R1", "area", "A1", T0, timedelta(minutes=3))                      # not one
    planned(s, "R2", "area", "A1", T0 + 10 * DAY, timedelta(minutes=3, seconds=1))  # one
    planned(s, "R3", "area", "A1", T0 + 20 * DAY)
    add_outage(s, "OPEN", "area", "A1", T0 + 25 * DAY, None, cause="planned")   # open: counts
    add_outage(s, "FAULT", "area", "A1", T0 + 5 * DAY, T0 + 5 * DAY + 4 * H, cause="fault")
    assert found(s) == [("A1", "R2", "R3", 10.0, 10), ("A1", "R3", "OPEN", 5.0, 10)]


def test_a_record_carrying_a_works_id_is_that_work_counted_once(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1", customers=10)
    add_work(s, "W1", "area", "A1", T0)
    planned(s, "R1", "area", "A1", T0 + DAY, work_id="W1")     # W1 done a day late: the record
    add_work(s, "W2", "area", "A1", T0 + 30 * DAY)              # no record yet: the work
    add_work(s, "W3", "area", "A1", T0 + 40 * DAY, method="live_line")   # no outage
    add_work(s, "W4", "area", "A1", T0 + 50 * DAY, method=None)
    rows = repeat_planned.findings(session=s, settings=SETTINGS, start=T0, end=T0 + 100 * DAY)
    assert [(r["first_ref"], r["first_kind"], r["second_ref"], r["second_kind"], r["days_apart"])
            for r in rows] == [("R1", "outage", "W2", "work", 29.0)]


def test_feeder_level_planned_records_and_works_reach_every_area_of_the_feeder(
    db_session: Session,
) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_feeder(s, "F2", lon=107.0)
    for area, feeder, customers in (("A1", "F1", 10), ("A2", "F1", 20), ("A3", "F1", 30),
                                    ("B1", "F2", 40)):
        add_area(s, area, feeder, customers=customers)
    planned(s, "PF", "feeder", "F1", T0)
    planned(s, "PA2", "area", "A2", T0 + 40 * DAY)
    add_work(s, "WF", "feeder", "F1", T0 + 60 * DAY)
    planned(s, "PB", "feeder", "F2", T0 + 100 * DAY)
    assert sorted(found(s)) == [
        ("A1", "PF", "WF", 60.0, 10),
        ("A2", "PA2", "WF", 20.0, 20),
        ("A2", "PF", "PA2", 40.0, 20),
        ("A3", "PF", "WF", 60.0, 30),
    ]


def test_overlapping_planned_interruptions_are_one_outage(db_session: Session) -> None:
    """A feeder and an area record of one job, or two works back to back, cut supply once."""
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1", customers=10)
    planned(s, "PF", "feeder", "F1", T0, 4 * H)
    planned(s, "PA", "area", "A1", T0 + H, 2 * H)                 # inside PF
    add_work(s, "W1", "area", "A1", T0 + 20 * DAY, hours=4)
    add_work(s, "W2", "area", "A1", T0 + 20 * DAY + 4 * H, hours=4)   # touches W1: one outage
    assert found(s) == [("A1", "PF", "W1", 20.0, 10)]


def test_merge_candidates_pair_outage_works_on_one_feeder_within_fourteen_days(
    db_session: Session,
) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_feeder(s, "F2", lon=107.0)
    add_area(s, "A1", "F1")
    add_area(s, "B1", "F2", lon=107.0)
    add_work(s, "W-b", "feeder", "F1", T0)
    add_work(s, "W-a", "area", "A1", T0 + 14 * DAY)                           # A1 is on F1
    add_work(s, "W-c", "feeder", "F1", T0 + 28 * DAY + timedelta(seconds=1))  # 14 d + 1 s
    add_work(s, "W-d", "feeder", "F1", T0 + 2 * DAY, method="live_line")      # no outage
    add_work(s, "W-e", "area", "B1", T0 + DAY)                                # another feeder
    rows = merge_candidates.pairs(session=s, settings=SETTINGS)
    assert [(r["feeder_id"], r["work_ids"], r["days_apart"]) for r in rows] == [
        ("F1", ["W-a", "W-b"], 14.0)]
    assert rows[0]["planned_starts"] == [(T0 + 14 * DAY).isoformat(), T0.isoformat()]
    wider = Settings(merge_candidate_days=20)
    assert len(merge_candidates.pairs(session=s, settings=wider)) == 2
    # --from/--to select by the later work's start.
    assert merge_candidates.pairs(session=s, settings=SETTINGS, start=T0 + 15 * DAY) == []
    assert len(merge_candidates.pairs(session=s, settings=SETTINGS, start=T0 + 14 * DAY,
                                      end=T0 + 15 * DAY)) == 1


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _grid(eng: Engine) -> None:
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=10, name="=HYPERLINK(\"x\")")
        add_area(s, "A2", "F1", customers=20)
        planned(s, "P1", "feeder", "F1", T0)
        add_work(s, "W1", "area", "A2", T0 + 30 * DAY)
        add_work(s, "W2", "feeder", "F1", T0 + 40 * DAY)
        s.commit()


def test_repeat_planned_and_merge_candidates_on_the_command_line(cli, engine: Engine,
                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _grid(engine)
    done = cli("report", "repeat-planned", "--from", "2026-03-02", "--to", "2026-04-11",
               "--format", "json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    assert [(r["area_id"], r["first_ref"], r["second_ref"], r["days_apart"], r["customers"])
            for r in rows] == [("A2", "P1", "W1", 30.0, 20), ("A1", "P1", "W2", 40.0, 10),
                               ("A2", "W1", "W2", 10.0, 20)]
    assert rows[0]["first_start"] == T0.isoformat()
    # --to is an inclusive local day: W2 starts 2026-04-11 08:30 Beijing.
    done = cli("report", "repeat-planned", "--from", "2026-03-02", "--to", "2026-04-10",
               "--format", "json")
    assert [r["second_ref"] for r in json.loads(done.output)] == ["W1"]
    csv = cli("report", "repeat-planned", "--from", "2026-03-02", "--to", "2026-04-11",
              "--format", "csv").stdout_bytes
    assert csv.startswith(b"\xef\xbb\xbf") and b"area_id,first_ref" in csv
    out = tmp_path / "r.xlsx"
    done = cli("report", "repeat-planned", "--from", "2026-03-02", "--to", "2026-04-11",
               "--format", "xlsx", "--out", str(out))
    assert done.exit_code == 0, done.output
    ws = load_workbook(out)["重复计划停电"]
    assert [c.value for c in ws[3]][:7] == ["台区编号", "前次停电编号", "前次停电开始时间",
                                            "后次停电编号", "后次停电开始时间", "间隔天数", "影响用户数"]
    assert ws["A4"].value == "A2" and ws["E4"].value == datetime(2026, 4, 1, 8, 30)
    assert ws["H4"].value == "停电记录" and ws["I4"].value == "检修计划"
    merged = cli("report", "merge-candidates", "--format", "json")
    assert merged.exit_code == 0, merged.output
    assert [(r["feeder_id"], r["work_ids"], r["days_apart"]) for r in json.loads(merged.output)] == [
        ("F1", ["W1", "W2"], 10.0)]
    none = cli("report", "merge-candidates", "--from", "2026-04-12", "--format", "json")
    assert json.loads(none.output) == []
    bad = cli("report", "repeat-planned", "--from", "2026-05-01", "--to", "2026-04-01")
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_planning_reports_over_http(fresh_settings: Settings) -> None:
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        _grid(api.engine)
        path = "/api/v1/reports/repeat-planned"
        params = {"from": "2026-03-02", "to": "2026-04-11"}
        assert api.get(path, None, params=params).status_code == 401
        assert api.get(path, "ingest", params=params).status_code == 403
        r = api.get(path, "regulator", params=params)
        assert r.status_code == 200, r.text
        assert [(x["area_id"], x["second_ref"]) for x in r.json()] == [
            ("A2", "W1"), ("A1", "W2"), ("A2", "W2")]
        x = api.get(path, "planner", params={**params, "format": "xlsx"})
        assert x.status_code == 200
        assert "repeat-planned-2026-03-02_2026-04-11.xlsx" in x.headers["content-disposition"]
        ws = load_workbook(io.BytesIO(x.content)).active
        assert ws is not None and ws["A3"].value == "台区编号"
        assert api.get(path, "planner", params={"from": "2026-03-02"}).status_code in (400, 422)
        m = api.get("/api/v1/reports/merge-candidates", "planner")
        assert m.status_code == 200 and [p["work_ids"] for p in m.json()] == [["W1", "W2"]]
        m = api.get("/api/v1/reports/merge-candidates", "planner",
                    params={"from": "2026-04-12", "format": "csv"})
        assert m.status_code == 200 and m.content.count(b"\r\n") == 1      # the header only


def _firing(eng: Engine, rule: str) -> list[dict[str, Any]]:
    with Session(eng) as s:
        rows = s.execute(text(
            "SELECT a.subject_id, a.summary, a.labels, a.state, "
            "(SELECT array_agg(d.reason ORDER BY d.id) FROM alert_delivery d WHERE d.alert_id = a.id) "
            "AS deliveries FROM alert a WHERE a.rule = :r ORDER BY a.id"), {"r": rule}).mappings()
        return [dict(r) for r in rows]


def test_ingesting_a_work_that_repeats_a_planned_outage_raises_an_alert(  # type: ignore[no-untyped-def]
    cli, engine: Engine, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=10)
        add_area(s, "A2", "F1", customers=20)
        planned(s, "OT-9", "area", "A2", now - 10 * DAY)
        s.commit()

    def works(*rows: tuple[str, str, str, datetime, str]) -> None:
        path = tmp_path / "works.csv"
        path.write_text("work_id,asset_type,asset_id,planned_start,planned_end,method\n" + "".join(
            f"{w},{t},{a},{st.isoformat()},{(st + 8 * H).isoformat()},{m}\n" for w, t, a, st, m in rows),
            encoding="utf-8")
        done = cli("ingest", "works", str(path), "--format", "json")
        assert done.exit_code == 0, done.output
        assert "warnings" not in json.loads(done.output), done.output

    works(("WK-1", "feeder", "F1", now + 20 * DAY, "outage"),
          ("WK-2", "feeder", "F1", now + 200 * DAY, "live_line"))
    alerts = _firing(engine, "repeat_planned_outage")
    assert [(a["subject_id"], a["state"], a["deliveries"]) for a in alerts] == [
        ("WK-1", "firing", ["first"])]
    labels = alerts[0]["labels"]
    assert (labels["other_ref"], labels["other_kind"], labels["days_apart"], labels["areas"],
            labels["severity"]) == ("OT-9", "outage", "30", "1", "warning")
    assert "OT-9" in alerts[0]["summary"] and "一停多用" in alerts[0]["summary"]
    # Moved out of the window: no longer a finding, the alert resolves at once.
    works(("WK-1", "feeder", "F1", now + 100 * DAY, "outage"))
    assert [(a["state"], a["deliveries"]) for a in _firing(engine, "repeat_planned_outage")] == [
        ("resolved", ["first", "resolved"])]
    # Back in; the scheduled evaluation holds it while the work is ahead and resolves it once
    # the work has begun (the alert is for planning, before the work happens).
    works(("WK-1", "feeder", "F1", now + 20 * DAY, "outage"))
    with Session(engine) as s:
        evaluate_alerts(session=s, settings=SETTINGS, as_of=now + 19 * DAY, only=RULES)
        assert s.execute(text("SELECT count(*) FROM alert WHERE rule = 'repeat_planned_outage' "
                              "AND state = 'firing'")).scalar_one() == 1
        evaluate_alerts(session=s, settings=SETTINGS, as_of=now + 20 * DAY, only=RULES)
        assert s.execute(text("SELECT count(*) FROM alert WHERE rule = 'repeat_planned_outage' "
                              "AND state = 'firing'")).scalar_one() == 0
        s.commit()


def test_a_future_work_alerts_when_a_later_planned_job_already_exists(db_session: Session) -> None:
    """The other interruption may come after the new work: it is named all the same."""
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1")
    add_work(s, "LATER", "area", "A1", T0 + 50 * DAY)
    add_work(s, "NEW", "area", "A1", T0 + 10 * DAY)
    add_work(s, "FAR", "area", "A1", T0 + 300 * DAY)
    rows = repeat_planned.upcoming(session=s, settings=SETTINGS, as_of=T0)
    assert [(w["work_id"], [(o["ref"], o["days_apart"]) for o in w["others"]]) for w in rows] == [
        ("LATER", [("NEW", 40.0)]), ("NEW", [("LATER", 40.0)])]
