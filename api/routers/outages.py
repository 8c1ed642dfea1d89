"""Live outages for planners and dispatchers (SPEC section 13): who is out now, and how many."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import READERS, require_role
from api.deps import ReadSessionDep
from api.keys import Principal
from api.responses import FastJSON
from monitoring.live import live_list, summary

router = APIRouter(prefix="/api/v1/outages", tags=["outages"])
Reader = Annotated[Principal, Depends(require_role(*READERS))]


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@router.get("/live", summary="The areas out now: JSON, or GeoJSON with format=geojson")
def live(
    session: ReadSessionDep, _: Reader,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",  # noqa: A002
) -> Response:
    """One entry per area out now: since, cause, customers, source, estimated end, progress."""
    rows = live_list(session=session, geometry=format == "geojson")
    if format == "json":
        return FastJSON([{k: _iso(v) for k, v in r.items()} for r in rows])
    features = [{
        "type": "Feature", "id": r["area_id"],
        "geometry": json.loads(r["geometry"]) if r["geometry"] else None,
        "properties": {k: _iso(v) for k, v in r.items() if k != "geometry"},
    } for r in rows]
    return Response(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), media_type="application/geo+json")


@router.get("/summary", summary="Outages and customers out now, by county and in total")
def outages_summary(session: ReadSessionDep, _: Reader) -> Response:
    """``{"outages", "customers", "by_county": [...]}``."""
    return FastJSON(summary(session=session))
