"""Arrears disconnection pre-reports (task 56, SPEC section 14, docs/planning.md)."""

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

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.alerts.evaluate import evaluate_alerts
from monitoring.planning import arrears
from monitoring.planning.alerts import RULES
from tests.builders import add_area, add_feeder, square

# 2026-11-10 09:00 Beijing; November 2026 in Beijing is [10-31T16:00Z, 11-30T16:00Z).
START = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
NOV = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))
H = timedelta(hours=1)
SETTINGS = Settings()


def cut(s: Session, did: str, households: int, *, compound: str | None = None,
        start: datetime = START, important: bool = False, reason: str = "arrears",
        reported: datetime | None = None, area: str = "A1") -> None:
    s.execute(text(
        "INSERT INTO disconnection (disconnection_id, area_id, compound, households, important_user, "
        "reason, planned_start, reported_at) VALUES (:d, :a, :c, :h, :i, :r, :s, :rep)"),
        {"d": did, "a": area, "c": compound, "h": households, "i": important, "r": reason,
         "s": start, "rep": reported})


def listed(s: Session, as_of: datetime = START - 100 * H) -> dict[str, tuple[Any, ...]]:
    rows = arrears.prereports(session=s, settings=SETTINGS, start=NOV[0], end=NOV[1], as_of=as_of)
    return {r["disconnection_id"]: (r["compound"], r["households_total"], r["status"]) for r in rows}


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_area(db_session, "A1", "F1")
    add_area(db_session, "A2", "F1")
    return db_session


def test_more_than_fifty_households_of_one_compound_need_a_report(grid: Session) -> None:
    s = grid
    cut(s, "D50", 50, compound="Elm Court")
    cut(s, "D51", 51, compound="Oak Court")
    assert listed(s) == {"D51": ("Oak Court", 51, "due")}


def test_households_of_one_compound_and_day_add_up(grid: Session) -> None:
    s = grid
    cut(s, "S30", 30, compound="Pine Court")
    cut(s, "S25", 25, compound=" Pine Court ", area="A2", start=START + 10 * H)   # 19:00 same day
    cut(s, "X30", 30, compound="Ash Court")
    cut(s, "X25", 25, compound="Ash Court", start=START + 24 * H)               # the next day
    cut(s, "N30", 30)                                  # no compound: a group of its own
    cut(s, "N25", 25)
    cut(s, "Y30", 30, compound="Yew Court")
    cut(s, "Y25", 25, compound="Yew Court", reason="safety")    # not an arrears disconnection
    assert listed(s) == {"S30": ("Pine Court", 55, "due"), "S25": ("Pine Court", 55, "due")}


def test_the_day_is_the_local_day(grid: Session) -> None:
    """07:00 and 23:30 Beijing on 11-10 are one day, though UTC puts them on two."""
    s = grid
    morning = datetime(2026, 11, 9, 23, 0, tzinfo=UTC)
    cut(s, "M", 30, compound="Lime Court", start=morning)
    cut(s, "E", 30, compound="Lime Court", start=morning + 16 * H + 30 * timedelta(minutes=1))
    cut(s, "Next", 30, compound="Lime Court", start=morning + 17 * H)   # 00:00 on 11-11
    assert set(listed(s, as_of=morning - 100 * H)) == {"M", "E"}


def test_an_important_user_needs_a_report_whatever_its_households(grid: Session) -> None:
    s = grid
    cut(s, "HOSPITAL", 3, compound="Cedar Court", important=True)
    cut(s, "NEIGHBOUR", 5, compound="Cedar Court")
    rows = arrears.prereports(session=s, settings=SETTINGS, start=NOV[0], end=NOV[1],
                              as_of=START - 100 * H)
    assert [(r["disconnection_id"], r["households_total"], r["important_user"]) for r in rows] == [
        ("HOSPITAL", 8, True)]


def test_reported_exactly_72_hours_ahead_is_ok_and_one_second_less_is_late(grid: Session) -> None:
    s = grid
    deadline = START - 72 * H
    cut(s, "OK", 60, compound="c1", reported=deadline)
    cut(s, "LATE", 60, compound="c2", reported=deadline + timedelta(seconds=1))
    cut(s, "AFTER", 60, compound="c3", reported=START + H)          # after the disconnection
    rows = {r["disconnection_id"]: r for r in arrears.prereports(
        session=s, settings=SETTINGS, start=NOV[0], end=NOV[1], as_of=START + 2 * H)}
    assert {k: r["status"] for k, r in rows.items()} == {"OK": "ok", "LATE": "late", "AFTER": "late"}
    assert rows["OK"]["deadline"] == deadline and rows["OK"]["reported_at"] == deadline


def test_due_turns_missing_as_the_as_of_time_passes_the_deadline(grid: Session) -> None:
    s = grid
    deadline = START - 72 * H
    cut(s, "D", 60, compound="c1", reported=deadline - 10 * H)
    assert listed(s, deadline - 11 * H)["D"][2] == "due"       # reported later than this as-of
    assert listed(s, deadline - 10 * H)["D"][2] == "ok"
    cut(s, "U", 60, compound="c2")
    assert listed(s, deadline)["U"][2] == "due"                # exactly 72 h ahead: still in time
    assert listed(s, deadline + timedelta(seconds=1))["U"][2] == "missing"
    assert listed(s, START + 24 * H)["U"][2] == "missing"


