"""Queue customer notifications, set-based, in the transaction that saw the change."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.sqlfiles import statements

log = logging.getLogger(__name__)

ESTIMATE_CHANGE = timedelta(minutes=30)
"""An estimated restoration that moves more than this from the one last announced is news."""
NOTICE_PERIOD = timedelta(days=7)
"""The national rule: a planned outage is announced at least 7 days before it starts."""


def _sql() -> dict[str, str]:
    return statements("monitoring.notify", "push.sql")


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def queue_outage_changes(*, session: Session, changes: list[dict[str, Any]], now: datetime) -> int:
    """One notification per subscriber of each changed area; how many were queued.

    ``changes`` are ``refresh_live``'s: ``kind`` (``outage_start``, ``restoration``,
    ``estimate_changed``), ``area_id``, ``since``, ``cause``, ``estimated_end``,
    ``progress``, ``restored_at`` and ``seq`` (the how-many-th estimate change).
    """
    if not changes:
        return 0
    body = json.dumps([{k: _json(v) for k, v in c.items()} for c in changes])
    queued = len(session.execute(text(_sql()["queue_outage"]), {"changes": body, "now": now}).all())
    if queued:
        log.info("push: %d customer notification(s) queued for %d outage change(s)", queued,
                 len(changes))
    return queued


def queue_work_notices(*, session: Session, now: datetime) -> dict[str, int]:
    """Notices of the works still to begin that subscribers have not been told about.

    A work is told about again when its asset, planned times or method change. ``now`` is
    when gridwatch learned of it (the ingest's clock): a work that begins less than 7 days
    later is ``notice_late``. Returns the works noticed and the notifications queued.
    """
    row = session.execute(text(_sql()["queue_works"]),
                          {"now": now, "notice_seconds": NOTICE_PERIOD.total_seconds()}).one()
    works, queued = int(row.works), int(row.notifications)
    if works:
        log.info("push: %d planned work notice(s), %d customer notification(s) queued", works,
                 queued)
    return {"works": works, "notifications": queued}
