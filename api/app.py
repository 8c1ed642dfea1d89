"""The app factory: ``create_app(settings)`` builds the FastAPI app; its lifespan owns the pool."""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import psycopg
from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api import errors, security
from api.auth import ANY_ROLE, LoginLimiter, require_role
from api.deps import Database, replica_health
from api.i18n import RememberLanguage
from api.keys import Principal
from api.querynorm import ReportQueryAliases
from api.routers import (
    alerts,
    cases,
    ingest,
    login,
    ogc,
    outages,
    public,
    public_page,
    reports,
    subscriptions,
    tiles,
)
from api.routers import maps as maps_router
from api.routers import metrics as metrics_routes
from api.tilecache import TileLRU
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = (
    "gridwatch HTTP API: stream ingest, reports, alerts, remediation cases, OGC API Features "
    "and vector tiles. Send an API key as `Authorization: Bearer KEY` or `X-API-Key: KEY`."
)


HEALTHY = b'{"status":"ok","database":"reachable"}'
Anyone = Annotated[Principal, Depends(require_role(*ANY_ROLE))]


def _maps_static_dir() -> Path | None:
    spec = importlib.util.find_spec("maps")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        static = Path(location) / "static"
        if static.is_dir():
            return static
    return None


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings``; the engine is opened by the lifespan and disposed after."""
    db = Database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _ = db.engine
        # Everything imported so far lives as long as the process: keep it out of the cyclic
        # collector, so collections stay short and requests do not stall behind them.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await db.aclose()

    app = FastAPI(
        title="gridwatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.login_limiter = LoginLimiter()
    app.state.public_limit = security.ClientRateLimit(limit=settings.public_rate_per_minute)
    app.state.tiles = TileLRU()
    errors.install(app)
    app.add_middleware(ReportQueryAliases)
    app.add_middleware(RememberLanguage)
    security.install(app, settings)  # last added runs first: limits and headers before all else
    metrics_routes.install(app, settings)  # outermost: counts every answer, 401 and 413 too

    @app.get("/healthz", tags=["health"], summary="Database and replica reachability (no key needed)")
    async def healthz() -> Response:
        """200 when reads can be answered: the primary answers, or (with replicas) one replica does.

        Without replicas the body is ``{"status":"ok","database":"reachable"}``. With replicas it
        also lists each replica (by number: the URLs are secrets) with its reachability and lag;
        ``status`` is ``degraded`` (still 200) when the primary or a replica is unreachable.
        """
        try:
            await db.aio.fetchone("SELECT 1")
            primary_ok = True
        except psycopg.OperationalError as exc:
            # The reason names the database's host, port and user: for the log, not the caller.
            log.error("health check: %s", errors.unreachable(exc))
            primary_ok = False
        targets = db.reader.targets
        if targets is None:
            if not primary_ok:
                return errors.error_response(503, "database_unavailable", "database unavailable")
            return Response(HEALTHY, media_type="application/json")
        replicas = await asyncio.gather(*(replica_health(targets, i) for i in range(len(targets.replicas))))
        readable = primary_ok or any(r["reachable"] for r in replicas)
        if not readable:
            return errors.error_response(503, "database_unavailable", "database unavailable")
        body = {
            "status": "ok" if primary_ok and all(r["reachable"] for r in replicas) else "degraded",
            "database": "reachable" if primary_ok else "unreachable",
            "writes": "available" if primary_ok else "unavailable",
            "replicas": replicas,
        }
        return JSONResponse(body)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: Anyone) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(_: Anyone) -> HTMLResponse:
        # Served from gridwatch's own vendored copy: /docs works with no internet access.
        vendor = "/static/vendor/swagger-ui-dist-5.35.0"
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="gridwatch API",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=f"{vendor}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    for module in (login, ingest, reports, alerts, cases, outages, public, public_page, ogc, tiles,
                   maps_router):
        app.include_router(module.router)
    app.include_router(subscriptions.router)
    static = _maps_static_dir()
    if static is not None:
        app.mount("/static", StaticFiles(directory=static), name="static")

    return app


def create_app_from_env() -> FastAPI:
    """The app for the environment's settings (the factory uvicorn workers import)."""
    return create_app(get_settings())
