"""Planner maps: the overview at /maps/ and one area's page at /maps/areas/{id} (HTML)."""

from __future__ import annotations

import html
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import READERS, require_role, wants_page
from api.deps import SessionDep, SettingsDep
from api.keys import Principal
from core.errors import NotFound
from maps.area import area_html
from maps.overview import overview_html

log = logging.getLogger(__name__)

router = APIRouter(prefix="/maps", tags=["maps"])
Planner = Annotated[Principal, Depends(require_role(*READERS))]
PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "An HTML map page"}
}

NOT_FOUND_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>gridwatch: not found</title></head><body style="font-family:sans-serif;margin:3rem">
<h1>Not found</h1><p>{detail}</p><p><a href="/maps/">Back to the overview</a></p></body></html>"""


@router.get("", include_in_schema=False)
def overview_redirect() -> RedirectResponse:
    """``/maps`` goes to ``/maps/``."""
    return RedirectResponse("/maps/", status_code=307)


@router.get("/", response_class=HTMLResponse, summary="Planners' overview map", responses=PAGE)
def overview(
    session: SessionDep,
    settings: SettingsDep,
    _: Planner,
    period: Annotated[
        str | None,
        Query(
            description="Reliability period: 2026, 2026Q2 or 2026-05; default the current year", max_length=16
        ),
    ] = None,
    metric: Annotated[str, Query(description="saidi or saifi", pattern="^(?i:saidi|saifi)$")] = "saidi",
    county: Annotated[str | None, Query(description="County or prefecture adcode", max_length=6)] = None,
) -> HTMLResponse:
    """Areas and feeders by frequent-outage status, overlays, firing alerts, county SAIDI/SAIFI."""
    page = overview_html(
        session=session, settings=settings, period=period, metric=metric, county=county or None
    )
    return HTMLResponse(page)


@router.get(
    "/areas/{area_id}",
    response_class=HTMLResponse,
    summary="One area and its interruptions",
    responses={**PAGE, 404: {"description": "No such area"}},
)
def area(
    area_id: str, request: Request, session: SessionDep, settings: SettingsDep, _: Planner
) -> HTMLResponse:
    """The area with its feeder and overlays, its interruption timeline and its remediation case."""
    try:
        page = area_html(session=session, settings=settings, area_id=area_id)
    except NotFound as exc:
        if wants_page(request):
            return HTMLResponse(NOT_FOUND_PAGE.format(detail=html.escape(exc.detail)), status_code=404)
        raise
    return HTMLResponse(page)
