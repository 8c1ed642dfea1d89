"""The merge-candidates report (SPEC section 14): outage works on one feeder that one outage could serve."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring import listxlsx as xlsx
from monitoring.planning import merge_candidates
from monitoring.reports import Report

HEADERS = {"feeder_id": "线路编号", "work_ids": "检修计划编号", "days_apart": "开工间隔天数",
           "planned_starts": "计划开工时间"}


def build(*, session: Session, settings: Settings, start: datetime | None = None,
          end: datetime | None = None) -> Report:
    """Every pair (or those whose later work starts in [start, end))."""
    rows = merge_candidates.pairs(session=session, settings=settings, start=start, end=end)
    first = f"{start.astimezone(LOCAL_TZ).date()}" if start else ""
    last = f"{(end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()}" if end else ""
    label = f"{first}_{last}" if (start or end) else ""
    meta: dict[str, Any] = {"label": label, "start": start.isoformat() if start else None,
                            "end": end.isoformat() if end else None,
                            "window_days": settings.merge_candidate_days, "rows": len(rows)}
    period = f"{first or '最早'} 至 {last or '最晚'}" if label else "全部"
    title = f"可合并停电检修计划（一停多用） {period}"
    subtitle = ("规则：同一条线路上（台区上的检修计划归其所属线路）停电方式的两项检修计划，"
                "计划开工时间相隔不超过"
                f"{settings.merge_candidate_days:g}天即为一对，可安排一次停电完成；按后一项的开工时间统计（北京时间）。")
    columns = merge_candidates.COLUMNS
    return Report(
        name="merge-candidates", columns=list(columns), rows=rows,
        title=f"merge-candidates {label}".strip(), meta=meta,
        xlsx=lambda: xlsx.workbook(title=title, subtitle=subtitle, sheet="可合并检修计划",
                                   columns=columns, headers=HEADERS, rows=rows,
                                   widths={"work_ids": 28, "planned_starts": 36}),
    )
