"""Render report rows as JSON, CSV (UTF-8 with BOM, for Excel) or a plain xlsx sheet.

Every csv and xlsx writer of gridwatch goes through this module, which neutralises spreadsheet
formula injection (SPEC section 17, OWASP "CSV injection"): a text cell whose first character
(or first character after leading white space) is ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return (or a full-width ``＝ ＋ － ＠``) is never a live formula.

- csv: such a field is written with a leading single quote ``'`` (the OWASP remedy); Excel and
  LibreOffice then read it as text.
- xlsx: such a cell is written as a string cell (``t="inlineStr"``, never ``<f>``) with the
  ``quotePrefix`` style, so the text is kept exactly and stays text even when a user edits the
  cell. Every other text cell is also forced to a string cell (openpyxl would otherwise store
  ``#N/A`` as an error), and characters XML cannot carry are replaced by U+FFFD.

Only text is touched: numbers (negative ones included), dates and booleans keep their type.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from core.clock import LOCAL_TZ
from core.errors import UsageError

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# First characters that make a spreadsheet read a text cell as a formula (OWASP), plus the
# full-width forms an East Asian Excel also accepts.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_LEADING_SPACE = " \n\u3000\u00a0"


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (SPEC section 17)."""
    return text[:1] in FORMULA_TRIGGERS or text.lstrip(_LEADING_SPACE)[:1] in FORMULA_TRIGGERS


def csv_field(value: Any) -> Any:
    """A csv field that is never a formula: dangerous text gets a leading ``'``."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def xlsx_text(text: str) -> str:
    """Text an xlsx cell can hold: XML-illegal control characters become U+FFFD."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)[:32767]


def set_cell(cell: Cell, value: Any) -> Cell:
    """Put ``value`` in ``cell``; text is always a string cell, never a formula or error."""
    if isinstance(value, str):
        cell.value = xlsx_text(value)
        cell.data_type = "s"  # openpyxl makes "=..." a formula and "#N/A" an error
        if is_formula_like(value):
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """``ws.append`` with every value written by :func:`set_cell`."""
    ws.append([set_cell(Cell(ws), v) for v in values])


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _flat(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ";".join(str(_flat(x)) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def render(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = ""
) -> bytes:
    """Bytes of the rows in ``fmt`` (json, csv or xlsx), columns in the given order."""
    if fmt == "json":
        data = [{c: _jsonable(r.get(c)) for c in columns} for r in rows]
        return (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode()
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow([csv_field(c) for c in columns])
        for r in rows:
            writer.writerow([csv_field(_flat(r.get(c))) for c in columns])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = (title or "report")[:31]
        append_row(ws, columns)
        for r in rows:
            values = []
            for c in columns:
                v = _flat(r.get(c))
                if isinstance(v, datetime):
                    v = v.astimezone(LOCAL_TZ).replace(tzinfo=None)
                values.append(v)
            append_row(ws, values)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(columns)))}{len(rows) + 1}"
        buf2 = io.BytesIO()
        wb.save(buf2)
        return buf2.getvalue()
    raise UsageError(f"format must be json, csv or xlsx, not {fmt!r}")
