"""The connection-time alerts (SPEC sections 7 and 16), evaluated at an as-of time.

- ``connection_at_risk`` (warning): an open application has used its whole limit; one more
  working day puts it over. It resolves when the application is energized, or when it goes
  over the limit, where ``connection_over_limit`` takes over.
- ``connection_over_limit`` (critical): an open application is over its limit. It resolves when
  the application is energized. Without it, ``connection_at_risk`` would resolve as the limit
  passed, which reads as "fixed".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.alerts.conditions import Condition
from monitoring.connections import times

RULES = ("connection_at_risk", "connection_over_limit")


def _condition(r: dict[str, Any]) -> Condition:
    booked = r["booked_at"].astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    where = f", area {r['area_id']}" if r["area_id"] else ""
    if r["status"] == "at_risk":
        rule = "connection_at_risk"
        summary = (f"connection application {r['app_id']} ({r['customer_class']}{where}, booked "
                   f"{booked}) has used {r['elapsed_days']} of its {r['limit_days']} working days; "
                   "it goes over the limit unless supply is on by the end of the next working day")
    else:
        rule = "connection_over_limit"
        summary = (f"connection application {r['app_id']} ({r['customer_class']}{where}, booked "
                   f"{booked}) is over its limit: {r['elapsed_days']} working days of "
                   f"{r['limit_days']}, and supply is not on yet")
    return Condition(rule, "application", r["app_id"], summary, {
        "customer_class": r["customer_class"], "area_id": r["area_id"] or "",
        "county": r["county"] or "", "limit_days": str(r["limit_days"]),
        "elapsed_days": str(r["elapsed_days"]), "booked_at": r["booked_at"].isoformat(),
    })


def connection_times(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """connection_at_risk and connection_over_limit for the applications open at ``as_of``."""
    return [_condition(r) for r in times.open_applications(session=session, settings=settings,
                                                           as_of=as_of)]
