"""Distributed-PV hosting capacity (SPEC section 15, docs/hosting-capacity.md).

Defaults β = 0.8, cos φ = 0.95, τ = 1.0. With S = 100 kVA, β·S·cos φ = 0.8·100·0.95 = 76 kW, so
a typical load P = 24 kW gives S_d = (24 + 76)/1 = 100 kW: the cases below make C1 and C2 round.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from openpyxl import load_workbook
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.errors import UsageError
from core.settings import Settings
from monitoring.hosting import capacity
from tests.builders import add_area, add_feeder

# 2026-11-28 12:00 Beijing: the current quarter is 2026Q4 (2026-10-01 to 2027-01-01, Beijing).
NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
SETTINGS = Settings()


def area(s: Session, area_id: str, feeder: str = "F1", *, kva: float | None = 100,
         load: float | None = 24, pv: tuple[tuple[float, str], ...] = ()) -> None:
    add_area(s, area_id, feeder)
    s.execute(text("UPDATE area SET capacity_kva = :c WHERE area_id = :a"), {"a": area_id, "c": kva})
    if load is not None:
        s.execute(text("INSERT INTO area_load (area_id, typical_load_kw) VALUES (:a, :p)"),
                  {"a": area_id, "p": load})
    for i, (kw, status) in enumerate(pv):
        s.execute(text("INSERT INTO pv_unit (pv_id, area_id, kw, status) VALUES (:i, :a, :k, :s)"),
                  {"i": f"{area_id}-pv{i}", "a": area_id, "k": kw, "s": status})


def figures(s: Session, settings: Settings = SETTINGS, now: datetime = NOW) -> dict[str, dict[str, Any]]:
    capacity.refresh_current(session=s, settings=settings, now=now)
    quarter = capacity.current_quarter(now).label
    return {r["asset_id"]: r for r in capacity.area_rows(session=s, quarter=quarter)
            + capacity.feeder_rows(session=s, quarter=quarter)}


@pytest.fixture
def grid(db_session: Session) -> Session:
    add_feeder(db_session, "F1")
    add_feeder(db_session, "F2")
    add_feeder(db_session, "F3")
    return db_session


def test_hand_worked_grades(grid: Session) -> None:
    s = grid
    area(s, "GREEN", pv=((30, "connected"), (20, "registered")))    # C1 = 100−30 = 70, C2 = 50
    area(s, "C2ZERO", pv=((60, "connected"), (40, "registered")))   # C1 = 40, C2 = 40−40 = 0
    area(s, "C1ZERO", pv=((100, "connected"),))                     # C1 = 100−100 = 0
    area(s, "OVER", pv=((90, "connected"), (25, "registered")))     # C1 = 10, C2 = −15
    area(s, "NOLOAD", load=None)                                    # no P: unassessed
    area(s, "NOKVA", kva=None, pv=((5, "registered"),))             # no S: unassessed
    got = figures(s)
    one = got["GREEN"]
    assert (one["s_kva"], one["p_kw"], one["s_d_kw"], one["connected_kw"], one["registered_kw"],
            one["c1_kw"], one["c2_kw"], one["grade"]) == (100, 24, 100, 30, 20, 70, 50, "green")
    assert (got["C2ZERO"]["c1_kw"], got["C2ZERO"]["c2_kw"], got["C2ZERO"]["grade"]) == (40, 0, "yellow")
    assert (got["C1ZERO"]["c1_kw"], got["C1ZERO"]["c2_kw"], got["C1ZERO"]["grade"]) == (0, 0, "red")
    assert (got["OVER"]["c1_kw"], got["OVER"]["c2_kw"], got["OVER"]["grade"]) == (10, -15, "yellow")
    no_load = got["NOLOAD"]
    assert no_load["grade"] == "unassessed" and no_load["s_d_kw"] is None and no_load["c1_kw"] is None
    no_kva = got["NOKVA"]
    assert (no_kva["grade"], no_kva["s_kva"], no_kva["registered_kw"]) == ("unassessed", None, 5)


def test_no_load_is_unassessed_never_green_even_with_no_pv(grid: Session) -> None:
    """Without P the area might host anything or nothing: it is never shown green."""
    s = grid
    area(s, "EMPTY", load=None)
    area(s, "ZERO_KVA", kva=0)                      # 0 kVA is no capacity given
    assert figures(s)["EMPTY"]["grade"] == "unassessed"
    assert figures(s)["ZERO_KVA"]["grade"] == "unassessed"


def test_a_feeder_with_one_red_area_is_red(grid: Session) -> None:
    s = grid
    area(s, "A1", "F1", pv=((10, "connected"),))    # green: C2 = 90
    area(s, "A2", "F1", pv=((10, "connected"),))    # green
    area(s, "A3", "F1", pv=((120, "connected"),))   # red: C1 = 100−120 = −20
    area(s, "B1", "F2", pv=((10, "connected"),))    # green
    area(s, "B2", "F2", load=None)                  # unassessed
    area(s, "C1", "F3", pv=((50, "connected"), (60, "registered")))  # yellow: C1 = 50, C2 = −10
    area(s, "C2", "F3", load=None)                  # unassessed
    got = figures(s)
    assert got["A3"]["grade"] == "red"
    assert {k: got[k] for k in ("F1", "F2", "F3")} == {
        "F1": {"asset_type": "feeder", "asset_id": "F1", "grade": "red"},
        # an unassessed area keeps a feeder from green, and does not hide a yellow one
        "F2": {"asset_type": "feeder", "asset_id": "F2", "grade": "unassessed"},
        "F3": {"asset_type": "feeder", "asset_id": "F3", "grade": "yellow"},
    }


def test_parameters_are_settings_and_decimal_figures_grade_exactly(grid: Session) -> None:
    """S = 315, P = 60.6: β·S·cos φ = 0.8·315·0.95 = 239.4, S_d = 300; PV 300 kW connected is red
    (binary floats would make C1 = 1e-13 and call it yellow)."""
    s = grid
    area(s, "A", kva=315, load=60.6, pv=((300, "connected"),))
    got = figures(s)["A"]
    assert (got["s_d_kw"], got["c1_kw"], got["grade"]) == (300, 0, "red")
    # τ = 0.8: S_d = 300/0.8 = 375, C1 = 75; β = 0.5: S_d = (60.6 + 0.5·315·0.95)/0.8 = 262.78125
    changed = Settings(hosting_tau=0.8)
    assert (figures(s, changed)["A"]["s_d_kw"], figures(s, changed)["A"]["grade"]) == (375, "green")
    assert figures(s, Settings(hosting_tau=0.8, hosting_beta=0.5))["A"]["s_d_kw"] == 262.781
    run = capacity.stored_run(session=s, quarter="2026Q4")
    assert run is not None and run.parameters() == {"beta": 0.5, "cos_phi": 0.95, "tau": 0.8}


@pytest.mark.parametrize("env, value", [("GRIDWATCH_HOSTING_BETA", "0"),
                                        ("GRIDWATCH_HOSTING_COS_PHI", "1.2"),
                                        ("GRIDWATCH_HOSTING_TAU", "-1")])
def test_parameters_are_validated(env: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError):
        Settings()


def test_an_ended_quarter_is_served_as_stored_and_never_recomputed(grid: Session) -> None:
    s = grid
    area(s, "A", pv=((10, "connected"),))
    q3 = datetime(2026, 8, 15, 4, 0, tzinfo=UTC)                     # 2026Q3 was current then
    first = capacity.quarter_run(session=s, settings=SETTINGS, quarter="2026Q3", now=q3)
    assert figures(s, now=q3)["A"]["c1_kw"] == 90
    s.execute(text("UPDATE pv_unit SET kw = 150"))                    # later inputs…
    later = Settings(hosting_beta=0.5)                                 # …and parameters
    again = capacity.quarter_run(session=s, settings=later, quarter="2026Q3", now=NOW)
    assert again == first and again.parameters()["beta"] == 0.8
    assert {r["asset_id"]: r["c1_kw"] for r in capacity.area_rows(session=s, quarter="2026Q3")} == {"A": 90}
    with pytest.raises(UsageError):                                    # never computed afterwards
        capacity.compute(session=s, settings=later, quarter="2026Q3", now=NOW)
    # 2026Q2 was never computed while current: computed once now, from today's inputs
    # (PV 150 kW: C1 = 100 − 150 = −50), said to be late, and then kept like any other
    q2 = capacity.quarter_run(session=s, settings=SETTINGS, quarter="2026Q2", now=NOW)
    assert q2.after_end and not first.after_end and q2.computed_at == NOW
    assert {r["asset_id"]: r["c1_kw"] for r in capacity.area_rows(session=s, quarter="2026Q2")} == {"A": -50}
    s.execute(text("UPDATE pv_unit SET kw = 10"))
    assert capacity.quarter_run(session=s, settings=SETTINGS, quarter="2026Q2", now=NOW) == q2
    s.execute(text("UPDATE pv_unit SET kw = 150"))
    with pytest.raises(UsageError):                                    # 2027Q1 has not begun
        capacity.quarter_run(session=s, settings=SETTINGS, quarter="2027Q1", now=NOW)
    # the current quarter follows the inputs: 100 − 150 = −50
    assert figures(s, later)["A"]["c1_kw"] == (24 + 0.5 * 100 * 0.95) - 150


def test_the_current_quarter_is_recomputed_only_when_inputs_or_parameters_change(fresh_db: str) -> None:
    engine = create_engine(fresh_db, poolclass=pool.NullPool)

    def refresh(settings: Settings = SETTINGS, write: str | None = None) -> bool:
        with Session(engine) as s:
            if write:
                s.execute(text(write))
            computed = capacity.refresh_current(session=s, settings=settings, now=NOW)["computed"]
            s.commit()
            return bool(computed)

    with Session(engine) as s:
        add_feeder(s, "F1")
        area(s, "A")
        s.commit()
    assert refresh() is True
    assert refresh() is False                                     # nothing changed since
    assert refresh(Settings(hosting_tau=0.9)) is True             # a parameter changed
    assert refresh(Settings(hosting_tau=0.9)) is False
    assert refresh(Settings(hosting_tau=0.9), write="INSERT INTO pv_unit (pv_id, area_id, kw, status) "
                   "VALUES ('p', 'A', 5, 'registered')") is True  # uncommitted own change: recompute
    assert refresh(Settings(hosting_tau=0.9)) is True             # …and once more after its commit
    assert refresh(Settings(hosting_tau=0.9)) is False
    assert refresh(Settings(hosting_tau=0.9), write="UPDATE area SET capacity_kva = 200") is True
    engine.dispose()


FORMULA_ID = '=HYPERLINK("http://evil.example/x","click")'
LOADS = "area_id,typical_load_kw,comment\n"
PV_HEADER = "pv_id,area_id,kw,status\n"


def _areas_file(tmp_path: Path) -> Path:
    feeders = gpd.GeoDataFrame({"feeder_id": ["F1", "F2"]}, crs="EPSG:4326",
                               geometry=[shapely.LineString([(106.7, 26.5), (106.8, 26.6)])] * 2)
    feeders.to_file(tmp_path / "f.geojson", driver="GeoJSON")
    boxes = [shapely.box(106.70 + i / 100, 26.5, 106.705 + i / 100, 26.505) for i in range(7)]
    areas = gpd.GeoDataFrame(
        {"area_id": ["A1", "A2", "A3", "A4", "A5", "A6", FORMULA_ID],
         "feeder_id": ["F1", "F1", "F1", "F1", "F1", "F1", "F2"],
         "customers": [10] * 7,
         "capacity_kva": ["100", "100", "", "abc", "-5", "nan", "100"]},
        geometry=boxes, crs="EPSG:4326")
    path = tmp_path / "a.geojson"
    areas.to_file(path, driver="GeoJSON")
    return path


def test_inputs_accounting_report_and_a_resent_pv_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    areas = _areas_file(tmp_path)
    assert cli("load", "feeders", str(tmp_path / "f.geojson")).exit_code == 0
    loaded = cli("load", "areas", str(areas), "--format", "json")
    acct = json.loads(loaded.output)
    # capacity_kva: empty is unknown (A3, stored NULL); not a number, negative or NaN is rejected
    assert loaded.exit_code == 3 and acct["accepted"] == 4
    assert [(r["line"], r["field"]) for r in acct["rejects"]] == [
        (4, "capacity_kva"), (5, "capacity_kva"), (6, "capacity_kva")]
    loads = tmp_path / "loads.csv"
    loads.write_text(LOADS + "A1,24,x\nA2,24.0,x\nA3,10,x\nA9,5,x\nA2,-3,x\nA2,lots,x\nA2,,x\n"
                     f"\"{FORMULA_ID.replace(chr(34), chr(34) * 2)}\",24,x\nA1,24,x\n", encoding="utf-8")
    got = cli("ingest", "area-loads", str(loads), "--format", "json")
    acct = json.loads(got.output)
    assert got.exit_code == 3
    # A1 (line 2), A2, A3 and the formula id accepted; A1 again on line 10: a duplicate
    assert (acct["accepted"], acct["duplicates"], acct["updated"], acct["rejected"]) == (4, 1, 0, 4)
    assert [(r["line"], r["field"]) for r in acct["rejects"]] == [
        (5, "area_id"), (6, "typical_load_kw"), (7, "typical_load_kw"), (8, "typical_load_kw")]
    assert "unknown area 'A9'" in acct["rejects"][0]["reason"]
    assert "negative" in acct["rejects"][1]["reason"] and "not a number" in acct["rejects"][2]["reason"]
    assert any("comment" in w for w in acct["warnings"])
    pv = tmp_path / "pv.csv"
    # A1: S_d = 100; 60 connected, 40 registered: C1 = 40, C2 = 0 (yellow). A2: C2 = 100 − 10 = 90.
    rows = "P1,A1,60,connected\nP2,A1,40,registered\nP3,A2,10,registered\n"
    pv.write_text(PV_HEADER + rows + "P4,A1,5,planned\nP5,A1,-1,connected\nP6,A9,1,connected\n"
                  "P7,A1,,connected\n", encoding="utf-8")
    got = cli("ingest", "pv", str(pv), "--format", "json")
    acct = json.loads(got.output)
    assert (acct["accepted"], acct["duplicates"], acct["updated"], acct["rejected"]) == (3, 0, 0, 4)
    assert [(r["line"], r["field"]) for r in acct["rejects"]] == [
        (5, "status"), (6, "kw"), (7, "area_id"), (8, "kw")]
    quarter = capacity.current_quarter(datetime.now(UTC)).label
    # the ingest recomputed the current quarter already
    with Session(create_engine(cli.url, poolclass=pool.NullPool)) as s:
        found = s.execute(text("SELECT area_id, grade FROM hosting_area WHERE quarter = :q"),
                          {"q": quarter}).all()
    stored = {str(a): str(g) for a, g in found}
    assert stored == {"A1": "yellow", "A2": "green", "A3": "unassessed", FORMULA_ID: "green"}
    report = cli("report", "hosting-capacity", "--quarter", quarter, "--format", "json")
    assert report.exit_code == 0, report.output
    listed = json.loads(report.output)
    assert [list(r) for r in listed][0] == capacity.AREA_FIELDS
    by_id = {r["asset_id"]: r for r in listed}
    assert (by_id["A1"]["c1_kw"], by_id["A1"]["c2_kw"], by_id["A1"]["grade"]) == (40, 0, "yellow")
    assert by_id["A3"]["s_kva"] is None and by_id["A3"]["grade"] == "unassessed"
    assert by_id["F1"] == {"asset_type": "feeder", "asset_id": "F1", "grade": "yellow"}
    assert by_id["F2"] == {"asset_type": "feeder", "asset_id": "F2", "grade": "green"}
    # Re-sent: P2 registered → connected. Accounting: 1 updated, 2 duplicates; A1 turns red
    # (C1 = 100 − 60 − 40 = 0).
    pv.write_text(PV_HEADER + rows.replace("P2,A1,40,registered", "P2,A1,40,connected"),
                  encoding="utf-8")
    again = json.loads(cli("ingest", "pv", str(pv), "--format", "json").output)
    assert (again["accepted"], again["duplicates"], again["updated"], again["rejected"]) == (0, 2, 1, 0)
    after = {r["asset_id"]: r for r in json.loads(
        cli("report", "hosting-capacity", "--quarter", quarter, "--format", "json").output)}
    assert (after["A1"]["connected_kw"], after["A1"]["registered_kw"]) == (100, 0)
    assert (after["A1"]["c1_kw"], after["A1"]["grade"], after["F1"]["grade"]) == (0, "red", "red")
    # csv: the formula-looking area id is text
    csv_out = tmp_path / "h.csv"
    assert cli("report", "hosting-capacity", "--quarter", quarter, "--format", "csv",
               "--out", str(csv_out)).exit_code == 0
    text_csv = csv_out.read_text(encoding="utf-8-sig")
    assert text_csv.splitlines()[0] == ",".join(capacity.AREA_FIELDS)
    parsed = list(csv.reader(io.StringIO(text_csv)))
    assert ["area", "'" + FORMULA_ID, "F2"] == parsed[1][:3]       # a leading ' keeps it text
    # an ended quarter never computed is computed once, and says so; a quarter not begun and a
    # bad one are usage errors (2)
    past = cli("report", "hosting-capacity", "--quarter", "2020Q1", "--format", "json")
    assert past.exit_code == 0 and "was never computed while it was current" in past.stderr
    assert {r["asset_id"] for r in json.loads(past.stdout)} >= {"A1", "F1"}
    assert cli("report", "hosting-capacity", "--quarter", "2199Q1").exit_code == 2
    bad = cli("report", "hosting-capacity", "--quarter", "2026Q5")
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_http_inputs_report_xlsx_and_the_public_document(fresh_settings: Settings) -> None:
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings.model_copy(update={"public_rate_per_minute": 3})):
        with Session(api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", lon=106.70, lat=26.50)
            add_area(s, "A2", "F1", lon=106.72, lat=26.50, name="<img src=x onerror=alert(1)>")
            add_area(s, FORMULA_ID, "F1", lon=106.74, lat=26.50)
            s.execute(text("UPDATE area SET capacity_kva = 100"))
            s.execute(text("INSERT INTO asset_region (asset_type, asset_id, county_adcode) "
                           "SELECT 'area', area_id, '520102' FROM area"))
            s.commit()
        csv_type = {"Content-Type": "text/csv"}
        loads = "area_id,typical_load_kw\nA1,24\nA2,24\nA9,1\n"
        url = "/api/v1/ingest/area-loads"
        assert api.request("POST", url, content=loads, headers=csv_type).status_code == 401
        assert api.request("POST", url, "planner", content=loads, headers=csv_type).status_code == 403
        r = api.request("POST", url, "ingest", content=loads, headers=csv_type)
        assert r.status_code == 200, r.text
        acct = r.json()
        assert (acct["accepted"], acct["rejected"], acct["rejects"][0]["field"]) == (2, 1, "area_id")
        pv = "\n".join(json.dumps(x) for x in [
            {"pv_id": "P1", "area_id": "A1", "kw": 100, "status": "connected"},      # A1: C1 = 0, red
            {"pv_id": "P2", "area_id": "A2", "kw": 60, "status": "connected"},       # A2: C1 = 40
            {"pv_id": "P3", "area_id": "A2", "kw": 40, "status": "registered"},      # C2 = 0, yellow
            {"pv_id": "P4", "area_id": "A2", "kw": "12kW", "status": "registered"}]) + "\n"
        r = api.request("POST", "/api/v1/ingest/pv", "ingest", content=pv,
                        headers={"Content-Type": "application/x-ndjson"})
        assert (r.json()["accepted"], r.json()["rejected"], r.json()["rejects"][0]["field"]) == (3, 1, "kw")
        quarter = capacity.current_quarter(datetime.now(UTC)).label
        path = "/api/v1/reports/hosting-capacity"
        assert api.get(path, params={"quarter": quarter}).status_code == 401
        assert api.get(path, "ingest", params={"quarter": quarter}).status_code == 403
        got = api.get(path, "regulator", params={"quarter": quarter})
        assert got.status_code == 200, got.text
        assert [(x["asset_id"], x["grade"]) for x in got.json()] == [
            (FORMULA_ID, "unassessed"), ("A1", "red"), ("A2", "yellow"), ("F1", "red")]
        assert got.json()[-1] == {"asset_type": "feeder", "asset_id": "F1", "grade": "red"}
        assert api.get(path, "planner", params={"quarter": "2026Q9"}).status_code in (400, 422)
        late = api.get(path, "planner", params={"quarter": "2020Q1", "format": "xlsx"})
        assert late.status_code == 200, late.text
        params_sheet = load_workbook(io.BytesIO(late.content))["评估参数"]
        assert "季度结束后补算" in str(params_sheet.cell(row=3, column=3).value)
        x = api.get(path, "planner", params={"quarter": quarter, "format": "xlsx"})
        assert x.status_code == 200 and f"hosting-capacity-{quarter}.xlsx" in x.headers["content-disposition"]
        wb = load_workbook(io.BytesIO(x.content))
        assert wb.sheetnames == ["分布式光伏承载力", "分县统计", "评估参数"]
        ws = wb["分布式光伏承载力"]
        assert ws["A1"].value == f"{quarter[:4]}年第{quarter[-1]}季度分布式光伏接入电网承载力评估结果"
        assert [c.value for c in ws[3]] == [
            "类型", "编号", "所属馈线", "县（区）", "配变容量S(kVA)", "典型负荷P(kW)", "承载力S_d(kW)",
            "已并网容量(kW)", "已备案未并网容量(kW)", "C1=S_d−已并网(kW)", "C2=C1−已备案(kW)", "承载力等级"]
        assert (ws["B4"].value, ws["B4"].data_type, ws["B4"].quotePrefix) == (FORMULA_ID, "s", True)
        assert [(ws[f"A{n}"].value, ws[f"B{n}"].value, ws[f"J{n}"].value, ws[f"L{n}"].value)
                for n in (5, 6, 7)] == [("台区", "A1", 0, "红色"), ("台区", "A2", 40, "黄色"),
                                        ("馈线", "F1", None, "红色")]
        totals = wb["分县统计"]
        assert [c.value for c in totals[2]][:7] == ["县（区）", "行政区划代码", "绿色", "黄色", "红色",
                                                    "未评估", "台区合计"]
        assert [c.value for c in totals[3]][1:7] == ["520102", 0, 1, 1, 1, 3]
        params = {r[0].value: r[1].value for r in wb["评估参数"].iter_rows(min_row=2)}
        assert (params["β 最大反向负载率"], params["cos\u03c6 功率因数"], params["τ 分布式光伏出力系数"]) == (
            0.8, 0.95, 1.0)
        # the public document: no key, areas, their points and grades only
        pub = api.get("/public/hosting-capacity.json")
        assert pub.status_code == 200 and "max-age" in pub.headers["cache-control"]
        doc = pub.json()
        assert set(doc) == {"quarter", "computed_at", "areas"} and doc["quarter"] == quarter
        assert all(set(a) == {"area_id", "lon", "lat", "grade"} for a in doc["areas"])
        a1 = next(a for a in doc["areas"] if a["area_id"] == "A1")
        assert a1["grade"] == "red" and 106.70 < a1["lon"] < 106.71 and 26.50 < a1["lat"] < 26.51
        assert "P1" not in pub.text and "onerror" not in pub.text and "kw" not in pub.text.lower()
        again = api.get("/public/hosting-capacity.json", headers={"If-None-Match": pub.headers["etag"]})
        assert again.status_code == 304
        zipped = api.get("/public/hosting-capacity.json", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers.get("content-encoding") == "gzip" and zipped.json() == doc
        limited = api.get("/public/hosting-capacity.json")          # the 4th this minute: limit 3
        assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_the_monitoring_job_computes_the_clocks_quarter_whatever_the_as_of(fresh_db: str) -> None:
    """``monitor run --as-of 2026-05-01`` must not recompute 2026Q2 after it ended: the job's
    quarter is the clock's."""
    from monitoring.jobs import hosting_capacity

    settings = Settings(database_url=fresh_db)
    engine = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(engine) as s:
        add_feeder(s, "F1")
        area(s, "A")
        s.commit()
    done = hosting_capacity(engine=engine, settings=settings, as_of=datetime(2026, 5, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    assert done["outcome"] == "success" and done["result"]["computed"] is True
    assert done["result"]["quarter"] == capacity.current_quarter(now).label
    with Session(engine) as s:
        stored_q2 = capacity.stored_run(session=s, quarter="2026Q2")
    assert stored_q2 is None or capacity.current_quarter(now).label == "2026Q2"
    engine.dispose()
