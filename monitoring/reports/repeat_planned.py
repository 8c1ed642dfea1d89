"""The repeat-planned report (SPEC section 14): planned interruptions of an area too close together."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring import listxlsx as xlsx
from monitoring.planning import repeat_planned
from monitoring.reports import Report

HEADERS = {
    "area_id": "台区编号", "first_ref": "前次停电编号", "first_start": "前次停电开始时间",
    "second_ref": "后次停电编号", "second_start": "后次停电开始时间", "days_apart": "间隔天数",
    "customers": "影响用户数", "first_kind": "前次类型", "second_kind": "后次类型",
}
KINDS = {"outage": "停电记录", "work": "检修计划"}


def _last_day(end: datetime) -> str:
    return f"{(end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()}"


def build(*, session: Session, settings: Settings, start: datetime, end: datetime) -> Report:
    """The findings whose second interruption starts in [start, end)."""
    rows = repeat_planned.findings(session=session, settings=settings, start=start, end=end)
    first_day = f"{start.astimezone(LOCAL_TZ).date()}"
    label = f"{first_day}_{_last_day(end)}"
    meta: dict[str, Any] = {"label": label, "start": start.isoformat(), "end": end.isoformat(),
                            "window_days": settings.repeat_planned_days, "rows": len(rows)}
    title = f"重复计划停电清单（一停多用） {first_day} 至 {_last_day(end)}"
    subtitle = (f"规则：同一台区两次计划停电（计划停电记录，或停电方式的检修计划）开始时间相隔不超过"
                f"{settings.repeat_planned_days:g}天即列入；按后次停电开始时间统计（北京时间）。"
                f"{settings.short_interruption_minutes:g}分钟及以下的停电记录不计；带检修计划编号的停电记录"
                "与该计划算同一次停电。")
    columns = repeat_planned.COLUMNS
    return Report(
        name="repeat-planned", columns=list(columns), rows=rows,
        title=f"repeat-planned {label}", meta=meta,
        xlsx=lambda: xlsx.workbook(title=title, subtitle=subtitle, sheet="重复计划停电",
                                   columns=columns, headers=HEADERS, rows=rows,
                                   labels={"first_kind": KINDS, "second_kind": KINDS},
                                   widths={"first_start": 18, "second_start": 18}),
    )
