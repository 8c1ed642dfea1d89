"""The hosting-capacity report (SPEC section 15): every area's figures and grade, then feeders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.hosting import capacity
from monitoring.hosting import xlsx as hosting_xlsx
from monitoring.reports import Report


class HostingReport(Report):
    """A report whose json gives each row only its own fields: feeder rows carry three."""

    def render(self, fmt: str) -> bytes:
        """Bytes in json (feeder objects without the area fields), csv or xlsx."""
        if fmt != "json":
            return super().render(fmt)
        data = [{c: r[c] for c in self.columns if c in r} for r in self.rows]
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


def build(*, session: Session, settings: Settings, quarter: str, now: datetime) -> Report:
    """The areas, then the feeders, of ``quarter`` (2026Q4) as stored (the current one refreshed).

    Refreshing the current quarter writes its figures: the caller commits.
    """
    run = capacity.quarter_run(session=session, settings=settings, quarter=quarter, now=now)
    rows = (capacity.area_rows(session=session, quarter=run.quarter)
            + capacity.feeder_rows(session=session, quarter=run.quarter))
    columns = list(capacity.AREA_FIELDS)
    meta: dict[str, Any] = {"label": run.quarter, "quarter": run.quarter,
                            "computed_at": run.computed_at.isoformat(),
                            "computed_after_end": run.after_end,
                            "parameters": run.parameters(), "areas": run.areas,
                            "feeders": run.feeders}

    def document() -> bytes:
        totals = capacity.totals(session=session, quarter=run.quarter)
        return hosting_xlsx.workbook(quarter=run.quarter, rows=rows, columns=columns,
                                     totals=totals, parameters=run.parameters(),
                                     computed_at=run.computed_at, after_end=run.after_end)

    return HostingReport(name="hosting-capacity", columns=columns, rows=rows,
                         title=f"hosting-capacity {run.quarter}", meta=meta, xlsx=document)
