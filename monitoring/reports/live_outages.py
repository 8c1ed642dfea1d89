"""The live-outages report (SPEC section 13): one row per area out at the as-of time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from monitoring.live import COLUMNS, outages_at
from monitoring.reports import Report


def build(*, session: Session, as_of: datetime) -> Report:
    """Areas with an interruption (steps 1 and 2 of section 3) started by ``as_of`` and not ended."""
    return Report(name="live-outages", columns=list(COLUMNS),
                  rows=outages_at(session=session, as_of=as_of), title="live outages",
                  meta={"as_of": as_of})
