"""Render report rows as JSON, CSV (UTF-8 with BOM, for Excel) or a plain xlsx sheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.clock import LOCAL_TZ
from core.errors import UsageError

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_flat(r.get(c)) for c in columns])
        return ("\ufeff" + buf.getvalue()).encode("utf-8")
    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = (title or "report")[:31]
        ws.append(list(columns))
        for r in rows:
            values = []
            for c in columns:
                v = _flat(r.get(c))
                if isinstance(v, datetime):
                    v = v.astimezone(LOCAL_TZ).replace(tzinfo=None)
                values.append(v)
            ws.append(values)
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(columns)))}{len(rows) + 1}"
        buf2 = io.BytesIO()
        wb.save(buf2)
        return buf2.getvalue()
    raise UsageError(f"format must be json, csv or xlsx, not {fmt!r}")
