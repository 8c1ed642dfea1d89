"""The quarterly remediation list as an xlsx document a regulator can file (Chinese headers).

Every cell is written through ``monitoring.export.set_cell``, so no text from a case, an asset
or an admin division can become a live formula (SPEC section 17).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from core.clock import LOCAL_TZ, Period
from monitoring.export import append_row, set_cell

HEADERS = {
    "asset_type": "资产类型", "asset_id": "资产编号", "name": "名称", "county": "区县",
    "prefecture": "地市", "county_adcode": "区县代码", "prefecture_adcode": "地市代码",
    "tags": "区域标签", "count_365": "近365天停电次数", "max_60": "任意60天最多停电次数",
    "status": "季末状态", "frequent_in_quarter": "本季度曾频繁停电",
    "interruptions_fault": "故障停电", "interruptions_planned": "计划停电",
    "interruptions_unknown": "原因不明停电", "interruptions_weather": "恶劣天气停电",
    "interruptions_external": "外力破坏停电", "interruptions_customer": "用户原因停电",
    "case_id": "台账编号", "case_status": "整治状态", "measures": "整治措施",
    "responsible_unit": "责任单位", "due_date": "计划完成日期", "completion_date": "完成日期",
    "sign_off_date": "销号日期", "verification_note": "验证记录", "verified_by": "验证人",
    "signed_off_by": "销号人", "internal_note": "内部备注",
}
TEXT_COLUMNS = {"asset_id", "county_adcode", "prefecture_adcode", "case_id"}
WIDTHS = {"asset_id": 16, "name": 20, "tags": 22, "measures": 30, "responsible_unit": 18,
          "verification_note": 24, "internal_note": 24}
ASSET_TYPES = {"area": "台区", "feeder": "线路"}
TAG_LABELS = {"weak_supply_village": "供电薄弱村", "ethnic_minority_area": "民族地区",
              "old_compound": "老旧小区", "core_zone": "零感知核心区"}
STATUS_LABELS = {"frequent": "频繁停电", "at_risk": "临界", "ok": "正常"}
CASE_LABELS = {None: "未立案", "open": "待整治", "in_progress": "整治中", "completed": "已完成",
               "closed": "已销号"}
SUMMARY_TAGS = ("weak_supply_village", "ethnic_minority_area", "old_compound")

_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _cell_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column == "asset_type":
        return ASSET_TYPES.get(value, value)
    if column == "tags":
        return "、".join(TAG_LABELS.get(t, t) for t in value)
    if column == "status":
        return STATUS_LABELS.get(value, value)
    if column == "frequent_in_quarter":
        return "是" if value else "否"
    if column in TEXT_COLUMNS:
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value


def _title(ws: Worksheet, width: int, title: str, subtitle: str) -> None:
    set_cell(ws.cell(row=1, column=1), title).font = Font(bold=True, size=14)
    set_cell(ws.cell(row=2, column=1), subtitle)
    last = get_column_letter(max(width, 1))
    ws.merge_cells(f"A1:{last}1")
    ws.merge_cells(f"A2:{last}2")
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="left")
    ws.row_dimensions[1].height = 24


def _header(ws: Worksheet, labels: Sequence[str], row: int = 3) -> None:
    for i, label in enumerate(labels, start=1):
        c = set_cell(ws.cell(row=row, column=i), label)
        c.font, c.fill, c.border = _BOLD, _HEAD_FILL, _BOX
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[row].height = 32


def _list_sheet(ws: Worksheet, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    _header(ws, [HEADERS.get(c, c) for c in columns])
    for r_i, row in enumerate(rows, start=4):
        for c_i, col in enumerate(columns, start=1):
            value = row.get(col)
            cell = ws.cell(row=r_i, column=c_i)
            if col == "case_status":
                set_cell(cell, CASE_LABELS.get(value, value))
            else:
                set_cell(cell, _cell_value(col, value))
            if col in TEXT_COLUMNS:
                cell.number_format = "@"
                cell.data_type = "s"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    for c_i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(c_i)].width = WIDTHS.get(col, 12)
    last = get_column_letter(len(columns))
    ws.freeze_panes = "C4"
    ws.auto_filter.ref = f"A3:{last}{len(rows) + 3}"
    # Printed on A3 landscape at a readable scale; header row and the IDs repeat on every page.
    ws.print_title_rows = "3:3"
    ws.print_title_cols = "A:C"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3
    ws.page_setup.scale = 80
    ws.print_options.gridLines = True


def summary_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Totals by prefecture and county: assets, by case status and by tag (plus subtotals)."""
    keys = ["assets", "areas", "feeders", *(f"case_{k or 'none'}" for k in CASE_LABELS),
            *SUMMARY_TAGS]
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def bump(key: tuple[str, str], row: dict[str, Any]) -> None:
        g = groups.setdefault(key, {"prefecture": key[0], "county": key[1], **dict.fromkeys(keys, 0)})
        g["assets"] += 1
        g["areas" if row["asset_type"] == "area" else "feeders"] += 1
        g[f"case_{row.get('case_status') or 'none'}"] += 1
        for tag in SUMMARY_TAGS:
            g[tag] += tag in (row.get("tags") or [])

    for row in rows:
        pref = row.get("prefecture") or "(未定位)"
        bump((pref, row.get("county") or "(未定位)"), row)
        bump((pref, "小计"), row)
        bump(("合计", ""), row)
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0] == "合计", k[0], k[1] == "小计", k[1]))]


