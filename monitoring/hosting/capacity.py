"""Compute, store and read PV hosting capacity per quarter (SPEC section 15, docs/hosting-capacity.md).

Every quarter's figures are stored (``hosting_run``, ``hosting_area``, ``hosting_feeder``) with
the parameters they were computed with and when, so a published quarter can be reproduced:

- the **current** quarter (Beijing calendar, at ``now``) is recomputed from the current inputs
  whenever they, or the parameters, differ from those its stored figures were made from (the
  change stamps of areas, feeders, regions, area loads and PV; β, cos φ, τ). That happens after
  an ingest, in the monitoring job, and on demand when its report is asked for;
- an **ended** quarter is served as stored and never recomputed: later inputs or parameters do
  not change it. One that was never computed while it was current (gridwatch installed after
  it, or never run during it) is computed once, on its first request, from the inputs as they
  stand then, and says so (``Run.after_end``); from then on it is kept like any other;
- a quarter that has **not begun** has no figures.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, Period, parse_quarter
from core.errors import UsageError
from core.settings import Settings
from core.sqlfiles import statements

log = logging.getLogger(__name__)

GRADES = ("green", "yellow", "red", "unassessed")
AREA_FIELDS = ["asset_type", "asset_id", "feeder_id", "county", "s_kva", "p_kw", "s_d_kw",
               "connected_kw", "registered_kw", "c1_kw", "c2_kw", "grade"]
"""The report's fields (SPEC section 15), in order."""
FEEDER_FIELDS = ["asset_type", "asset_id", "grade"]


def _sql(name: str) -> str:
    return statements("monitoring.hosting", "compute.sql")[name]


@dataclass(frozen=True)
class Run:
    """One stored computation of a quarter: when, from which inputs, with which parameters."""

    quarter: str
    computed_at: datetime
    stamp: str
    beta: float
    cos_phi: float
    tau: float
    areas: int
    feeders: int

    @property
    def after_end(self) -> bool:
        """Computed after the quarter ended (from the inputs of that later time)."""
        return self.computed_at >= parse_quarter(self.quarter).end

    def parameters(self) -> dict[str, float]:
        """β, cos φ and τ as used."""
        return {"beta": self.beta, "cos_phi": self.cos_phi, "tau": self.tau}


def current_quarter(now: datetime) -> Period:
    """The quarter (Beijing calendar) that ``now`` falls in."""
    local = now.astimezone(LOCAL_TZ)
    return parse_quarter(f"{local.year}Q{(local.month - 1) // 3 + 1}")


def _parameters(settings: Settings) -> dict[str, float]:
    return {"beta": float(settings.hosting_beta), "cos_phi": float(settings.hosting_cos_phi),
            "tau": float(settings.hosting_tau)}


def stored_run(*, session: Session, quarter: str) -> Run | None:
    """The stored computation of ``quarter`` (2026Q4), if there is one."""
    row = session.execute(text(_sql("stored_run")), {"quarter": quarter}).first()
    return None if row is None else Run(*row)


def _up_to_date(run: Run | None, stamp: str, settings: Settings) -> bool:
    if run is None or not stamp or run.stamp != stamp:
        return False
    return all(v == float(getattr(run, k)) for k, v in _parameters(settings).items())


def compute(*, session: Session, settings: Settings, quarter: str, now: datetime) -> Run:
    """Compute ``quarter`` from the current inputs and store it, replacing what was stored.

    Only the current quarter may be computed (an ended one is kept as it was published).
    Does not commit.
    """
    period = parse_quarter(quarter)
    if period.label != current_quarter(now).label:
        raise UsageError(f"only the current quarter ({current_quarter(now).label}) is computed; "
                         f"{period.label} is kept as stored")
    session.execute(text(_sql("lock")))
    return _compute(session=session, settings=settings, quarter=period.label, now=now,
                    stamp=_stamp(session))


def _stamp(session: Session) -> str:
    """The inputs' change stamps; "" (matching no run) when this transaction changed stamped
    data it has not committed: the stamps do not show that yet."""
    if session.execute(text("SELECT current_setting('gridwatch.change_stamps', true)")).scalar():
        return ""
    return str(session.execute(text(_sql("stamp"))).scalar_one())


