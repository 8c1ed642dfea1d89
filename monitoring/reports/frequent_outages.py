"""Frequent-outages report (SPEC section 9): assets frequent or at risk at an as-of time."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.settings import Settings
from monitoring.reports import Report
from monitoring.rules.frequent_outage import evaluate

log = logging.getLogger(__name__)

# county and prefecture are names (as a regulator reads them), with their adcodes beside them,
# the same convention as the remediation list.
COLUMNS = ["asset_type", "asset_id", "name", "county", "prefecture", "tags", "count_365",
           "max_60", "status", "county_adcode", "prefecture_adcode"]
_ORDER = {"frequent": 0, "at_risk": 1, "ok": 2}

_META = """
SELECT x.asset_type, x.asset_id, x.name,
       COALESCE(c.name, r.county_adcode) AS county,
       COALESCE(p.name, r.prefecture_adcode) AS prefecture,
       r.county_adcode, r.prefecture_adcode,
       COALESCE((SELECT array_agg(t.layer ORDER BY t.layer) FROM asset_tag t
                  WHERE t.asset_type = x.asset_type AND t.asset_id = x.asset_id
                    AND t.share >= :min_share), '{}') AS tags
  FROM (SELECT 'area'::text AS asset_type, area_id AS asset_id, name FROM area
        UNION ALL
        SELECT 'feeder'::text, feeder_id, name FROM feeder) x
  LEFT JOIN asset_region r ON r.asset_type = x.asset_type AND r.asset_id = x.asset_id
  LEFT JOIN admin_division c ON c.adcode = r.county_adcode
  LEFT JOIN admin_division p ON p.adcode = r.prefecture_adcode
 WHERE (x.asset_type, x.asset_id) IN (SELECT * FROM unnest(CAST(:types AS text[]),
                                                          CAST(:ids AS text[])))
"""


def build(*, session: Session, settings: Settings, as_of: datetime | None = None,
          all: bool = False) -> Report:  # noqa: A002 - the SPEC's option name
    """Rows computed from the data at ``as_of`` (default now), frequent first."""
    as_of = as_of or utcnow()
    found = [r for r in evaluate(session=session, settings=settings, as_of=as_of)
             if all or r["status"] != "ok"]
    meta: dict[tuple[str, str], dict[str, Any]] = {}
    if found:
        for mm in session.execute(text(_META), {
            "min_share": settings.tag_min_share,
            "types": [r["asset_type"] for r in found], "ids": [r["asset_id"] for r in found],
        }).mappings():
            meta[(mm["asset_type"], mm["asset_id"])] = dict(mm)
    rows = []
    for r in found:
        m = meta.get((r["asset_type"], r["asset_id"]), {})
        rows.append({
            "asset_type": r["asset_type"], "asset_id": r["asset_id"], "name": m.get("name"),
            "county": m.get("county"), "prefecture": m.get("prefecture"),
            "tags": list(m.get("tags") or []), "count_365": r["count_365"],
            "max_60": r["max_60"], "status": r["status"],
            "county_adcode": m.get("county_adcode"), "prefecture_adcode": m.get("prefecture_adcode"),
        })
    rows.sort(key=lambda r: (_ORDER[r["status"]], r["asset_type"], r["asset_id"]))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in _ORDER}
    return Report(
        name="frequent-outages", columns=COLUMNS, rows=rows,
        title=f"Frequent outages as of {as_of.isoformat()}",
        meta={"as_of": as_of.isoformat(), "all": all, "counts": counts},
    )
