"""The connection-times workbook: a summary sheet by class, then every application (fast path).

The summary is small and written with openpyxl. The application list can hold a province's
month (some 10^5 rows), so it is written like the planning lists (``monitoring.planning.xlsx``):
openpyxl lays out the sheet with one sample row, whose XML is then replaced by the data rows.
Every text is an inline string, never a formula (SPEC section 17).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from core.clock import LOCAL_TZ
from monitoring.export import is_formula_like, set_cell, xlsx_text
from monitoring.planning.xlsx import _SAMPLE, EXCEL_EPOCH, TIME_FORMAT, _display, _style

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
LIST_XML = "xl/worksheets/sheet2.xml"


def _head(ws: Worksheet, title: str, subtitle: str, columns: Sequence[str],
          headers: Mapping[str, str], widths: Mapping[str, int]) -> str:
    last = get_column_letter(max(len(columns), 1))
    set_cell(ws.cell(row=1, column=1), title).font = Font(bold=True, size=14)
    set_cell(ws.cell(row=2, column=1), subtitle).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(f"A1:{last}1")
    ws.merge_cells(f"A2:{last}2")
    ws.row_dimensions[2].height = 45
    for i, col in enumerate(columns, start=1):
        cell = set_cell(ws.cell(row=3, column=i), headers.get(col, col))
        cell.font, cell.fill, cell.border = Font(bold=True), _HEAD_FILL, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = widths.get(col, 14)
    ws.freeze_panes = "B4"
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    return last


def _rows_xml(rows: Sequence[dict[str, Any]], columns: Sequence[str],
              labels: Mapping[str, Mapping[Any, str]], quoted: str, timed: str) -> str:
    """The data rows from row 4, as ``monitoring.planning.xlsx`` writes them, faster.

    A month of a province is some 10^5 rows of repeated classes, statuses and counties, so each
    distinct text's cell XML is built once (escaped, formula-safe) and reused.
    """
    letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
    texts: dict[str, str] = {}

    def text_cell(value: str) -> str:
        cell = texts.get(value)
        if cell is None:
            clean = xlsx_text(value)
            style = f' s="{quoted}"' if is_formula_like(value) else ""
            space = ' xml:space="preserve"' if clean != clean.strip() else ""
            cell = f' t="inlineStr"{style}><is><t{space}>{escape(clean)}</t></is></c>'
            texts[value] = cell
        return cell

    out = []
    for n, row in enumerate(rows, start=4):
        cells = []
        for letter, col in zip(letters, columns, strict=True):
            value = row.get(col)
            if value is None:
                continue
            names = labels.get(col)
            if names is not None and value in names:
                value = names[value]
            if isinstance(value, bool):
                cells.append(f'<c r="{letter}{n}"{text_cell("是" if value else "否")}')
            elif isinstance(value, datetime):
                local = value.astimezone(LOCAL_TZ).replace(tzinfo=None)
                serial = (local - EXCEL_EPOCH).total_seconds() / 86400.0
                cells.append(f'<c r="{letter}{n}" s="{timed}"><v>{serial!r}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{letter}{n}"><v>{value!r}</v></c>')
            else:
                cells.append(f'<c r="{letter}{n}"{text_cell(str(value))}')
        out.append(f'<row r="{n}">{"".join(cells)}</row>')
    return "".join(out)


def workbook(*, title: str, subtitle: str, summary_columns: Sequence[str],
             summary_rows: Sequence[dict[str, Any]], columns: Sequence[str],
             rows: Sequence[dict[str, Any]], headers: Mapping[str, str],
             labels: Mapping[str, Mapping[Any, str]], widths: Mapping[str, int]) -> bytes:
    """Sheet 分类统计 (the summary rows) and sheet 申请明细 (one row per application)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "分类统计"
    _head(ws, title, subtitle, summary_columns, headers, widths)
    for n, row in enumerate(summary_rows, start=4):
        for i, col in enumerate(summary_columns, start=1):
            value = _display(row.get(col), labels.get(col))
            set_cell(ws.cell(row=n, column=i), value)
    detail = wb.create_sheet("申请明细")
    last = _head(detail, title, subtitle, columns, headers, widths)
    set_cell(detail.cell(row=4, column=1), "=")                      # quotePrefix text
    detail.cell(row=4, column=2, value=datetime(2026, 1, 1)).number_format = TIME_FORMAT
    detail.auto_filter.ref = f"A3:{last}4"
    wb.properties.title = title
    wb.properties.creator = "gridwatch"
    buf = io.BytesIO()
    wb.save(buf)
    end = max(len(rows) + 3, 3)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == LIST_XML:
                xml = data.decode("utf-8")
                sample = _SAMPLE.search(xml)
                assert sample is not None, "the layout has no sample row"
                body = _rows_xml(rows, columns, labels, _style(sample.group(0), "A4"),
                                 _style(sample.group(0), "B4"))
                xml = xml[:sample.start()] + body + xml[sample.end():]
                xml = xml.replace(f'<dimension ref="A1:{last}4"/>', f'<dimension ref="A1:{last}{end}"/>')
                xml = xml.replace(f'<autoFilter ref="A3:{last}4"', f'<autoFilter ref="A3:{last}{end}"')
                data = xml.encode("utf-8")
            dst.writestr(item, data)
    return out.getvalue()


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
