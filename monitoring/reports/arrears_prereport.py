"""The arrears pre-report list (task 56, SPEC section 14): disconnections of a month to report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, parse_period
from core.errors import UsageError
from core.settings import Settings
from monitoring import listxlsx as xlsx
from monitoring.planning import arrears
from monitoring.reports import Report

HEADERS = {
    "disconnection_id": "停电编号", "compound": "小区", "households_total": "同小区同日停电户数",
    "important_user": "重要用户", "planned_start": "计划停电时间", "deadline": "报备截止时间",
    "reported_at": "报备时间", "status": "报备状态", "area_id": "台区编号",
    "households": "本次停电户数", "compound_id": "老旧小区图斑编号",
}
STATUS_LABELS = {"ok": "按时报备", "late": "逾期报备", "missing": "未报备", "due": "待报备"}


def build(*, session: Session, settings: Settings, month: str, as_of: datetime) -> Report:
    """The arrears disconnections planned in ``month`` (2026-11) that need a pre-report, at ``as_of``."""
    period = parse_period(month)
    if "-" not in period.label:
        raise UsageError(f"month must look like 2026-11, not {month!r}")
    rows = arrears.prereports(session=session, settings=settings, start=period.start,
                              end=period.end, as_of=as_of)
    for r in rows:
        r.pop("seconds_left", None)
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in arrears.STATUSES}
    meta: dict[str, Any] = {"label": period.label, "month": period.label,
                            "as_of": as_of.isoformat(), "rows": len(rows), "statuses": counts}
    year, mon = period.label.split("-")
    title = f"{year}年{int(mon)}月欠费停电提前报备清单"
    subtitle = (f"依据：欠费停电影响同一小区超过{settings.arrears_households_limit}户"
                "（同一小区同日停电户数合计）"
                f"或涉及重要用户的，须提前{settings.arrears_notice_hours:g}小时向当地能源主管部门报备。"
                f"状态截至 {as_of.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}（北京时间）："
                + "，".join(f"{STATUS_LABELS[s]}{n}条" for s, n in counts.items()))
    columns = arrears.COLUMNS
    return Report(
        name="arrears-prereport", columns=list(columns), rows=rows,
        title=f"arrears-prereport {period.label}", meta=meta,
        xlsx=lambda: xlsx.workbook(title=title, subtitle=subtitle, sheet="欠费停电报备",
                                   columns=columns, headers=HEADERS, rows=rows,
                                   labels={"status": STATUS_LABELS},
                                   widths={"compound": 22, "planned_start": 18, "deadline": 18,
                                           "reported_at": 18}),
    )
