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

from core import clock, metrics
from core.settings import Settings

log = logging.getLogger(__name__)

RULES_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gridwatch.rules'))"
"""Held by every evaluation of status and alerts, so a stream batch and the scheduled job
never evaluate at the same time."""


PLANNING_KINDS = frozenset({"outages", "works", "disconnections"})
"""The inputs the planning rules read (SPEC section 14): their alerts follow these ingests."""


def after_ingest(*, engine: Engine, settings: Settings, now: datetime | None = None,
                 kind: str | None = None) -> str | None:
    """After a file or HTTP ingest: the inferred interruptions, the planning alerts, the live outages.

    ``kind`` (the input just ingested; None: any) limits the alert rules and the hosting
    capacity to those that read it: the planning rules after outages, works and
    disconnections, the connection rules after applications, the hosting capacity after area
    loads and PV. Whatever else changes with the clock alone is the scheduled job's.

    A failure is a warning, not a failed ingest: the batch is committed and its changes stay
    pending for the next refresh (the stream, the scheduled job or ``gridwatch monitor run``).
    The customer notifications that the changes call for are queued with the live outages;
    notices of new planned works follow (``now``, the ingest's clock, decides ``notice_late``),
    and whatever was queued is sent in the background (``monitoring.notify.deliver_soon``).
    """
    from monitoring.interruptions import refresh_after_ingest
    from monitoring.live import refresh_live

    now = now or clock.utcnow()
    t0 = time.perf_counter()
    warning = refresh_after_ingest(engine=engine, settings=settings)
    t1 = time.perf_counter()
    _observe({"interruptions": t1 - t0}, "ingest")
    warning = "; ".join(filter(None, [warning, _planning_alerts(engine=engine, settings=settings,
                                                                now=now, kind=kind)])) or None
    if kind in (None, "area-loads", "pv"):
        warning = "; ".join(filter(None, [warning, _hosting(engine=engine, settings=settings,
                                                            now=now)])) or None
    t1 = time.perf_counter()
    queued = 0
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            session.execute(text(RULES_LOCK))
            queued += refresh_live(session=session, now=now)["notifications"]
            session.commit()
        _observe({"live": time.perf_counter() - t1}, "ingest")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("live outages not refreshed after ingest: %s", reason)
        return "; ".join(filter(None, [warning, (
            f"the rows are stored, but the live outages were not refreshed ({reason}); "
            "the next refresh brings them up to date")]))
    t2 = time.perf_counter()
    notice_warning = _work_notices(engine=engine, settings=settings, now=now, queued=queued)
    _observe({"push": time.perf_counter() - t2}, "ingest")
    return "; ".join(filter(None, [warning, notice_warning])) or None


def _planning_alerts(*, engine: Engine, settings: Settings, now: datetime,
                     kind: str | None = None) -> str | None:
    """Raise or resolve the planning rules' alerts at ``now`` (SPEC section 14), in their own
    transaction: a work that would repeat a planned outage, or a disconnection whose pre-report
    is due within a day, or a connection application at risk of its limit (SPEC section 16),
    alerts as soon as it is ingested. A failure is a warning; the
    scheduled alert job evaluates the same rules."""
    from monitoring.alerts.evaluate import evaluate_alerts
    from monitoring.connections.alerts import RULES as CONNECTION_RULES
    from monitoring.planning.alerts import RULES

    rules = ((RULES if kind is None or kind in PLANNING_KINDS else ())
             + (CONNECTION_RULES if kind in (None, "applications") else ()))
    if not rules:
        return None
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            session.execute(text(RULES_LOCK))
            result = evaluate_alerts(session=session, settings=settings, as_of=now, now=now,
                                     only=rules)
            session.commit()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("planning alerts not evaluated after ingest: %s", reason)
        return f"the planning alerts were not evaluated ({reason}); the alert job evaluates them"
    if result["errors"]:
        return "the planning alerts failed: " + "; ".join(result["errors"])
    return None


def _hosting(*, engine: Engine, settings: Settings, now: datetime) -> str | None:
    """Recompute the current quarter's PV hosting capacity if its inputs changed (SPEC section
    15), in its own transaction; a failure is a warning (the monitoring job recomputes it)."""
    from monitoring.hosting.capacity import refresh_current

    t0 = time.perf_counter()
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            refresh_current(session=session, settings=settings, now=now)
            session.commit()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("hosting capacity not refreshed after ingest: %s", reason)
        return f"the hosting capacity was not recomputed ({reason}); the monitoring job recomputes it"
    _observe({"hosting": time.perf_counter() - t0}, "ingest")
    return None


def _observe(seconds: dict[str, float], trigger: str) -> None:
    """Record each step's time in ``gridwatch_refresh_seconds``."""
    for step, value in seconds.items():
        metrics.REFRESH_SECONDS.labels(step, trigger).observe(value)


def _work_notices(*, engine: Engine, settings: Settings, now: datetime,
                  queued: int) -> str | None:
    """Queue the planned-work notices due at ``now``; start a delivery if anything was queued.

    Its own transaction, after the live outages: a failure here is a warning, and the delivery
    job queues the notices a minute later.
    """
    from monitoring.notify import deliver_soon, queue_work_notices

    warning = None
    try:
        with Session(bind=engine, expire_on_commit=False) as session:
            queued += queue_work_notices(session=session, now=now)["notifications"]
            session.commit()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("planned-work notices not queued: %s", reason)
        warning = (f"planned-work notices were not queued ({reason}); the delivery job "
                   "queues them")
    if queued:
        deliver_soon(engine=engine, settings=settings)
    return warning


def follow_batch(*, engine: Engine, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Refresh interruptions, then status and alerts at ``now``; timings and any warning."""
    from monitoring.alerts.evaluate import evaluate_alerts
    from monitoring.interruptions import refresh_after_ingest
    from monitoring.live import refresh_live
    from monitoring.rules.status import refresh_status

    now = now or clock.utcnow()
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
    t5 = time.perf_counter()
    _work_notices(engine=engine, settings=settings, now=now, queued=live["notifications"])
    steps["push"] = round(time.perf_counter() - t5, 3)
    _observe(steps, "stream")
    if alerts.get("errors"):
        log.warning("stream: alert rules failed after a batch: %s", "; ".join(alerts["errors"]))
    return {
        "warning": warning,
        "live": live,
        "status": status,
        "alerts": {k: alerts[k] for k in ("fired", "firing", "resolved")},
        "seconds": steps,
    }
