"""Elapsed working days and status of connection applications (SPEC section 16), set-based in SQL."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.errors import UsageError
from core.settings import Settings
from core.workdays import Calendar, prepare
from monitoring.connections import limit_params, sql

log = logging.getLogger(__name__)

FILE = "times.sql"
COLUMNS = ["app_id", "customer_class", "limit_days", "elapsed_days", "status"]
"""The SPEC's fields of ``report connection-times --format json``."""
SUMMARY_COLUMNS = ["customer_class", "applications", "energized", "open", "ok", "at_risk",
                   "over_limit", "median_days", "p90_days"]


def _statement(name: str, where: str = "month") -> str:
    scope = sql(FILE, "scope").replace("{where}", sql(FILE, where))
    return f"WITH {scope}\n{sql(FILE, name)}"


def _params(cal: Calendar, start: datetime, end: datetime, as_of: datetime) -> dict[str, Any]:
    if as_of.tzinfo is None or start.tzinfo is None or end.tzinfo is None:
        raise UsageError("times must be timezone-aware")
    today = as_of.astimezone(LOCAL_TZ).date()
    cal.require(today, "the as-of date, up to which open applications are counted")
    return {"lo": start, "hi": end, "as_of": as_of, "tz": str(LOCAL_TZ), "today": today,
            **limit_params()}


def _unknown(cal: Calendar, day: date | None) -> None:
    """Raise ``UnknownYear`` for a booked date the calendar lacks (before its first year)."""
    cal.require(day or cal.first_day - timedelta(days=1), "the booked date of an application")


def applications(*, session: Session, settings: Settings, start: datetime, end: datetime,
                 as_of: datetime, where: str = "month") -> list[dict[str, Any]]:
    """The applications booked in [start, end) or open during it, with elapsed days and status at ``as_of``.

    Each row has ``COLUMNS`` plus external_works, booked_at, energized_at (None while open at
    ``as_of``), area_id, county and booked_day.
    """
    cal = prepare(session=session, holidays_file=settings.holidays_file)
    params = _params(cal, start, end, as_of)
    rows = [dict(r) for r in session.execute(text(_statement("rows", where)), params).mappings()]
    bad = [r["booked_day"] for r in rows if r["elapsed_days"] is None]
    if bad:
        _unknown(cal, min(bad))
    return rows


def summary(*, session: Session, settings: Settings, start: datetime, end: datetime,
            as_of: datetime, by_county: bool = False) -> list[dict[str, Any]]:
    """Counts, and the median and p90 of the working days of the energized ones, by class.

    With ``by_county``, by county and class, with a total per county; always a total ('all').
    """
    cal = prepare(session=session, holidays_file=settings.holidays_file)
    params = {**_params(cal, start, end, as_of), "by_county": by_county}
    rows = [dict(r) for r in session.execute(text(_statement("summary")), params).mappings()]
    for r in rows:
        if r.pop("unknown_days"):
            _unknown(cal, r["first_unknown"])
        r.pop("first_unknown")
        if not by_county:
            r.pop("county")
    return rows


def open_applications(*, session: Session, settings: Settings, as_of: datetime,
                      statuses: tuple[str, ...] = ("at_risk", "over_limit")) -> list[dict[str, Any]]:
    """The applications open at ``as_of`` whose status is one of ``statuses`` (for the alerts).

    With no open application the calendar is not consulted, so a year it lacks stays silent
    until there is something to count.
    """
    if not session.execute(text(sql(FILE, "any_open")), {"as_of": as_of}).scalar():
        return []
    rows = applications(session=session, settings=settings, start=as_of, end=as_of, as_of=as_of,
                        where="open")
    return [r for r in rows if r["status"] in statuses]
