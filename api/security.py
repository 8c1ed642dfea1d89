"""HTTP hardening as pure ASGI middleware: body limits, the key before the body, proxy trust, headers.

Order, outermost first (``install``): security headers on every response; forwarded headers
believed only from configured proxies; the body limit (413 on ``Content-Length`` at once, or as
soon as a streamed body passes the limit, never buffered); the key checked before any body byte
is read on keyed routes (401 at once).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable

import psycopg
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import current_principal
from api.errors import LoginRequired, error_response
from core.errors import Unauthorized
from core.settings import Settings

log = logging.getLogger(__name__)

INGEST_PREFIX = "/api/v1/ingest/"
SIGN_IN_PATHS = frozenset({"/login", "/logout"})
SIGN_IN_BYTES = 16 * 1024  # a form with a key and a `next` path needs well under 1 KB
# Routes that need no key (SPEC section 11): their bodies are only limited, never pre-checked.
OPEN_PATHS = frozenset({"/login", "/logout", "/healthz", "/public"})
OPEN_PREFIXES = ("/static/", "/public/")

# Sent with every answer given before the body was read: the server then closes the connection
# instead of reading (and discarding) the rest of a body nobody will use.
CLOSE = {"Connection": "close"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a streamed body passes the route's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


def has_body(scope: Scope) -> bool:
    """True when the request announces a body (a non-zero Content-Length, or chunked)."""
    headers = Headers(scope=scope)
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length")
    return length is not None and length.strip() not in ("", "0")


def body_limit(path: str, settings: Settings) -> int:
    """The largest body accepted on ``path``: ingest, sign-in, or every other route."""
    if path.startswith(INGEST_PREFIX):
        return settings.max_body_bytes
    if path in SIGN_IN_PATHS:
        return min(SIGN_IN_BYTES, settings.max_request_bytes)
    return settings.max_request_bytes


def needs_key(path: str) -> bool:
    """True for routes that need an API key or a session (everything but the open ones)."""
    return path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)


class BodyLimit:
    """413 for a body over the route's limit: on Content-Length before reading, else while streaming."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Limit the body of HTTP requests; pass everything else through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""), self.settings)
        declared = Headers(scope=scope).get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            log.info("refused a %s-byte body on %s (limit %s)", declared, scope.get("path"), limit)
            detail = f"the request body is {int(declared)} bytes; the limit is {limit} bytes"
            await error_response(413, "payload_too_large", detail, CLOSE)(scope, receive, send)
            return

        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    log.info("refused a streamed body on %s after %s bytes", scope.get("path"), received)
                    if not started:
                        # Answer now, on the server's own send; whatever the app makes of the
                        # exception below (a 413 of its own, or anything else) is dropped.
                        detail = BodyTooLarge(limit).detail
                        await error_response(413, "payload_too_large", detail, CLOSE)(scope, receive, send)
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            log.debug("the app stopped after a refused body on %s", scope.get("path"), exc_info=True)


class KeyBeforeBody:
    """On keyed routes, a request with a body is authenticated before any body byte is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 at once for a body sent without a valid key or session; else pass through."""
        if scope["type"] != "http" or not needs_key(scope.get("path", "")) or not has_body(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            # Caches the principal in scope["state"]; the route's own dependency reuses it.
            await current_principal(request)
        except Unauthorized as exc:
            await error_response(exc.http_status, exc.code, exc.detail, CLOSE)(scope, receive, send)
            return
        except LoginRequired:
            pass  # a browser page (GET/HEAD): the route answers with the redirect, reading no body
        except psycopg.OperationalError as exc:
            log.error("database error on %s %s: %s", scope.get("method"), scope.get("path"), exc)
            detail = "the database is not reachable; try again later"
            await error_response(503, "database_unavailable", detail, CLOSE)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """The networks of a comma-separated list of IPs and CIDRs (as GRIDWATCH_TRUSTED_PROXIES)."""
    entries = value.split(",") if isinstance(value, str) else list(value)
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ProxyHeaders:
    """Take the client address and scheme from X-Forwarded-For/-Proto, only from trusted proxies.

    The client is the right-most X-Forwarded-For entry that is not itself a trusted proxy, so
    entries a client wrote itself (left of what the proxies appended) are never believed.
    """

    def __init__(self, app: ASGIApp, trusted: str | Iterable[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    def trusted(self, host: str | None) -> bool:
        """True when ``host`` is one of the configured proxies."""
        address = _address(host) if host else None
        return address is not None and any(address in net for net in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite ``client`` and ``scheme`` of requests that came through a trusted proxy."""
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and self.networks and peer and self.trusted(peer[0]):
            headers = Headers(scope=scope)
            scope = dict(scope)
            hops = [h.strip() for h in ",".join(headers.getlist("x-forwarded-for")).split(",") if h.strip()]
            client = None
            for hop in reversed(hops):
                address = _address(hop)
                if address is None or not any(address in net for net in self.networks):
                    client = str(address) if address is not None else hop[:64]
                    break
            if client is None and hops:
                client = str(_address(hops[0]) or hops[0][:64])
            if client is not None:
                scope["client"] = (client, 0)
            protos = [p.strip().lower() for p in ",".join(headers.getlist("x-forwarded-proto")).split(",")]
            proto = protos[-1] if protos else ""
            if proto in ("http", "https"):
                if scope["type"] == "websocket":
                    proto = "wss" if proto == "https" else "ws"
                scope["scheme"] = proto
        await self.app(scope, receive, send)


BASEMAP_HOSTS = {
    "none": "",
    "osm": " https://tile.openstreetmap.org",
    "tianditu": " https://*.tianditu.gov.cn",
}


def content_security_policy(settings: Settings) -> str:
    """The CSP of every page: own origin only, plus the configured basemap's tile host for images.

    folium writes its map setup as inline scripts and styles, hence 'unsafe-inline' for those.
    """
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob:{BASEMAP_HOSTS.get(settings.basemap, '')}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """Add the CSP, nosniff, frame and referrer headers to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the headers to each response start (a route's own value wins)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware to ``app`` (call after every other middleware: these run first)."""
    app.add_middleware(KeyBeforeBody)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxies)
    app.add_middleware(SecurityHeaders, settings=settings)


class ClientRateLimit:
    """At most ``limit`` requests per ``window`` seconds per client address (a sliding window).

    For the routes with no key (the public feed). Memory is bounded: at most ``max_clients``
    addresses are tracked (the least recently seen are dropped first), each with at most
    ``limit`` times; thread-safe.
    """

    def __init__(self, limit: int = 120, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def hit(self, client: str) -> float | None:
        """Count one request; None when allowed, else the seconds until the client may retry."""
        now = time.monotonic()
        with self._lock:
            q = self._seen.get(client)
            if q is None:
                q = self._seen[client] = deque(maxlen=self.limit)
                while len(self._seen) > self.max_clients:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(client)
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return max(0.0, q[0] + self.window - now)
            q.append(now)
            return None