def _compute(*, session: Session, settings: Settings, quarter: str, now: datetime,
             stamp: str) -> Run:
    t0 = time.perf_counter()
    params: dict[str, Any] = {"quarter": quarter, "computed_at": now, "stamp": stamp,
                              **_parameters(settings)}
    for name in ("delete_areas", "delete_feeders", "delete_run", "insert_run", "areas", "feeders",
                 "finish"):
        session.execute(text(_sql(name)), params)
    run = stored_run(session=session, quarter=quarter)
    assert run is not None
    log.info("hosting capacity %s: %d areas, %d feeders in %.2fs", quarter, run.areas,
             run.feeders, time.perf_counter() - t0)
    return run


def refresh_current(*, session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Recompute the current quarter when its inputs or parameters changed. Does not commit.

    Returns ``{"quarter", "computed", "areas"}``; ``computed`` is False when the stored figures
    were still those of the inputs.
    """
    quarter = current_quarter(now).label
    stamp = _stamp(session)
    if _up_to_date(stored_run(session=session, quarter=quarter), stamp, settings):
        return {"quarter": quarter, "computed": False, "rows": 0}
    session.execute(text(_sql("lock")))
    stamp = _stamp(session)                       # what a concurrent computation may have seen
    run = stored_run(session=session, quarter=quarter)
    if not _up_to_date(run, stamp, settings):
        run = _compute(session=session, settings=settings, quarter=quarter, now=now, stamp=stamp)
        return {"quarter": quarter, "computed": True, "rows": run.areas}
    return {"quarter": quarter, "computed": False, "rows": 0}


def quarter_run(*, session: Session, settings: Settings, quarter: str, now: datetime) -> Run:
    """The computation that serves ``quarter``: refreshed if current, as stored if ended.

    ``UsageError`` for a quarter that has not begun. An ended quarter that was never computed
    is computed now, once (see the module's docstring). Both write: commit afterwards.
    """
    period = parse_quarter(quarter)
    current = current_quarter(now)
    if period.start > current.start:
        raise UsageError(f"{period.label} has not begun (the current quarter is {current.label})")
    if period.label == current.label:
        refresh_current(session=session, settings=settings, now=now)
    run = stored_run(session=session, quarter=period.label)
    if run is None:
        session.execute(text(_sql("lock")))
        run = stored_run(session=session, quarter=period.label)
    if run is None:
        log.warning("hosting capacity %s was never computed while it was current: computing it "
                    "now from the inputs as they stand, and keeping it", period.label)
        run = _compute(session=session, settings=settings, quarter=period.label, now=now,
                       stamp=_stamp(session))
    return run


def area_rows(*, session: Session, quarter: str) -> list[dict[str, Any]]:
    """The stored area rows of ``quarter`` in the report's fields, by area_id."""
    rows = session.execute(text(
        "SELECT 'area' AS asset_type, area_id AS asset_id, feeder_id, county, s_kva, p_kw, "
        "s_d_kw, connected_kw, registered_kw, c1_kw, c2_kw, grade "
        "FROM hosting_area WHERE quarter = :q ORDER BY area_id"), {"q": quarter}).mappings()
    return [dict(r) for r in rows]


def feeder_rows(*, session: Session, quarter: str) -> list[dict[str, Any]]:
    """The stored feeder rows of ``quarter`` (asset_type, asset_id, grade), by feeder_id."""
    rows = session.execute(text(
        "SELECT 'feeder' AS asset_type, feeder_id AS asset_id, grade "
        "FROM hosting_feeder WHERE quarter = :q ORDER BY feeder_id"), {"q": quarter}).mappings()
    return [dict(r) for r in rows]


def totals(*, session: Session, quarter: str) -> list[dict[str, Any]]:
    """Areas per county and grade in ``quarter``, with their C1 and C2 sums (assessed areas)."""
    rows = session.execute(text(
        "SELECT county, county_adcode, "
        "count(*) FILTER (WHERE grade = 'green') AS green, "
        "count(*) FILTER (WHERE grade = 'yellow') AS yellow, "
        "count(*) FILTER (WHERE grade = 'red') AS red, "
        "count(*) FILTER (WHERE grade = 'unassessed') AS unassessed, "
        "count(*) AS areas, "
        "round(COALESCE(sum(GREATEST(c2_kw, 0)), 0)::numeric, 3)::float8 AS open_kw "
        "FROM hosting_area WHERE quarter = :q "
        "GROUP BY county, county_adcode ORDER BY county_adcode NULLS LAST, county"),
        {"q": quarter}).mappings()
    return [dict(r) for r in rows]
