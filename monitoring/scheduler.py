"""APScheduler runs the monitoring jobs in ``gridwatch serve``; one leader per database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.clock import LOCAL_TZ, utcnow
from core.db import get_engine
from core.settings import Settings
from monitoring import jobs

log = logging.getLogger(__name__)

# pg advisory lock key: "gridwatch scheduler" (any fixed 64-bit number shared by every process).
LOCK_KEY = 0x67726964_7363686C
RETRY_SECONDS = 15.0
RULES_EVERY = timedelta(minutes=15)


def first_rules_run(settings: Settings, now: datetime | None = None) -> datetime:
    """When a new leader first runs the rules: at once when they are overdue.

    The last run is the latest ``job_run`` of the evaluation's last step (by any process:
    another leader or ``gridwatch monitor run``). Overdue, never run, or unknown (the
    database did not answer) means now; otherwise one interval after that run, so a leader
    change neither skips nor doubles an evaluation.
    """
    now = now or utcnow()
    name = getattr(jobs.STEPS[-1], "job_name", "alerts")
    try:
        with get_engine(settings).connect() as conn:
            last = conn.execute(
                text("SELECT max(started_at) FROM job_run WHERE job = :j"), {"j": name},
            ).scalar_one()
    except SQLAlchemyError as exc:
        log.warning("scheduler: cannot read the last rules run (%s); running them now",
                    str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200])
        return now
    if last is None or last + RULES_EVERY <= now:
        return now
    return last + RULES_EVERY


def _schedule(scheduler: BackgroundScheduler, settings: Settings) -> None:
    def rules() -> None:
        jobs.run_steps(jobs.STEPS, engine=get_engine(settings), settings=settings)

    def notify() -> None:
        jobs.run_steps(jobs.DELIVERY_STEPS, engine=get_engine(settings), settings=settings)

    def retention() -> None:
        jobs.run_steps([jobs.retention], engine=get_engine(settings), settings=settings)

    opts: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    first = first_rules_run(settings)
    log.info("scheduler: rules first run at %s", first.isoformat())
    scheduler.add_job(rules, IntervalTrigger(seconds=RULES_EVERY.total_seconds()), id="rules",
                      next_run_time=first, **opts)
    scheduler.add_job(notify, IntervalTrigger(minutes=1), id="notify", **opts)
    scheduler.add_job(retention, CronTrigger(hour=3, minute=17, timezone=LOCAL_TZ),
                      id="retention", **opts)


class SchedulerHandle:
    """Competes for leadership with a PostgreSQL advisory lock held on a dedicated connection.

    The leader runs the APScheduler jobs; followers retry every ``retry_seconds``. When the
    leader's process or connection dies, the lock is released by the server and a follower
    takes over.
    """

    def __init__(self, settings: Settings, *, retry_seconds: float = RETRY_SECONDS,
                 schedule: Callable[[BackgroundScheduler, Settings], None] = _schedule) -> None:
        self.settings = settings
        self.retry_seconds = retry_seconds
        self._schedule = schedule
        self._conn: psycopg.Connection | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gridwatch-scheduler", daemon=True)

    @property
    def is_leader(self) -> bool:
        """True while this process runs the jobs."""
        return self._scheduler is not None

    def start(self) -> SchedulerHandle:
        """Start competing for leadership in a background thread."""
        self._thread.start()
        return self

    def _try_lead(self) -> None:
        try:
            conn = psycopg.connect(self.settings.libpq_url(), autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            log.warning("scheduler: cannot reach the database: %s", str(exc).strip()[:200])
            return
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if not got or not got[0]:
            conn.close()
            return
        self._conn = conn
        scheduler = BackgroundScheduler(timezone=LOCAL_TZ)
        self._schedule(scheduler, self.settings)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler: this process is the leader")

    def _still_leading(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            log.warning("scheduler: lost the leader connection; stepping down")
            return False

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._conn is not None:
            try:
                if not self._conn.closed:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            except psycopg.Error:
                pass
            self._conn.close()
            self._conn = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._try_lead()
                elif not self._still_leading():
                    self._step_down()
            except Exception:
                log.exception("scheduler: leadership check failed")
            self._stop.wait(self.retry_seconds)

    def stop(self) -> None:
        """Stop the jobs and give up leadership."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.retry_seconds + 10)
        self._step_down()


def start(settings: Settings) -> SchedulerHandle:
    """Start the scheduler (leader election included); call ``.stop()`` on shutdown."""
    return SchedulerHandle(settings).start()
