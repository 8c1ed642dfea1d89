"""Connection applications in and the two reports out: CLI, HTTP, roles, xlsx (SPEC section 16)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from tests.builders import add_area, add_feeder

HEADER = ("app_id,area_id,county,customer_class,external_works,booked_at,energized_at,"
          "needs_upgrade,upgrade_estimated_days,upgrade_due,comment\n")
FILING_HEADERS = ["申请编号", "客户类别", "是否有外线工程", "预约上门服务时间", "接电时限（工作日）",
                  "电网改造预计工期（工作日）", "改造预计完成日期", "前期漏报", "报送截止日期"]


def _grid(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    engine.dispose()


def test_applications_through_the_cli_and_both_reports(cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _grid(cli.url)
    future = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    path = tmp_path / "applications.csv"
    path.write_text(HEADER + "".join([
        "A-1,A1,,lv_resident,false,2026-11-02 09:00,2026-11-06 15:00,,,,x\n",
        "A-2,,520111,lv_other,,2026-11-02T01:00:00Z,,no,,,x\n",
        "=1+2,A1,,lv_resident,0,2026-09-01 09:00,,是,30,2027-03-31,x\n",
        "00123,,,lv_other,,2026-10-15 09:00,,true,9,2027-02-28T10:00:00+08:00,x\n",
        "A-4,,,lv_house,,2026-11-02 09:00,,,,,x\n",                       # unknown class
        "A-5,,,lv_other,,yesterday,,,,,x\n",                             # not a time
        "A-6,,,lv_other,maybe,2026-11-02 09:00,,,,,x\n",                 # not a boolean
        "A-7,,,lv_other,,2026-11-02 09:00,2026-11-01 09:00,,,,x\n",      # energized before booked
        "A-8,,,lv_other,,2026-11-02 09:00,,true,-3,,x\n",                # negative estimate
        "A-9,A9,,lv_other,,2026-11-02 09:00,,,,,x\n",                    # unknown area
        "A-10,,,lv_other,,2026-11-02 09:00,,true,9,soon,x\n",            # not a date
        f"A-11,,,lv_other,,2026-11-02 09:00,{future},,,,x\n",            # energized in the future
        ",,,lv_other,,2026-11-02 09:00,,,,,x\n",                         # no app_id
    ]), encoding="utf-8")
    done = cli("ingest", "applications", str(path), "--format", "json")
    assert done.exit_code == 3, done.output
    acct = json.loads(done.stdout)
    assert (acct["accepted"], acct["duplicates"], acct["updated"], acct["rejected"]) == (4, 0, 0, 9)
    assert [(r["line"], r["field"]) for r in acct["rejects"]] == [
        (6, "customer_class"), (7, "booked_at"), (8, "external_works"), (9, "energized_at"),
        (10, "upgrade_estimated_days"), (11, "area_id"), (12, "upgrade_due"), (13, "energized_at"),
        (14, "app_id")]
    reasons = [r["reason"] for r in acct["rejects"]]
    assert "before booked_at" in reasons[3] and "negative" in reasons[4]
    assert "unknown area 'A9'" in reasons[5] and "in the future" in reasons[7]
    assert any("comment" in w for w in acct["warnings"])
    again = json.loads(cli("ingest", "applications", str(path), "--format", "json").stdout)
    assert (again["accepted"], again["duplicates"], again["updated"], again["rejected"]) == (0, 4, 0, 9)
    # energized_at arrives: the stored application is replaced (updated), the other unchanged.
    path.write_text(HEADER + "A-2,,520111,lv_other,,2026-11-02T01:00:00Z,2026-11-13 10:00,no,,,x\n"
                    "A-1,A1,,lv_resident,no,2026-11-02 09:00,2026-11-06 15:00,,,,x\n", encoding="utf-8")
    upd = json.loads(cli("ingest", "applications", str(path), "--format", "json").stdout)
    assert (upd["accepted"], upd["duplicates"], upd["updated"]) == (0, 1, 1)

    rep = cli("report", "connection-times", "--month", "2026-11", "--as-of", "2026-11-20",
              "--format", "json")
    assert rep.exit_code == 0, rep.output
    rows = {r["app_id"]: r for r in json.loads(rep.stdout)}
    assert all(list(r) == ["app_id", "customer_class", "limit_days", "elapsed_days", "status"]
               for r in rows.values())
    # (Mon 11-02, Fri 11-06] = 4 of 5, ok. A-2: (11-02, Fri 11-13] = 4 + 5 = 9 of 6, over.
    assert (rows["A-1"]["elapsed_days"], rows["A-1"]["status"]) == (4, "ok")
    assert (rows["A-2"]["limit_days"], rows["A-2"]["elapsed_days"], rows["A-2"]["status"]) == (
        6, 9, "over_limit")
    assert set(rows) == {"A-1", "A-2", "=1+2", "00123"}          # the last two are open in November
    table = cli("report", "connection-times", "--month", "2026-11", "--as-of", "2026-11-20",
                "--by", "county")
    assert table.exit_code == 0 and "Over the limit (3)" in table.stdout and "A-2" in table.stdout
    assert "520111" in table.stdout and "median_days" in table.stdout

    args = ("report", "upgrade-filing", "--month", "2026-11", "--as-of", "2026-11-05T10:00")
    ledger = json.loads(cli(*args, "--format", "json").stdout)
    # =1+2 was booked before October: carried over (前期漏报). 00123 (October) is not.
    assert [(r["app_id"], r["carried_over"], r["deadline"]) for r in ledger] == [
        ("=1+2", True, "2026-11-06"), ("00123", False, "2026-11-06")]
    assert list(ledger[0]) == ["app_id", "customer_class", "external_works", "booked_at", "limit_days",
                               "upgrade_estimated_days", "upgrade_due", "carried_over", "deadline"]
    assert (ledger[0]["upgrade_due"], ledger[1]["upgrade_due"]) == ("2027-03-31", "2027-02-28")
    marked = cli(*args, "--mark-filed", "--filed-by", "张工", "--format", "json")
    assert marked.exit_code == 0, marked.output
    assert "2 application(s), by 张工 at 2026-11-05 10:00" in marked.stderr
    twice = cli(*args, "--mark-filed", "--filed-by", "张工", "--format", "json")
    assert "nothing new to file" in twice.stderr
    with Session(create_engine(cli.url, poolclass=pool.NullPool)) as s:
        assert s.execute(text("SELECT count(*) FROM upgrade_filing_item")).scalar_one() == 2
    out = tmp_path / "ledger.xlsx"
    assert cli(*args, "--format", "xlsx", "--out", str(out)).exit_code == 0
    ws = load_workbook(out)["改造不满足时限台账"]
    assert ws["A1"].value == "2026年11月业扩接入需改造不满足接电时限台账"
    assert "报送截止：2026-11-06（当月第5个工作日）" in ws["A2"].value
    assert "已于 2026-11-05 10:00 报送" in ws["A2"].value and "张工" not in ws["A2"].value
    assert [c.value for c in ws[4]] == FILING_HEADERS
    assert (ws["A5"].value, ws["A5"].data_type, ws["A5"].quotePrefix) == ("=1+2", "s", True)
    assert (ws["A6"].value, ws["A6"].data_type) == ("00123", "s")       # an ID stays text
    assert (ws["B5"].value, ws["H5"].value, ws["H6"].value) == ("低压居民", "是", "否")
    assert ws["D5"].value == datetime(2026, 9, 1, 9, 0)                 # Beijing time, a real date
    assert ws.print_title_rows == "$4:$4" and ws.page_setup.fitToWidth == 1
    got = cli(*args, "--format", "csv")
    first = next(csv.DictReader(io.StringIO(got.stdout.lstrip("\ufeff"))))
    assert first["app_id"] == "'=1+2"                                   # never a live formula

    # A year the calendar lacks: one line naming it, exit 1, no traceback.
    bad = cli("report", "upgrade-filing", "--month", "2027-01")
    assert bad.exit_code == 1 and "no year 2027" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.output
    late = cli("report", "connection-times", "--month", "2026-12", "--as-of", "2027-01-05")
    assert late.exit_code == 1 and "no year 2027" in late.stderr
    # The holidays file adds 2027: Fri 01-01 off, Sat 01-02 worked. The 5th working day of
    # January 2027: Sat 2, Mon 4, Tue 5, Wed 6, Thu 7.
    holidays = tmp_path / "holidays.csv"
    holidays.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2027-01-02,workday,调休\n",
                        encoding="utf-8")
    monkeypatch.setenv("GRIDWATCH_HOLIDAYS_FILE", str(holidays))
    jan = cli("report", "upgrade-filing", "--month", "2027-01", "--as-of", "2026-11-27")
    assert jan.exit_code == 0, jan.output
    assert "2027-01: deadline 2027-01-07" in jan.stderr
    holidays.write_text("date,kind\n2027-01-04,workday\n", encoding="utf-8")
    broken = cli("report", "upgrade-filing", "--month", "2027-01")
    assert broken.exit_code == 1 and "line 2: 2027-01-04 is a Monday" in broken.stderr


def test_connection_alerts_follow_an_applications_ingest_and_not_the_others(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    # B-1, lv_other (6 working days), booked 2026-11-02 and still open: over its limit today.
    _grid(cli.url)
    engine = create_engine(cli.url, poolclass=pool.NullPool)
    with Session(engine) as s:
        s.execute(text("INSERT INTO application (app_id, customer_class, external_works, booked_at, "
                       "needs_upgrade) VALUES ('B-1', 'lv_other', false, '2026-11-02T09:00+08', false)"))
        s.commit()
    engine.dispose()

    def firing() -> set[tuple[str, str]]:
        alerts = json.loads(cli("alerts", "list", "--format", "json").stdout)
        return {(a["rule"], a["subject_id"]) for a in alerts
                if a["rule"].startswith("connection_") and a["state"] == "firing"}

    outages = tmp_path / "outages.csv"
    outages.write_text("outage_id,asset_type,asset_id,start_time,end_time,cause\n"
                       "O1,area,A1,2026-11-20 10:00,2026-11-20 12:00,fault\n", encoding="utf-8")
    assert cli("ingest", "outages", str(outages)).exit_code == 0
    assert firing() == set()            # an outage ingest does not evaluate the connection rules
    apps = tmp_path / "applications.csv"
    apps.write_text(HEADER + "B-1,,,lv_other,false,2026-11-02 09:00,,false,,,x\n", encoding="utf-8")
    assert cli("ingest", "applications", str(apps)).exit_code == 0
    assert firing() == {("connection_over_limit", "B-1")}   # the applications ingest does


def test_applications_and_the_filing_over_http(fresh_settings: Settings) -> None:
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        _grid(fresh_settings.sqlalchemy_url())
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"app_id": "H-1", "area_id": "A1", "customer_class": "lv_resident",
             "booked_at": "2026-11-02T09:00:00+08:00", "energized_at": "2026-11-09T09:00:00+08:00"},
            {"app_id": "H-2", "customer_class": "lv_three_zero", "external_works": True,
             "booked_at": "2026-09-10T09:00:00+08:00", "needs_upgrade": True,
             "upgrade_estimated_days": 40, "upgrade_due": "2027-01-15"},
            {"app_id": "H-3", "customer_class": "lv_other", "booked_at": "2026-11-02T09:00:00+08:00",
             "needs_upgrade": True, "upgrade_estimated_days": -1},
        ]) + "\n"
        url = "/api/v1/ingest/applications"
        headers = {"Content-Type": "application/x-ndjson"}
        assert api.request("POST", url, "planner", content=body, headers=headers).status_code == 403
        r = api.request("POST", url, "ingest", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], r.json()["rejected"]) == (2, 1)
        assert r.json()["rejects"][0]["field"] == "upgrade_estimated_days"

        path = "/api/v1/reports/connection-times"
        params = {"month": "2026-11", "as_of": "2026-11-20T12:00:00+08:00"}
        assert api.get(path, "ingest", params=params).status_code == 403
        got = api.get(path, "regulator", params=params)
        assert got.status_code == 200, got.text
        # H-1: (Mon 11-02, Mon 11-09] = Tue 3 .. Fri 6, Mon 9 = 5 of 5: ok. H-2, open since Thu
        # 09-10, by Fri 11-20: Fri 11, 14-18 (6), Sun 20 (7), 21-24 (11), [25-27 off], 28-30
        # (14), [10-01..07 off], 8, 9, Sat 10 (17), then six full weeks (47) of its 15.
        assert [(x["app_id"], x["limit_days"], x["elapsed_days"], x["status"]) for x in got.json()] == [
            ("H-2", 15, 47, "over_limit"), ("H-1", 5, 5, "ok")]
        summary = api.get(path, "planner", params={**params, "summary": "true", "by": "county"})
        assert summary.status_code == 200 and summary.json()[-1]["applications"] == 2
        book = api.get(path, "planner", params={**params, "format": "xlsx"})
        assert book.status_code == 200
        wb = load_workbook(io.BytesIO(book.content))
        assert wb.sheetnames == ["分类统计", "申请明细"]
        assert wb["申请明细"]["A1"].value == "2026年11月业扩报装接电时长统计"

        filing = "/api/v1/reports/upgrade-filing"
        assert api.get(filing, "regulator", params={"month": "2026-11", "mark_filed": "true"}
                       ).status_code == 200                        # reading never marks
        assert api.sql(lambda s: s.execute(text("SELECT count(*) FROM upgrade_filing")).scalar_one()) == 0
        marks = f"{filing}/filings"
        assert api.request("GET", marks, "planner").status_code == 405
        assert api.request("POST", marks, "regulator", json={"month": "2026-11"}).status_code == 403
        assert api.request("POST", marks, "ingest", json={"month": "2026-11"}).status_code == 403
        assert api.request("POST", marks, "planner", json={"month": "2026-1"}).status_code == 422
        made = api.request("POST", marks, "planner", json={"month": "2026-11"})
        assert made.status_code == 201, made.text
        assert (made.json()["filed_by"], made.json()["filed"], made.json()["app_ids"]) == (
            "planner-user", 1, ["H-2"])
        again = api.request("POST", marks, "admin", json={"month": "2026-11"})
        assert (again.status_code, again.json()["filing_id"], again.json()["filed"]) == (200, None, 0)
        xl = api.get(filing, "regulator", params={"month": "2026-11", "format": "xlsx"})
        assert xl.status_code == 200 and "upgrade-filing-2026-11.xlsx" in xl.headers["content-disposition"]
        ws = load_workbook(io.BytesIO(xl.content)).active
        assert ws is not None and [c.value for c in ws[4]] == FILING_HEADERS
        assert (ws["A5"].value, ws["C5"].value, ws["E5"].value, ws["F5"].value) == ("H-2", "是", 15, 40)
        assert "planner-user" not in str(ws["A2"].value)               # no names for the regulator

        missing = api.get(filing, "regulator", params={"month": "2027-01"})
        assert missing.status_code == 422
        assert missing.json()["error"] == "calendar_year_unknown" and "2027" in missing.json()["detail"]
        late = api.get(path, "planner", params={"month": "2026-12", "as_of": "2027-01-05"})
        assert late.status_code == 422 and "no year 2027" in late.json()["detail"]


@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="LibreOffice not installed")
def test_the_ledger_opens_in_libreoffice(tmp_path: Path) -> None:
    from monitoring.connections import xlsx
    from monitoring.reports.upgrade_filing import HEADERS, WIDTHS

    row = {"app_id": "0052011100123", "customer_class": "lv_resident", "external_works": False,
           "booked_at": datetime(2026, 9, 1, 1, tzinfo=UTC), "limit_days": 5,
           "upgrade_estimated_days": 30, "upgrade_due": "2026-10-20", "carried_over": True,
           "deadline": "2026-11-06"}
    path = tmp_path / "upgrade-filing-2026-11.xlsx"
    path.write_bytes(xlsx.ledger(title="2026年11月业扩接入需改造不满足接电时限台账",
                                 lines=["报送截止：2026-11-06"], sheet="改造不满足时限台账",
                                 columns=list(HEADERS), headers=HEADERS, rows=[row], labels={},
                                 widths=WIDTHS))
    subprocess.run(["libreoffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, timeout=240, capture_output=True)
    pdf = tmp_path / "upgrade-filing-2026-11.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        got = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                             check=True).stdout
        assert "接电时限台账" in got and "0052011100123" in got
