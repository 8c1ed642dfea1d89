"""Routes with no key (SPEC sections 13 and 15): the outage feed, the customer lookup, hosting capacity.

Both run on the event loop with the asyncio pool. The feed is built at most once every
``FEED_FRESH_SECONDS`` per worker and kept as bytes (plain and gzip) with a weak ETag; a
client that sends the ETag back in ``If-None-Match`` gets 304. The lookup is one statement.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.adb import AsyncPool
from api.deps import read_pool
from api.errors import error_response
from core.clock import utcnow
from monitoring.hosting import public as hosting_public
from monitoring.live.public import feed_sql, lookup_answer, lookup_params, lookup_sql

log = logging.getLogger(__name__)

router = APIRouter(prefix="/public", tags=["public"])

CACHE_SECONDS = 60
"""What clients and proxies may cache the feed for (SPEC section 13: 60 s)."""
FEED_FRESH_SECONDS = 2.0
"""Each worker rebuilds the feed from ``live_outage`` at most this often."""
FEED_STALE_SECONDS = CACHE_SECONDS
"""While a rebuild runs, the previous feed is served if it is younger than this."""
FEED_HEADERS = {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Accept-Encoding"}


@dataclass(frozen=True)
class Feed:
    """One build of the feed: its bytes, plain and gzip, and their weak ETag."""

    body: bytes
    gzipped: bytes
    etag: str
    built: float


class FeedCache:
    """The feed of one worker: rebuilt at most every ``fresh`` seconds, by one request at a time.

    When the feed is older than ``fresh``, the first request starts a rebuild and every request
    is answered with the previous build until it is done (if that build is younger than
    ``stale``; otherwise they wait for the new one, and see its error if it fails).
    """

    def __init__(self, fresh: float = FEED_FRESH_SECONDS, stale: float = FEED_STALE_SECONDS) -> None:
        self.fresh = fresh
        self.stale = stale
        self._feed: Feed | None = None
        self._task: asyncio.Task[Feed] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self, pool: AsyncPool) -> Feed:
        """The current feed, rebuilding it when it is older than ``fresh``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:                     # a new event loop (tests): start afresh
            self._loop, self._task = loop, None
        feed, now = self._feed, time.monotonic()
        if feed is not None and now - feed.built < self.fresh:
            return feed
        if self._task is None:
            self._task = loop.create_task(self._build(pool))
            self._task.add_done_callback(self._built)
        if feed is not None and now - feed.built < self.stale:
            return feed
        return await asyncio.shield(self._task)

    async def _build(self, pool: AsyncPool) -> Feed:
        row = await pool.fetchone(feed_sql())
        return await run_in_threadpool(render_feed, row[0] if row else "[]")

    def _built(self, task: asyncio.Task[Feed]) -> None:
        self._task = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.warning("the public feed could not be rebuilt: %s", error)
            return
        self._feed = task.result()


def render_feed(outages: str) -> Feed:
    """``{"generatedAt", "outages": [...]}`` as bytes, gzipped, and a weak ETag of the outages.

    Run in a worker thread: hashing and compressing release the GIL, so the event loop goes on.
    """
    generated = json.dumps(utcnow().isoformat())
    body = f'{{"generatedAt":{generated},"outages":{outages}}}'.encode()
    digest = hashlib.sha256(outages.encode()).hexdigest()[:32]
    return Feed(body=body, gzipped=gzip.compress(body, compresslevel=6, mtime=0),
                etag=f'W/"{digest}"', built=time.monotonic())


HOSTING_CACHE_SECONDS = 300
"""What clients and proxies may cache the hosting-capacity document for: it changes only when
the current quarter is recomputed (docs/hosting-capacity.md)."""
HOSTING_HEADERS = {"Cache-Control": f"public, max-age={HOSTING_CACHE_SECONDS}",
                   "Vary": "Accept-Encoding"}


