"""Mapbox Vector Tiles of feeders, areas and overlay layers, made by PostGIS ST_AsMVT.

Served from the async pool. A tile is rendered once per ETag: each worker keeps the tiles it
served (``api.tilecache.TileLRU``), and tiles that took at least ``SHARED_MS`` to render (the
low zooms) are also kept in the ``tile_cache`` table for every worker. The ETag and the shared
tile come back in one round trip, so a cached tile costs one small query.

The ETag is read from the database on every request, never from memory: it digests the change
stamps (``change_stamp``, bumped at commit by triggers, whichever process or host wrote) of
the layer's data. So a tile cached by one process is never served after another process (or a
load, a job, psql) changed that data: tests/test_processes.py runs two serve processes.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from api.auth import READERS, require_role
from api.deps import SettingsDep, read_pool
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


async def _share(request: Request, params: dict[str, object]) -> None:
    """Store a slow tile in the shared cache: a write, so on the primary; skipped when it is down."""
    try:
        await request.app.state.db.aio.execute(features.STORE_SQL, params)
    except psycopg.OperationalError as exc:
        log.warning("tile not shared, the primary database is unreachable: %s",
                    (str(exc).strip().splitlines() or ["connection failed"])[0])


async def _shared(request: Request, layer: str, z: int, x: int, y: int, tag: str) -> bytes | None:
    """The primary's shared cached tile for this ETag, or None (also when the primary is down)."""
    try:
        row = await request.app.state.db.aio.fetchone(
            features.SHARED_SQL, {"layer": layer, "z": z, "x": x, "y": y, "etag": tag})
    except psycopg.OperationalError:
        return None
    return None if row is None else bytes(row[0])


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
    pool = read_pool(request)
    lru: TileLRU = request.app.state.tiles
    key = (layer, z, x, y)
    on_replicas = request.app.state.db.reader is not request.app.state.db
    if on_replicas:
        # the shared cache is an unlogged table: a replica has none, so only the ETag comes from
        # it; a tile this worker lacks is looked for in the primary's cache (if it answers)
        sql, params = features.etag_sql(layer, share)
    else:
        sql, params = features.tile_lookup(layer, z, x, y, share, have=lru.etag(key))
    row = await pool.fetchone(sql, params)
    assert row is not None
    tag, shared = str(row[0]), (None if on_replicas else row[1])
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": CACHE, "Vary": "Authorization, X-API-Key, Cookie"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    if on_replicas and lru.etag(key) != tag:
        shared = await _shared(request, layer, z, x, y, tag)
    data = bytes(shared) if shared is not None else lru.get(key, tag)
    if data is None:
        started = time.perf_counter()
        rendered = await pool.fetchone(render_sql, render_params)
        data = bytes(rendered[0]) if rendered and rendered[0] else b""
        ms = (time.perf_counter() - started) * 1000
        if ms >= SHARED_MS:
            await _share(request, features.store_params(layer, z, x, y, tag, data, ms))
    lru.put(key, tag, data)
    return Response(content=data, media_type=MVT, headers=headers)
