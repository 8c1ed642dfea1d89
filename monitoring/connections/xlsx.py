"""The connection-times workbook (a summary sheet by class, then every application) and the
monthly filing's ledger.

The application list can hold a province's month (some 10^5 rows), so it is a
``monitoring.listxlsx`` list, whose rows go straight into the sheet's XML; the summary before it
and the ledger are small and written with openpyxl. Every text goes through ``set_cell`` or the
list writer: an inline string, never a formula (SPEC section 17).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from monitoring import listxlsx
from monitoring.export import set_cell
from monitoring.listxlsx import TIME_FORMAT, _display

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
SUBTITLE_HEIGHT, DEFAULT_WIDTH = 45, 14


def workbook(*, title: str, subtitle: str, summary_columns: Sequence[str],
             summary_rows: Sequence[dict[str, Any]], columns: Sequence[str],
             rows: Sequence[dict[str, Any]], headers: Mapping[str, str],
             labels: Mapping[str, Mapping[Any, str]], widths: Mapping[str, int]) -> bytes:
    """Sheet 分类统计 (the summary rows) and sheet 申请明细 (one row per application)."""

    def summary(wb: Workbook) -> None:
        ws = wb.create_sheet("分类统计", 0)
        listxlsx.head(ws, title=title, subtitle=subtitle, columns=summary_columns, headers=headers,
                      widths=widths, subtitle_height=SUBTITLE_HEIGHT, default_width=DEFAULT_WIDTH)
        for n, row in enumerate(summary_rows, start=4):
            for i, col in enumerate(summary_columns, start=1):
                set_cell(ws.cell(row=n, column=i), _display(row.get(col), labels.get(col)))
        wb.active = 0                       # opens on the summary, its tab alone selected
        for sheet in wb.worksheets:
            sheet.sheet_view.tabSelected = sheet is ws

    return listxlsx.workbook(title=title, subtitle=subtitle, sheet="申请明细", columns=columns,
                             headers=headers, rows=rows, labels=labels, widths=widths,
                             first=summary, subtitle_height=SUBTITLE_HEIGHT,
                             default_width=DEFAULT_WIDTH)


def ledger(*, title: str, lines: Sequence[str], sheet: str, columns: Sequence[str],
           rows: Sequence[dict[str, Any]], headers: Mapping[str, str],
           labels: Mapping[str, Mapping[Any, str]], widths: Mapping[str, int]) -> bytes:
    """The monthly filing as a document: the title, ``lines`` under it, headers, then the rows.

    A filing holds a few thousand rows at most, so it is written cell by cell. Times are local
    date-times, dates real dates, IDs and every other text a string cell (formula-safe). Printed
    A4 landscape, one page wide, the header repeated on every page.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet[:31]
    last = get_column_letter(max(len(columns), 1))
    set_cell(ws.cell(row=1, column=1), title).font = Font(bold=True, size=14)
    ws.merge_cells(f"A1:{last}1")
    ws.row_dimensions[1].height = 24
    for n, line in enumerate(lines, start=2):
        set_cell(ws.cell(row=n, column=1), line).alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(f"A{n}:{last}{n}")
        ws.row_dimensions[n].height = 30
    head = len(lines) + 2
    for i, col in enumerate(columns, start=1):
        cell = set_cell(ws.cell(row=head, column=i), headers.get(col, col))
        cell.font, cell.fill, cell.border = Font(bold=True), _HEAD_FILL, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = widths.get(col, 12)
    ws.row_dimensions[head].height = 30
    for n, row in enumerate(rows, start=head + 1):
        for i, col in enumerate(columns, start=1):
            value = _display(row.get(col), labels.get(col))
            cell = set_cell(ws.cell(row=n, column=i), value)
            cell.border = _BOX
            if isinstance(value, datetime):
                cell.number_format = TIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = f"B{head + 1}"
    ws.auto_filter.ref = f"A{head}:{last}{max(head + len(rows), head + 1)}"
    ws.print_title_rows = f"{head}:{head}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.properties.title = title
    wb.properties.creator = "gridwatch"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
