"""APScheduler runs the monitoring jobs in ``gridwatch serve``; one leader per database."""

from __future__ import annotations

import functools
import logging
import os
import socket
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
RETRY_SECONDS = 10.0
"""How often a follower tries to take the lock, and the leader checks that it still holds it."""
RULES_EVERY = timedelta(minutes=15)
KEEPALIVE_SECONDS = (10, 5, 3)
"""TCP keepalive of the lock connection (idle, interval, probes), on both ends: when the leader's
host dies or is cut off, the server drops its connection, and so the lock, about 25 s after the
last packet, and the leader itself gives up a connection that no longer answers as soon."""
APP_PREFIX = "gridwatch scheduler"
"""The lock connection's ``application_name`` starts with this, then host name and process id,
so ``pg_stat_activity`` shows who leads (docs/operations.md has the query)."""


def application_name() -> str:
    """The lock connection's name: ``gridwatch scheduler <host> <pid>`` (at most 63 bytes)."""
    return f"{APP_PREFIX} {socket.gethostname()[:32]} {os.getpid()}"[:63]


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
    # Deliveries at once: what a previous leader queued and did not deliver goes out now.
    scheduler.add_job(notify, IntervalTrigger(minutes=1), id="notify", next_run_time=utcnow(),
                      **opts)
    scheduler.add_job(retention, CronTrigger(hour=3, minute=17, timezone=LOCAL_TZ),
                      id="retention", **opts)


class SchedulerHandle:
    """Competes for leadership with a PostgreSQL advisory lock held on a dedicated connection.

    The leader runs the APScheduler jobs; followers retry every ``retry_seconds``. When the
    leader's process or connection dies, the lock is released by the server and a follower
    takes over. The leader checks its lock connection every ``retry_seconds`` and again just
    before each job run: a leader whose connection dropped (and whose lock another process may
    now hold) steps down and runs nothing more.
    """

    def __init__(self, settings: Settings, *, retry_seconds: float = RETRY_SECONDS,
                 schedule: Callable[[BackgroundScheduler, Settings], None] = _schedule) -> None:
        self.settings = settings
        self.retry_seconds = retry_seconds
        self._schedule = schedule
        self._conn: psycopg.Connection | None = None
        self._conn_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gridwatch-scheduler", daemon=True)

    @property
    def is_leader(self) -> bool:
        """True while this process runs the jobs."""
        return self._scheduler is not None

    def start(self) -> SchedulerHandle:
        """Start competing for leadership in a background thread."""
        self._thread.start()
        return self

    def _connect(self) -> psycopg.Connection:
        idle, interval, count = KEEPALIVE_SECONDS
        conn = psycopg.connect(
            self.settings.libpq_url(), autocommit=True, connect_timeout=5,
            application_name=application_name(),
            keepalives=1, keepalives_idle=idle, keepalives_interval=interval,
            keepalives_count=count, tcp_user_timeout=(idle + interval * count) * 1000,
        )
        # The server's side of the same keepalives (ignored on a Unix socket, where a dead
        # process's socket closes at once), and no idle timeout for a connection that is
        # idle by design; only the settings this server has.
        wanted = {"tcp_keepalives_idle": idle, "tcp_keepalives_interval": interval,
                  "tcp_keepalives_count": count, "tcp_user_timeout": (idle + interval * count) * 1000,
                  "idle_session_timeout": 0}
        try:
            conn.execute(
                "SELECT set_config(s.name, w.value, false) FROM pg_settings s "
                "JOIN unnest(%s::text[], %s::text[]) AS w(name, value) USING (name)",
                (list(wanted), [str(v) for v in wanted.values()]),
            )
        except psycopg.Error:
            conn.close()
            raise
        return conn

    def _try_lead(self) -> None:
        try:
            conn = self._connect()
        except psycopg.Error as exc:
            log.warning("scheduler: cannot reach the database: %s", str(exc).strip()[:200])
            return
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        except psycopg.Error:
            conn.close()
            raise
        if not got or not got[0]:
            conn.close()
            return
        with self._conn_lock:
            self._conn = conn
        scheduler = BackgroundScheduler(timezone=LOCAL_TZ)
        self._schedule(scheduler, self.settings)
        for job in scheduler.get_jobs():
            job.modify(func=self._guarded(job.func, job.id))
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler: this process is the leader (%s)", application_name())

    def _still_leading(self) -> bool:
        """True while the lock connection answers (a session lock lives as long as it)."""
        with self._conn_lock:
            conn = self._conn
            if conn is None or conn.closed:
                return False
            try:
                conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                log.warning("scheduler: lost the leader connection; stepping down")
                return False

    def _guarded(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        """``fn``, run only while this process still holds the lock."""

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if self._stop.is_set() or not self._still_leading():
                log.warning("scheduler: job %s not run: this process no longer leads", name)
                self._wake.set()  # the loop steps down now, not at its next check
                return None
            return fn(*args, **kwargs)

        return run

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            except psycopg.Error:
                pass
            conn.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._conn is None:
                    self._try_lead()
                elif not self._still_leading():
                    self._step_down()
                    continue  # try again at once: the lock may be free (e.g. a database restart)
            except Exception:
                log.exception("scheduler: leadership check failed")
            self._wake.wait(self.retry_seconds)

    def stop(self) -> None:
        """Stop the jobs and give up leadership (again: nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.retry_seconds + 10)
        self._step_down()


def start(settings: Settings) -> SchedulerHandle:
    """Start the scheduler (leader election included); call ``.stop()`` on shutdown."""
    return SchedulerHandle(settings).start()
