"""The connection-times report (SPEC section 16): working days to connect, by class, and who is over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.connections import CLASS_LABELS, LIMITS, STATUS_LABELS, times, xlsx
from monitoring.connections.filing import month_period
from monitoring.reports import Report

HEADERS = {
    "county": "区县", "customer_class": "客户类别", "applications": "申请数",
    "energized": "已接电", "open": "未接电", "ok": "未超时限", "at_risk": "临近超时",
    "over_limit": "超时限", "median_days": "接电时长中位数（工作日）",
    "p90_days": "接电时长90分位（工作日）", "app_id": "申请编号", "limit_days": "时限（工作日）",
    "elapsed_days": "已用时长（工作日）", "status": "状态", "external_works": "是否有外线工程",
    "booked_at": "预约上门服务时间", "energized_at": "装表接电时间", "area_id": "台区编号",
}
LIST_COLUMNS = ["app_id", "customer_class", "external_works", "county", "area_id", "booked_at",
                "energized_at", "limit_days", "elapsed_days", "status"]
OVER_COLUMNS = ["app_id", "customer_class", "county", "booked_at", "energized_at", "limit_days",
                "elapsed_days"]


def _limits_text() -> str:
    return ("时限（工作日）：低压居民、低压“三零”客户无外线工程"
            f"{LIMITS[('lv_resident', False)]}日、有外线工程{LIMITS[('lv_resident', True)]}日；"
            f"其他低压客户{LIMITS[('lv_other', False)]}日；高压单电源{LIMITS[('hv_single', False)]}日；"
            f"高压双电源{LIMITS[('hv_dual', False)]}日。")


def build(*, session: Session, settings: Settings, month: str, as_of: datetime,
          by_county: bool = False, summary: bool = False) -> Report:
    """The applications booked in ``month`` or open during it, at ``as_of``.

    The rows are one per application (``times.COLUMNS``); with ``summary`` they are the
    summary instead (by class, or by county and class). ``meta`` always carries the summary
    and the over-limit list, which the table output shows.
    """
    period = month_period(month)
    rows = times.applications(session=session, settings=settings, start=period.start,
                              end=period.end, as_of=as_of)
    stats = times.summary(session=session, settings=settings, start=period.start,
                          end=period.end, as_of=as_of, by_county=by_county)
    summary_columns = (["county"] if by_county else []) + times.SUMMARY_COLUMNS
    over = [r for r in rows if r["status"] == "over_limit"]
    meta: dict[str, Any] = {
        "label": period.label, "month": period.label, "as_of": as_of.isoformat(),
        "by": "county" if by_county else "class", "rows": len(rows), "summary": stats,
        "summary_columns": summary_columns, "over_limit": over, "over_limit_columns": OVER_COLUMNS,
    }
    year, mon = period.label.split("-")
    title = f"{year}年{int(mon)}月业扩报装接电时长统计"
    subtitle = (f"统计范围：{year}年{int(mon)}月预约上门服务的申请，及当月内仍未接电的申请；"
                "时长为预约上门服务日（不计）至装表接电日（计入）之间的工作日数，未接电的计至"
                f"{as_of.astimezone(LOCAL_TZ):%Y-%m-%d}（截至 {as_of.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}，"
                "北京时间）。中位数与90分位按已接电申请计算。" + _limits_text())
    labels = {"customer_class": CLASS_LABELS, "status": STATUS_LABELS,
              "county": {"all": "合计"}}
    columns = summary_columns if summary else times.COLUMNS
    return Report(
        name="connection-times", columns=list(columns), rows=stats if summary else rows,
        title=f"connection-times {period.label}", meta=meta,
        xlsx=lambda: xlsx.workbook(
            title=title, subtitle=subtitle, summary_columns=summary_columns, summary_rows=stats,
            columns=LIST_COLUMNS, rows=rows, headers=HEADERS, labels=labels,
            widths={"booked_at": 18, "energized_at": 18, "median_days": 16, "p90_days": 16,
                    "app_id": 18, "customer_class": 16}),
    )
