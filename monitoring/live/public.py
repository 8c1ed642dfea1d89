"""What the public may see of the live outages (SPEC section 13): the open feed and the lookup.

Each is one SQL statement in ``public.sql`` (psycopg ``%(name)s`` parameters), so the API can
run it on its asyncio pool and the CLI or a test on a session: the feed comes out of the
database as JSON text; the lookup's row is shaped by ``lookup_answer``. Only area-level facts
leave here: no meter id, no record or work id, no customer. Times are in UTC (ISO 8601).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.sqlfiles import statements
from monitoring.live import PROGRESS_STEPS

WEEK = timedelta(days=7)
"""Planned works are shown when they overlap the next 7 days."""


def feed_sql() -> str:
    """One row, one column: the feed's ``outages`` as a JSON array (text), made in the database."""
    return statements("monitoring.live", "public.sql")["feed"]


def lookup_sql() -> str:
    """The lookup statement; parameters from ``lookup_params``, its row for ``lookup_answer``."""
    return statements("monitoring.live", "public.sql")["lookup"]


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def lookup_params(*, meter_id: str, now: datetime) -> dict[str, Any]:
    """The parameters of ``lookup_sql()`` for ``meter_id`` at ``now``."""
    return {"meter": meter_id, "now": now, "until": now + WEEK}


def lookup_answer(row: Sequence[Any] | None) -> dict[str, Any] | None:
    """The row of ``lookup_sql()`` as the customer's answer (task 53); None for an unknown meter."""
    if row is None:
        return None
    since, cause, estimated_end, progress, r_starts, r_ends, r_causes, w_starts, w_ends, w_methods = row
    return {
        "out_now": since is not None,
        "outage": None if since is None else {
            "since": _utc(since), "cause": cause,
            "estimated_restoration": _utc(estimated_end), "progress": progress,
            "progress_steps": list(PROGRESS_STEPS),
        },
        "recent_interruptions": [
            {"start_time": _utc(s), "end_time": _utc(e), "cause": c}
            for s, e, c in zip(r_starts or [], r_ends or [], r_causes or [], strict=True)
        ],
        "planned_works": [
            {"planned_start": _utc(s), "planned_end": _utc(e), "method": m}
            for s, e, m in zip(w_starts or [], w_ends or [], w_methods or [], strict=True)
        ],
    }


def public_feed(*, session: Session) -> list[dict[str, Any]]:
    """The live outages as published with no key (SPEC section 13): area-level facts only.

    Fields after the IEC CIM PubOutages profile (ODIN): ``mRID`` (the area and the outage's
    start), ``cause``, ``customersAffected``, ``reportedStartTime``,
    ``estimatedRestorationTime``, ``statusKind`` (``active``: out now), the area's
    ``centroid`` (a point inside it, 5 decimals) and its ``county``. No meter, no customer,
    no record or work id.
    """
    row = session.connection().exec_driver_sql(feed_sql()).one()
    entries: list[dict[str, Any]] = json.loads(row[0])
    return entries


def lookup(*, session: Session, meter_id: str, now: datetime) -> dict[str, Any] | None:
    """What a customer may learn about their own supply (task 53); None for an unknown meter.

    Only the meter's own area: out now or not (since, cause, estimated restoration,
    progress), its last five interruptions (SPEC section 3, steps 1 and 2) and the works
    planned on it or its feeder in the next 7 days. No other meter and no record id.
    """
    params = lookup_params(meter_id=meter_id, now=now)
    row = session.connection().exec_driver_sql(lookup_sql(), params).first()
    return lookup_answer(row)
