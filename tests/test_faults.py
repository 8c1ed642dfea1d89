"""Faults that must lose nothing (SPEC section 17), each one really performed.

The database is stopped with ``pg_ctl stop -m immediate`` (a crash: no checkpoint, no goodbye
to the clients), gridwatch processes are killed with SIGKILL, and the webhook receiver is a
real HTTP server that is not listening and then is. Tests that stop a database use their own
throwaway embedded cluster (``throwaway``), never the shared one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

import migrations
from core import embedded
from core.settings import Settings
from monitoring import interruptions, jobs
from monitoring.scheduler import LOCK_KEY, SchedulerHandle
from tests.builders import add_area, add_feeder, add_outage

GRIDWATCH = str(Path(sys.executable).with_name("gridwatch"))
SHARED_PORT = 54329
AREAS, METERS = 60, 20
OUTAGES = 40
"""Outages per area in a big file: 96,000 rows, several COPY chunks, so a crash lands mid-way."""
APP = "gridwatch-fault-test"


# --- the throwaway cluster --------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A separate embedded cluster, migrated, that tests may crash (never the shared one).

    The one place that knows how a cluster is made: ``embedded.start``, then the migrations as
    the service's own role, and ``embedded.destroy`` at the end.
    """
    port = _free_port()
    while port == SHARED_PORT:
        port = _free_port()
    settings = Settings(database_url=None, data_dir=tmp_path_factory.mktemp("faultdb") / "gw",
                        db_port=port)
    assert settings.embedded and settings.db_port != SHARED_PORT
    embedded.start(settings)
    try:
        migrations.upgrade(settings.sqlalchemy_url())
        yield settings
    finally:
        home = embedded.cluster(settings).data_dir
        embedded.destroy(settings)
        shutil.rmtree(home, ignore_errors=True)


