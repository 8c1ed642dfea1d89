"""Long lists as xlsx documents with Chinese headers: a title, a subtitle, headers, the rows.

Used by the planning lists, the hosting-capacity document and the connection-times workbook.

openpyxl lays out the document: the title, the subtitle, the header row, column widths, frozen
panes, the filter and the print titles, plus one sample row that gives the two data styles (a
date-time format, and text that must stay text). The data rows are then written straight into
the sheet's XML in place of the sample row: openpyxl costs some 20 µs a cell, which made a
province's year of findings (about 50,000 rows) take 10 s; this takes well under a second. The
XML of each distinct text cell is built once and reused (lists repeat their classes, statuses
and counties). Small sheets before or after the list are written by openpyxl.

Formula injection (SPEC section 17) is handled as ``monitoring.export`` does: every text is an
inline string (``t="inlineStr"``), never a formula, and text a spreadsheet could read as one
gets the ``quotePrefix`` style; characters XML cannot carry become U+FFFD.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from core.clock import LOCAL_TZ, parse_timestamp
from monitoring.export import is_formula_like, set_cell, xlsx_text

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
TIME_FORMAT = "yyyy-mm-dd hh:mm"
EXCEL_EPOCH = datetime(1899, 12, 30)
_SAMPLE = re.compile(r'<row r="4"[^>]*>.*?</row>', re.S)


def _local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _display(value: Any, labels: Mapping[Any, str] | None) -> Any:
    """A value as the list shows it: labelled, local time, yes/no, lists joined with 、."""
    if labels is not None and not isinstance(value, list) and value in labels:
        return labels[value]
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return _local(value)
    if isinstance(value, list):
        parts = []
        for v in value:
            if isinstance(v, str) and len(v) >= 19 and v[4:5] == "-" and v[10:11] == "T":
                v = f"{_local(parse_timestamp(v)):%Y-%m-%d %H:%M}"
            parts.append(str(labels.get(v, v) if labels else v))
        return "、".join(parts)
    return value


def head(ws: Worksheet, *, title: str, subtitle: str, columns: Sequence[str],
         headers: Mapping[str, str], widths: Mapping[str, int], subtitle_height: int = 30,
         default_width: int = 16) -> str:
    """Rows 1-3 of a list sheet (title, subtitle, headers), frozen under the headers, printed
    landscape with the headers on every page. Returns the last column's letter."""
    last = get_column_letter(max(len(columns), 1))
    set_cell(ws.cell(row=1, column=1), title).font = Font(bold=True, size=14)
    set_cell(ws.cell(row=2, column=1), subtitle).alignment = Alignment(wrap_text=True,
                                                                       vertical="top")
    ws.merge_cells(f"A1:{last}1")
    ws.merge_cells(f"A2:{last}2")
    ws.row_dimensions[2].height = subtitle_height
    for i, col in enumerate(columns, start=1):
        cell = set_cell(ws.cell(row=3, column=i), headers.get(col, col))
        cell.font, cell.fill, cell.border = Font(bold=True), _HEAD_FILL, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = widths.get(col, default_width)
    ws.freeze_panes = "B4"
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    return last


def _layout(title: str, subtitle: str, sheet: str, columns: Sequence[str],
            headers: Mapping[str, str], widths: Mapping[str, int],
            first: Callable[[Workbook], None] | None, more: Callable[[Workbook], None] | None,
            subtitle_height: int, default_width: int) -> tuple[bytes, str]:
    """The document without its data: the list's rows 1-3, and a sample row 4 holding the data
    styles; with the path of the list sheet's XML."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet[:31]
    last = head(ws, title=title, subtitle=subtitle, columns=columns, headers=headers,
                widths=widths, subtitle_height=subtitle_height, default_width=default_width)
    set_cell(ws.cell(row=4, column=1), "=")                          # quotePrefix text
    ws.cell(row=4, column=2, value=datetime(2026, 1, 1)).number_format = TIME_FORMAT
    ws.auto_filter.ref = f"A3:{last}4"
    wb.properties.title = title
    wb.properties.creator = "gridwatch"
    if first is not None:
        first(wb)
    if more is not None:
        more(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), f"xl/worksheets/sheet{wb.index(ws) + 1}.xml"


def _style(row_xml: str, ref: str) -> str:
    found = re.search(rf'<c r="{ref}"[^>]*?\ss="(\d+)"', row_xml)
    return found.group(1) if found else "0"


def _rows_xml(rows: Sequence[dict[str, Any]], columns: Sequence[str],
              labels: Mapping[str, Mapping[Any, str]], quoted: str, timed: str) -> str:
    letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
    texts: dict[str, str] = {}

    def text_cell(value: str) -> str:
        """The cell's XML after its reference: an inline string, quotePrefix when formula-like."""
        cell = texts.get(value)
        if cell is None:
            clean = xlsx_text(value)
            style = f' s="{quoted}"' if is_formula_like(value) else ""
            space = ' xml:space="preserve"' if clean != clean.strip() else ""
            cell = texts[value] = f' t="inlineStr"{style}><is><t{space}>{escape(clean)}</t></is></c>'
        return cell

    out = []
    for n, row in enumerate(rows, start=4):
        cells = []
        for letter, col in zip(letters, columns, strict=True):
            value = _display(row.get(col), labels.get(col))
            if value is None:
                continue
            if isinstance(value, datetime):
                serial = (value - EXCEL_EPOCH).total_seconds() / 86400.0
                cells.append(f'<c r="{letter}{n}" s="{timed}"><v>{serial!r}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{letter}{n}"><v>{value!r}</v></c>')
            else:
                cells.append(f'<c r="{letter}{n}"{text_cell(str(value))}')
        out.append(f'<row r="{n}">{"".join(cells)}</row>')
    return "".join(out)


def workbook(*, title: str, subtitle: str, sheet: str, columns: Sequence[str],
             headers: Mapping[str, str], rows: Sequence[dict[str, Any]],
             labels: Mapping[str, Mapping[Any, str]] | None = None,
             widths: Mapping[str, int] | None = None,
             first: Callable[[Workbook], None] | None = None,
             more: Callable[[Workbook], None] | None = None,
             subtitle_height: int = 30, default_width: int = 16) -> bytes:
    """The list under a title and subtitle (rows 1-2), Chinese headers in row 3, data from row 4.

    ``first`` may add small sheets before the list (``wb.create_sheet(name, 0)``), ``more``
    after it; both are written by openpyxl, through ``set_cell``.
    """
    layout, sheet_xml = _layout(title, subtitle, sheet, columns, headers, widths or {}, first, more,
                                subtitle_height, default_width)
    last = get_column_letter(max(len(columns), 1))
    end = max(len(rows) + 3, 3)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(layout)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == sheet_xml:
                xml = data.decode("utf-8")
                sample = _SAMPLE.search(xml)
                assert sample is not None, "the layout has no sample row"
                body = _rows_xml(rows, columns, labels or {}, _style(sample.group(0), "A4"),
                                 _style(sample.group(0), "B4"))
                xml = xml[:sample.start()] + body + xml[sample.end():]
                xml = xml.replace(f'<dimension ref="A1:{last}4"/>', f'<dimension ref="A1:{last}{end}"/>')
                xml = xml.replace(f'<autoFilter ref="A3:{last}4"', f'<autoFilter ref="A3:{last}{end}"')
                data = xml.encode("utf-8")
            dst.writestr(item, data)
    return out.getvalue()
