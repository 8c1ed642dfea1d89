"""The quarterly remediation list: assets frequent at any moment of a quarter, with their cases."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, Period, utcnow
from core.settings import Settings
from monitoring.cases.service import load_sql
from monitoring.rules.counted import bulk_work_mem, counted_params, merged_starts_sql

log = logging.getLogger(__name__)

CAUSES = ("fault", "planned", "unknown", "weather", "external", "customer")


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def quarter_rows(
    *, session: Session, settings: Settings, period: Period, now: datetime | None = None
) -> list[dict[str, Any]]:
    """One row per asset frequent at any moment of ``period`` or with a case open during it.

    count_365, max_60 and status are at the quarter's end (as-of the last microsecond of the
    quarter, the same as ``--as-of`` the last day); case fields are as they stood then.
    """
    year = timedelta(days=settings.frequent_year_days)
    end_as_of = period.end - timedelta(microseconds=1)
    # Every end known by now: an interruption still counts as ongoing only if it is.
    as_of = max(now or utcnow(), period.end)
    params = counted_params(settings=settings, as_of=as_of, since=period.start - year)
    params.update(
        q_start=period.start, q_end=period.end, end_as_of=end_as_of, year=year,
        window=timedelta(days=settings.frequent_window_days),
        window_span=timedelta(days=settings.frequent_window_days) - timedelta(microseconds=1),
        year_limit=settings.frequent_year_limit, window_limit=settings.frequent_window_limit,
        min_share=settings.tag_min_share,
    )
    sql = load_sql("quarterly.sql").replace("{starts}", merged_starts_sql())
    with bulk_work_mem(session):
        rows = [dict(r) for r in session.execute(text(sql), params).mappings().all()]
    for r in rows:
        r["tags"] = list(r["tags"])
        r["due_date"] = _day(r["due_date"])
        r["completion_date"] = _day(r["completion_date"])
        signed = r.pop("signed_off_at")
        r["sign_off_date"] = (
            datetime.fromisoformat(signed).astimezone(LOCAL_TZ).date() if signed else None
        )
    log.info("remediation list %s: %d rows", period.label, len(rows))
    return rows