def _crash(settings: Settings) -> None:
    """Stop the throwaway cluster abruptly (``pg_ctl stop -m immediate``)."""
    assert settings.db_port != SHARED_PORT
    c = embedded.cluster(settings)
    embedded._run(c, [str(c.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w",
                      "-D", str(c.pgdata)])


def _cli_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``gridwatch`` process for ``settings``' database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    if settings.embedded:
        env.update(GRIDWATCH_DATA_DIR=str(settings.data_dir), GRIDWATCH_DB_PORT=str(settings.db_port))
    else:
        env["GRIDWATCH_DATABASE_URL"] = settings.sqlalchemy_url()
    env["PGAPPNAME"] = APP  # libpq names the process's connections, so the test can find them
    return env


def _gridwatch(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRIDWATCH, *args], env=_cli_env(settings), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _spawn(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([GRIDWATCH, *args], env=_cli_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# --- data -------------------------------------------------------------------------------------

def _registry(url: str, prefix: str) -> None:
    """AREAS areas of METERS meters each, on one feeder."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO feeder (feeder_id, name, geom) VALUES (%(f)s, %(f)s, "
            "ST_GeomFromText('MULTILINESTRING((106.7 26.5,106.75 26.55))', 4326))",
            {"f": f"{prefix}F"})
        conn.execute(
            "INSERT INTO area (area_id, feeder_id, customers, geom) "
            "SELECT %(p)s || a, %(p)s || 'F', 40, ST_Multi(ST_MakeEnvelope(106 + a * 0.001, 26, "
            "106.0009 + a * 0.001, 26.001, 4326)) FROM generate_series(0, %(n)s - 1) a",
            {"p": prefix, "n": AREAS})
        conn.execute(
            "INSERT INTO meter (meter_id, area_id) SELECT %(p)s || a || '-' || m, %(p)s || a "
            "FROM generate_series(0, %(n)s - 1) a, generate_series(0, %(k)s - 1) m",
            {"p": prefix, "n": AREAS, "k": METERS})


def _events(path: Path, prefix: str, start: datetime, outages: int) -> int:
    """Whole-area outages (every meter off, then on an hour later) from ``start``; the rows."""
    rows = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("meter_id,time,kind\n")
        for o in range(outages):
            for a in range(AREAS):
                off = start + timedelta(hours=3 * o, seconds=a * 20)
                for m in range(METERS):
                    f.write(f"{prefix}{a}-{m},{(off + timedelta(seconds=m)).isoformat()},off\n")
                    f.write(f"{prefix}{a}-{m},"
                            f"{(off + timedelta(hours=1, seconds=m)).isoformat()},on\n")
                    rows += 2
    return rows


def _start() -> datetime:
    """Well inside retention and in the past."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=60)


def _scalar(url: str, sql: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _wait_for_query(url: str, pattern: str, proc: subprocess.Popen[str], seconds: float = 60) -> bool:
    """Wait until one of the gridwatch process's connections runs a statement like ``pattern``."""
    end = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < end and proc.poll() is None:
            found = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active' "
                "AND query ILIKE %s", (APP, pattern)).fetchone()
            if found:
                return True
            time.sleep(0.01)
    return False


def _intervals(session: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in session.execute(text(
        "SELECT area_id, start_time, end_time, meters_off, meters_total FROM inferred_interruption "
        "UNION ALL SELECT area_id, start_time, end_time, NULL, NULL FROM area_meter_off_span "
        "ORDER BY 1, 2, 4"))]


def _assert_incremental_equals_rebuild(settings: Settings) -> None:
    """Nothing pending, and what the incremental refreshes left is what a full rebuild gives."""
    engine = create_engine(settings.sqlalchemy_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM ingest_change WHERE refreshed_at IS NULL")).scalar() == 0
            session = Session(bind=conn)
            incremental = _intervals(session)
            interruptions.refresh(session=session, settings=settings, full=True)
            assert _intervals(session) == incremental
            session.rollback()
        assert len([r for r in incremental if r[3] is not None]) > AREAS
    finally:
        engine.dispose()


def _stored_once(url: str) -> None:
    assert _scalar(url, "SELECT count(*) FROM (SELECT 1 FROM meter_event "
                        "GROUP BY meter_id, time, kind HAVING count(*) > 1) d") == 0


# --- the database stopped mid-ingest ------------------------------------------------------------

def test_database_crash_mid_ingest_loses_nothing(throwaway: Settings, tmp_path: Path) -> None:
    """The database is stopped abruptly during the COPY of a batch: the CLI fails with exit 1
    and no traceback, every committed row survives, re-sending the file completes it (each row
    stored once), and the incremental result equals a full rebuild."""
    url = throwaway.libpq_url()
    _registry(url, "D")
    start = _start()
    early, big = tmp_path / "early.csv", tmp_path / "big.csv"
    n_early = _events(early, "D", start - timedelta(days=3), 4)
    n_big = _events(big, "D", start, OUTAGES)
    first = _gridwatch(throwaway, "ingest", "meter-events", str(early))
    assert first.returncode == 0, first.stderr
    assert _scalar(url, "SELECT count(*) FROM meter_event") == n_early

    proc = _spawn(throwaway, "ingest", "meter-events", str(big))
    try:
        assert _wait_for_query(url, "%COPY%meter_event%", proc), "the ingest never reached COPY"
        _crash(throwaway)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "gridwatch: " in err, err

    embedded.start(throwaway)
    assert _scalar(url, "SELECT count(*) FROM meter_event") == n_early  # nothing committed lost
    again = _gridwatch(throwaway, "ingest", "meter-events", str(big), "--format", "json")
    assert again.returncode == 0, again.stderr
    acct = json.loads(again.stdout)
    assert (acct["accepted"], acct["rejected"]) == (n_big, 0)
    assert _scalar(url, "SELECT count(*) FROM meter_event") == n_early + n_big
    _stored_once(url)
    _assert_incremental_equals_rebuild(throwaway)


# --- gridwatch killed mid-ingest ----------------------------------------------------------------

def test_ingest_killed_mid_way_loses_nothing_and_leaves_nothing_pending(
    fresh_settings: Settings, tmp_path: Path,
) -> None:
    """gridwatch is SIGKILLed during the COPY, then during the refresh after the commit:
    the first batch leaves no trace, the second is stored whole, and after the next run (the
    file sent again) no change stays pending and the result equals a full rebuild."""
    url = fresh_settings.libpq_url()
    _registry(url, "K")
    big = tmp_path / "big.csv"
    n_big = _events(big, "K", _start(), OUTAGES)

    def killed_at(pattern: str) -> None:
        proc = _spawn(fresh_settings, "ingest", "meter-events", str(big))
        try:
            assert _wait_for_query(url, pattern, proc), f"the ingest never ran {pattern}"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL

    killed_at("%COPY%meter_event%")  # inside the batch's transaction
    assert _scalar(url, "SELECT count(*) FROM meter_event") == 0
    killed_at("%_refresh_meter%")  # the batch is committed; its refresh is not
    assert _scalar(url, "SELECT count(*) FROM meter_event") == n_big
    assert _scalar(url, "SELECT count(*) FROM ingest_change WHERE refreshed_at IS NULL") > 0

    # the next run (the same file sent again) stores nothing twice and folds the changes in
    again = _gridwatch(fresh_settings, "ingest", "meter-events", str(big), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["duplicates"] == n_big
    _assert_incremental_equals_rebuild(fresh_settings)
    assert _scalar(url, "SELECT count(*) FROM meter_event") == n_big
    _stored_once(url)


# --- the database restarted under serve ---------------------------------------------------------

def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - a local test server
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _until(cond: Callable[[], bool], seconds: float) -> float | None:
    """Seconds until ``cond()`` held, or None after ``seconds``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            if cond():
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    return None


def test_database_restart_under_serve_503_then_recovers(throwaway: Settings) -> None:
    """While the database is down, /healthz and an API route answer 503 with a JSON error
    (no traceback); after it is back they answer 200 by themselves within 10 s."""
    made = _gridwatch(throwaway, "keys", "create", "--role", "planner")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"X-API-Key": key}
    proc = _spawn(throwaway, "serve", "--port", str(port), "--no-scheduler", "--no-access-log")
    try:
        assert _until(lambda: _get(f"{base}/healthz")[0] == 200, 60) is not None
        assert _get(f"{base}/api/v1/alerts", auth)[0] == 200
        _crash(throwaway)
        for path, headers in (("/healthz", None), ("/api/v1/alerts", auth)):
            status, body = _get(base + path, headers)
            assert status == 503, body
            assert json.loads(body)["error"] == "database_unavailable"
            assert "Traceback" not in body
        embedded.start(throwaway)
        took = _until(lambda: _get(f"{base}/healthz")[0] == 200
                      and _get(f"{base}/api/v1/alerts", auth)[0] == 200, 10)
        assert took is not None, "the API did not recover within 10 s"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "Traceback" not in err


# --- the scheduler leader killed ----------------------------------------------------------------

def _leader_pids(url: str) -> list[int]:
    """Backends holding the scheduler's advisory lock in this database."""
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = %s AND objid = %s",
            ((LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF)).fetchall()]


def test_killed_scheduler_leader_is_replaced_within_60_s(fresh_settings: Settings) -> None:
    """A ``gridwatch serve`` leads the scheduler; it is SIGKILLed; another process takes over
    within 60 s (in practice within a retry period) and, the rules being due, runs them."""
    url = fresh_settings.libpq_url()
    port = _free_port()
    leader = _spawn(fresh_settings, "serve", "--port", str(port), "--no-access-log")
    follower = None
    try:
        assert _until(lambda: len(_leader_pids(url)) == 1, 60) is not None
        follower = SchedulerHandle(fresh_settings, retry_seconds=0.5).start()
        time.sleep(1.0)
        assert not follower.is_leader
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=30)
        took = _until(lambda: follower.is_leader, 60)
        assert took is not None and took < 60
        assert len(_leader_pids(url)) == 1
    finally:
        if leader.poll() is None:
            leader.kill()
        leader.communicate()
        if follower is not None:
            follower.stop()


# --- the webhook receiver down, then up ---------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    messages: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).messages.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_receiver_down_then_up_gets_the_alert(fresh_settings: Settings) -> None:
    """Nothing listens at the webhook's address while the alert fires: the delivery is retried
    (on the real backoff schedule, shortened by settings) and arrives once the receiver is up."""
    port = _free_port()
    settings = fresh_settings.model_copy(update={
        "webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_retry_seconds": 0.2,
        "webhook_retry_max_seconds": 0.8})
    engine: Engine = create_engine(settings.sqlalchemy_url(), poolclass=pool.NullPool)
    as_of = datetime.now(UTC)
    try:
        with Session(engine) as s:
            add_feeder(s, "W")
            add_area(s, "W1", "W")
            for i in range(6):
                st = as_of - timedelta(days=5 + 40 * i)
                add_outage(s, f"w{i}", "area", "W1", st, st + timedelta(hours=1))
            s.commit()
        assert jobs.run_all(engine=engine, settings=settings, as_of=as_of)["ok"]

        def state() -> tuple[str, int]:
            with engine.connect() as c:
                row = c.execute(text("SELECT status, attempts FROM alert_delivery")).one()
                return str(row[0]), int(row[1])

        assert state() == ("pending", 1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:  # the receiver is down: retries keep failing
            jobs.notify(engine=engine, settings=settings)
            time.sleep(0.1)
        status, attempts = state()
        assert status == "pending" and attempts >= 3
        _Receiver.messages = []
        server = HTTPServer(("127.0.0.1", port), _Receiver)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            def delivered() -> bool:
                jobs.notify(engine=engine, settings=settings)
                return state()[0] == "delivered"

            assert _until(delivered, 10) is not None
        finally:
            server.shutdown()
            server.server_close()
        assert len(_Receiver.messages) == 1
        assert _Receiver.messages[0]["alerts"][0]["labels"]["subject_id"] == "W1"
    finally:
        engine.dispose()
