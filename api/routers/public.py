"""Routes with no key (SPEC section 13): the public outage feed and the customer lookup."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import SessionDep
from api.errors import error_response
from core.clock import utcnow
from monitoring.live import lookup as live_lookup
from monitoring.live import public_feed

router = APIRouter(prefix="/public", tags=["public"])

CACHE_SECONDS = 60


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
def outages(request: Request, session: SessionDep) -> Response:
    """``{"generatedAt", "outages": [...]}`` in the PubOutages shape; rate-limited per client."""
    refused = _limited(request)
    if refused is not None:
        return refused
    body = {"generatedAt": utcnow().isoformat(), "outages": public_feed(session=session)}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json",
                    headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"})


@router.get("/lookup", summary="A customer's own supply: out now, recent interruptions, planned works")
def lookup(request: Request, session: SessionDep,
           meter: Annotated[str, Query(min_length=1, max_length=64, description="meter number")]
           ) -> Response:
    """Task 53: out now or not, since when, why, estimated restoration and progress; the last
    five interruptions; works planned in the next 7 days. An unknown meter is 404."""
    refused = _limited(request)
    if refused is not None:
        return refused
    found = live_lookup(session=session, meter_id=meter.strip(), now=utcnow())
    if found is None:
        return error_response(404, "not_found",
                              "没有找到这个电表号，请核对电费单上的户号或电表号后再试。"
                              " (No meter with this number: check it against your bill.)")
    return Response(json.dumps(found, ensure_ascii=False, default=_iso),
                    media_type="application/json", headers={"Cache-Control": "no-store"})


def _iso(value: object) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(type(value).__name__)