def test_a_compound_naming_an_old_compound_feature_reports_its_name(grid: Session) -> None:
    s = grid
    s.execute(text("INSERT INTO overlay_feature (layer, feature_id, name, geom) VALUES "
                   "('old_compound', 'OC-7', '花果园小区', ST_GeomFromEWKT(:g)), "
                   "('weak_supply_village', 'OC-8', '某村', ST_GeomFromEWKT(:g))"),
              {"g": square(106.7, 26.5)})
    cut(s, "BY-ID", 30, compound="OC-7")
    cut(s, "BY-NAME", 30, compound="花果园小区", area="A2")
    cut(s, "OTHER-LAYER", 60, compound="OC-8")        # not an old compound: just a name
    rows = arrears.prereports(session=s, settings=SETTINGS, start=NOV[0], end=NOV[1],
                              as_of=START - 100 * H)
    assert sorted((r["disconnection_id"], r["compound"], r["compound_id"], r["households_total"])
                  for r in rows) == [("BY-ID", "花果园小区", "OC-7", 60),
                                     ("BY-NAME", "花果园小区", "OC-7", 60),
                                     ("OTHER-LAYER", "OC-8", None, 60)]


def test_alerts_when_due_within_a_day_then_when_missing(grid: Session) -> None:
    s = grid
    deadline = START - 72 * H
    cut(s, "SOON", 60, compound="c1")
    cut(s, "LATER", 60, compound="c2", start=START + 2 * H)

    def firing() -> dict[str, str]:
        return dict(s.execute(text("SELECT subject_id, rule FROM alert WHERE state = 'firing' "
                                   "ORDER BY 1")).all())

    evaluate_alerts(session=s, settings=SETTINGS, as_of=deadline - 24 * H, only=RULES)
    assert firing() == {}                                     # exactly 24 h left: not yet
    evaluate_alerts(session=s, settings=SETTINGS, as_of=deadline - 23 * H, only=RULES)
    assert firing() == {"SOON": "arrears_prereport_due"}
    evaluate_alerts(session=s, settings=SETTINGS, as_of=deadline + timedelta(seconds=1), only=RULES)
    assert firing() == {"SOON": "arrears_prereport_missing", "LATER": "arrears_prereport_due"}
    severity = s.execute(text("SELECT severity FROM alert WHERE rule = 'arrears_prereport_missing'"))
    assert severity.scalar_one() == "critical"
    evaluate_alerts(session=s, settings=SETTINGS, as_of=START + timedelta(seconds=1), only=RULES)
    assert firing() == {"LATER": "arrears_prereport_missing"}    # SOON has begun


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


HEADER = ("disconnection_id,area_id,compound,households,important_user,reason,planned_start,"
          "reported_at,comment\n")


