"""Routes with no key (SPEC section 13): the public outage feed."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep
from api.errors import error_response
from core.clock import utcnow
from monitoring.live import public_feed

router = APIRouter(prefix="/public", tags=["public"])

CACHE_SECONDS = 60


@router.get("/outages.json", summary="The areas out now, for everyone (no key, cached 60 s)")
def outages(request: Request, session: SessionDep) -> Response:
    """``{"generatedAt", "outages": [...]}`` in the PubOutages shape; rate-limited per client."""
    client = request.client.host if request.client else "unknown"
    wait = request.app.state.public_limit.hit(client)
    if wait is not None:
        response = error_response(429, "too_many_requests",
                                  f"too many requests from this address; try again in {int(wait) + 1} s")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    body = {"generatedAt": utcnow().isoformat(), "outages": public_feed(session=session)}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json",
                    headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"})
