"""IEEE 1366 major event days by the 2.5 beta method: T_MED = exp(α + 2.5·β) on daily SAIDI."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, Period
from core.settings import Settings
from monitoring.reliability.indices import base_params, load_sql
from monitoring.rules.counted import bulk_work_mem

log = logging.getLogger(__name__)

HISTORY_YEARS = 5
BETA_MULTIPLE = 2.5


@dataclass
class MajorEvents:
    """The threshold, how it was found, and the major event days inside the period."""

    t_med_minutes: float | None
    alpha: float | None
    beta: float | None
    history_start: date
    history_days: int
    days: list[date] = field(default_factory=list)
    day_saidi: dict[date, float] = field(default_factory=dict)

    def as_meta(self) -> dict[str, Any]:
        """A JSON-friendly description for a report's meta."""
        return {
            "method": "IEEE 1366 2.5 beta",
            "t_med_minutes": self.t_med_minutes,
            "alpha": self.alpha, "beta": self.beta,
            "history_start": self.history_start.isoformat(),
            "history_days_with_interruptions": self.history_days,
            "major_event_days": [d.isoformat() for d in self.days],
        }


def threshold(daily_saidi_minutes: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(T_MED, α, β) from daily SAIDI values; days with SAIDI 0 are left out; None if < 2 days."""
    logs = [math.log(x) for x in daily_saidi_minutes if x > 0]
    if len(logs) < 2:
        return None, None, None
    alpha = statistics.fmean(logs)
    beta = statistics.stdev(logs)
    return math.exp(alpha + BETA_MULTIPLE * beta), alpha, beta


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def major_event_days(
    *, session: Session, settings: Settings, period: Period, basis: str = "customer",
    now: datetime | None = None,
) -> MajorEvents:
    """T_MED from the (up to) five years before the period, and the period's days above it."""
    start_day = period.start.astimezone(LOCAL_TZ).date()
    history_start = _years_before(start_day, HISTORY_YEARS)
    lo = datetime(history_start.year, history_start.month, history_start.day, tzinfo=LOCAL_TZ)
    params = base_params(settings=settings, period=period, basis=basis, now=now)
    params.update(lo=lo, hi=period.end, variants=["all"], clip_lo=datetime.min.replace(tzinfo=UTC),
                  clip_hi=datetime.max.replace(tzinfo=UTC))
    with bulk_work_mem(session):
        daily = {r["day"]: float(r["saidi_minutes"] or 0.0)
                 for r in session.execute(text(load_sql("daily.sql")), params).mappings()}
    history = [v for d, v in daily.items() if d < start_day]
    t_med, alpha, beta = threshold(history)
    days = sorted(d for d, v in daily.items() if d >= start_day and t_med is not None and v > t_med)
    log.info("T_MED %s min from %d history days; %d major event days", t_med, len(history), len(days))
    return MajorEvents(t_med, alpha, beta, history_start, sum(1 for v in history if v > 0), days,
                       {d: v for d, v in daily.items() if d >= start_day})
