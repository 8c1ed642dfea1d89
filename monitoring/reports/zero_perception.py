"""Zero-perception report (SPEC section 9): in-scope works of a period, or each zone's rate."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, utcnow
from core.errors import UsageError
from core.settings import Settings
from monitoring.reports import Report
from monitoring.rules import zero_perception

log = logging.getLogger(__name__)

COLUMNS = ["work_id", "asset_type", "asset_id", "miss", "areas", "customers_affected",
           "customer_minutes"]
ZONE_COLUMNS = ["zone_id", "zone_name", "works", "misses", "rate"]


def build(*, session: Session, settings: Settings, start: datetime, end: datetime,
          by: str | None = None, as_of: datetime | None = None) -> Report:
    """Works whose planned window overlaps [start, end), or with ``by="zone"`` one row per zone."""
    if by not in (None, "zone"):
        raise UsageError(f"--by must be zone, not {by!r}")
    if end <= start:
        raise UsageError("the period must end after it starts")
    as_of = as_of or utcnow()
    label = f"{start.astimezone(LOCAL_TZ).date()}_{end.astimezone(LOCAL_TZ).date()}"
    meta: dict[str, Any] = {"label": label, "start": start.isoformat(), "end": end.isoformat(),
            "as_of": as_of.isoformat()}
    if by == "zone":
        zones = zero_perception.zone_rates(session=session, settings=settings, start=start,
                                           end=end, as_of=as_of)
        return Report(name="zero-perception", columns=ZONE_COLUMNS, rows=zones,
                      title=f"Zero-perception rate by zone {label}", meta=meta | {"by": "zone"})
    works = zero_perception.evaluate(session=session, settings=settings, start=start, end=end,
                                     as_of=as_of)
    rows = [{c: w[c] for c in COLUMNS} for w in works]
    in_scope = len(rows)
    misses = sum(1 for r in rows if r["miss"])
    meta |= {"works": in_scope, "misses": misses,
             "rate": round(1 - misses / in_scope, 6) if in_scope else None}
    return Report(name="zero-perception", columns=COLUMNS, rows=rows,
                  title=f"Zero-perception maintenance {label}", meta=meta)
