"""Repeated planned outages (一停多用, SPEC section 14): findings and the works that would make one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import UsageError
from core.settings import Settings
from monitoring.planning import sql

log = logging.getLogger(__name__)

FILE = "repeat_planned.sql"
COLUMNS = ["area_id", "first_ref", "first_start", "second_ref", "second_start", "days_apart",
           "customers", "first_kind", "second_kind"]
"""The SPEC's fields, then whether each ref is an ``outage`` record or a ``work``."""
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def window_seconds(settings: Settings) -> float:
    """``GRIDWATCH_REPEAT_PLANNED_DAYS`` in seconds."""
    return float(settings.repeat_planned_days) * 86400.0


def _params(settings: Settings, start: datetime, end: datetime,
            area_ids: Sequence[str] | None) -> dict[str, Any]:
    if start.tzinfo is None or end.tzinfo is None:
        raise UsageError("the period's times must be timezone-aware")
    days = window_seconds(settings)
    return {
        "start": start, "hi": end, "lo": start - timedelta(seconds=days),
        "days_seconds": days,
        "short_seconds": float(settings.short_interruption_minutes) * 60.0,
        "area_ids": list(area_ids) if area_ids is not None else None,
    }


def _row(r: Any) -> dict[str, Any]:
    row = dict(r)
    row["days_apart"] = round(row.pop("seconds_apart") / 86400.0, 2)
    return row


def findings(*, session: Session, settings: Settings, start: datetime, end: datetime,
             area_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The findings whose second interruption starts in [start, end), by second start.

    Each row: area_id, first_ref, first_kind (``outage`` or ``work``), first_start, second_ref,
    second_kind, second_start, days_apart (days, 2 decimals) and the area's customers.
    """
    if end <= start:
        raise UsageError("the period must end after it starts")
    query = sql(FILE, "chain") + "\n" + sql(FILE, "findings")
    rows = session.execute(text(query), _params(settings, start, end, area_ids)).mappings()
    return [_row(r) for r in rows]


def upcoming(*, session: Session, settings: Settings, as_of: datetime) -> list[dict[str, Any]]:
    """Each outage work starting after ``as_of`` that is part of a finding, with the other side.

    One row per such work: work_id, asset_type, asset_id, planned_start, and ``others``, a list
    of {area_id, ref, kind, start, days_apart} (the other interruption of each finding it is in,
    nearest first). A work merged with another planned interruption (overlapping it) is part of
    that one interruption; the alert names the interruption on the far side of the pair.
    """
    areas = [r[0] for r in session.execute(text(sql(FILE, "upcoming_work_areas")),
                                           {"as_of": as_of})]
    if not areas:
        return []
    works = {r["work_id"]: dict(r) for r in session.execute(
        text(sql(FILE, "upcoming_works")), {"as_of": as_of}).mappings()}
    days = window_seconds(settings)
    params = _params(settings, as_of - timedelta(seconds=days), FAR_FUTURE, areas)
    query = sql(FILE, "chain") + "\n" + sql(FILE, "findings_with_parts")
    others: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for r in session.execute(text(query), params).mappings():
        apart = round(r["seconds_apart"] / 86400.0, 2)
        sides = ((r["second_work_ids"], r["first_ref"], r["first_kind"], r["first_start"]),
                 (r["first_work_ids"], r["second_ref"], r["second_kind"], r["second_start"]))
        for members, ref, kind, when in sides:
            for work_id in members:
                if work_id in works and ref != work_id:
                    others.setdefault(work_id, {})[(r["area_id"], ref)] = {
                        "area_id": r["area_id"], "ref": ref, "kind": kind, "start": when,
                        "days_apart": apart}
    out = []
    for work_id, found in sorted(others.items()):
        row = dict(works[work_id])
        row["others"] = sorted(found.values(),
                               key=lambda o: (o["days_apart"], o["start"], o["ref"], o["area_id"]))
        out.append(row)
    return out
