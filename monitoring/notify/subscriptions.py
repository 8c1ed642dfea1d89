"""Subscriptions: a meter and a channel, with the gateway's opaque address for the customer."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound

log = logging.getLogger(__name__)

CHANNELS = ("sms", "wechat")
CONTACT_CHARS = 128
_COLUMNS = "meter_id, channel, contact, created_at, updated_at"
KEEP = object()
"""Pass as ``contact`` to keep the stored contact (the caller did not give one)."""


def _known_meter(session: Session, meter_id: str) -> None:
    found = session.execute(text("SELECT 1 FROM meter WHERE meter_id = :m"),
                            {"m": meter_id}).first()
    if found is None:
        raise NotFound(f"no meter '{meter_id}' is registered; check the meter id "
                       "(gridwatch load meters registers them)")


def subscribe(*, session: Session, meter_id: str, channel: str, now: datetime,
              contact: Any = KEEP) -> tuple[dict[str, Any], bool]:
    """Subscribe a registered meter to a channel; the row and whether it is new.

    Subscribing again is no error: a given ``contact`` (None clears it) replaces the stored
    one, and an omitted one keeps it. Raises NotFound for a meter that is not registered.
    """
    _known_meter(session, meter_id)
    keep = contact is KEEP
    row = session.execute(text(f"""
        INSERT INTO push_subscription AS s (meter_id, channel, contact, created_at, updated_at)
        VALUES (:m, :c, :contact, :now, :now)
        ON CONFLICT (meter_id, channel) DO UPDATE
           SET contact = CASE WHEN :keep THEN s.contact ELSE EXCLUDED.contact END,
               updated_at = EXCLUDED.updated_at
        RETURNING {_COLUMNS}, (xmax = 0) AS created"""),  # noqa: S608 - fixed column list
        {"m": meter_id, "c": channel, "contact": None if keep else contact, "now": now,
         "keep": keep}).mappings().one()
    created = bool(row["created"])
    if created:
        log.info("push: meter %s subscribed to %s", meter_id, channel)
    return {k: row[k] for k in _COLUMNS.split(", ")}, created


def unsubscribe(*, session: Session, meter_id: str, channel: str) -> None:
    """Remove a subscription; raises NotFound when there was none."""
    gone = session.execute(text(
        "DELETE FROM push_subscription WHERE meter_id = :m AND channel = :c RETURNING 1"),
        {"m": meter_id, "c": channel}).first()
    if gone is None:
        raise NotFound(f"meter '{meter_id}' has no {channel} subscription")
    log.info("push: meter %s unsubscribed from %s", meter_id, channel)


def list_subscriptions(*, session: Session, meter_id: str, limit: int = 100,
                       offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A registered meter's subscriptions (one page, by channel) and how many it has."""
    _known_meter(session, meter_id)
    rows = session.execute(text(
        f"SELECT {_COLUMNS} FROM push_subscription WHERE meter_id = :m "  # noqa: S608
        "ORDER BY channel LIMIT :limit OFFSET :offset"),
        {"m": meter_id, "limit": limit, "offset": offset}).mappings().all()
    total = session.execute(text("SELECT count(*) FROM push_subscription WHERE meter_id = :m"),
                            {"m": meter_id}).scalar_one()
    return [dict(r) for r in rows], int(total)
