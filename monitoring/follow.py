"""Bring every derived result up to date after a stream batch (SPEC section 12).

In order: the inferred interruptions (from the batch's change log), the live outages, the
frequent-outage status of the assets whose interruptions changed (incremental), and the
alerts. Each step is the same function a full evaluation runs, so the result equals one.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.settings import Settings

log = logging.getLogger(__name__)

RULES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gridwatch.rules'))"
"""Held by every evaluation of status and alerts, so a stream batch and the scheduled job
never evaluate at the same time."""


def after_ingest(*, engine: Engine, settings: Settings, now: datetime | None = None) -> str | None:
    """After a file or HTTP ingest: the inferred interruptions, then the live outages.

    A failure is a warning, not a failed ingest: the batch is committed and its changes stay
    pending for the next refresh (the stream, the scheduled job or ``gridwatch monitor run``).
    """
    from monitoring.interruptions import refresh_after_ingest
    from monitoring.live import refresh_live

    warning = refresh_after_ingest(engine=engine, settings=settings)
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            session.execute(text(RULES_LOCK))
            refresh_live(session=session, now=now or utcnow())
            session.commit()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("live outages not refreshed after ingest: %s", reason)
        return "; ".join(filter(None, [warning, (
            f"the rows are stored, but the live outages were not refreshed ({reason}); "
            "the next refresh brings them up to date")]))
    return warning


def follow_batch(*, engine: Engine, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Refresh interruptions, then status and alerts at ``now``; timings and any warning."""
    from monitoring.alerts.evaluate import evaluate_alerts
    from monitoring.interruptions import refresh_after_ingest
    from monitoring.live import refresh_live
    from monitoring.rules.status import refresh_status

    now = now or utcnow()
    t0 = time.perf_counter()
    warning = refresh_after_ingest(engine=engine, settings=settings)
    t1 = time.perf_counter()
    steps: dict[str, float] = {"interruptions": round(t1 - t0, 3)}
    with Session(bind=engine, expire_on_commit=False) as session:
        session.execute(text(RULES_LOCK))
        live = refresh_live(session=session, now=now)
        t2 = time.perf_counter()
        status = refresh_status(session=session, settings=settings, as_of=now)
        t3 = time.perf_counter()
        alerts = evaluate_alerts(session=session, settings=settings, as_of=now, now=now,
                                 incremental=True)
        t4 = time.perf_counter()
        session.commit()
    steps.update(live=round(t2 - t1, 3), status=round(t3 - t2, 3), alerts=round(t4 - t3, 3),
                 commit=round(time.perf_counter() - t4, 3))
    if alerts.get("errors"):
        log.warning("stream: alert rules failed after a batch: %s", "; ".join(alerts["errors"]))
    return {
        "warning": warning,
        "live": live,
        "status": status,
        "alerts": {k: alerts[k] for k in ("fired", "firing", "resolved")},
        "seconds": steps,
    }
