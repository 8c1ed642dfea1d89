"""Zero-perception planned maintenance (计划检修"零感知", SPEC section 5)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.settings import Settings
from monitoring.rules.counted import load_sql

log = logging.getLogger(__name__)

_WORKS = """
SELECT w.work_id, w.asset_type, w.asset_id, w.planned_start, w.planned_end,
       bool_or(p.hit) AS miss,
       COALESCE(array_agg(p.area_id ORDER BY p.area_id) FILTER (WHERE p.hit), '{}') AS areas,
       COALESCE(sum(p.customers) FILTER (WHERE p.hit), 0)::bigint AS customers_affected,
       COALESCE(sum(p.customers * p.minutes) FILTER (WHERE p.hit), 0)::float AS customer_minutes
  FROM works w
  JOIN per_area p ON p.work_id = w.work_id
 GROUP BY w.work_id, w.asset_type, w.asset_id, w.planned_start, w.planned_end
 ORDER BY w.planned_start, w.work_id
"""

_ZONES = """
, zone_work AS (
    SELECT z.feature_id, p.work_id, bool_or(p.hit) AS miss
      FROM per_area p
     CROSS JOIN LATERAL unnest(p.feature_ids) AS z(feature_id)
     GROUP BY z.feature_id, p.work_id
)
SELECT f.feature_id AS zone_id, f.name AS zone_name,
       count(zw.work_id)::integer AS works,
       (count(zw.work_id) FILTER (WHERE zw.miss))::integer AS misses
  FROM overlay_feature f
  LEFT JOIN zone_work zw ON zw.feature_id = f.feature_id
 WHERE f.layer = 'core_zone'
 GROUP BY f.feature_id, f.name
 ORDER BY f.feature_id
"""


def _params(settings: Settings, start: datetime, end: datetime, as_of: datetime | None,
            work_ids: Sequence[str] | None) -> dict[str, Any]:
    return {
        "start": start, "end": end, "as_of": as_of or utcnow(),
        "min_share": settings.tag_min_share,
        "work_ids": list(work_ids) if work_ids is not None else None,
    }


def evaluate(
    *, session: Session, settings: Settings, start: datetime, end: datetime,
    as_of: datetime | None = None, work_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """In-scope works whose planned window overlaps [start, end), with miss and its impact.

    Each row: work_id, asset_type, asset_id, planned_start, planned_end, miss, areas (the
    core-zone areas interrupted), customers_affected, customer_minutes.
    """
    sql = load_sql("zero_perception.sql") + _WORKS
    rows = session.execute(text(sql), _params(settings, start, end, as_of, work_ids)).mappings()
    out = []
    for r in rows:
        row = dict(r)
        row["areas"] = list(row["areas"])
        row["customer_minutes"] = round(float(row["customer_minutes"]), 3)
        out.append(row)
    return out


def zone_rates(
    *, session: Session, settings: Settings, start: datetime, end: datetime,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per core zone: zone_id, zone_name, works, misses, rate (None without works).

    A work belongs to a zone when a core-zone area it covers lies in that zone (asset_tag
    feature_ids); it is a miss for the zone when one of those areas was interrupted.
    """
    sql = load_sql("zero_perception.sql") + _ZONES
    rows = session.execute(text(sql), _params(settings, start, end, as_of, None)).mappings()
    out = []
    for r in rows:
        row = dict(r)
        row["rate"] = (
            round(1.0 - row["misses"] / row["works"], 6) if row["works"] else None
        )
        out.append(row)
    return out
