"""Deliver customer notifications to the notification gateway's webhook, with retries.

One JSON body per notification (``payload``), posted to ``GRIDWATCH_NOTIFY_GATEWAY_URL``,
which is read at send time and never stored or logged. A failure is retried with the alerts'
backoff (30 s doubling up to 1 h) until ``webhook_give_up_hours`` after the notification was
queued; every attempt is recorded on its row. A gateway that refuses the message itself
(400, 410, 413, 422) is not asked again.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from core import metrics
from core.clock import utcnow
from core.logging import hide_url_secrets
from core.settings import Settings
from core.sqlfiles import statements
from monitoring.alerts.notify import TIMEOUT, backoff, redact
from monitoring.notify.message import message_zh

log = logging.getLogger(__name__)

VERSION = "1"
BATCH = 200
REFUSED = frozenset({400, 410, 413, 422})
"""Answers that say this message will never be accepted: failed at once, not retried."""


hide_url_secrets()   # also done by core.logging.configure; here for library callers


def _sql() -> dict[str, str]:
    return statements("monitoring.notify", "push.sql")


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(n: dict[str, Any]) -> dict[str, Any]:
    """The gateway's JSON body for one notification row (every key always present)."""
    return {
        "version": VERSION,
        "notification_id": n["id"],
        "kind": n["kind"],
        "created_at": _iso(n["created_at"]),
        "meter_id": n["meter_id"],
        "channel": n["channel"],
        "contact": n["contact"],
        "area": {"id": n["area_id"], "name": n.get("area_name")},
        "since": _iso(n.get("since")),
        "cause": n.get("cause"),
        "estimated_restoration": _iso(n.get("estimated_end")),
        "progress": n.get("progress"),
        "restored_at": _iso(n.get("restored_at")),
        "planned_start": _iso(n.get("planned_start")),
        "planned_end": _iso(n.get("planned_end")),
        "method": n.get("method"),
        "notice_late": n.get("notice_late"),
        "message_zh": message_zh(n),
    }


def deliver_due(*, session: Session, settings: Settings, now: datetime,
                client: httpx.Client | None = None) -> dict[str, int]:
    """Send every queued notification that is due; record each attempt. Never raises on HTTP.

    Without a gateway URL nothing is sent: the notifications stay queued (``unsent``) for a
    process that has one. When the gateway cannot be reached at all, the rest of this round
    waits for the next one (a dead gateway costs one timeout per round, not one per message).
    """
    counts = {"sent": 0, "retrying": 0, "failed": 0, "unsent": 0}
    url = settings.notify_gateway_url
    q = _sql()
    if not url:
        counts["unsent"] = int(session.execute(text(q["unsent"]), {"now": now}).scalar_one())
        if counts["unsent"]:
            log.info("push: %d customer notification(s) queued; no gateway here "
                     "(GRIDWATCH_NOTIFY_GATEWAY_URL), a process that has one sends them",
                     counts["unsent"])
        return counts
    rows = session.execute(text(q["due"]), {"now": now, "batch": BATCH}).mappings().all()
    if not rows:
        return counts
    give_up = timedelta(hours=settings.webhook_give_up_hours)
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        for r in rows:
            body = json.dumps(payload(dict(r)), ensure_ascii=False).encode("utf-8")
            code: int | None = None
            error: str | None = None
            unreachable = False
            try:
                resp = http.post(url, content=body, headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Idempotency-Key": f"gridwatch-push-{r['id']}"})
                code = resp.status_code
                if code >= 300:
                    error = f"HTTP {code}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error = redact(f"{type(exc).__name__}: {exc}", url)[:500]
                unreachable = isinstance(exc, httpx.TransportError)
            attempts = r["attempts"] + 1
            if error is None:
                status, nxt = "sent", now
            elif code in REFUSED or now + backoff(attempts, settings) > r["created_at"] + give_up:
                status, nxt = "failed", now
                log.warning("push: notification %s (%s) failed for good: %s", r["id"], r["kind"],
                            error)
            else:
                status, nxt = "queued", now + backoff(attempts, settings)
                log.info("push: notification %s failed (%s); retry at %s", r["id"], error,
                         nxt.isoformat())
            counts["retrying" if status == "queued" else status] += 1
            session.execute(text(q["record_attempt"]), {
                "status": status, "attempts": attempts, "now": now, "next": nxt, "code": code,
                "error": error, "id": r["id"]})
            if unreachable:
                break
    finally:
        if own:
            http.close()
        metrics.delivered("gateway", counts, {"sent": "delivered", "retrying": "retrying",
                                              "failed": "failed"})
    return counts


class _Soon:
    """At most one background delivery per process; a request during one makes it go again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.again = False
        self.target: tuple[Engine, Settings] | None = None

    def request(self, engine: Engine, settings: Settings) -> bool:
        with self.lock:
            self.target = (engine, settings)
            if self.running:
                self.again = True
                return False
            self.running = True
        threading.Thread(target=self._run, name="gridwatch-push", daemon=True).start()
        return True

    def _run(self) -> None:
        while True:
            with self.lock:
                assert self.target is not None
                engine, settings = self.target
                self.again = False
            try:
                with Session(bind=engine) as session:
                    deliver_due(session=session, settings=settings, now=utcnow())
                    session.commit()
            except Exception as exc:  # the per-minute job sends them; the ingest is not told
                log.warning("push: background delivery failed (%s); the delivery job retries",
                            type(exc).__name__)
            with self.lock:
                if not self.again:
                    self.running = False
                    return


_SOON = _Soon()


def deliver_soon(*, engine: Engine, settings: Settings) -> bool:
    """Send what is due in a background thread now, rather than at the next delivery job.

    For after an ingest or a stream batch that queued notifications: it never blocks or fails
    them. Only with a gateway URL and ``notify_gateway_immediate``; True when a thread started.
    """
    if not settings.notify_gateway_url or not settings.notify_gateway_immediate:
        return False
    return _SOON.request(engine, settings)
