"""Push subscriptions (SPEC section 13, task 54): the customer-service system subscribes meters."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import require_role
from api.deps import DEFAULT_PAGE, TOTAL_HEADER, Limit, Offset, SessionDep
from api.keys import Principal
from api.responses import FastJSON
from core.clock import utcnow
from core.errors import InputError
from monitoring.notify import subscriptions as service

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
Writer = Annotated[Principal, Depends(require_role("ingest"))]
Channel = Literal["sms", "wechat"]
MeterId = Annotated[str, Field(min_length=1, max_length=256)]


def _printable(value: str | None) -> str | None:
    if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


class SubscriptionKey(BaseModel):
    """A meter and a channel."""

    model_config = ConfigDict(extra="forbid")
    meter_id: MeterId
    channel: Channel

    _meter = field_validator("meter_id")(_printable)


class SubscriptionIn(SubscriptionKey):
    """A subscription: ``contact`` is the gateway's address for the customer, opaque here."""

    contact: str | None = Field(
        default=None, min_length=1, max_length=service.CONTACT_CHARS,
        description="The gateway's address for this customer (a phone number, an openid …); "
        "omitted keeps the stored one, null clears it")

    _contact = field_validator("contact")(_printable)


@router.post(
    "",
    summary="Subscribe a meter to a channel (201 new, 200 already subscribed)",
    responses={201: {"description": "Subscribed"}, 200: {"description": "Already subscribed; "
               "the contact, when given, replaced"}, 404: {"description": "Unknown meter"}},
)
def subscribe(body: SubscriptionIn, session: SessionDep, _: Writer) -> FastJSON:
    """Subscribe (idempotent): ``{"meter_id", "channel": "sms"|"wechat", "contact"?}``."""
    contact: Any = body.contact if "contact" in body.model_fields_set else service.KEEP
    row, created = service.subscribe(session=session, meter_id=body.meter_id,
                                     channel=body.channel, contact=contact, now=utcnow())
    session.commit()
    return FastJSON(row, status_code=201 if created else 200)


@router.delete(
    "",
    status_code=204,
    summary="Unsubscribe a meter from a channel (query parameters or a JSON body)",
    responses={204: {"description": "Unsubscribed"}, 404: {"description": "No such subscription"}},
)
def unsubscribe(
    session: SessionDep,
    _: Writer,
    meter_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    channel: Annotated[Channel | None, Query()] = None,
    body: Annotated[SubscriptionKey | None, Body()] = None,
) -> Response:
    """Remove the subscription; 404 when there was none."""
    if meter_id is None and channel is None and body is not None:
        meter_id, channel = body.meter_id, body.channel
    if meter_id is None or channel is None:
        raise InputError("give meter_id and channel (sms or wechat), as query parameters or "
                         "as a JSON body")
    service.unsubscribe(session=session, meter_id=meter_id, channel=channel)
    session.commit()
    return Response(status_code=204)


@router.get(
    "",
    summary="A meter's subscriptions (paginated; the total is in X-Total-Count)",
    responses={200: {"description": "A JSON array of subscriptions"},
               404: {"description": "Unknown meter"}},
)
def list_subscriptions(
    session: SessionDep,
    _: Writer,
    meter_id: Annotated[str, Query(min_length=1, max_length=256)],
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> FastJSON:
    """``[{"meter_id", "channel", "contact", "created_at", "updated_at"}]``, by channel."""
    rows, total = service.list_subscriptions(session=session, meter_id=meter_id, limit=limit,
                                             offset=offset)
    return FastJSON(rows, headers={TOTAL_HEADER: str(total)})