class HostingCache(FeedCache):
    """The hosting-capacity document of one worker, checked at most every ``fresh`` seconds.

    A check reads only the latest quarter's (quarter, computed_at); the document (some 15 MB
    for 200,000 areas, made in the database as one JSON text) is rebuilt only when that changed.
    """

    def __init__(self) -> None:
        super().__init__(fresh=FEED_FRESH_SECONDS, stale=HOSTING_CACHE_SECONDS)
        self._key: tuple[object, ...] | None = None

    async def _build(self, pool: AsyncPool) -> Feed:
        latest = await pool.fetchone(hosting_public.latest_sql())
        key = tuple(latest) if latest else ()
        feed = self._feed
        if feed is not None and key == self._key:
            return Feed(body=feed.body, gzipped=feed.gzipped, etag=feed.etag, built=time.monotonic())
        document = hosting_public.EMPTY
        if latest:
            row = await pool.fetchone(hosting_public.document_sql(), {"quarter": latest[0]})
            document = row[0] if row else hosting_public.EMPTY
        built = await run_in_threadpool(render_document, document)
        self._key = key
        return built


def render_document(document: str) -> Feed:
    """A JSON document as bytes, gzipped, with a weak ETag of its content (in a worker thread)."""
    body = document.encode()
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Feed(body=body, gzipped=gzip.compress(body, compresslevel=6, mtime=0),
                etag=f'W/"{digest}"', built=time.monotonic())


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an ``Accept-Encoding`` value allows gzip (``gzip`` or ``*`` with q > 0)."""
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` with ``etag`` (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def _feed_cache(request: Request) -> FeedCache:
    cache: FeedCache | None = getattr(request.app.state, "public_feed", None)
    if cache is None:
        cache = request.app.state.public_feed = FeedCache()
    return cache


def _hosting_cache(request: Request) -> HostingCache:
    cache: HostingCache | None = getattr(request.app.state, "public_hosting", None)
    if cache is None:
        cache = request.app.state.public_hosting = HostingCache()
    return cache


def _send(request: Request, feed: Feed, headers: dict[str, str]) -> Response:
    """304 when ``If-None-Match`` holds the ETag; else the body, gzip when the client accepts it."""
    headers = {**headers, "ETag": feed.etag}
    if etag_matches(request.headers.get("if-none-match"), feed.etag):
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(feed.gzipped, media_type="application/json",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(feed.body, media_type="application/json", headers=headers)


def _limited(request: Request) -> Response | None:
    """429 with Retry-After when this client address has used up its requests, else None."""
    client = request.client.host if request.client else "unknown"
    wait = request.app.state.public_limit.hit(client)
    if wait is None:
        return None
    response = error_response(429, "too_many_requests",
                              f"too many requests from this address; try again in {int(wait) + 1} s")
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


@router.get("/outages.json", summary="The areas out now, for everyone (no key, cached 60 s)")
async def outages(request: Request) -> Response:
    """``{"generatedAt", "outages": [...]}`` in the PubOutages shape; rate-limited per client.

    gzip when the client accepts it; 304 when ``If-None-Match`` holds the current ETag.
    """
    refused = _limited(request)
    if refused is not None:
        return refused
    feed = await _feed_cache(request).get(read_pool(request))
    return _send(request, feed, FEED_HEADERS)


@router.get("/lookup", summary="A customer's own supply: out now, recent interruptions, planned works")
async def lookup(request: Request,
                 meter: Annotated[str, Query(min_length=1, max_length=64, description="meter number")]
                 ) -> Response:
    """Task 53: out now or not, since when, why, estimated restoration and progress; the last
    five interruptions; works planned in the next 7 days. An unknown meter is 404."""
    refused = _limited(request)
    if refused is not None:
        return refused
    params = lookup_params(meter_id=meter.strip(), now=utcnow())
    found = lookup_answer(await read_pool(request).fetchone(lookup_sql(), params))
    if found is None:
        return error_response(404, "not_found",
                              "没有找到这个电表号，请核对电费单上的户号或电表号后再试。"
                              " (No meter with this number: check it against your bill.)")
    return Response(json.dumps(found, ensure_ascii=False, separators=(",", ":")),
                    media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/hosting-capacity.json",
            summary="Distributed-PV hosting capacity grades of every area, for everyone (no key)")
async def hosting_capacity(request: Request) -> Response:
    """``{"quarter", "computed_at", "areas": [{"area_id", "lon", "lat", "grade"}]}`` of the
    latest computed quarter: areas, a point inside each and its grade (green, yellow, red,
    unassessed), nothing else. Rate-limited per client like the outage feed; gzip; 304 on ETag.
    """
    refused = _limited(request)
    if refused is not None:
        return refused
    feed = await _hosting_cache(request).get(read_pool(request))
    return _send(request, feed, HOSTING_HEADERS)
