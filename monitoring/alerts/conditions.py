"""What each alert rule sees at an as-of time: one condition per subject for which it holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from core.sqlfiles import statements
from monitoring.rules import zero_perception

log = logging.getLogger(__name__)

SEVERITY = {
    "frequent_outage": "critical",
    "frequent_outage_risk": "warning",
    "zero_perception_miss": "warning",
    "open_outage": "warning",
    "silent_meter": "warning",
    "unexplained_off": "warning",
    "repeat_planned_outage": "warning",
    "arrears_prereport_due": "warning",
    "arrears_prereport_missing": "critical",
    "connection_at_risk": "warning",
    "connection_over_limit": "critical",
}


@dataclass
class Condition:
    """A rule holding for a subject (asset, work, outage or meter)."""

    rule: str
    subject_type: str
    subject_id: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        """The rule's severity."""
        return SEVERITY[self.rule]


def _sql() -> dict[str, str]:
    return statements(__package__, "conditions.sql")


def frequent(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """frequent_outage and frequent_outage_risk, from asset_status (refreshed to as_of first)."""
    out = []
    for r in session.execute(text(_sql()["frequent"])).mappings():
        rule = "frequent_outage" if r["status"] == "frequent" else "frequent_outage_risk"
        word = "frequent outages" if r["status"] == "frequent" else "one outage from frequent"
        out.append(Condition(
            rule, r["asset_type"], r["asset_id"],
            f"{r['asset_type']} {r['asset_id']} ({r['name'] or ''}): {word}: "
            f"{r['count_365']} in 365 days, at most {r['max_60']} in 60 days",
            {"count_365": str(r["count_365"]), "max_60": str(r["max_60"])},
        ))
    return out


def zero_perception_miss(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Missed zero-perception works that started in the last year (frequent_year_days)."""
    rows = zero_perception.evaluate(
        session=session, settings=settings,
        start=as_of - timedelta(days=settings.frequent_year_days),
        end=as_of + timedelta(microseconds=1), as_of=as_of,
    )
    return [
        Condition(
            "zero_perception_miss", "work", r["work_id"],
            f"work {r['work_id']} on {r['asset_type']} {r['asset_id']} interrupted core-zone "
            f"area(s) {', '.join(r['areas'])}: {r['customers_affected']} customers, "
            f"{r['customer_minutes']:g} customer-minutes",
            {"asset_type": r["asset_type"], "asset_id": r["asset_id"]},
        )
        for r in rows if r["miss"] and r["planned_start"] <= as_of
    ]


def open_outage(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Outage records still open after open_outage_hours."""
    rows = session.execute(text(_sql()["open_outage"]),
                           {"as_of": as_of, "hours": settings.open_outage_hours}).mappings()
    return [
        Condition("open_outage", "outage", r["outage_id"],
                  f"outage {r['outage_id']} on {r['asset_type']} {r['asset_id']} has been open "
                  f"since {r['start_time'].isoformat()}",
                  {"asset_type": r["asset_type"], "asset_id": r["asset_id"]})
        for r in rows
    ]


def meters(*, session: Session, settings: Settings, as_of: datetime,
           incremental: bool = False) -> list[Condition]:
    """silent_meter and unexplained_off, from each meter's last event at or before as_of.

    ``incremental`` (after a stream batch) folds only the new events into ``meter_last``;
    otherwise it is rebuilt from every event.
    """
    from monitoring.alerts.meter_last import prepare

    q = _sql()
    session.execute(text(q["drop_meter_last"]))
    prepare(session=session, as_of=as_of, history_sql=q["meter_last"], incremental=incremental)
    out = [
        Condition("silent_meter", "meter", r["meter_id"],
                  f"meter {r['meter_id']} (area {r['area_id']}) reported off at "
                  f"{r['time'].isoformat()} and nothing since",
                  {"area_id": r["area_id"]})
        for r in session.execute(text(q["silent_meter"]),
                                 {"as_of": as_of, "hours": settings.silent_meter_hours}).mappings()
    ]
    out += [
        Condition("unexplained_off", "area", r["area_id"],
                  f"area {r['area_id']} ({r['name'] or ''}): {r['off']} of {r['total']} meters "
                  f"off with no outage record in progress",
                  {"off": str(r["off"]), "total": str(r["total"])})
        for r in session.execute(text(q["unexplained_off"]),
                                 {"as_of": as_of, "rate": settings.unexplained_off_rate}).mappings()
    ]
    session.execute(text(q["drop_meter_last"]))
    return out


def repeat_planned_outage(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Outage works not begun that would make a repeated planned outage (monitoring.planning)."""
    from monitoring.planning import alerts

    return alerts.repeat_planned_outage(session=session, settings=settings, as_of=as_of)


def arrears_prereports(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Arrears pre-reports due within a day, or missed (monitoring.planning)."""
    from monitoring.planning import alerts

    return alerts.arrears_prereports(session=session, settings=settings, as_of=as_of)


def connection_times(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Open connection applications at risk of, or over, their limit (monitoring.connections)."""
    from monitoring.connections import alerts as connection_alerts

    return connection_alerts.connection_times(session=session, settings=settings, as_of=as_of)


Evaluator = Callable[..., list[Condition]]

# Each evaluator and the rules it decides (an evaluator that fails resolves none of them).
EVALUATORS: list[tuple[Evaluator, tuple[str, ...]]] = [
    (frequent, ("frequent_outage", "frequent_outage_risk")),
    (zero_perception_miss, ("zero_perception_miss",)),
    (open_outage, ("open_outage",)),
    (meters, ("silent_meter", "unexplained_off")),
    (repeat_planned_outage, ("repeat_planned_outage",)),
    (arrears_prereports, ("arrears_prereport_due", "arrears_prereport_missing")),
    (connection_times, ("connection_at_risk", "connection_over_limit")),
]
# Planning rules look days ahead: they run after each file or HTTP ingest and in the scheduled
# evaluation, not after every stream batch (where they would add a few hundred ms each second).
NOT_PER_BATCH = (repeat_planned_outage, arrears_prereports, connection_times)