def _summary_sheet(ws: Worksheet, rows: Sequence[dict[str, Any]]) -> None:
    labels = ["地市", "区县", "清单资产数", "其中台区", "其中线路",
              *(CASE_LABELS[k] for k in CASE_LABELS), *(TAG_LABELS[t] for t in SUMMARY_TAGS)]
    keys = ["prefecture", "county", "assets", "areas", "feeders",
            *(f"case_{k or 'none'}" for k in CASE_LABELS), *SUMMARY_TAGS]
    _header(ws, labels)
    for r_i, g in enumerate(summary_rows(rows), start=4):
        for c_i, key in enumerate(keys, start=1):
            cell = set_cell(ws.cell(row=r_i, column=c_i), g[key])
            cell.border = _BOX
            if g["county"] in ("小计", "") or g["prefecture"] == "合计":
                cell.font = _BOLD
    for c_i in range(1, len(keys) + 1):
        ws.column_dimensions[get_column_letter(c_i)].width = 14 if c_i > 2 else 18
    ws.freeze_panes = "C4"


def _data_sheet(ws: Worksheet, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """The list as data: the report's own column names in row 1, values as in json and csv."""
    append_row(ws, columns)
    for r in rows:
        values: list[Any] = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, (list, tuple)):
                v = ";".join(str(x) for x in v)
            elif isinstance(v, datetime):
                v = v.astimezone(LOCAL_TZ).replace(tzinfo=None)
            elif c.endswith("_id") or c.endswith("adcode"):
                v = None if v is None else str(v)
            values.append(v)
        append_row(ws, values)
    ws.freeze_panes = "A2"


def workbook(
    *, rows: Sequence[dict[str, Any]], columns: Sequence[str], period: Period, produced: datetime,
    public: bool,
) -> bytes:
    """The list, totals by prefecture and county, and the list as plain data (sheet ``data``)."""
    year, quarter = period.label.split("Q")
    title = f"{year}年第{quarter}季度频繁停电线路和台区整治清单"
    last_day = (period.end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    subtitle = (
        f"统计周期：{period.start.astimezone(LOCAL_TZ).date():%Y-%m-%d} 至 {last_day:%Y-%m-%d}"
        f"（北京时间）  制表日期：{produced.astimezone(LOCAL_TZ):%Y-%m-%d}  "
        f"{'公开版' if public else '内部版'}  计数口径：故障、计划、原因不明停电，"
        "不含3分钟及以下短时停电，重叠合并；分原因停电次数为合并前全部记录"
    )
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "整治清单"
    _title(ws, len(columns), title, subtitle)
    _list_sheet(ws, rows, columns)
    ws2 = wb.create_sheet("分区汇总")
    _title(ws2, 13, f"{title}（按地市、区县汇总）", subtitle)
    _summary_sheet(ws2, rows)
    _data_sheet(wb.create_sheet("data"), rows, columns)
    wb.properties.title = title
    wb.properties.creator = "gridwatch"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
