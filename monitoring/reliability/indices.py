"""SAIFI (AITC-1), SAIDI (AIHC-1), CAIDI and ASAI (RS-1) per region and variant (SPEC section 9)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import Period, utcnow
from core.errors import UsageError
from core.settings import Settings
from core.sqlfiles import read
from monitoring.rules.counted import bulk_work_mem

log = logging.getLogger(__name__)

VARIANTS = ("all", "no_external", "no_planned")
BASES = ("customer", "area")
REGION_TYPES = ("county", "prefecture", "zone", "province")

# (region_id, region_name, area_id) for each way of cutting the province; fixed SQL, no input.
REGION_SQL = {
    "county": """
    SELECT r.county_adcode AS region_id, d.name AS region_name, r.asset_id AS area_id
      FROM asset_region r
      LEFT JOIN admin_division d ON d.adcode = r.county_adcode
     WHERE r.asset_type = 'area' AND r.county_adcode IS NOT NULL""",
    "prefecture": """
    SELECT r.prefecture_adcode AS region_id, d.name AS region_name, r.asset_id AS area_id
      FROM asset_region r
      LEFT JOIN admin_division d ON d.adcode = r.prefecture_adcode
     WHERE r.asset_type = 'area' AND r.prefecture_adcode IS NOT NULL""",
    # Each area tagged core_zone belongs to the core-zone feature it overlaps most.
    "zone": """
    SELECT z.feature_id AS region_id, z.name AS region_name, t.asset_id AS area_id
      FROM asset_tag t
      JOIN area a ON a.area_id = t.asset_id
      JOIN LATERAL (
            SELECT f.feature_id, f.name
              FROM overlay_feature f
             WHERE f.layer = 'core_zone' AND ST_Intersects(f.geom, a.geom)
             ORDER BY ST_Area(ST_Intersection(f.geom, a.geom)::geography) DESC, f.feature_id
             LIMIT 1) z ON true
     WHERE t.asset_type = 'area' AND t.layer = 'core_zone' AND t.share >= :min_share""",
    "province": """
    SELECT COALESCE(p.adcode, 'province') AS region_id, COALESCE(p.name, '全省') AS region_name,
           a.area_id
      FROM area a
      LEFT JOIN (SELECT adcode, name FROM admin_division WHERE level = 'province'
                  ORDER BY adcode LIMIT 1) p ON true""",
}


@cache
def load_sql(name: str) -> str:
    """The text of a ``.sql`` file of this package, with the shared merge CTEs filled in."""
    sql = read(__package__, name)
    if "{merged}" in sql:
        merged = read(__package__, "merged.sql")
        sql = sql.replace("{merged}", merged)
    return sql


def indices(customers: float, customer_interruptions: float, customer_hours: float,
            hours: float) -> dict[str, float | None]:
    """SAIFI = Σc/N, SAIDI = Σc·d/N (hours), CAIDI = SAIDI/SAIFI (None when SAIFI is 0), ASAI."""
    if customers <= 0:
        return {"saifi": None, "saidi": None, "caidi": None, "asai": None}
    saifi = customer_interruptions / customers
    saidi = customer_hours / customers
    return {
        "saifi": saifi,
        "saidi": saidi,
        "caidi": saidi / saifi if saifi > 0 else None,
        "asai": 1.0 - saidi / hours,
    }


def base_params(*, settings: Settings, period: Period, basis: str, now: datetime | None) -> dict[str, Any]:
    """Bound parameters shared by the reliability queries."""
    if basis not in BASES:
        raise UsageError(f"basis must be customer or area, not {basis!r}")
    current = now or utcnow()
    return {
        "lo": period.start, "hi": period.end, "clip_lo": period.start, "clip_hi": period.end,
        "open_end": max(min(current, period.end), period.start),
        "short_seconds": float(settings.short_interruption_minutes) * 60.0,
        "basis_area": basis == "area",
        "variants": list(VARIANTS),
        "min_share": settings.tag_min_share,
        "med_days": None,
    }


def region_sums(
    *, session: Session, settings: Settings, period: Period, by: str, basis: str = "customer",
    med_days: list[date] | None = None, now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per (region, variant): customers (N), interruptions, Σc and Σc·d (hours)."""
    if by not in REGION_TYPES:
        raise UsageError(f"--by must be one of {', '.join(REGION_TYPES)}, not {by!r}")
    params = base_params(settings=settings, period=period, basis=basis, now=now)
    params["med_days"] = med_days
    sql = load_sql("indices.sql").replace("{regions}", REGION_SQL[by])
    with bulk_work_mem(session):
        return [dict(r) for r in session.execute(text(sql), params).mappings().all()]


def reliability_rows(
    *, session: Session, settings: Settings, period: Period, by: str, basis: str = "customer",
    med_days: list[date] | None = None, now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per (region, variant) with SPEC section 9's columns."""
    rows = []
    for s in region_sums(session=session, settings=settings, period=period, by=by, basis=basis,
                         med_days=med_days, now=now):
        rows.append({
            "region_type": by, "region_id": s["region_id"], "region_name": s["region_name"],
            "period": period.label, "basis": basis, "variant": s["variant"],
            "customers": int(s["customers"]), "interruptions": int(s["interruptions"]),
            **indices(float(s["customers"]), s["customer_interruptions"], s["customer_hours"],
                      period.hours),
        })
    return rows
