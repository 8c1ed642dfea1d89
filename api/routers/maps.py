"""Planner maps: the overview at /maps/ and one area's page at /maps/areas/{id} (HTML)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import READERS, require_role, wants_page
from api.deps import ReadSessionDep, SettingsDep
from api.i18n import PageLang, language_switch
from api.keys import Principal
from api.pages import error_page
from core.errors import NotFound
from core.i18n import _ as N_
from maps.area import area_html
from maps.overview import overview_html

log = logging.getLogger(__name__)

router = APIRouter(prefix="/maps", tags=["maps"])
Planner = Annotated[Principal, Depends(require_role(*READERS))]
PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "An HTML map page"}
}

NOT_FOUND_AREA = N_("There is no area with the id {id}.")
"""The not-found page's message for an unknown area (its id is data: shown as it is, escaped)."""


@router.get("", include_in_schema=False)
def overview_redirect() -> RedirectResponse:
    """``/maps`` goes to ``/maps/``."""
    return RedirectResponse("/maps/", status_code=307)


@router.get("/", response_class=HTMLResponse, summary="Planners' overview map", responses=PAGE)
def overview(
    session: ReadSessionDep,
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
    *,
    request: Request,
    lang: PageLang,
) -> HTMLResponse:
    """Areas and feeders by frequent-outage status, overlays, firing alerts, county SAIDI/SAIFI."""
    page = overview_html(
        session=session, settings=settings, period=period, metric=metric, county=county or None,
        lang=lang, switch=language_switch(lang, request),
    )
    return HTMLResponse(page, headers={"Content-Language": lang.html, "Vary": "Accept-Language, Cookie"})


@router.get(
    "/areas/{area_id}",
    response_class=HTMLResponse,
    summary="One area and its interruptions",
    responses={**PAGE, 404: {"description": "No such area"}},
)
def area(
    area_id: str, request: Request, session: ReadSessionDep, settings: SettingsDep, _: Planner, lang: PageLang
) -> HTMLResponse:
    """The area with its feeder and overlays, its interruption timeline and its remediation case.

    In the page's language (``?lang=``, the ``gw_lang`` cookie, ``Accept-Language``, the setting);
    a browser asking for an unknown area gets the not-found page in that language.
    """
    try:
        page = area_html(session=session, settings=settings, area_id=area_id, lang=lang,
                         switch=language_switch(lang, request))
    except NotFound:
        if wants_page(request):
            return error_page(request, 404, message=lang.gettext(NOT_FOUND_AREA).format(id=area_id))
        raise
    response = HTMLResponse(page)
    response.headers["Content-Language"] = lang.html
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response
