"""Monitoring jobs: plain functions, run once by ``gridwatch monitor run`` or by the scheduler."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from core import metrics
from core.clock import utcnow
from core.settings import Settings

log = logging.getLogger(__name__)

JobFn = Callable[..., Any]
Job = Callable[..., dict[str, Any]]


def _count(result: Any) -> int | None:
    if isinstance(result, bool):
        return None
    if isinstance(result, int):
        return result
    if isinstance(result, (list, tuple)):
        return len(result)
    if isinstance(result, dict):
        for key in ("rows", "assets", "fired", "delivered"):
            if isinstance(result.get(key), int):
                return int(result[key])
    return None


def job(name: str) -> Callable[[JobFn], Job]:
    """Make ``fn(*, session, settings, as_of, now)`` a job run with ``(engine=, settings=, ...)``.

    The job gets its own session, committed on success and rolled back on error; its run is
    timed and recorded in ``job_run`` (start, end, outcome, rows). An exception is logged and
    reported in the result, never raised.
    """

    def wrap(fn: JobFn) -> Job:
        @functools.wraps(fn)
        def run(*, engine: Engine, settings: Settings, as_of: datetime | None = None,
                now: datetime | None = None) -> dict[str, Any]:
            now = now or utcnow()
            as_of = as_of or now
            started = utcnow()
            with engine.begin() as conn:
                run_id = conn.execute(
                    text("INSERT INTO job_run (job, started_at) VALUES (:j, :t) RETURNING id"),
                    {"j": name, "t": started},
                ).scalar_one()
            t0 = time.perf_counter()
            session = Session(bind=engine, expire_on_commit=False)
            outcome, result, detail = "success", None, None
            try:
                result = fn(session=session, settings=settings, as_of=as_of, now=now)
                session.commit()
                if isinstance(result, dict) and result.get("errors"):
                    # Part of the job failed (e.g. one alert rule): what worked is kept, but
                    # the run is not a success and says which part failed.
                    outcome = "error"
                    detail = "; ".join(str(e) for e in result["errors"])[:1000]
            except Exception as exc:
                session.rollback()
                outcome = "error"
                detail = f"{type(exc).__name__}: {exc}".strip()[:1000]
                log.exception("job %s failed", name)
            finally:
                session.close()
            seconds = round(time.perf_counter() - t0, 3)
            rows = _count(result)
            metrics.JOB_SECONDS.labels(name).observe(seconds)
            metrics.JOB_RUNS.labels(name, outcome).inc()
            if outcome == "success":
                metrics.JOB_LAST_SUCCESS.labels(name).set(time.time())
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE job_run SET finished_at = :t, outcome = :o, rows = :r, "
                         "detail = :d WHERE id = :id"),
                    {"t": utcnow(), "o": outcome, "r": rows, "d": detail, "id": run_id},
                )
            log.info("job %s: %s in %.2fs", name, outcome, seconds)
            return {"job": name, "outcome": outcome, "seconds": seconds, "rows": rows,
                    "result": result, "error": detail}

        run.job_name = name  # type: ignore[attr-defined]
        return run

    return wrap


@job("interruptions")
def refresh_interruptions(*, session: Session, settings: Settings, as_of: datetime,
                          now: datetime) -> Any:
    """Fold new meter events into inferred interruptions (SPEC section 3 step 2)."""
    from monitoring.interruptions import refresh

    return refresh(session=session, settings=settings)


@job("live_outages")
def live_outages(*, session: Session, settings: Settings, as_of: datetime,
                 now: datetime) -> dict[str, Any]:
    """Bring the live outages (the areas out now) up to date."""
    from monitoring.follow import RULES_LOCK
    from monitoring.live import refresh_live

    session.execute(text(RULES_LOCK))
    result = refresh_live(session=session, now=now)
    return {"rows": result["areas"], "customers": result["customers"]}


@job("frequent_outage")
def frequent_outage_status(*, session: Session, settings: Settings, as_of: datetime,
                           now: datetime) -> dict[str, Any]:
    """Bring asset_status to the as-of time (incrementally when it can)."""
    from monitoring.follow import RULES_LOCK
    from monitoring.rules.status import refresh_status

    session.execute(text(RULES_LOCK))
    return refresh_status(session=session, settings=settings, as_of=as_of)


@job("alerts")
def evaluate_alerts(*, session: Session, settings: Settings, as_of: datetime,
                    now: datetime) -> dict[str, Any]:
    """Raise and resolve alerts for every rule."""
    from monitoring.alerts.evaluate import evaluate_alerts as run
    from monitoring.follow import RULES_LOCK

    session.execute(text(RULES_LOCK))
    return run(session=session, settings=settings, as_of=as_of, now=now)


@job("map_cache")
def map_cache(*, session: Session, settings: Settings, as_of: datetime, now: datetime) -> Any:
    """Precompute the planners' map figures (this year's county reliability, status counts)."""
    from monitoring.mapdata import precompute

    return precompute(session=session, settings=settings, now=now)


@job("hosting")
def hosting_capacity(*, session: Session, settings: Settings, as_of: datetime,
                     now: datetime) -> dict[str, Any]:
    """Recompute the current quarter's PV hosting capacity when its inputs or parameters changed.

    The quarter is the one of ``now`` (the clock), never of ``as_of``: an ended quarter is kept
    as it was stored (docs/hosting-capacity.md).
    """
    from monitoring.hosting.capacity import refresh_current

    return refresh_current(session=session, settings=settings, now=now)


@job("cases")
def open_cases(*, session: Session, settings: Settings, as_of: datetime, now: datetime) -> Any:
    """Open remediation cases for assets that became frequent (SPEC section 8)."""
    from monitoring.cases.service import open_cases as run

    return run(session=session, settings=settings, at=as_of)


@job("notify")
def notify(*, session: Session, settings: Settings, as_of: datetime, now: datetime) -> Any:
    """Queue repeat notifications and deliver what is due (never blocks an evaluation)."""
    from monitoring.alerts.notify import notify as run

    return run(session=session, settings=settings, now=now)


@job("push")
def push(*, session: Session, settings: Settings, as_of: datetime, now: datetime) -> Any:
    """Notices of newly known planned works, then customer notifications due to the gateway."""
    from monitoring.notify import deliver_due, queue_work_notices

    works = queue_work_notices(session=session, now=now)
    sent = deliver_due(session=session, settings=settings, now=now)
    return {"work_notices": works["works"], "queued": works["notifications"],
            "delivered": sent["sent"], "retrying": sent["retrying"], "failed": sent["failed"],
            "unsent": sent["unsent"]}


@job("retention")
def retention(*, session: Session, settings: Settings, as_of: datetime, now: datetime) -> Any:
    """Drop meter events older than the retention period."""
    from ingest.retention import drop_old_meter_events

    return drop_old_meter_events(session=session, settings=settings, now=now)


# The evaluation, in order; each step commits on its own. Add a step with one line.
STEPS: list[Job] = [
    refresh_interruptions,
    live_outages,
    frequent_outage_status,
    open_cases,
    map_cache,
    hosting_capacity,
    evaluate_alerts,
]
# Steps whose failure does not fail an evaluation.
DELIVERY_STEPS: list[Job] = [push, notify]


def run_steps(steps: list[Job], *, engine: Engine, settings: Settings,
              as_of: datetime | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Run jobs one after another; each records itself and never raises."""
    now = now or utcnow()
    return [step(engine=engine, settings=settings, as_of=as_of or now, now=now) for step in steps]


def run_all(*, engine: Engine, settings: Settings, as_of: datetime | None = None) -> dict[str, Any]:
    """Evaluate everything once (rules, cases, alerts), then deliver notifications."""
    now = utcnow()
    as_of = as_of or now
    steps = run_steps(STEPS, engine=engine, settings=settings, as_of=as_of, now=now)
    deliveries = run_steps(DELIVERY_STEPS, engine=engine, settings=settings, as_of=as_of, now=now)
    ok = all(s["outcome"] == "success" for s in steps)
    return {"as_of": as_of, "ok": ok, "steps": steps + deliveries}