def test_ingest_disconnections_with_full_accounting(cli, engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    soon = (datetime.now(UTC) + 72 * H + 10 * H).replace(microsecond=0)
    later = soon + 48 * H
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "".join([
        f"D1,A1,Birch Court,30,false,arrears,{soon.isoformat()},,x\n",
        f"D2,A1,Birch Court,25,,arrears,{soon.isoformat()},,x\n",
        f"D3,A1,,2,是,arrears,{later.isoformat()},,x\n",
        f"D4,A9,Birch Court,30,false,arrears,{soon.isoformat()},,x\n",        # unknown area
        f"D5,A1,Birch Court,-3,false,arrears,{soon.isoformat()},,x\n",
        f"D6,A1,Birch Court,many,false,arrears,{soon.isoformat()},,x\n",
        f"D7,A1,Birch Court,3,maybe,arrears,{soon.isoformat()},,x\n",
        f"D8,A1,Birch Court,3,true,unpaid,{soon.isoformat()},,x\n",
        "D9,A1,Birch Court,3,true,arrears,,,x\n",
        f"D10,A1,Birch Court,3,true,arrears,{soon.isoformat()},{later.isoformat()},x\n",  # future
        "D11,A1,Birch Court,3,true,arrears,tomorrow,,x\n",
    ]), encoding="utf-8")
    done = cli("ingest", "disconnections", str(path), "--format", "json")
    assert done.exit_code == 3, done.output
    acct = json.loads(done.output)
    assert (acct["accepted"], acct["duplicates"], acct["updated"], acct["rejected"]) == (3, 0, 0, 8)
    assert [(r["line"], r["field"]) for r in acct["rejects"]] == [
        (5, "area_id"), (6, "households"), (7, "households"), (8, "important_user"),
        (9, "reason"), (10, "planned_start"), (11, "reported_at"), (12, "planned_start")]
    assert "unknown area 'A9'" in acct["rejects"][0]["reason"]
    assert any("comment" in w for w in acct["warnings"])
    # Ingesting them made D1 + D2 (55 households, 10 h to the deadline) alert at once.
    alerts = _alerts(engine)
    assert [(a["subject_id"], a["rule"], a["state"]) for a in alerts] == [
        ("D1", "arrears_prereport_due", "firing"), ("D2", "arrears_prereport_due", "firing")]
    assert "Birch Court, 55 households" in alerts[0]["summary"]
    # The same file again stores nothing twice; a report sent in is an update and resolves.
    again = json.loads(cli("ingest", "disconnections", str(path), "--format", "json").output)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 8)
    reported = datetime.now(UTC).replace(microsecond=0).isoformat()
    path.write_text(HEADER + f"D1,A1,Birch Court,30,false,arrears,{soon.isoformat()},{reported},x\n"
                    f"D2,A1,Birch Court,25,no,arrears,{soon.isoformat()},,x\n",
                    encoding="utf-8")
    upd = json.loads(cli("ingest", "disconnections", str(path), "--format", "json").output)
    assert (upd["updated"], upd["duplicates"]) == (1, 1)     # "no" is the stored false
    assert [(a["subject_id"], a["state"]) for a in _alerts(engine)] == [
        ("D1", "resolved"), ("D2", "firing")]                # D2 is still to be reported
    with Session(engine) as s:
        row = s.execute(text("SELECT households, important_user, compound FROM disconnection "
                             "WHERE disconnection_id = 'D3'")).one()
    assert tuple(row) == (2, True, None)
    month = soon.astimezone(LOCAL_TZ).strftime("%Y-%m")
    rep = cli("report", "arrears-prereport", "--month", month, "--format", "json")
    assert rep.exit_code == 0, rep.output
    assert [(r["disconnection_id"], r["status"], r["households_total"]) for r in json.loads(rep.output)
            if r["disconnection_id"] in ("D1", "D2")] == [("D1", "ok", 55), ("D2", "due", 55)]
    bad = cli("report", "arrears-prereport", "--month", "2026-13")
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def _alerts(eng: Engine) -> list[dict[str, Any]]:
    with Session(eng) as s:
        return [dict(r) for r in s.execute(text(
            "SELECT subject_id, rule, state, summary FROM alert ORDER BY subject_id, id")).mappings()]


def test_disconnections_and_the_prereport_over_http(fresh_settings: Settings) -> None:
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        with Session(api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1")
            s.commit()
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"disconnection_id": "H1", "area_id": "A1", "compound": "=cmd|' /C calc'!A0",
             "households": 51, "important_user": False, "reason": "arrears",
             "planned_start": "2026-11-10T09:00:00+08:00", "reported_at": "2026-11-05T09:00:00+08:00"},
            {"disconnection_id": "H2", "area_id": "A1", "households": 2, "important_user": True,
             "reason": "arrears", "planned_start": "2026-11-12T09:00:00+08:00"},
            {"disconnection_id": "H3", "area_id": "A1", "households": 2.5, "reason": "arrears",
             "planned_start": "2026-11-12T09:00:00+08:00"},
        ]) + "\n"
        url = "/api/v1/ingest/disconnections"
        headers = {"Content-Type": "application/x-ndjson"}
        assert api.request("POST", url, "planner", content=body, headers=headers).status_code == 403
        r = api.request("POST", url, "ingest", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], r.json()["rejected"]) == (2, 1)
        assert r.json()["rejects"][0]["field"] == "households"
        path = "/api/v1/reports/arrears-prereport"
        params = {"month": "2026-11", "as_of": "2026-11-09T12:00:00+08:00"}
        assert api.get(path, "ingest", params=params).status_code == 403
        got = api.get(path, "regulator", params=params)
        assert got.status_code == 200, got.text
        assert [(x["disconnection_id"], x["status"], x["deadline"]) for x in got.json()] == [
            ("H1", "ok", "2026-11-07T01:00:00+00:00"), ("H2", "missing", "2026-11-09T01:00:00+00:00")]
        x = api.get(path, "planner", params={**params, "format": "xlsx"})
        assert x.status_code == 200 and "arrears-prereport-2026-11.xlsx" in x.headers["content-disposition"]
        ws = load_workbook(io.BytesIO(x.content))["欠费停电报备"]
        assert ws["A1"].value == "2026年11月欠费停电提前报备清单"
        assert [c.value for c in ws[3]][:8] == ["停电编号", "小区", "同小区同日停电户数", "重要用户",
                                                "计划停电时间", "报备截止时间", "报备时间", "报备状态"]
        assert (ws["B4"].value, ws["B4"].data_type, ws["B4"].quotePrefix) == (
            "=cmd|' /C calc'!A0", "s", True)                  # text, never a formula
        assert (ws["D4"].value, ws["D5"].value, ws["H4"].value, ws["H5"].value) == (
            "否", "是", "按时报备", "未报备")
        assert ws.auto_filter.ref == "A3:K5" and ws.freeze_panes == "B4"
        assert ws["E4"].value == datetime(2026, 11, 10, 9, 0)
        assert api.get(path, "planner", params={"month": "2026-1"}).status_code in (400, 422)
