"""Authentication (API key header or session cookie) and role checks (SPEC section 11)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
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
    pool = request.app.state.db.reader.aio  # a replica when there are some: keys work with the primary down
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
    """Counts failed sign-ins per (client address, key prefix); past ``limit`` in ``window`` s, 429.

    Keying on the presented key's first characters as well as the address means that failures
    of others behind the same address (a reverse proxy, a NAT) never lock out the holder of a
    valid key: that key's prefix has its own count. Memory is bounded: at most ``max_entries``
    counters (the least recently failed are dropped first), each of at most ``limit`` times, and
    keyed by a 16-byte digest rather than by what the client sent.
    """

    PREFIX_CHARS = 8

    def __init__(self, limit: int = 10, window: float = 60.0, max_entries: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_entries = max_entries
        self._failures: OrderedDict[bytes, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    @classmethod
    def bucket(cls, client: str, key: str) -> bytes:
        """The counter's name for this address and the first characters of this key."""
        material = f"{client}\x00{key[: cls.PREFIX_CHARS]}".encode("utf-8", "replace")
        return hashlib.blake2b(material, digest_size=16).digest()

    def _recent(self, bucket: bytes, now: float) -> int:
        q = self._failures.get(bucket)
        if q is None:
            return 0
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[bucket]
            return 0
        return len(q)

    def check(self, client: str, key: str) -> None:
        """Raise 429 when this address has used up its failures with this key prefix."""
        now = time.monotonic()
        with self._lock:
            if self._recent(self.bucket(client, key), now) >= self.limit:
                raise TooManyRequests(
                    f"too many failed sign-ins from this address; wait {int(self.window)} seconds"
                )

    def failed(self, client: str, key: str) -> None:
        """Record one failure."""
        now = time.monotonic()
        bucket = self.bucket(client, key)
        with self._lock:
            self._recent(bucket, now)
            q = self._failures.get(bucket)
            if q is None:
                q = self._failures[bucket] = deque(maxlen=self.limit)
            else:
                self._failures.move_to_end(bucket)
            q.append(now)
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)
