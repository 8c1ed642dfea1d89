"""Arrears disconnection pre-reports (task 56, SPEC section 14): who must be reported, by when."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.errors import UsageError
from core.settings import Settings
from monitoring.planning import sql

log = logging.getLogger(__name__)

COLUMNS = ["disconnection_id", "compound", "households_total", "important_user", "planned_start",
           "deadline", "reported_at", "status", "area_id", "households", "compound_id"]
"""The SPEC's fields, then the disconnection's area and own households, and the old_compound
overlay feature its compound names (empty when the compound is only a name)."""
STATUSES = ("ok", "late", "missing", "due")


def prereports(*, session: Session, settings: Settings, start: datetime, end: datetime,
               as_of: datetime) -> list[dict[str, Any]]:
    """The arrears disconnections planned in [start, end) that need a pre-report, at ``as_of``.

    Each row has the fields of ``COLUMNS`` plus ``seconds_left`` (deadline − as_of).
    """
    if end <= start:
        raise UsageError("the period must end after it starts")
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    params = {"lo": start, "hi": end, "as_of": as_of, "tz": str(LOCAL_TZ),
              "notice_seconds": float(settings.arrears_notice_hours) * 3600.0,
              "limit": settings.arrears_households_limit}
    rows = session.execute(text(sql("arrears.sql", "prereports")), params).mappings()
    return [dict(r) for r in rows]


def pending(*, session: Session, settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Pre-reports that the alerts watch at ``as_of``: not reported, and the disconnection not begun.

    That is every ``due`` one whose deadline is at most ``arrears_alert_hours`` away, and every
    ``missing`` one whose planned start is still ahead.
    """
    notice = timedelta(hours=settings.arrears_notice_hours)
    alert = timedelta(hours=settings.arrears_alert_hours)
    rows = prereports(session=session, settings=settings, start=as_of,
                      end=as_of + notice + alert + timedelta(seconds=1), as_of=as_of)
    return [r for r in rows
            if (r["status"] == "due" and r["seconds_left"] < alert.total_seconds())
            or (r["status"] == "missing" and r["planned_start"] > as_of)]
