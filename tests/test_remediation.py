"""The quarterly remediation list (SPEC section 9): rows, quarter boundaries, case state, xlsx."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.cases import service
from monitoring.reports import remediation
from tests.builders import add_area, add_feeder, add_outage

SETTINGS = Settings()
NOW = datetime(2026, 11, 1, tzinfo=LOCAL_TZ)


def t(*args: int) -> datetime:
    """A local (Asia/Shanghai) time."""
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[arg-type,misc]


def outages(session: Session, area: str, starts: list[datetime], cause: str = "fault",
            hours: float = 1.0) -> None:
    for i, s in enumerate(starts):
        add_outage(session, f"{area}-{cause}-{i}", "area", area, s, s + timedelta(hours=hours), cause)


def regions(session: Session) -> None:
    session.execute(text(
        "INSERT INTO admin_division (adcode, name, level, parent_adcode, geom) VALUES "
        "('520100', '贵阳市', 'prefecture', '520000', ST_GeomFromEWKT(:g)), "
        "('520111', '花溪区', 'county', '520100', ST_GeomFromEWKT(:g))"),
        {"g": "SRID=4326;MULTIPOLYGON(((106 26,107 26,107 27,106 27,106 26)))"})


def scenario(session: Session) -> None:
    add_feeder(session, "F1")
    for a in ("A1", "A2", "A3", "A4", "A5"):
        add_area(session, a, "F1", name=f"台区{a}")
    regions(session)
    session.execute(text(
        "INSERT INTO asset_region (asset_type, asset_id, county_adcode, prefecture_adcode) "
        "VALUES ('area', 'A1', '520111', '520100')"))
    session.execute(text(
        "INSERT INTO asset_tag (asset_type, asset_id, layer, share) VALUES "
        "('area', 'A1', 'old_compound', 0.8), ('area', 'A1', 'weak_supply_village', 0.2)"))
    # A1: at_risk (5) at the start of Q2, frequent (6) from 2026-04-10, `ok` (4) at the end.
    outages(session, "A1", [t(2025, 4, 15), t(2025, 6, 20), t(2025, 8, 25), t(2025, 10, 30),
                            t(2026, 1, 5), t(2026, 4, 10)])
    outages(session, "A1", [t(2026, 5, 1), t(2026, 5, 2), t(2026, 5, 3), t(2026, 5, 4)], "weather")
    # A2: never frequent (3 in 60 days is at_risk).
    outages(session, "A2", [t(2026, 5, 1), t(2026, 5, 10), t(2026, 5, 20)])
    # A4: the fourth in 60 days at 2026-03-31 23:59 local: frequent in Q1 (and still in Q2).
    outages(session, "A4", [t(2026, 3, 1), t(2026, 3, 10), t(2026, 3, 20), t(2026, 3, 31, 23, 59)])
    # A5: the fourth at 2026-04-01 00:00 local: frequent in Q2 only.
    outages(session, "A5", [t(2026, 3, 1), t(2026, 3, 10), t(2026, 3, 20), t(2026, 4, 1)])
    # A3: four 2-minute faults in a week: short, never counted.
    outages(session, "A3", [t(2026, 5, 1), t(2026, 5, 2), t(2026, 5, 3), t(2026, 5, 4)],
            hours=2 / 60)


def listed(session: Session, quarter: str, public: bool = False) -> dict[str, dict]:
    report = remediation.build(session=session, settings=SETTINGS, quarter=quarter, public=public,
                               now=NOW)
    return {r["asset_id"]: r for r in report.rows}


def test_frequent_at_any_moment_of_the_quarter(db_session: Session) -> None:
    scenario(db_session)
    q2 = listed(db_session, "2026Q2")
    assert set(q2) == {"A1", "A4", "A5"}
    a1 = q2["A1"]
    assert (a1["count_365"], a1["max_60"], a1["status"]) == (4, 1, "ok")
    assert a1["frequent_in_quarter"] is True
    assert (a1["name"], a1["county"], a1["prefecture"]) == ("台区A1", "花溪区", "贵阳市")
    assert a1["tags"] == ["old_compound"]
    # by cause: raw interruptions in the 365 days to the quarter's end
    assert (a1["interruptions_fault"], a1["interruptions_weather"]) == (4, 4)
    assert a1["case_status"] is None
    # Q1 ends before A1's sixth interruption: at most at_risk in Q1.
    assert "A1" not in listed(db_session, "2026Q1")


def test_quarter_boundaries_are_local_time(db_session: Session) -> None:
    scenario(db_session)
    q1 = listed(db_session, "2026Q1")
    assert set(q1) == {"A4"}
    assert (q1["A4"]["count_365"], q1["A4"]["max_60"], q1["A4"]["status"]) == (4, 4, "frequent")
    q2 = listed(db_session, "2026Q2")
    assert q2["A5"]["max_60"] == 4 and q2["A5"]["count_365"] == 4
    # The same question through the 2026-04-01 00:00 interruption: not in Q1's counts.
    assert listed(db_session, "2026Q1").get("A5") is None


def test_case_state_at_quarter_end_and_case_only_rows(db_session: Session) -> None:
    scenario(db_session)
    db_session.execute(text(
        "INSERT INTO asset_status VALUES ('area', 'A2', :t, 6, 4, 'frequent'), "
        "('area', 'A1', :t, 6, 1, 'frequent')"), {"t": t(2026, 4, 10, 2)})
    opened = service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 4, 10, 3))
    ids = {c["asset_id"]: c["case_id"] for c in opened}
    service.update_case(session=db_session, case_id=ids["A1"], actor="李工", at=t(2026, 5, 1),
                        changes={"status": "in_progress", "measures": "线路改造",
                                 "responsible_unit": "花溪供电局", "due_date": "2026-08-31",
                                 "internal_note": "需协调林业"})
    # Changes after the quarter do not rewrite the quarter's list.
    service.update_case(session=db_session, case_id=ids["A1"], actor="李工", at=t(2026, 7, 2),
                        changes={"status": "completed", "completion_date": "2026-07-02"})
    q2 = listed(db_session, "2026Q2")
    assert set(q2) == {"A1", "A2", "A4", "A5"}  # A2 only because its case was open
    assert q2["A2"]["frequent_in_quarter"] is False and q2["A2"]["case_status"] == "open"
    a1 = q2["A1"]
    assert (a1["case_status"], a1["measures"], a1["responsible_unit"]) == (
        "in_progress", "线路改造", "花溪供电局")
    assert a1["due_date"].isoformat() == "2026-08-31" and a1["completion_date"] is None
    assert a1["internal_note"] == "需协调林业"
    public = remediation.build(session=db_session, settings=SETTINGS, quarter="2026Q2",
                               public=True, now=NOW)
    assert "internal_note" not in public.columns and "signed_off_by" not in public.columns
    assert "verified_by" not in public.columns
    assert all("internal_note" not in r for r in public.rows)
    assert "需协调林业" not in public.render("csv").decode("utf-8")
    assert "需协调林业" not in json.dumps([str(v) for r in public.rows for v in r.values()],
                                       ensure_ascii=False)


def test_xlsx_is_a_fileable_document(db_session: Session) -> None:
    scenario(db_session)
    add_feeder(db_session, "0012")
    add_area(db_session, "000123", "0012")
    outages(db_session, "000123", [t(2026, 4, 1), t(2026, 4, 2), t(2026, 4, 3), t(2026, 4, 4)])
    report = remediation.build(session=db_session, settings=SETTINGS, quarter="2026Q2", now=NOW)
    wb = load_workbook(io.BytesIO(report.render("xlsx")))
    assert wb.sheetnames == ["整治清单", "分区汇总", "data"]
    data = wb["data"]
    assert [c.value for c in data[1]] == report.columns  # the report's own names in row 1
    data_ids = [data.cell(row=r, column=2).value for r in range(2, data.max_row + 1)]
    assert data_ids == [r["asset_id"] for r in report.rows] and "000123" in data_ids
    ws = wb["整治清单"]
    assert "2026年第2季度" in ws["A1"].value
    assert "2026-04-01 至 2026-06-30" in ws["A2"].value and "制表日期：2026-11-01" in ws["A2"].value
    headers = [c.value for c in ws[3]]
    assert headers[:3] == ["资产类型", "资产编号", "名称"] and "整治措施" in headers
    assert ws.freeze_panes == "C4"
    assert ws.auto_filter.ref.startswith("A3:")
    ids = [ws.cell(row=r, column=2).value for r in range(4, ws.max_row + 1)]
    assert "000123" in ids  # leading zeros kept: stored as text
    assert all(ws.cell(row=r, column=2).data_type == "s" for r in range(4, ws.max_row + 1))
    summary = wb["分区汇总"]
    rows = [[c.value for c in r] for r in summary.iter_rows(min_row=3)]
    assert rows[0][:3] == ["地市", "区县", "清单资产数"] and "老旧小区" in rows[0]
    total = rows[-1]
    assert total[0] == "合计" and total[2] == len(report.rows)
    gz = [r for r in rows if r[0] == "贵阳市" and r[1] == "花溪区"][0]
    assert gz[2] == 1 and gz[rows[0].index("老旧小区")] == 1


def test_cli_remediation_json_and_bad_quarter(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    eng = create_engine(cli.url)
    with Session(eng) as s:
        scenario(s)
        s.commit()
    eng.dispose()
    result = cli("report", "remediation", "--quarter", "2026Q2", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["asset_id"] for r in rows} == {"A1", "A4", "A5"}
    assert "internal_note" in rows[0]
    public = json.loads(cli("report", "remediation", "--quarter", "2026Q2", "--public",
                            "--format", "json").stdout)
    assert "internal_note" not in public[0]
    out = tmp_path / "q2.xlsx"
    assert cli("report", "remediation", "--quarter", "2026Q2", "--format", "xlsx",
               "--out", str(out)).exit_code == 0
    assert load_workbook(out)["整治清单"]["B3"].value == "资产编号"
    bad = cli("report", "remediation", "--quarter", "2026-05")
    assert bad.exit_code == 2 and "quarter" in bad.stderr


@pytest.mark.parametrize("quarter", ["2026Q3"])
def test_empty_quarter_is_an_empty_list(db_session: Session, quarter: str) -> None:
    scenario(db_session)
    rows = listed(db_session, quarter)
    # A4 and A5 are still frequent on 2026-07-01 (their 60-day window is within 365 days).
    assert set(rows) == {"A4", "A5"}
    assert remediation.build(session=db_session, settings=SETTINGS, quarter="2024Q1",
                             now=NOW).rows == []
