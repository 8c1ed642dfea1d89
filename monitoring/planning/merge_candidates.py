"""Merge candidates (SPEC section 14): outage works on one feeder that one outage could serve."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import UsageError
from core.settings import Settings
from monitoring.planning import sql

log = logging.getLogger(__name__)

COLUMNS = ["feeder_id", "work_ids", "days_apart", "planned_starts"]
"""The SPEC's fields, then the works' planned starts in the order of ``work_ids``."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def pairs(*, session: Session, settings: Settings, start: datetime | None = None,
          end: datetime | None = None) -> list[dict[str, Any]]:
    """Every pair of outage works on one feeder starting at most ``merge_candidate_days`` apart.

    With ``start``/``end``, only the pairs whose later work starts in [start, end). Each row:
    feeder_id, work_ids (sorted), days_apart (2 decimals), planned_starts (ISO 8601, UTC, in
    the order of work_ids).
    """
    lo, hi = start or EARLIEST, end or LATEST
    if hi <= lo:
        raise UsageError("the period must end after it starts")
    params = {"start": lo, "hi": hi, "days_seconds": float(settings.merge_candidate_days) * 86400.0}
    out = []
    for r in session.execute(text(sql("merge_candidates.sql", "pairs")), params).mappings():
        by_id = sorted([(r["first_work_id"], r["first_start"]), (r["second_work_id"], r["second_start"])])
        out.append({
            "feeder_id": r["feeder_id"],
            "work_ids": [w for w, _ in by_id],
            "days_apart": round(r["seconds_apart"] / 86400.0, 2),
            "planned_starts": [s.isoformat() for _, s in by_id],
        })
    return out
