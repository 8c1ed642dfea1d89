"""Retention of raw meter events: whole TimescaleDB chunks older than the configured days."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings

log = logging.getLogger(__name__)


def drop_old_meter_events(*, session: Session, settings: Settings, now: datetime) -> int:
    """Drop meter-event chunks entirely older than the retention; returns chunks dropped.

    Derived results (inferred interruptions) are kept.
    """
    cutoff = now - timedelta(days=settings.meter_event_retention_days)
    dropped = session.execute(
        text("SELECT drop_chunks('meter_event', older_than => CAST(:cutoff AS timestamptz))"),
        {"cutoff": cutoff},
    ).all()
    if dropped:
        log.info("dropped %d meter-event chunk(s) older than %s", len(dropped), cutoff.isoformat())
    return len(dropped)
