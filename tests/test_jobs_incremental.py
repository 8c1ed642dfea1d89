"""Incremental status refresh equals a full evaluation; the scheduler's leader election."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.rules.frequent_outage import evaluate
from monitoring.rules.status import refresh_status
from monitoring.scheduler import SchedulerHandle
from tests.builders import add_area, add_feeder, add_outage

T = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)


@pytest.fixture
def engine(fresh_db: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _stored(s: Session) -> dict[tuple[str, str], tuple[int, int, str]]:
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in s.execute(text(
        "SELECT asset_type, asset_id, count_365, max_60, status FROM asset_status"))}


def _expected(s: Session, settings: Settings, as_of: datetime) -> dict:
    return {(r["asset_type"], r["asset_id"]): (r["count_365"], r["max_60"], r["status"])
            for r in evaluate(session=s, settings=settings, as_of=as_of)}


def test_incremental_equals_full(engine: Engine, fresh_settings: Settings) -> None:
    st = fresh_settings
    with Session(engine) as s:
        for f in range(3):
            add_feeder(s, f"F{f}")
            for a in range(3):
                add_area(s, f"A{f}{a}", f"F{f}")
        # A00: 5 in the year, the oldest drops out when the year moves on by a day
        for i in range(5):
            start = T - timedelta(days=365) + timedelta(hours=12) + timedelta(days=70 * i)
            add_outage(s, f"edge{i}", "area", "A00", start, start + timedelta(hours=1))
        add_outage(s, "mv", "area", "A10", T - timedelta(days=3), T - timedelta(days=3, hours=-1))
        add_outage(s, "future", "feeder", "F2", T + timedelta(hours=20), T + timedelta(hours=21))
        s.commit()
        assert refresh_status(session=s, settings=st, as_of=T)["mode"] == "full"
        s.commit()
        assert _stored(s) == _expected(s, st, T)
        assert _stored(s)[("area", "A00")] == (5, 1, "at_risk")

    later = T + timedelta(days=1)
    with Session(engine) as s:
        for i in range(4):  # A21 becomes frequent through new data
            add_outage(s, f"new{i}", "area", "A21", T + timedelta(hours=i),
                       T + timedelta(hours=i, minutes=30))
        # a record replaced with another start and area (the old area must be re-evaluated)
        s.execute(text("DELETE FROM outage_record WHERE outage_id = 'mv'"))
        add_outage(s, "mv", "area", "A11", T - timedelta(days=2), T - timedelta(days=2, hours=-1))
        s.execute(text("INSERT INTO inferred_interruption VALUES ('A12', :s, :e, 1, 1)"),
                  {"s": T + timedelta(hours=2), "e": T + timedelta(hours=3)})
        s.commit()
        result = refresh_status(session=s, settings=st, as_of=later, margin=timedelta(0),
                                max_dirty_share=1.0)
        s.commit()
        assert result["mode"] == "incremental"
        assert result["assets"] < 12
        stored = _stored(s)
        assert stored == _expected(s, st, later)
        assert stored[("area", "A00")] == (4, 1, "ok")
        assert stored[("area", "A21")][2] == "frequent"
        assert stored[("area", "A10")][0] == 0 and stored[("area", "A11")][0] == 1
        assert stored[("area", "A12")][0] == 1
        assert stored[("feeder", "F2")][0] == 1
        # re-evaluated rows carry the new as-of time, untouched rows the one that computed them
        stamps = dict(((r[0], r[1]), r[2]) for r in s.execute(
            text("SELECT asset_type, asset_id, as_of FROM asset_status")))
        assert stamps[("area", "A21")] == later and stamps[("area", "A11")] == later
        assert set(stamps.values()) <= {T, later}
        run = s.execute(text("SELECT as_of FROM monitor_state WHERE name = 'frequent_outage'"))
        assert run.scalar_one() == later

    # going back in time or changing a limit forces a full evaluation
    with Session(engine) as s:
        assert refresh_status(session=s, settings=st, as_of=T)["mode"] == "full"
        other = st.model_copy(update={"frequent_year_limit": 3})
        assert refresh_status(session=s, settings=other, as_of=T)["mode"] == "full"
        assert _stored(s) == _expected(s, other, T)


def _wait(cond, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_one_leader_and_failover(fresh_settings: Settings) -> None:
    scheduled: list[str] = []

    def schedule(scheduler, settings) -> None:  # type: ignore[no-untyped-def]
        scheduled.append("x")

    a = SchedulerHandle(fresh_settings, retry_seconds=0.1, schedule=schedule).start()
    assert _wait(lambda: a.is_leader)
    b = SchedulerHandle(fresh_settings, retry_seconds=0.1, schedule=schedule).start()
    try:
        time.sleep(0.5)
        assert a.is_leader and not b.is_leader
        a.stop()
        assert not a.is_leader
        assert _wait(lambda: b.is_leader)
        assert len(scheduled) == 2
    finally:
        a.stop()
        b.stop()


def _rules_runs(engine: Engine) -> list[datetime]:
    with engine.connect() as c:
        return list(c.execute(text(
            "SELECT started_at FROM job_run WHERE job = 'alerts' ORDER BY started_at")).scalars())


def test_a_new_leader_runs_overdue_rules_at_once(engine: Engine, fresh_settings: Settings) -> None:
    """Issue 12: after a leader change the rules first ran 15 minutes later. A new leader now
    runs them at takeover when the last run (in job_run) is older than the interval, and
    otherwise one interval after that run."""
    from core.clock import utcnow
    from monitoring.scheduler import RULES_EVERY, first_rules_run

    now = utcnow()
    assert first_rules_run(fresh_settings, now) == now  # never ran
    recent = now - timedelta(minutes=5)
    with engine.begin() as c:
        c.execute(text("INSERT INTO job_run (job, started_at, finished_at, outcome) "
                       "VALUES ('alerts', :t, :t, 'success')"), {"t": recent})
    assert first_rules_run(fresh_settings, now) == recent + RULES_EVERY
    assert first_rules_run(fresh_settings, now + timedelta(minutes=11)) == now + timedelta(minutes=11)

    stale = now - timedelta(minutes=40)  # the old leader's last run
    with engine.begin() as c:
        c.execute(text("UPDATE job_run SET started_at = :t, finished_at = :t"), {"t": stale})
    a = SchedulerHandle(fresh_settings, retry_seconds=0.1,
                        schedule=lambda scheduler, settings: None).start()
    assert _wait(lambda: a.is_leader)
    b = SchedulerHandle(fresh_settings, retry_seconds=0.1).start()  # the real jobs
    try:
        time.sleep(0.3)
        assert not b.is_leader
        a.stop()
        assert _wait(lambda: b.is_leader)
        assert _wait(lambda: len(_rules_runs(engine)) == 2, seconds=60)
        assert _rules_runs(engine)[-1] > now
    finally:
        a.stop()
        b.stop()
