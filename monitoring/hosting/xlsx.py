"""The hosting-capacity report as a document to publish: the list, totals by county, parameters.

Sheet 1 (分布式光伏承载力) is the list of areas and feeders, written fast by
``monitoring.listxlsx``; sheet 2 (分县统计) counts the areas of each county by grade;
sheet 3 (评估参数) gives the method, the parameters used and when the quarter was computed.
Every text goes through ``monitoring.export.set_cell`` (never a live formula).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from core.clock import LOCAL_TZ
from monitoring import listxlsx as list_xlsx
from monitoring.export import set_cell

HEADERS = {
    "asset_type": "类型", "asset_id": "编号", "feeder_id": "所属馈线", "county": "县（区）",
    "s_kva": "配变容量S(kVA)", "p_kw": "典型负荷P(kW)", "s_d_kw": "承载力S_d(kW)",
    "connected_kw": "已并网容量(kW)", "registered_kw": "已备案未并网容量(kW)",
    "c1_kw": "C1=S_d−已并网(kW)", "c2_kw": "C2=C1−已备案(kW)", "grade": "承载力等级",
}
GRADE_LABELS = {"green": "绿色", "yellow": "黄色", "red": "红色", "unassessed": "未评估"}
TYPE_LABELS = {"area": "台区", "feeder": "馈线"}
TOTAL_HEADERS = ["县（区）", "行政区划代码", "绿色", "黄色", "红色", "未评估", "台区合计",
                 "可新增容量ΣC2>0(kW)"]
_FILLS = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE", "unassessed": "E7E6E6"}
_BOLD = Font(bold=True)


def _quarter_words(quarter: str) -> str:
    return f"{quarter[:4]}年第{quarter[-1]}季度"


def _totals_sheet(wb: Workbook, quarter: str, totals: Sequence[dict[str, Any]]) -> None:
    ws = wb.create_sheet("分县统计")
    set_cell(ws.cell(row=1, column=1), f"{_quarter_words(quarter)}分布式光伏承载力分县统计").font = Font(
        bold=True, size=14)
    for i, head in enumerate(TOTAL_HEADERS, start=1):
        set_cell(ws.cell(row=2, column=i), head).font = _BOLD
        ws.column_dimensions[get_column_letter(i)].width = 16 if i > 1 else 22
    for grade, col in (("green", 3), ("yellow", 4), ("red", 5), ("unassessed", 6)):
        ws.cell(row=2, column=col).fill = PatternFill("solid", fgColor=_FILLS[grade])
    n = 3
    for n, t in enumerate(totals, start=3):
        values = [t["county"] or "（未匹配县区）", t["county_adcode"], t["green"], t["yellow"],
                  t["red"], t["unassessed"], t["areas"], t["open_kw"]]
        for i, v in enumerate(values, start=1):
            set_cell(ws.cell(row=n, column=i), v)
    last = n + 1 if totals else 3
    set_cell(ws.cell(row=last, column=1), "合计").font = _BOLD
    for i, key in enumerate(("green", "yellow", "red", "unassessed", "areas", "open_kw"), start=3):
        total = sum(t[key] or 0 for t in totals)
        set_cell(ws.cell(row=last, column=i), round(total, 3) if key == "open_kw" else total).font = _BOLD
    ws.freeze_panes = "A3"


AFTER_END = "季度结束后补算：采用补算时的配变容量、典型负荷和光伏数据"


def _parameters_sheet(wb: Workbook, quarter: str, parameters: dict[str, float],
                      computed_at: datetime, after_end: bool) -> None:
    ws = wb.create_sheet("评估参数")
    rows: list[tuple[str, Any, str]] = [
        ("评估季度", _quarter_words(quarter), quarter),
        ("计算时间（北京时间）", f"{computed_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M:%S}",
         AFTER_END if after_end else ""),
        ("评估方法", "DL/T 2041-2019《分布式电源接入电网承载力评估导则》设备（配变）层级热稳定校核",
         "国能综通新能〔2023〕74号"),
        ("公式", "S_d = (P + β·S·cosφ) / τ；C1 = S_d − 已并网容量；C2 = C1 − 已备案未并网容量", ""),
        ("β 最大反向负载率", parameters["beta"], "GRIDWATCH_HOSTING_BETA"),
        ("cosφ 功率因数", parameters["cos_phi"], "GRIDWATCH_HOSTING_COS_PHI"),
        ("τ 分布式光伏出力系数", parameters["tau"], "GRIDWATCH_HOSTING_TAU"),
        ("P 典型负荷", "春秋季工作日午间典型负荷(kW)", "area-loads"),
        ("等级", "绿色：C2>0；黄色：C2≤0<C1；红色：C1≤0；未评估：缺少配变容量或典型负荷", ""),
        ("未包含的校核", "电压偏差（电压越限）、短路电流、谐波，以及线路、主变的热稳定校核", ""),
    ]
    set_cell(ws.cell(row=1, column=1), "评估参数").font = Font(bold=True, size=14)
    for n, (label, value, note) in enumerate(rows, start=2):
        set_cell(ws.cell(row=n, column=1), label).font = _BOLD
        set_cell(ws.cell(row=n, column=2), value)
        set_cell(ws.cell(row=n, column=3), note)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 30


def workbook(*, quarter: str, rows: Sequence[dict[str, Any]], columns: Sequence[str],
             totals: Sequence[dict[str, Any]], parameters: dict[str, float],
             computed_at: datetime, after_end: bool = False) -> bytes:
    """The published document of one quarter (three sheets, Chinese headers).

    ``after_end``: the quarter was computed after it ended (the subtitle and the parameters
    sheet say so)."""
    counts = {g: sum(1 for r in rows if r["asset_type"] == "area" and r["grade"] == g)
              for g in GRADE_LABELS}
    title = f"{_quarter_words(quarter)}分布式光伏接入电网承载力评估结果"
    subtitle = ("依据 DL/T 2041-2019 设备层级校核（台区配变）。台区"
                + "，".join(f"{GRADE_LABELS[g]}{n}个" for g, n in counts.items())
                + f"；参数 β={parameters['beta']:g}，cosφ={parameters['cos_phi']:g}，"
                  f"τ={parameters['tau']:g}；计算于 {computed_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
                  "（北京时间）" + (f"，{AFTER_END}" if after_end else "")
                + "。馈线等级取其所带台区中最差的等级。")

    def more(wb: Workbook) -> None:
        _totals_sheet(wb, quarter, totals)
        _parameters_sheet(wb, quarter, parameters, computed_at, after_end)

    return list_xlsx.workbook(
        title=title, subtitle=subtitle, sheet="分布式光伏承载力", columns=columns, headers=HEADERS,
        rows=rows, labels={"grade": GRADE_LABELS, "asset_type": TYPE_LABELS},
        widths={"asset_id": 18, "feeder_id": 16, "county": 14, "registered_kw": 18},
        more=more)
