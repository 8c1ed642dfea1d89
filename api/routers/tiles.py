"""Mapbox Vector Tiles of feeders, areas and overlay layers, made by PostGIS ST_AsMVT.

Served from the async pool. A tile is rendered once per ETag: each worker keeps the tiles it
served (``api.tilecache.TileLRU``), and tiles that took at least ``SHARED_MS`` to render (the
low zooms) are also kept in the ``tile_cache`` table for every worker. The ETag and the shared
tile come back in one round trip, so a cached tile costs one small query.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from api.auth import READERS, require_role
from api.deps import SettingsDep
from api.keys import Principal
from api.tilecache import TileLRU
from spatial import features

log = logging.getLogger(__name__)

router = APIRouter(prefix="/tiles", tags=["tiles"])
Reader = Annotated[Principal, Depends(require_role(*READERS))]
MVT = "application/vnd.mapbox-vector-tile"
CACHE = "private, max-age=60, must-revalidate"
SHARED_MS = 50.0


def _matches(request: Request, etag: str) -> bool:
    match = request.headers.get("if-none-match", "")
    return bool(match) and (
        match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]
    )


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    summary="A vector tile (feeders, areas or an overlay layer)",
    responses={200: {"content": {MVT: {}}}, 304: {"description": "Not modified (If-None-Match)"}},
)
async def tile(
    layer: str,
    request: Request,
    settings: SettingsDep,
    _: Reader,
    z: Annotated[int, Path(ge=0, le=features.MAX_ZOOM)],
    x: Annotated[int, Path(ge=0, le=2**features.MAX_ZOOM)],
    y: Annotated[int, Path(ge=0, le=2**features.MAX_ZOOM)],
) -> Response:
    """The tile; areas carry status, count_365, max_60 and tags. ETag changes with the data."""
    share = settings.tag_min_share
    render_sql, render_params = features.tile_params(layer, z, x, y, share)  # 404 for a bad layer/tile
    pool = request.app.state.db.aio
    lru: TileLRU = request.app.state.tiles
    key = (layer, z, x, y)
    sql, params = features.tile_lookup(layer, z, x, y, share, have=lru.etag(key))
    row = await pool.fetchone(sql, params)
    assert row is not None
    tag, shared = str(row[0]), row[1]
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": CACHE, "Vary": "Authorization, X-API-Key, Cookie"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    data = bytes(shared) if shared is not None else lru.get(key, tag)
    if data is None:
        started = time.perf_counter()
        rendered = await pool.fetchone(render_sql, render_params)
        data = bytes(rendered[0]) if rendered and rendered[0] else b""
        ms = (time.perf_counter() - started) * 1000
        if ms >= SHARED_MS:
            await pool.execute(features.STORE_SQL, features.store_params(layer, z, x, y, tag, data, ms))
    lru.put(key, tag, data)
    return Response(content=data, media_type=MVT, headers=headers)
