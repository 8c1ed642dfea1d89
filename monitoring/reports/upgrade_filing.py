"""The monthly ledger 业扩接入需改造不满足接电时限台账 (SPEC section 16, Appendix 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.connections import CLASS_LABELS, filing, xlsx
from monitoring.reports import Report

TITLE = "业扩接入需改造不满足接电时限台账"
HEADERS = {
    "app_id": "申请编号", "customer_class": "客户类别", "external_works": "是否有外线工程",
    "booked_at": "预约上门服务时间", "limit_days": "接电时限（工作日）",
    "upgrade_estimated_days": "电网改造预计工期（工作日）", "upgrade_due": "改造预计完成日期",
    "carried_over": "前期漏报", "deadline": "报送截止日期",
}

WIDTHS = {"app_id": 20, "booked_at": 17, "customer_class": 16, "external_works": 12,
          "limit_days": 12, "upgrade_estimated_days": 13, "upgrade_due": 13, "carried_over": 9,
          "deadline": 13}


def _state(ledger: dict[str, Any]) -> str:
    """Whether and when the month was filed (never who: the document goes to the regulator)."""
    filings = ledger["filings"]
    if not filings:
        return "状态：尚未报送"
    times = "、".join(f"{f['filed_at'].astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" for f in filings)
    return f"状态：已于 {times} 报送（北京时间）"


def build(*, session: Session, settings: Settings, month: str, as_of: datetime) -> Report:
    """The month's ledger at ``as_of``: what its filings listed, and what is still to file."""
    ledger = filing.ledger(session=session, settings=settings, month=month, as_of=as_of)
    rows = ledger["rows"]
    label = ledger["month"]
    year, mon = label.split("-")
    deadline = ledger["deadline"]
    carried = sum(1 for r in rows if r["carried_over"])
    meta: dict[str, Any] = {
        "label": label, "month": label, "as_of": as_of.isoformat(), "deadline": deadline.isoformat(),
        "rows": len(rows), "carried_over": carried,
        "filed": sum(1 for r in rows if r["filed"]), "to_file": sum(1 for r in rows if not r["filed"]),
        "filings": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in f.items()}
                    for f in ledger["filings"]],
    }
    title = f"{year}年{int(mon)}月{TITLE}"
    lines = [
        f"报送月份：{year}年{int(mon)}月　报送截止：{deadline:%Y-%m-%d}（当月第{filing.DEADLINE_WORKDAY}个"
        f"工作日）　报送对象：国家能源局贵州监管办　{_state(ledger)}",
        "列入：需10千伏及以上公共电网改造、改造预计工期（工作日）超过接电时限的低压业扩申请，每项仅报送一次。"
        f"共{len(rows)}项，其中前期漏报{carried}项（上月之前受理、以往未报送）。",
    ]
    data = [{**r, "upgrade_due": r["upgrade_due"].isoformat() if r["upgrade_due"] else None,
             "deadline": deadline.isoformat()} for r in rows]
    sheet = [{**r, "deadline": deadline} for r in rows]
    columns = filing.COLUMNS
    return Report(
        name="upgrade-filing", columns=list(columns), rows=data, title=f"upgrade-filing {label}",
        meta=meta,
        xlsx=lambda: xlsx.ledger(title=title, lines=lines, sheet="改造不满足时限台账",
                                 columns=columns, headers=HEADERS, rows=sheet,
                                 labels={"customer_class": CLASS_LABELS},
                                 widths=WIDTHS),
    )
