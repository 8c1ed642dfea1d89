"""The demo's connection applications (SPEC section 16): a year of 业扩报装 across classes and counties.

Written as ``applications.csv`` and ``applications-late.csv`` from their own random generator,
so the other demo files stay as they were. The anchor's Beijing date is "today": applications
are booked in the 365 days before it, and those not energized by then are open. Working days
come from ``core.workdays``, so the scenarios land exactly:

* most applications are energized within their limit, about one in six after it;
* a few open ones have used exactly their limit today (``at_risk``), others are over it;
* low-voltage applications waiting on a 10 kV+ upgrade, most with estimates above the limit
  (the monthly filing lists them), some within it;
* a few booked two months before the anchor's month first arrive without their upgrade
  assessment; ``applications-late.csv`` re-sends them with it (counted as updated) after the
  earlier months' ledgers were filed, so the current month's ledger has carried-over rows
  (前期漏报). ``filings`` lists the months to mark filed, each at 10:00 on its deadline.

Dates stay inside the calendar's known years. When today is outside them, every application
is energized by the calendar's last day and none is open: the reports then name the missing
year, which is what an operator must fix (docs/connections.md).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core.clock import LOCAL_TZ
from core.workdays import Calendar, calendar

CLASSES = ("lv_resident", "lv_three_zero", "lv_other", "hv_single", "hv_dual")
SHARES = (0.58, 0.15, 0.17, 0.07, 0.03)
LIMITS = {"lv_resident": (5, 15), "lv_three_zero": (5, 15), "lv_other": (6, 6),
          "hv_single": (22, 22), "hv_dual": (32, 32)}
"""(without, with external works): the task-3 limits, as monitoring.connections has them."""
PER_AREA = 3
MAX_APPLICATIONS = 100_000
COLUMNS = ["app_id", "area_id", "county", "customer_class", "external_works", "booked_at",
           "energized_at", "needs_upgrade", "upgrade_estimated_days", "upgrade_due"]
DEADLINE_WORKDAY = 5


@dataclass
class Connections:
    """The generated applications, the late re-sends and the filings to mark."""

    applications: pd.DataFrame
    late: pd.DataFrame
    filings: list[tuple[str, str]] = field(default_factory=list)


def _iso(day: date, hours: float) -> str:
    moment = datetime.combine(day, time(0), LOCAL_TZ) + timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+08:00")


class _Days:
    """Working days around today, for "the k-th working day after" and "k back from today"."""

    def __init__(self, cal: Calendar, first: date, last: date) -> None:
        lo, hi = max(first, cal.first_day), min(last, cal.last_day)
        self.days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
        self.work = [d for d in self.days if cal.is_workday(d)]

    def after(self, day: date, k: int) -> date:
        """The day on which (day, result] holds k working days (day itself when k = 0)."""
        if k == 0:
            return day
        i = bisect_right(self.work, day) + k - 1
        return self.work[i] if i < len(self.work) else self.work[-1] + timedelta(days=k)


def generate_connections(rng: np.random.Generator, areas: pd.DataFrame, anchor: datetime,
                         holidays_file: Path | None = None) -> Connections:
    """A year of applications before the anchor (see the module's docstring)."""
    cal = calendar(holidays_file)
    today = pd.Timestamp(anchor).tz_convert("Asia/Shanghai").date()
    known = cal.first_year <= today.year <= cal.last_year
    end = today if known else cal.last_day
    start = max(today - timedelta(days=365), cal.first_day)
    days = _Days(cal, start - timedelta(days=10), end + timedelta(days=200))
    area_ids = areas["area_id"].astype(str).to_numpy()
    counties = areas["county"].astype(str).to_numpy()

    def pick(at: int) -> tuple[str, str]:
        return str(area_ids[at]), str(counties[at])

    n = int(min(MAX_APPLICATIONS, PER_AREA * len(areas)))
    idx = rng.integers(0, len(areas), n)
    classes = rng.choice(len(CLASSES), n, p=SHARES)
    span = max((end - start).days, 1)
    booked_off = rng.integers(1, span + 1, n)
    external = rng.random(n) < 0.2
    over = rng.random(n) < 0.17
    share = rng.random(n)
    extra = rng.geometric(0.3, n)
    hours = rng.uniform(9.0, 17.0, n)
    upgrade = rng.random(n)
    estimate_extra = rng.integers(5, 41, n)
    rows = []
    for i in range(n):
        cls = CLASSES[classes[i]]
        limit = LIMITS[cls][1 if external[i] else 0]
        booked = end - timedelta(days=int(booked_off[i]))
        target = limit + int(extra[i]) if over[i] else int(share[i] ** 2 * (limit + 1))
        needs, estimate, due = False, None, None
        if cls.startswith("lv") and upgrade[i] < 0.06:
            needs = True
            estimate = limit + int(estimate_extra[i]) if upgrade[i] < 0.045 else max(1, limit - 2)
            due = days.after(booked, estimate)
            target = estimate + int(extra[i]) - 1
        energized_day = days.after(booked, target)
        rows.append(_row(i, pick(int(idx[i])), cls, bool(external[i]), booked, float(hours[i]),
                         energized_day, end, known, needs, estimate, due))
    late = _special(rows, rng, pick, len(areas), days, today, end, known)
    apps = pd.DataFrame(rows, columns=COLUMNS)
    return Connections(applications=apps, late=pd.DataFrame(late, columns=COLUMNS),
                       filings=_filings(cal, today, known))


def _row(i: int, area: tuple[str, str], cls: str, external: bool, booked: date, hour: float,
         energized_day: date, end: date, known: bool, needs: bool, estimate: int | None,
         due: date | None) -> dict[str, object]:
    if energized_day >= end and known:
        energized = ""                                  # not yet: open today
    else:
        energized_day = min(energized_day, end)
        energized = _iso(energized_day, hour + (2.0 if energized_day == booked else 1.0))
    return {"app_id": f"YK-{i + 1:07d}", "area_id": area[0],
            "county": area[1] if i % 2 else "", "customer_class": cls,
            "external_works": "true" if external else "false", "booked_at": _iso(booked, hour),
            "energized_at": energized, "needs_upgrade": "true" if needs else "false",
            "upgrade_estimated_days": "" if estimate is None else str(estimate),
            "upgrade_due": "" if due is None else due.isoformat()}


def _special(rows: list[dict[str, object]], rng: np.random.Generator,
             pick: Callable[[int], tuple[str, str]], n_areas: int, days: _Days, today: date,
             end: date, known: bool) -> list[dict[str, object]]:
    """Open applications at risk and over the limit today, and the late upgrade assessments."""
    late: list[dict[str, object]] = []
    if not known:
        return late
    worked = [d for d in days.work if d <= today]
    n = len(rows)
    for k in range(max(3, n // 150)):                   # at_risk: exactly the limit used today
        cls = CLASSES[k % 3]
        limit = LIMITS[cls][0]
        booked = worked[-limit] - timedelta(days=1)
        rows.append(_row(n + k, pick(int(rng.integers(0, n_areas))), cls, False, booked,
                         9.5, end, end, known, False, None, None))
    n = len(rows)
    for k in range(max(3, n // 200)):                   # open and over the limit
        cls = CLASSES[2 + k % 3]
        limit = LIMITS[cls][0]
        booked = worked[-(limit + 3 + k % 7)] - timedelta(days=1)
        rows.append(_row(n + k, pick(int(rng.integers(0, n_areas))), cls, False, booked,
                         10.0, end, end, known, False, None, None))
    first = date(today.year, today.month, 1)
    two_back = (first - timedelta(days=32)).replace(day=1)
    n = len(rows)
    for k in range(3):                                  # upgrade assessed late: 前期漏报
        cls = CLASSES[k % 3]
        limit = LIMITS[cls][0]
        booked = two_back + timedelta(days=3 + 7 * k)
        estimate = limit + 20 + 5 * k
        row = _row(n + k, pick(int(rng.integers(0, n_areas))), cls, False, booked, 11.0,
                   end, end, known, False, None, None)
        rows.append(row)
        late.append({**row, "needs_upgrade": "true", "upgrade_estimated_days": str(estimate),
                     "upgrade_due": days.after(booked, estimate).isoformat()})
    return late


def _filings(cal: Calendar, today: date, known: bool) -> list[tuple[str, str]]:
    """The twelve months before today's month whose ledgers were filed, at 10:00 on their deadline."""
    out = []
    first = date(today.year, today.month, 1)
    for back in range(12, 0, -1):
        y, m = divmod(first.year * 12 + first.month - 1 - back, 12)
        if not known or not cal.first_year <= y <= cal.last_year:
            continue
        due = cal.nth(y, m + 1, DEADLINE_WORKDAY)
        out.append((f"{y}-{m + 1:02d}", _iso(due, 10.0)))
    return out
