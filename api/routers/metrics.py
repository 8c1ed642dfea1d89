"""Prometheus metrics: ``GET /metrics`` (a planner or admin key) and the HTTP request counter.

With ``GRIDWATCH_METRICS_PORT`` set, the route is not on the API's port at all: ``gridwatch
serve`` answers it on that port, with no key (``core.metrics.serve_port``). Either way the
scrape shows the counters of every process (``core.metrics.scrape_registry``) and, read from
the database at scrape time, the alerts firing by rule and the live outages.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import require_role
from api.keys import Principal
from core import metrics
from core.settings import Settings
from monitoring.alerts.service import firing_counts
from monitoring.live import summary as live_summary

log = logging.getLogger(__name__)

SCRAPERS = ("planner",)
"""Roles whose key may scrape /metrics on the API's port (admin always may)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
CLIENT_GONE = "499"
"""The status label of a request whose client left before any answer (as nginx counts it)."""

router = APIRouter(tags=["operations"])
Scraper = Annotated[Principal, Depends(require_role(*SCRAPERS))]


class StateCollector:
    """Gauges read from the database at each scrape: alerts firing by rule, live outages."""

    def __init__(self, session: Callable[[], Session]) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        """``gridwatch_state_up`` always; the state gauges when the database answered."""
        up = GaugeMetricFamily("gridwatch_state_up", "1 when the database answered this "
                               "scrape's queries for alerts and live outages, else 0.")
        try:
            with self.session() as s:
                s.execute(text("SET LOCAL statement_timeout = 5000"))
                firing = firing_counts(session=s)
                live = live_summary(session=s)
                s.rollback()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            log.warning("metrics: alerts and live outages not read (%s)",
                        reason[0][:200] if reason else type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauge = GaugeMetricFamily("gridwatch_alerts_firing", "Alerts firing now, by rule and "
                                  "severity.", labels=["rule", "severity"])
        for (rule, severity), n in sorted(firing.items()):
            gauge.add_metric([rule, severity], n)
        yield gauge
        yield GaugeMetricFamily("gridwatch_live_outage_areas", "Transformer areas out now "
                                "(the live outages).", value=live["outages"])
        yield GaugeMetricFamily("gridwatch_live_outage_customers", "Customers out now (the "
                                "live outages).", value=live["customers"])


@router.get(
    "/metrics",
    summary="Prometheus metrics in the text format (planner or admin key)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def scrape(request: Request, _: Scraper) -> Response:
    """Every process's counters and histograms, and the database's alerts and live outages."""
    registry = request.app.state.metrics_registry
    return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)


_Entry = tuple[str, re.Pattern[str], frozenset[str] | None, str]
"""A route's literal start (checked before the pattern), its path pattern, its methods (None:
any, a mount) and its template."""


class RouteTable:
    """Finds the path template of the route a request goes to (``/tiles/{layer}/{z}/{x}/{y}.pbf``),
    never the raw path, so the ``route`` label has as many values as the app has routes.

    Built on first use from the app's routes, flattened (``fastapi.routing.iter_route_contexts``,
    which gives included routers' routes with their prefixes); a mount is ``<prefix>/{path}``.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes
        self._entries: list[_Entry] | None = None

    def _build(self) -> list[_Entry]:
        entries: list[_Entry] = []
        for ctx in iter_route_contexts(self.routes):
            path = ctx.path
            if not isinstance(path, str) or not path:
                continue
            literal = path.split("{", 1)[0]
            if isinstance(ctx.original_route, Mount):
                regex, _, _ = compile_path(path.rstrip("/") + "/{path:path}")
                entries.append((literal.rstrip("/") + "/", regex, None, path.rstrip("/") + "/{path}"))
                continue
            regex, template, _ = compile_path(path)
            methods = ctx.methods
            entries.append((literal, regex, frozenset(methods) if methods else None,
                            ctx.path_format or template))
        return entries

    def template(self, scope: Scope) -> str:
        """The request's route template; ``unmatched`` when no route has its path."""
        if self._entries is None:
            self._entries = self._build()
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        method = scope.get("method", "")
        partial = None
        for literal, regex, methods, template in self._entries:
            if path.startswith(literal) and regex.match(path):
                if methods is None or method in methods:
                    return template
                partial = partial or template  # the path matches, the method does not (405)
        return partial or UNMATCHED


class HttpMetrics:
    """Pure ASGI: counts each request by method, route template and status, and times it.

    Installed outermost, so answers given before routing (401, 413, 429) count too.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.table = RouteTable(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count it when the answer is complete (or the app failed)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = ""
        done = False

        def count() -> None:
            nonlocal done
            done = True
            method = scope.get("method", "")
            method = method if method in METHODS else "OTHER"
            route = self.table.template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, status or CLIENT_GONE).inc()
            metrics.HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                count()  # before the last byte goes out: a client that has the answer sees it counted
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            status = status or "500"
            raise
        finally:
            if not done:
                count()


def install(app: FastAPI, settings: Settings) -> None:
    """The scrape's registry, ``GET /metrics`` (unless it has its own port) and the counter.

    Call after every other middleware, so that the counter runs first.
    """
    app.state.metrics_registry = metrics.scrape_registry(StateCollector(app.state.db.session))
    if settings.metrics_port is None:
        app.include_router(router)
    app.add_middleware(HttpMetrics, routes=app.router.routes)
