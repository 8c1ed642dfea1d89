"""Inferred interruptions (SPEC section 3 step 2), kept up to date from the ingest change log."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.db import session_scope
from core.settings import Settings
from core.sqlfiles import statements
from ingest.retention import horizon

log = logging.getLogger(__name__)

__all__ = ["BUCKETS", "PARALLEL_MIN_AREAS", "refresh", "refresh_after_ingest", "refresh_committed"]

BUCKETS = 8
"""Areas fall into this many buckets by a hash of ``area_id``, each with its own advisory lock.

A refresh takes the locks of the buckets it works on in ascending order, so refreshes of
disjoint buckets run side by side and overlapping ones wait for each other without deadlock.
"""
PARALLEL_MIN_AREAS = 64
"""``refresh_committed`` splits the work over several connections from this many areas."""
MAX_WORKERS = 4
"""The most connections ``refresh_committed`` uses when no number is configured."""


def _sql() -> dict[str, str]:
    return statements(__name__, "refresh.sql")


def refresh(*, session: Session, settings: Settings, full: bool = False) -> int:
    """Recompute inferred interruptions for areas with new meter events; returns areas refreshed.

    Only the affected time range of each area is recomputed (from its earliest changed time, or
    the start of the interval open then). ``full`` rebuilds every area, e.g. after the meter
    registry or ``meter_off_fraction`` changed. Runs in the caller's transaction and does not
    commit.

    Neither ever reaches back before the retention horizon (``ingest.retention.horizon``): raw
    events before it may be gone, so rows that start before it are kept as they are, and a
    row open at the horizon is at most extended or closed (SPEC section 17).
    """
    return _refresh(session, settings, full, list(range(BUCKETS)), horizon(settings=settings))


def refresh_committed(*, engine: Engine, settings: Settings, full: bool = False,
                      workers: int | None = None) -> int:
    """The same as ``refresh`` for changes already committed, in transactions of its own.

    A large refresh (``PARALLEL_MIN_AREAS`` areas or more, or ``full``) is split by bucket
    over ``workers`` connections (default ``settings.refresh_workers``, else one per CPU, at
    most 4), shares balanced by pending areas (``_shares``), each committing its own share:
    the recompute is CPU-bound in PostgreSQL, so two cores halve it. If one share fails, the
    others are still committed and the failed share's changes stay pending for the next
    refresh (a failed ``full`` share has to be run again).
    Returns the areas refreshed.
    """
    since = horizon(settings=settings)
    n = workers or settings.refresh_workers or min(os.cpu_count() or 1, MAX_WORKERS)
    n = max(1, min(n, BUCKETS))
    weights = [1] * BUCKETS
    if not full:
        with engine.connect() as conn:
            rows = conn.execute(text(_sql()["pending_buckets"]), {"nbuckets": BUCKETS}).all()
        weights = [0] * BUCKETS
        for bucket, areas in rows:
            weights[int(bucket)] = int(areas)
        pending = sum(weights)
        if not pending:       # e.g. after outage records or works, which need no refresh
            return 0
        if pending < PARALLEL_MIN_AREAS:
            n = 1
    if n == 1:
        with session_scope(engine) as session:
            return _refresh(session, settings, full, list(range(BUCKETS)), since)
    shares = _shares(weights, n)

    def run(buckets: list[int]) -> int:
        with session_scope(engine) as session:
            return _refresh(session, settings, full, buckets, since)

    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="refresh") as pool:
        futures = [pool.submit(run, share) for share in shares]
        return sum(f.result() for f in futures)


def _shares(weights: list[int], n: int) -> list[list[int]]:
    """Buckets split into ``n`` shares of about equal weight (pending areas), each ascending.

    The heaviest bucket goes to the lightest share first, so the connections finish together
    (two shares of the 8 buckets by count alone differ by a fifth for 200 areas). Every bucket
    is in a share, pending or not.
    """
    shares: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for bucket in sorted(range(len(weights)), key=lambda b: (-weights[b], b)):
        i = min(range(n), key=lambda j: (load[j], len(shares[j])))
        shares[i].append(bucket)
        load[i] += weights[bucket]
    return [sorted(share) for share in shares if share]


def refresh_after_ingest(*, engine: Engine, settings: Settings) -> str | None:
    """``refresh_committed`` for a batch that has just been committed; a warning if it failed.

    The batch is stored whatever happens here and its changes stay pending until a refresh
    succeeds (the next ingest or ``gridwatch monitor run``), so a failure is reported as a
    warning next to the accounting, not as a failed ingest.
    """
    try:
        refresh_committed(engine=engine, settings=settings)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("inferred interruptions not refreshed after ingest: %s", reason)
        return (f"the rows are stored, but inferred interruptions were not refreshed ({reason}); "
                "'gridwatch monitor run' folds them in")
    return None


def _refresh(session: Session, settings: Settings, full: bool, buckets: list[int],
             since: datetime) -> int:
    """Refresh the areas of ``buckets`` (ascending) in the session's transaction.

    ``since`` is the retention horizon: nothing that starts before it is deleted or rebuilt.
    """
    q = _sql()
    scope = {"nbuckets": BUCKETS, "buckets": buckets}
    limit = {"horizon": since}
    for bucket in buckets:
        session.execute(text(q["lock"]), {"bucket": bucket})
    session.execute(text(q["drop_temp"]))
    session.execute(text(q["pending_changes"]), scope)
    fraction = {"fraction": str(settings.meter_off_fraction)} | limit
    if full:
        session.execute(text(q["all_areas"]), fraction | scope)
    else:
        session.execute(text(q["pending_areas"]), fraction)
    areas, min_anchor, clamped = session.execute(text(q["count_areas"])).one()
    if full:
        session.execute(text(q["delete_all_intervals"]), scope | limit)
        session.execute(text(q["delete_all_spans"]), scope | limit)
    if areas:
        session.execute(text(q["meters"]))
        session.execute(text(q["no_seeds"]))
        if clamped:
            session.execute(text(q["seed_meters"]), limit)
            log.info("%d area(s) refreshed from the retention horizon %s only", clamped,
                     since.isoformat())
        session.execute(text(q["analyze"]))
        if not full:
            session.execute(text(q["delete_intervals"]), limit)
            session.execute(text(q["delete_spans"]), limit)
        # Sorted group aggregates stream through the window passes; a hash aggregate (chosen on
        # stale statistics of freshly ingested events) would force a full re-sort.
        old = session.execute(text(
            "SELECT current_setting('work_mem'), current_setting('enable_hashagg')")).one()
        session.execute(text("SELECT set_config('work_mem', '256MB', true), "
                             "set_config('enable_hashagg', 'off', true)"))
        session.execute(text(q["recompute"]), {"min_anchor": min_anchor})
        session.execute(text("SELECT set_config('work_mem', :w, true), "
                             "set_config('enable_hashagg', :h, true)"), {"w": old[0], "h": old[1]})
        if clamped:
            session.execute(text(q["join_intervals_at_horizon"]))
            session.execute(text(q["join_spans_at_horizon"]))
    session.execute(text(q["mark_done"]))
    session.execute(text(q["drop_temp"]))
    log.info("inferred interruptions refreshed for %d area(s)", areas)
    return int(areas)
