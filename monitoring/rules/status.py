"""Keep ``asset_status`` equal to the frequent-outage rule at an as-of time, fully or incrementally."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from core.sqlfiles import statements
from monitoring.rules.frequent_outage import status_params, status_sql

log = logging.getLogger(__name__)

# Changes committed by transactions that started up to this long before the previous run
# began are still picked up (updated_at is a transaction's start time).
CHANGE_MARGIN = timedelta(hours=1)
# Beyond this step forward in as-of time, a full evaluation is cheaper than tracking edges.
MAX_INCREMENTAL_STEP = timedelta(days=31)
# When more than this share of assets is dirty, evaluate everything.
MAX_DIRTY_SHARE = 0.25


def _sql() -> dict[str, str]:
    return statements(__package__, "status.sql")


def settings_hash(settings: Settings) -> str:
    """A digest of the settings the rule depends on (a change forces a full evaluation)."""
    key = (settings.short_interruption_minutes, settings.frequent_year_limit,
           settings.frequent_window_limit, settings.frequent_window_days,
           settings.frequent_year_days)
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def refresh_status(
    *, session: Session, settings: Settings, as_of: datetime, full: bool = False,
    margin: timedelta = CHANGE_MARGIN, max_dirty_share: float = MAX_DIRTY_SHARE,
) -> dict[str, Any]:
    """Bring ``asset_status`` to ``as_of``; returns mode, assets evaluated and seconds taken.

    Incremental when a previous run with the same settings evaluated an as-of at most a month
    earlier: only assets whose interruptions changed, or crossed a window edge, are
    re-evaluated. Otherwise every asset is. Does not commit.
    """
    q = _sql()
    t0 = time.perf_counter()
    ran_at = session.execute(text("SELECT now()")).scalar_one()
    digest = settings_hash(settings)
    state = session.execute(text(q["state"])).first()
    incremental = (
        not full and state is not None and state.settings_hash == digest
        and state.as_of <= as_of <= state.as_of + MAX_INCREMENTAL_STEP
    )
    upsert = q["upsert"].replace("{status}", status_sql())
    evaluated = 0
    if incremental:
        assert state is not None
        year = timedelta(days=settings.frequent_year_days)
        session.execute(text(q["drop_dirty"]))
        session.execute(text(q["dirty"]), {
            "since": state.ran_at - margin,
            "old_lower": state.as_of - year, "new_lower": as_of - year,
            "old_short_edge": state.as_of - timedelta(minutes=settings.short_interruption_minutes),
            "as_of": as_of,
        })
        session.execute(text(q["dirty_feeder_areas"]))
        session.execute(text(q["missing"]))
        ids = {r[0]: list(r[1]) for r in session.execute(text(q["dirty_ids"]))}
        evaluated = sum(len(v) for v in ids.values())
        total = session.execute(text(
            "SELECT (SELECT count(*) FROM area) + (SELECT count(*) FROM feeder)")).scalar_one()
        if total and evaluated > max_dirty_share * total:
            incremental = False
        else:
            if evaluated:
                session.execute(text(upsert), status_params(
                    settings=settings, as_of=as_of,
                    area_ids=ids.get("area", []), feeder_ids=ids.get("feeder", [])))
            # Rows not re-evaluated are unchanged by construction and keep the as-of time of
            # the evaluation that last computed them; monitor_state holds the run's as-of.
        session.execute(text(q["drop_dirty"]))
    if not incremental:
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text(upsert), status_params(settings=settings, as_of=as_of))
        evaluated = session.execute(text("SELECT count(*) FROM asset_status")).scalar_one()
    session.execute(text(q["delete_gone"]))
    session.execute(text(q["save_state"]), {"as_of": as_of, "ran_at": ran_at, "hash": digest})
    session.execute(text(q["prune_changes"]), {"before": ran_at - 2 * max(margin, CHANGE_MARGIN)})
    seconds = round(time.perf_counter() - t0, 3)
    mode = "incremental" if incremental else "full"
    log.info("frequent-outage status %s at %s: %d asset(s) in %.2fs", mode, as_of, evaluated,
             seconds)
    return {"mode": mode, "assets": int(evaluated), "seconds": seconds}
