"""SPEC section 17, exports: no csv or xlsx export ever carries a live formula (OWASP CSV injection).

The attack: hostile text (``=1+1``, ``=HYPERLINK(...)``, ``+``, ``-``, ``@``, a leading tab or
carriage return) in every free-text input a user controls (asset, feeder, overlay and county
names, ids, case measures, notes and people's names, key names, rejected rows), stored through
the real command line and API, then every csv and xlsx export taken from the command line and
from ``/api/v1/reports/...?format=csv|xlsx``. openpyxl (``load_workbook`` without data_only) must
find no formula cell in any sheet, the hostile text must still be there as text, and no csv field
may start with a formula character unless it is a real number.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from api.app import create_app
from api.keys import create_key
from core.clock import LOCAL_TZ, parse_quarter
from core.settings import Settings
from monitoring.cases.quarterly_xlsx import workbook
from monitoring.export import FORMULA_TRIGGERS, csv_field, is_formula_like, render
from monitoring.reports.remediation import INTERNAL_COLUMNS, PUBLIC_COLUMNS

HOSTILE = ['=1+1', '=HYPERLINK("http://x","y")', "\t=1+1", "\r=1+1", "+1+1", "-1+1", "@SUM(A1)"]
AREAS = ["=A1", "+A2", "-A3", "@A4", "A5", "A6", "A7"]
AS_OF = "2026-06-30T12:00:00+08:00"
OPENERS = "=+-@\t\r"


def _features(path: Path, rows: list[dict[str, Any]], geoms: list[Any]) -> Path:
    gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return path


def _ok(result: Any, codes: tuple[int, ...] = (0,)) -> Any:
    assert result.exit_code in codes, (result.exit_code, result.output)
    return result


def _scenario(cli: Any, tmp: Path) -> dict[str, Any]:
    """Grid, overlays, admin divisions, outages and works with hostile text, via the CLI."""
    feeders = _features(tmp / "f.geojson",
                        [{"feeder_id": "=F1", "name": HOSTILE[1], "substation": "@SUM(A1)",
                          "voltage_kv": 10.0}],
                        [shapely.LineString([(106.70, 26.50), (106.80, 26.51)])])
    areas = _features(
        tmp / "a.geojson",
        [{"area_id": a, "feeder_id": "=F1", "customers": 10 + i, "name": HOSTILE[i],
          "capacity_kva": 315.5} for i, a in enumerate(AREAS)],
        [shapely.box(106.70 + i * 0.01, 26.50, 106.709 + i * 0.01, 26.509) for i in range(7)])
    zone = _features(tmp / "z.geojson", [{"id": "@Z1", "name": HOSTILE[1]}],
                     [shapely.box(106.6, 26.4, 106.9, 26.6)])
    old = _features(tmp / "o.geojson", [{"id": "-O1", "name": "-1+1"}],
                    [shapely.box(106.6, 26.4, 106.9, 26.6)])
    pref = _features(tmp / "p.geojson", [{"adcode": "520100", "name": "+1+1"}],
                     [shapely.box(106.0, 26.0, 107.5, 27.0)])
    county = _features(tmp / "c.geojson", [{"adcode": "520111", "name": "=1+1"}],
                       [shapely.box(106.5, 26.2, 107.0, 26.8)])
    _ok(cli("load", "feeders", str(feeders)))
    _ok(cli("load", "areas", str(areas)))
    _ok(cli("load", "overlay", "core_zone", str(zone)))
    _ok(cli("load", "overlay", "old_compound", str(old)))
    _ok(cli("load", "admin", str(pref), str(county)))

    lines = ["outage_id,asset_type,asset_id,start_time,end_time,cause,work_id"]
    for i, a in enumerate(AREAS):
        for k in range(6):
            lines.append(f"=o{i}-{k},area,{a},2026-04-{2 + k * 5:02d}T09:00,"
                         f"2026-04-{2 + k * 5:02d}T10:00,fault,")
    lines.append("=planned,area,=A1,2026-06-02T09:00,2026-06-02T10:00,planned,=W1+1")
    (tmp / "outages.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _ok(cli("ingest", "outages", str(tmp / "outages.csv")))
    (tmp / "works.csv").write_text(
        "work_id,asset_type,asset_id,planned_start,planned_end\n"
        "=W1+1,area,=A1,2026-06-02T08:00,2026-06-02T12:00\n"
        "@W2,feeder,=F1,2026-06-10T08:00,2026-06-10T12:00\n", encoding="utf-8")
    _ok(cli("ingest", "works", str(tmp / "works.csv")))
    # A rejected row whose reason quotes the hostile value.
    (tmp / "bad.csv").write_text(
        "outage_id,asset_type,asset_id,start_time,end_time,cause\n"
        "=bad,area,=HYPERLINK(1),2026-05-01T08:00,2026-05-01T09:00,fault\n", encoding="utf-8")
    bad = json.loads(_ok(cli("ingest", "outages", str(tmp / "bad.csv"), "--format", "json"),
                         (3,)).stdout)
    _ok(cli("monitor", "run", "--as-of", AS_OF))
    _ok(cli("keys", "create", "--role", "planner", "--name=@SUM(A1)"))

    cases = json.loads(_ok(cli("cases", "list", "--format", "json")).stdout)
    assert len(cases) == len(AREAS), cases
    for case, text in zip(sorted(cases, key=lambda c: c["asset_id"]), HOSTILE, strict=True):
        cid = str(case["case_id"])
        _ok(cli("cases", "update", cid, "--status", "in_progress", f"--measures={text}",
                f"--unit={HOSTILE[4]}", f"--internal-note={HOSTILE[5]}", "--due", "2026-09-30",
                f"--by={HOSTILE[6]}", "--at", "2026-05-20T09:00"))
        _ok(cli("cases", "complete", cid, "--date", "2026-06-01", f"--by={HOSTILE[0]}",
                "--at", "2026-06-01T18:00"))
        _ok(cli("cases", "verify", cid, f"--note={HOSTILE[1]}", f"--by={HOSTILE[5]}",
                "--at", "2026-06-02T09:00"))
    return {"batch": bad.get("batch_id"), "cases": cases}


def _leading(text: str) -> bool:
    """Would a spreadsheet read this csv field as a formula (a number is fine)?"""
    if not text or not is_formula_like(text):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def check_csv(data: bytes, where: str) -> list[str]:
    """Assert no dangerous field; return the texts that were neutralised (without the quote)."""
    assert data.startswith(b"\xef\xbb\xbf"), where
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows, where
    quoted = []
    for row in rows:
        for field in row:
            assert not _leading(field), (where, field)
            if field.startswith("'") and is_formula_like(field[1:]):
                quoted.append(field[1:])
    return quoted


def check_xlsx(data: bytes, where: str) -> list[str]:
    """Assert no formula cell in any sheet; return the formula-like texts kept as text."""
    wb = load_workbook(io.BytesIO(data))  # not data_only: formulas would show as data_type 'f'
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (where, ws.title, cell.coordinate, cell.value)
                assert cell.data_type != "e", (where, ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and is_formula_like(cell.value):
                    assert cell.data_type == "s" and cell.quotePrefix, (where, cell.coordinate)
                    texts.append(cell.value)
    return texts


FREQUENT = {"=A1", "+A2", "-A3", "@A4", "=1+1", "+1+1", "-1+1", "@SUM(A1)"}
CASE_TEXTS = {*HOSTILE[:2], *HOSTILE[4:]}  # what the case services keep (they strip whitespace)
# (CLI args, API path, texts the export must still carry as text) for every report of SPEC
# section 9 and its variants.
REPORTS: list[tuple[list[str], str, set[str]]] = [
    (["frequent-outages", "--as-of", AS_OF, "--all"],
     "frequent-outages?as_of=2026-06-30T12:00:00%2B08:00&all=true", FREQUENT),
    (["zero-perception", "--from", "2026-04-01", "--to", "2026-06-30"],
     "zero-perception?from=2026-04-01&to=2026-06-30", {"=W1+1", "@W2", "=A1"}),
    (["zero-perception", "--from", "2026-04-01", "--to", "2026-06-30", "--by", "zone"],
     "zero-perception?from=2026-04-01&to=2026-06-30&by=zone", {"@Z1", HOSTILE[1]}),
    (["tags"], "tags", {"=A1", "@Z1", HOSTILE[1], "-O1", "-1+1"}),
    (["remediation", "--quarter", "2026Q2"], "remediation?quarter=2026Q2", CASE_TEXTS),
    (["remediation", "--quarter", "2026Q2", "--public"], "remediation?quarter=2026Q2&public=true",
     CASE_TEXTS - {HOSTILE[5]} | {"+1+1", "=1+1"}),
    (["reliability", "--period", "2026Q2", "--by", "county"],
     "reliability?period=2026Q2&by=county", {"=1+1"}),
    (["reliability", "--period", "2026Q2", "--by", "prefecture"],
     "reliability?period=2026Q2&by=prefecture", {"+1+1"}),
    (["reliability", "--period", "2026Q2", "--by", "zone"],
     "reliability?period=2026Q2&by=zone", {"@Z1", HOSTILE[1]}),
    (["reliability", "--period", "2026Q2", "--by", "province"],
     "reliability?period=2026Q2&by=province", set()),
]


def test_every_cli_export_is_formula_free(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = _scenario(cli, tmp_path)
    for args, _, expect in REPORTS:
        for fmt in ("csv", "xlsx"):
            out = tmp_path / f"{'-'.join(args)}.{fmt}"
            _ok(cli("report", *args, "--format", fmt, "--out", str(out)))
            data = out.read_bytes()
            texts = check_csv(data, str(args)) if fmt == "csv" else check_xlsx(data, str(args))
            assert expect <= set(texts), (args, fmt, expect - set(texts))
    # The public list leaves out people's names and notes, and still neutralises what it has.
    public = load_workbook(tmp_path / "remediation---quarter-2026Q2---public.xlsx")
    assert "internal_note" not in [c.value for c in public["data"][1]]
    # The measures of the case with "\t=1+1" (stripped to "=1+1" on input) is text.
    internal = load_workbook(tmp_path / "remediation---quarter-2026Q2.xlsx")
    listed = internal["整治清单"]
    header = [c.value for c in listed[3]]
    col = header.index("整治措施") + 1
    measures = [listed.cell(row=r, column=col) for r in range(4, listed.max_row + 1)]
    assert {m.value for m in measures} >= {"=1+1", HOSTILE[1], "+1+1", "-1+1", "@SUM(A1)"}
    assert all(m.data_type == "s" for m in measures)
    # Every other csv/xlsx writer: cases, alerts, keys, ingest history and rejects.
    others = [(["cases", "list"], ("csv", "xlsx")), (["alerts", "list"], ("csv", "xlsx")),
              (["keys", "list"], ("csv", "xlsx")), (["ingest", "history"], ("csv",))]
    for args, formats in others:
        for fmt in formats:
            out = tmp_path / f"{'-'.join(args)}.{fmt}"
            _ok(cli(*args, "--format", fmt, "--out", str(out)))
            data = out.read_bytes()
            texts = check_csv(data, str(args)) if fmt == "csv" else check_xlsx(data, str(args))
            if args[0] == "cases":
                assert CASE_TEXTS <= set(texts), (fmt, texts)
            if args[0] == "keys":
                assert "@SUM(A1)" in texts
    if state["batch"] is not None:
        out = tmp_path / "rejects.csv"
        _ok(cli("ingest", "rejects", str(state["batch"]), "--format", "csv", "--out", str(out)))
        check_csv(out.read_bytes(), "rejects")


def test_every_api_export_is_formula_free(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = _scenario(cli, tmp_path)
    settings = Settings(database_url=cli.url, data_dir=tmp_path / "gw")
    engine = create_engine(cli.url, poolclass=pool.NullPool)
    with Session(engine) as s:
        planner = create_key(session=s, role="planner", name="p")[1]
        regulator = create_key(session=s, role="regulator", name="r")[1]
        s.commit()
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        case_id = state["cases"][0]["case_id"]
        patched = client.patch(f"/api/v1/remediation/cases/{case_id}",
                               headers={"Authorization": f"Bearer {planner}"},
                               json={"measures": '=HYPERLINK("http://evil","x")'})
        # a completed case may refuse edits; any refusal must be a clean JSON error
        assert patched.status_code in (200, 409), patched.text
        for _, path, expect in REPORTS:
            for fmt in ("csv", "xlsx"):
                r = client.get(f"/api/v1/reports/{path}&format={fmt}" if "?" in path
                               else f"/api/v1/reports/{path}?format={fmt}",
                               headers={"Authorization": f"Bearer {regulator}"})
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                texts = check_csv(r.content, path) if fmt == "csv" else check_xlsx(r.content, path)
                assert expect <= set(texts), (path, fmt, expect - set(texts))


# The neutraliser itself, on what the services cannot store (leading tab or CR survives here).

def test_csv_neutraliser_quotes_every_formula_opener_and_keeps_numbers() -> None:
    rows = [{"text": h, "n": -3.5, "i": -2, "d": date(2026, 5, 1), "neg_text": "-3.5",
             "list": [h, "x"], "plain": "台区 A"} for h in HOSTILE]
    data = render(rows, list(rows[0]), "csv")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]
    for h, row in zip(HOSTILE, parsed, strict=True):
        assert row[0] == "'" + h  # OWASP: a leading quote, the text kept after it
        assert (row[1], row[2]) == ("-3.5", "-2")  # real numbers stay numbers
        assert row[3] == "2026-05-01" and row[4] == "'-3.5"  # text that looks numeric is text
        assert row[5] == "'" + h + ";x" and row[6] == "台区 A"
    assert csv_field("＝1+1") == "'＝1+1" and csv_field("  =1+1") == "'  =1+1"
    assert csv_field(-1) == -1 and csv_field("a=b") == "a=b"
    assert set("=+-@\t\r") <= FORMULA_TRIGGERS


def test_xlsx_neutraliser_writes_text_cells_and_keeps_numbers() -> None:
    rows = [{"text": h, "n": -3.5, "i": -2, "err": "#N/A", "ctl": "a\x01=1", "id": "0520111"}
            for h in HOSTILE]
    wb = load_workbook(io.BytesIO(render(rows, list(rows[0]), "xlsx")))
    ws = wb.active
    assert ws is not None
    for r, h in enumerate(HOSTILE, start=2):
        text, n, i, err, ctl, ident = (ws.cell(row=r, column=c) for c in range(1, 7))
        assert (text.value, text.data_type, text.quotePrefix) == (h, "s", True)
        assert (n.value, n.data_type, i.value, i.data_type) == (-3.5, "n", -2, "n")
        assert (err.value, err.data_type) == ("#N/A", "s")
        assert ctl.value == "a\ufffd=1"  # an XML-illegal character no longer breaks the export
        assert (ident.value, ident.data_type) == ("0520111", "s")


def test_quarterly_workbook_neutralises_every_sheet() -> None:
    """Hostile county names reach the summary sheet; measures the list and the data sheet."""
    rows = []
    for i, h in enumerate(HOSTILE):
        row: dict[str, Any] = dict.fromkeys(PUBLIC_COLUMNS + INTERNAL_COLUMNS, None)
        row |= {"asset_type": "area", "asset_id": f"-A{i}", "name": h, "county": h,
                "prefecture": h, "tags": ["core_zone"], "status": "frequent", "count_365": 6,
                "max_60": 4, "frequent_in_quarter": True, "case_id": i + 1, "case_status": "open",
                "measures": h, "responsible_unit": h, "internal_note": h, "verified_by": h,
                "due_date": date(2026, 9, 30)}
        rows.append(row)
    data = workbook(rows=rows, columns=PUBLIC_COLUMNS + INTERNAL_COLUMNS,
                    period=parse_quarter("2026Q2"),
                    produced=datetime(2026, 7, 3, tzinfo=LOCAL_TZ), public=False)
    texts = check_xlsx(data, "quarterly")
    wb = load_workbook(io.BytesIO(data))
    summary = {c.value for row in wb["分区汇总"].iter_rows() for c in row}
    assert set(HOSTILE) <= summary  # county and prefecture names
    assert set(HOSTILE) <= set(texts)
    ids = [wb["整治清单"].cell(row=r, column=2) for r in range(4, 4 + len(HOSTILE))]
    assert [(c.value, c.data_type) for c in ids] == [(f"-A{i}", "s") for i in range(len(HOSTILE))]


@pytest.mark.parametrize("text", [*HOSTILE, " =1+1", "\u3000=1", "＠x"])
def test_formula_like(text: str) -> None:
    assert is_formula_like(text)
    assert not is_formula_like("台区" + text)
