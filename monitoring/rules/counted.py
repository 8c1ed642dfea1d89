"""Counted, merged interruptions of areas and feeders at an as-of time (SPEC section 3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import UsageError
from core.settings import Settings
from core.sqlfiles import read

log = logging.getLogger(__name__)

# Sort and hash memory for the province-wide passes (merging sorts about a million intervals):
# with the server default (64MB) they spill to disk and take several times longer.
BULK_WORK_MEM = "256MB"


def load_sql(name: str) -> str:
    """The text of a ``.sql`` file of this package, without its comment lines (but ``-- name:``)."""
    return read(__package__, name, strip=True)


@contextmanager
def bulk_work_mem(session: Session, size: str = BULK_WORK_MEM) -> Iterator[None]:
    """Raise ``work_mem`` for the statements inside (transaction-local), then put it back."""
    old = session.execute(text("SELECT current_setting('work_mem')")).scalar_one()
    session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": size})
    yield
    # Not in a finally: after an error the transaction is rolled back, and the setting with it.
    session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": old})


def counted_sql() -> str:
    """The SQL query (bound parameters, see ``counted_params``) giving merged interruptions."""
    return load_sql("counted.sql").replace("{marked}", load_sql("counted_marked.sql"))


def merged_starts_sql() -> str:
    """The starts (asset_type, asset_id, start_time) of ``counted_sql()``'s rows, same parameters.

    Cheaper when only starts matter: no grouping, and the rows stay ordered for a window
    ``PARTITION BY asset_type, asset_id COLLATE "C" ORDER BY start_time``.
    """
    return load_sql("merged_starts.sql").replace("{marked}", load_sql("counted_marked.sql"))


def counted_params(
    *,
    settings: Settings,
    as_of: datetime,
    since: datetime | None = None,
    asset_type: str | None = None,
    area_ids: Sequence[str] | None = None,
    feeder_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Bound parameters of ``counted_sql()``."""
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware")
    if asset_type not in (None, "area", "feeder"):
        raise UsageError(f"asset_type must be 'area' or 'feeder', not {asset_type!r}")
    return {
        "as_of": as_of,
        "since": since,
        "short_seconds": float(settings.short_interruption_minutes) * 60.0,
        "include_areas": asset_type in (None, "area"),
        "include_feeders": asset_type in (None, "feeder"),
        "area_ids": list(area_ids) if area_ids is not None else None,
        "feeder_ids": list(feeder_ids) if feeder_ids is not None else None,
    }


def counted_interruptions(
    *,
    session: Session,
    settings: Settings,
    as_of: datetime,
    asset_type: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Merged counted interruptions starting at or before ``as_of`` (after ``since`` if given).

    Each row: asset_type, asset_id, start_time, end_time (None while ongoing at ``as_of``),
    parts (how many counted intervals merged into it). Ordered by asset and start.
    """
    params = counted_params(settings=settings, as_of=as_of, since=since, asset_type=asset_type)
    sql = f"SELECT * FROM ({counted_sql()}) m"
    if since is not None:
        sql += " WHERE m.start_time > :since"
    sql += " ORDER BY asset_type, asset_id, start_time"
    rows = session.execute(text(sql), params).mappings().all()
    return [dict(r) for r in rows]
