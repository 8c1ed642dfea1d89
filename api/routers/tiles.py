"""Mapbox Vector Tiles of feeders, areas and overlay layers, made by PostGIS ST_AsMVT."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from api.auth import READERS, require_role
from api.deps import SessionDep, SettingsDep
from api.keys import Principal
from spatial import features

log = logging.getLogger(__name__)

router = APIRouter(prefix="/tiles", tags=["tiles"])
Reader = Annotated[Principal, Depends(require_role(*READERS))]
MVT = "application/vnd.mapbox-vector-tile"
CACHE = "private, max-age=60, must-revalidate"


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    summary="A vector tile (feeders, areas or an overlay layer)",
    responses={200: {"content": {MVT: {}}}, 304: {"description": "Not modified (If-None-Match)"}},
)
def tile(
    layer: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    z: Annotated[int, Path(ge=0, le=features.MAX_ZOOM)],
    x: Annotated[int, Path(ge=0, le=2**features.MAX_ZOOM)],
    y: Annotated[int, Path(ge=0, le=2**features.MAX_ZOOM)],
) -> Response:
    """The tile; areas carry status, count_365, max_60 and tags. ETag changes with the data."""
    etag = f'"{features.tile_etag(session=session, layer=layer, tag_min_share=settings.tag_min_share)}"'
    headers = {"ETag": etag, "Cache-Control": CACHE, "Vary": "Authorization, X-API-Key, Cookie"}
    match = request.headers.get("if-none-match", "")
    if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    data = features.tile(session=session, layer=layer, z=z, x=x, y=y, tag_min_share=settings.tag_min_share)
    return Response(content=data, media_type=MVT, headers=headers)
