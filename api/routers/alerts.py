"""Alerts: list them, and acknowledge one (who and when are recorded)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from api.auth import READERS, require_role
from api.deps import DEFAULT_PAGE, TOTAL_HEADER, Limit, Offset, SessionDep, read_pool
from api.keys import Principal
from api.responses import FastJSON
from core.clock import utcnow
from monitoring.alerts import service as alerts_service
from monitoring.alerts.features import list_query

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_role(*READERS))]
Acker = Annotated[Principal, Depends(require_role("planner"))]


def service() -> Any:
    """The alerts service module."""
    return alerts_service


@router.get(
    "",
    summary="List alerts (paginated; the total is in X-Total-Count)",
    responses={200: {"description": "A JSON array of alerts; X-Total-Count gives the total"}},
)
async def list_alerts(
    request: Request,
    _: Reader,
    state: Annotated[
        str | None, Query(description="firing or resolved; default every alert", pattern=r"^[a-z_]{1,32}$")
    ] = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> FastJSON:
    """Alerts, firing first then newest first, optionally only those in one state; one page."""
    sql, params, columns = list_query(state)
    pool = read_pool(request)
    # The listing's own statement, paged and counted; nothing here decides which alerts are listed.
    page = {**params, "limit": limit, "offset": offset}
    rows = await pool.fetchall(f"{sql} LIMIT %(limit)s OFFSET %(offset)s", page)
    total = await pool.fetchone(f"SELECT count(*) FROM ({sql}) AS listed", params)  # noqa: S608
    return FastJSON(
        [dict(zip(columns, row, strict=True)) for row in rows],
        headers={TOTAL_HEADER: str(total[0] if total else 0)},
    )


@router.post("/{alert_id}/ack", summary="Acknowledge an alert")
def acknowledge(
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, principal: Acker
) -> FastJSON:
    """Record who acknowledged the alert and when."""
    result = service().acknowledge(session=session, alert_id=alert_id, actor=principal.name, at=utcnow())
    session.commit()
    return FastJSON(result)
