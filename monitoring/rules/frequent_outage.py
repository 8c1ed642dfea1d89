"""Frequent-outage rule (频繁停电, SPEC section 4) for every area and feeder at an as-of time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.rules.counted import counted_params, load_sql, merged_starts_sql

log = logging.getLogger(__name__)

STATUSES = ("frequent", "at_risk", "ok")


def status_sql() -> str:
    """The one-pass SQL (bound parameters from ``status_params``)."""
    return load_sql("frequent_outage.sql").replace("{starts}", merged_starts_sql())


def status_params(
    *,
    settings: Settings,
    as_of: datetime,
    asset_type: str | None = None,
    area_ids: Sequence[str] | None = None,
    feeder_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Bound parameters of ``status_sql()``."""
    year_start = as_of - timedelta(days=settings.frequent_year_days)
    params = counted_params(
        settings=settings, as_of=as_of, since=year_start, asset_type=asset_type,
        area_ids=area_ids, feeder_ids=feeder_ids,
    )
    params.update(
        year_start=year_start,
        window_span=timedelta(days=settings.frequent_window_days) - timedelta(microseconds=1),
        year_limit=settings.frequent_year_limit,
        window_limit=settings.frequent_window_limit,
    )
    return params


def evaluate(*, session: Session, settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Every area and feeder with asset_type, asset_id, count_365, max_60 and status."""
    rows = session.execute(
        text(status_sql() + " ORDER BY a.asset_type, a.asset_id"),
        status_params(settings=settings, as_of=as_of),
    ).mappings().all()
    return [dict(r) for r in rows]


def evaluate_assets(
    *, session: Session, settings: Settings, as_of: datetime,
    area_ids: Sequence[str], feeder_ids: Sequence[str],
) -> list[dict[str, Any]]:
    """The same rule for the listed assets only (the incremental path)."""
    rows = session.execute(
        text(status_sql()),
        status_params(settings=settings, as_of=as_of, area_ids=area_ids, feeder_ids=feeder_ids),
    ).mappings().all()
    return [dict(r) for r in rows]
