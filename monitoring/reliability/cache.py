"""Figures for the planners' map, kept in ``map_cache`` per change stamp (migration 0099).

A cached value carries the change stamps (migration 0097) that were current when its
computation began. A reader first reads the current stamps of the names the value is made of:
if they are equal, no transaction that could change the value has committed since, and the
value is used; otherwise it is recomputed (once: concurrent readers wait on an advisory lock
and take the fresh value) and stored. So a value is never stale, and the page never recomputes
it while the data is unchanged. The monitoring job (``monitoring.jobs.map_cache``) recomputes
after each evaluation, so a view after an ingest and a job run finds it ready.

County reliability also depends on the clock: an interruption still open (no end) lasts until
now, so SAIDI grows while it lasts. The cached sums hold, per county, the customer-hours as of
the computation (``open_end``) and how fast they grow (customers of the areas out now), and
the first moment after which that rate could change (``horizon``: the next start or end of an
interval, or the end of the period). Between the two the figure is exact by extrapolation;
after the horizon it is recomputed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import Period, utcnow
from core.settings import Settings
from monitoring.reliability.indices import indices, region_sums

log = logging.getLogger(__name__)

ENABLED = True
"""False: every figure is computed directly (the benchmark's "before")."""

RELIABILITY_NAMES = ("area", "interruptions", "regions")
STATUS_NAMES = ("area", "feeder", "regions", "status:area", "status:feeder")

_STAMP = """SELECT COALESCE(string_agg(name || '=' || version, ' ' ORDER BY name), '')
              FROM change_stamp WHERE name = ANY (CAST(:names AS text[]))"""
_HORIZON = """
SELECT min(t) FROM (
    SELECT start_time AS t FROM area_interruption
     WHERE start_time > :x AND start_time < :hi
    UNION ALL
    SELECT end_time FROM area_interruption
     WHERE end_time > :x AND end_time < :hi AND start_time < :hi) b"""


def stamp(session: Session, names: tuple[str, ...]) -> str:
    """The current versions of ``names`` as one string (equal strings: nothing changed)."""
    return str(session.execute(text(_STAMP), {"names": list(names)}).scalar_one())


def _own_changes(session: Session) -> bool:
    """True when this transaction changed stamped data it has not committed yet."""
    held = session.execute(text("SELECT current_setting('gridwatch.change_stamps', true)")).scalar()
    return bool(held)


LOCK_CLASS = 0x6D6170
"""First key of the advisory locks (pg_advisory_lock(int, int)) that serialise recomputation."""


def hash_of(key: str) -> int:
    """A stable signed 32-bit hash of ``key`` (advisory lock ids must agree across processes)."""
    h = 2166136261
    for b in key.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _read(session: Session, key: str) -> tuple[str, Any] | None:
    row = session.execute(text("SELECT stamp, value FROM map_cache WHERE key = :k"), {"k": key}).first()
    return (str(row[0]), row[1]) if row else None


def _store(session: Session, key: str, current: str, value: Any, seconds: float) -> None:
    """Upsert the value: on its own committed transaction (a request's session is rolled back),
    or inside the caller's when the session is bound to a connection (tests). A read-only
    server (a replica) cannot store: the value is used uncached and the job's copy replicates."""
    sql = text("INSERT INTO map_cache (key, stamp, value, seconds) VALUES (:k, :s, CAST(:v AS jsonb), :t) "
               "ON CONFLICT (key) DO UPDATE SET stamp = EXCLUDED.stamp, value = EXCLUDED.value, "
               "seconds = EXCLUDED.seconds, computed_at = clock_timestamp()")
    params = {"k": key, "s": current, "v": json.dumps(value), "t": seconds}
    bind = session.get_bind()
    try:
        if isinstance(bind, Connection):
            with session.begin_nested():
                session.execute(sql, params)
        else:
            with bind.begin() as conn:
                conn.execute(sql, params)
    except DBAPIError as exc:
        log.warning("map cache %s not stored: %s", key, str(exc.orig).strip().splitlines()[0] if exc.orig
                    else exc)


def cached(
    session: Session, key: str, names: tuple[str, ...], compute: Callable[[], Any],
    usable: Callable[[Any], bool] = lambda v: True,
) -> Any:
    """The value under ``key`` if computed under the current stamps of ``names`` (and ``usable``),
    else ``compute()`` stored under them. One process computes; others wait for its result."""
    if not ENABLED or _own_changes(session):
        return compute()
    current = stamp(session, names)
    hit = _read(session, key)
    if hit is not None and hit[0] == current and usable(hit[1]):
        return hit[1]
    lock = hash_of(key)
    session.execute(text("SELECT pg_advisory_lock(:c, :k)"), {"c": LOCK_CLASS, "k": lock})
    try:
        current = stamp(session, names)
        hit = _read(session, key)
        if hit is not None and hit[0] == current and usable(hit[1]):
            return hit[1]
        started = time.perf_counter()
        with session.begin_nested():  # a failure leaves the transaction usable for the unlock
            value = compute()
        seconds = time.perf_counter() - started
        log.info("map cache %s computed in %.2f s", key, seconds)
        _store(session, key, current, value, seconds)
        return value
    finally:
        session.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": LOCK_CLASS, "k": lock})


def _open_end(period: Period, now: datetime) -> datetime:
    return max(min(now, period.end), period.start)


def county_sums(*, session: Session, settings: Settings, period: Period,
                now: datetime | None = None) -> dict[str, Any]:
    """County sums (customer basis, every variant) as of ``now``, with their growth and horizon."""
    now = now or utcnow()
    x = _open_end(period, now)
    rows = region_sums(session=session, settings=settings, period=period, by="county", now=now)
    horizon = session.execute(text(_HORIZON), {"x": x, "hi": period.end}).scalar()
    keep = ("region_id", "region_name", "variant", "customers", "interruptions",
            "customer_interruptions", "customer_hours", "customer_hours_rate")
    return {
        "period": period.label, "open_end": x.isoformat(),
        "horizon": (horizon or period.end).isoformat(),
        "rows": [{k: (float(r[k]) if k.startswith("customer_") else
                      int(r[k]) if k in ("customers", "interruptions") else r[k]) for k in keep}
                 for r in rows],
    }


def county_rows(*, session: Session, settings: Settings, period: Period,
                now: datetime | None = None) -> list[dict[str, Any]]:
    """Reliability rows per county and variant (customer basis) as of now, from the cache.

    The same rows as ``reliability_rows(by="county")``: the cached customer-hours, grown by the
    areas out now for the time since they were computed.
    """
    now = now or utcnow()
    x = _open_end(period, now)

    def usable(v: Any) -> bool:
        try:
            return (datetime.fromisoformat(v["open_end"]) <= x <= datetime.fromisoformat(v["horizon"]))
        except (KeyError, TypeError, ValueError):
            return False

    value = cached(session, f"reliability:county:customer:{period.label}", RELIABILITY_NAMES,
                   lambda: county_sums(session=session, settings=settings, period=period, now=now),
                   usable)
    grown = (x - datetime.fromisoformat(value["open_end"])).total_seconds() / 3600.0
    out = []
    for s in value["rows"]:
        hours = s["customer_hours"] + (s["customer_hours_rate"] * grown if grown else 0.0)
        out.append({
            "region_type": "county", "region_id": s["region_id"], "region_name": s["region_name"],
            "period": period.label, "basis": "customer", "variant": s["variant"],
            "customers": s["customers"], "interruptions": s["interruptions"],
            **indices(float(s["customers"]), s["customer_interruptions"], hours, period.hours),
        })
    return out
