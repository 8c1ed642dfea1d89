"""The monthly upgrade filing (SPEC section 16, Appendix 2): the ledger, its deadline, marking it filed.

Every month, before its 5th working day, the grid company files with the regulator the
low-voltage applications waiting on a 10 kV+ grid upgrade whose estimated working days exceed
the connection limit. Each application is filed once (``upgrade_filing_item.app_id`` is the key).
One that was due in an earlier month but never filed comes back as ``carried_over`` (前期漏报).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, Period, parse_period, utcnow
from core.errors import Conflict, UsageError
from core.settings import Settings
from core.workdays import Calendar, prepare
from monitoring.connections import limit_params, sql

log = logging.getLogger(__name__)

FILE = "filing.sql"
COLUMNS = ["app_id", "customer_class", "external_works", "booked_at", "limit_days",
           "upgrade_estimated_days", "upgrade_due", "carried_over", "deadline"]
"""The SPEC's filing fields, in the SPEC's order (json, csv and the xlsx)."""
DEADLINE_WORKDAY = 5
"""The ledger is due by the 5th working day of its month (Appendix 2)."""
FUTURE_SLACK = timedelta(minutes=10)
MAX_NAME = 200


def month_period(month: str) -> Period:
    """``2026-12`` as a local-calendar month; anything else is a ``UsageError``."""
    period = parse_period(month)
    if "-" not in period.label:
        raise UsageError(f"month must look like 2026-12, not {month!r}")
    return period


def _first_day(period: Period) -> date:
    return period.start.astimezone(LOCAL_TZ).date()


def deadline(cal: Calendar, period: Period) -> date:
    """The 5th working day of the month (``UnknownYear`` when the calendar lacks its year)."""
    first = _first_day(period)
    cal.require(first, f"the filing deadline of {period.label}")
    return cal.nth(first.year, first.month, DEADLINE_WORKDAY)


def _params(period: Period, as_of: datetime) -> dict[str, Any]:
    first = _first_day(period)
    previous = parse_period(f"{(first - timedelta(days=1)):%Y-%m}")
    return {"lo": period.start, "prev_lo": previous.start, "month": first, "as_of": as_of,
            **limit_params()}


def ledger(*, session: Session, settings: Settings, month: str, as_of: datetime) -> dict[str, Any]:
    """The month's ledger at ``as_of``: ``rows`` (``COLUMNS``), ``deadline`` and ``filings``.

    The rows are those the month's filings listed (``filed`` true), then the qualifying ones no
    filing has listed yet (``filed`` false), by booked time.
    """
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    period = month_period(month)
    cal = prepare(session=session, holidays_file=settings.holidays_file)
    due = deadline(cal, period)
    params = _params(period, as_of)
    filed = [dict(r, filed=True) for r in session.execute(text(sql(FILE, "filed")), params).mappings()]
    new = [dict(r, filed=False)
           for r in session.execute(text(sql(FILE, "candidates")), params).mappings()]
    rows = sorted(filed + new, key=lambda r: (r["booked_at"], r["app_id"]))
    for r in rows:
        r["deadline"] = due
    filings = [dict(r) for r in session.execute(text(sql(FILE, "filings")), params).mappings()]
    return {"month": period.label, "deadline": due, "rows": rows, "filings": filings,
            "as_of": as_of}


def mark_filed(*, session: Session, settings: Settings, month: str, filed_by: str,
               at: datetime | None = None) -> dict[str, Any]:
    """Record that the month's ledger was filed at ``at`` (default now) by ``filed_by``.

    The applications it lists that no filing has listed are stored with the filing, as they
    are listed. A second marking files nothing twice: it records a filing only when something
    is new (or the month has none yet, so a month with nothing to file is still recorded as
    filed). Returns the filing (``filing_id`` None when nothing was recorded), ``filed`` (how
    many applications it added) and ``app_ids``. Does not commit.
    """
    now = utcnow()
    at = at or now
    who = (filed_by or "").strip()
    if not who or len(who) > MAX_NAME or any(ord(c) < 32 for c in who):
        raise UsageError(f"who filed it must be a name of 1 to {MAX_NAME} characters")
    period = month_period(month)
    if at < period.start:
        raise Conflict(f"the {period.label} ledger lists the applications booked before "
                       f"{_first_day(period)}; it can be marked filed from then on, not at "
                       f"{at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}")
    if at > now + FUTURE_SLACK:
        raise Conflict("a filing cannot be marked in the future")
    cal = prepare(session=session, holidays_file=settings.holidays_file)
    due = deadline(cal, period)
    params = _params(period, at)
    session.execute(text(sql(FILE, "lock")))
    had = session.execute(text("SELECT count(*) FROM upgrade_filing WHERE month = CAST(:month AS date)"),
                          params).scalar_one()
    filing_id = session.execute(text(sql(FILE, "open_filing")),
                                {**params, "deadline": due, "filed_at": at, "filed_by": who}
                                ).scalar_one()
    items = sql(FILE, "file_items").replace("{candidates}", sql(FILE, "candidates"))
    added = session.execute(text(items), {**params, "filing_id": filing_id}).scalar_one()
    if added == 0 and had:
        session.execute(text(sql(FILE, "drop_filing")), {"filing_id": filing_id})
        log.info("upgrade filing %s: nothing new to file", period.label)
        return {"filing_id": None, "month": period.label, "deadline": due, "filed_at": None,
                "filed_by": None, "filed": 0, "app_ids": []}
    session.execute(text(sql(FILE, "count_filing")), {"rows": added, "filing_id": filing_id})
    app_ids = session.execute(text(
        "SELECT app_id FROM upgrade_filing_item WHERE filing_id = :f ORDER BY booked_at, app_id"),
        {"f": filing_id}).scalars().all()
    log.info("upgrade filing %s: %d application(s) filed by %s (filing %d)", period.label, added,
             who, filing_id)
    return {"filing_id": filing_id, "month": period.label, "deadline": due, "filed_at": at,
            "filed_by": who, "filed": int(added), "app_ids": list(app_ids)}
