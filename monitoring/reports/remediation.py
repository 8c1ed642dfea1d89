"""The quarterly remediation list (SPEC section 9), the list regulators check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, parse_quarter, utcnow
from core.settings import Settings
from monitoring.cases.quarterly import quarter_rows
from monitoring.cases.quarterly_xlsx import workbook
from monitoring.reports import Report

PUBLIC_COLUMNS = [
    "asset_type", "asset_id", "name", "county", "prefecture", "county_adcode", "prefecture_adcode",
    "tags", "count_365", "max_60", "status", "frequent_in_quarter",
    "interruptions_fault", "interruptions_planned", "interruptions_unknown",
    "interruptions_weather", "interruptions_external", "interruptions_customer",
    "case_id", "case_status", "measures", "responsible_unit", "due_date", "completion_date",
    "sign_off_date",
]
# Internal edition only: people's names and internal notes.
INTERNAL_COLUMNS = ["verification_note", "verified_by", "signed_off_by", "internal_note"]


def build(
    *, session: Session, settings: Settings, quarter: str, public: bool = False,
    now: datetime | None = None,
) -> Report:
    """Every asset frequent at any moment of ``quarter`` or with a case open during it."""
    period = parse_quarter(quarter)
    produced = now or utcnow()
    rows = quarter_rows(session=session, settings=settings, period=period, now=produced)
    columns = PUBLIC_COLUMNS if public else PUBLIC_COLUMNS + INTERNAL_COLUMNS
    if public:
        rows = [{c: r[c] for c in columns} for r in rows]
    meta = {
        "label": period.label + ("-public" if public else ""),
        "quarter": period.label,
        "start": period.start.astimezone(LOCAL_TZ).isoformat(),
        "end": period.end.astimezone(LOCAL_TZ).isoformat(),
        "produced": produced.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
        "public": public,
        "rows": len(rows),
    }
    return Report(
        name="remediation", columns=list(columns), rows=rows,
        title=f"remediation {period.label}", meta=meta,
        xlsx=lambda: workbook(rows=rows, columns=columns, period=period, produced=produced,
                              public=public),
    )
