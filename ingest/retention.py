"""Retention of raw meter events: whole TimescaleDB chunks older than the configured days.

The retention horizon (``now`` minus ``meter_event_retention_days``) is one instant used in
three places: the nightly drop below, the ingest (a meter event before it is rejected as
``older than retention``) and the refresh of inferred interruptions (which never reaches back
before it, so what was derived from dropped events is kept as it is).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core import clock
from core.settings import Settings

log = logging.getLogger(__name__)


def horizon(*, settings: Settings, now: datetime | None = None) -> datetime:
    """The retention horizon: raw meter events before it may have been dropped.

    ``now`` defaults to the clock (``core.clock.utcnow``).
    """
    return (now or clock.utcnow()) - timedelta(days=settings.meter_event_retention_days)


def drop_old_meter_events(*, session: Session, settings: Settings, now: datetime) -> int:
    """Drop meter-event chunks entirely older than the retention horizon; returns chunks dropped.

    Derived results (inferred interruptions and off spans) are kept: the refresh never
    recomputes before the horizon.
    """
    cutoff = horizon(settings=settings, now=now)
    dropped = session.execute(
        text("SELECT drop_chunks('meter_event', older_than => CAST(:cutoff AS timestamptz))"),
        {"cutoff": cutoff},
    ).all()
    if dropped:
        log.info("dropped %d meter-event chunk(s) older than %s", len(dropped), cutoff.isoformat())
    return len(dropped)
