"""Reliability indices by region and period (SPEC section 9), with ranking and major event days."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, parse_period
from core.errors import UsageError
from core.settings import Settings
from monitoring.reliability.indices import BASES, REGION_TYPES, VARIANTS, reliability_rows
from monitoring.reliability.med import major_event_days
from monitoring.reports import Report

COLUMNS = ["region_type", "region_id", "region_name", "period", "basis", "variant", "customers",
           "interruptions", "saifi", "saidi", "caidi", "asai"]


def rank_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rank regions within each variant: highest ASAI (lowest SAIDI) first, then lowest SAIFI."""
    ranked: list[dict[str, Any]] = []
    for variant in VARIANTS:
        group = [r for r in rows if r["variant"] == variant]
        group.sort(key=lambda r: (r["asai"] is None, -(r["asai"] or 0.0), r["saifi"] or 0.0,
                                  str(r["region_id"])))
        previous: tuple[Any, Any] | None = None
        for i, r in enumerate(group, start=1):
            key = (r["asai"], r["saifi"])
            r["rank"] = ranked[-1]["rank"] if key == previous and ranked else i
            previous = key
            ranked.append(r)
    return ranked


def build(
    *, session: Session, settings: Settings, period: str, by: str, basis: str = "customer",
    rank: bool = False, exclude_med: bool = False, now: datetime | None = None,
) -> Report:
    """SAIFI, SAIDI, CAIDI and ASAI for each region of ``by`` and each variant over ``period``."""
    if by not in REGION_TYPES:
        raise UsageError(f"--by must be one of {', '.join(REGION_TYPES)}, not {by!r}")
    if basis not in BASES:
        raise UsageError(f"--basis must be customer or area, not {basis!r}")
    p = parse_period(period)
    meta: dict[str, Any] = {
        "label": f"{p.label}-{by}", "period": p.label, "by": by, "basis": basis,
        "start": p.start.astimezone(LOCAL_TZ).isoformat(),
        "end": p.end.astimezone(LOCAL_TZ).isoformat(), "hours": p.hours,
    }
    columns = list(COLUMNS)
    med_days = None
    if exclude_med:
        med = major_event_days(session=session, settings=settings, period=p, basis=basis, now=now)
        meta["major_events"] = med.as_meta()
        med_days = med.days
        columns += ["t_med_minutes", "major_event_days"]
    rows = reliability_rows(session=session, settings=settings, period=p, by=by, basis=basis,
                            med_days=med_days, now=now)
    if exclude_med:
        for r in rows:
            r["t_med_minutes"] = meta["major_events"]["t_med_minutes"]
            r["major_event_days"] = len(med_days or [])
    if rank:
        rows = rank_rows(rows)
        columns.append("rank")
    return Report(name="reliability", columns=columns, rows=rows,
                  title=f"reliability {p.label} by {by}", meta=meta)
