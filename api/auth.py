"""Authentication (API key header or session cookie) and role checks (SPEC section 11)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from api.errors import LoginRequired, TooManyRequests
from api.keys import ROLES, Principal, principal_for_key_async, principal_for_session_async
from core.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

COOKIE = "gridwatch_session"
NEEDS_KEY = "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"


def presented_key(request: Request) -> str | None:
    """The key sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, if any."""
    key = request.headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def wants_page(request: Request) -> bool:
    """True for a browser navigating to a page (GET/HEAD that accepts text/html)."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


async def current_principal(request: Request) -> Principal:
    """The caller, from a key header or a session cookie; 401 (or a redirect to /login)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    pool = request.app.state.db.aio
    key = presented_key(request)
    principal: Principal | None = None
    if key is not None:
        principal = await principal_for_key_async(pool=pool, key=key)
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
    else:
        token = request.cookies.get(COOKIE)
        if token:
            principal = await principal_for_session_async(pool=pool, token=token)
        if principal is None:
            if wants_page(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise LoginRequired(target)
            raise Unauthorized(NEEDS_KEY if not token else "the session has expired; sign in again")
    request.state.principal = principal
    return principal


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that returns the caller if its role is one of ``roles`` (admin always is)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {sorted(unknown)}")
    allowed = frozenset(roles) | {"admin"}
    needed = ", ".join(r for r in ROLES if r in allowed)

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role '{principal.role}' may not use this route (allowed: {needed})")
        return principal

    return dependency


ANY_ROLE = ROLES
READERS = ("planner",)
REPORT_READERS = ("planner", "regulator")


class LoginLimiter:
    """Counts failed logins per client; more than ``limit`` in ``window`` seconds gives 429."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._failures.setdefault(client, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, client: str) -> None:
        """Raise 429 when this client has used up its failures."""
        now = time.monotonic()
        with self._lock:
            if len(self._recent(client, now)) >= self.limit:
                raise TooManyRequests(
                    f"too many failed sign-ins from this address; wait {int(self.window)} seconds"
                )

    def failed(self, client: str) -> None:
        """Record one failure."""
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:
                for c in [c for c, q in self._failures.items() if not q]:
                    del self._failures[c]
