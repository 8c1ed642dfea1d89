"""Inferred interruptions (SPEC section 3 step 2), kept up to date from the ingest change log."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from core.sqlfiles import statements

log = logging.getLogger(__name__)

__all__ = ["refresh"]


def _sql() -> dict[str, str]:
    return statements(__name__, "refresh.sql")


def refresh(*, session: Session, settings: Settings, full: bool = False) -> int:
    """Recompute inferred interruptions for areas with new meter events; returns areas refreshed.

    Only the affected time range of each area is recomputed (from its earliest changed time, or
    the start of the interval open then). ``full`` rebuilds every area from the beginning, e.g.
    after the meter registry or ``meter_off_fraction`` changed. Does not commit.
    """
    q = _sql()
    fraction = {"fraction": str(settings.meter_off_fraction)}
    session.execute(text(q["lock"]))
    session.execute(text(q["drop_temp"]))
    session.execute(text(q["all_areas" if full else "pending_areas"]), fraction)
    areas, min_anchor = session.execute(text(q["count_areas"])).one()
    if areas:
        session.execute(text(q["meters"]))
        session.execute(text(q["analyze"]))
        if full:
            session.execute(text("DELETE FROM inferred_interruption"))
            session.execute(text("DELETE FROM area_meter_off_span"))
        else:
            session.execute(text(q["delete_intervals"]))
            session.execute(text(q["delete_spans"]))
        # Sorted group aggregates stream through the window passes; a hash aggregate (chosen on
        # stale statistics of freshly ingested events) would force a full re-sort.
        old = session.execute(text(
            "SELECT current_setting('work_mem'), current_setting('enable_hashagg')")).one()
        session.execute(text("SELECT set_config('work_mem', '256MB', true), "
                             "set_config('enable_hashagg', 'off', true)"))
        session.execute(text(q["recompute"]), {"min_anchor": min_anchor})
        session.execute(text("SELECT set_config('work_mem', :w, true), "
                             "set_config('enable_hashagg', :h, true)"), {"w": old[0], "h": old[1]})
    session.execute(text(q["mark_done"]))
    session.execute(text(q["drop_temp"]))
    log.info("inferred interruptions refreshed for %d area(s)", areas)
    return int(areas)
