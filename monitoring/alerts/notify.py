"""Webhook notifications in the Prometheus Alertmanager (version 4) JSON shape, with retries."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.alerts.service import queue_delivery

log = logging.getLogger(__name__)

RECEIVER = "gridwatch-webhook"
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
BATCH = 200
ZERO_TIME = "0001-01-01T00:00:00Z"


def _iso(t: datetime | None) -> str:
    if t is None:
        return ZERO_TIME
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones (doubling, capped)."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def external_url(settings: Settings) -> str:
    """Where gridwatch serves its API (Alertmanager's externalURL)."""
    return f"http://{settings.host}:{settings.port}"


def payload(alert: dict[str, Any], reason: str, settings: Settings) -> dict[str, Any]:
    """The Alertmanager v4 webhook body for one alert notification."""
    status = "resolved" if reason == "resolved" else "firing"
    labels = {k: str(v) for k, v in (alert["labels"] or {}).items()}
    annotations = {k: str(v) for k, v in (alert["annotations"] or {}).items()}
    annotations["notification_reason"] = reason
    base = external_url(settings)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alert["rule"]}", fingerprint="{alert["fingerprint"]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": {"alertname": alert["rule"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": base,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": _iso(alert["starts_at"]),
            "endsAt": _iso(alert["ends_at"]) if status == "resolved" else ZERO_TIME,
            "generatorURL": f"{base}/api/v1/alerts?id={alert['id']}",
            "fingerprint": alert["fingerprint"],
        }],
    }


def queue_repeats(*, session: Session, settings: Settings, now: datetime) -> int:
    """Queue a 'repeat' for every firing alert last notified at least alert_repeat_hours ago."""
    if not settings.webhook_url:
        return 0
    due = session.execute(
        text("""
            SELECT a.id FROM alert a
             WHERE a.state = 'firing'
               AND (SELECT max(d.created_at) FROM alert_delivery d
                     WHERE d.alert_id = a.id AND d.reason IN ('first', 'repeat'))
                   <= CAST(:now AS timestamptz) - make_interval(secs => :secs)
        """),
        {"now": now, "secs": settings.alert_repeat_hours * 3600.0},
    ).scalars().all()
    for alert_id in due:
        queue_delivery(session=session, settings=settings, alert_id=alert_id, reason="repeat",
                       now=now)
    return len(due)


def deliver_due(
    *, session: Session, settings: Settings, now: datetime, client: httpx.Client | None = None,
) -> dict[str, int]:
    """Send every pending notification that is due; record each attempt. Never raises on HTTP."""
    rows = session.execute(
        text("""
            SELECT d.id AS delivery_id, d.reason, d.attempts, d.url, a.id, a.rule,
                   a.fingerprint, a.labels, a.annotations, a.starts_at, a.ends_at
              FROM alert_delivery d JOIN alert a ON a.id = d.alert_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= :now
             ORDER BY d.id LIMIT :batch
               FOR UPDATE OF d SKIP LOCKED
        """),
        {"now": now, "batch": BATCH},
    ).mappings().all()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    if not rows:
        return counts
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        for r in rows:
            url = r["url"] or settings.webhook_url
            body = json.dumps(payload(dict(r), r["reason"], settings), ensure_ascii=False)
            code: int | None = None
            error: str | None = None
            try:
                resp = http.post(str(url), content=body.encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
                code = resp.status_code
                if code >= 300:
                    error = f"HTTP {code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = r["attempts"] + 1
            if error is None:
                status, nxt = "delivered", now
                counts["delivered"] += 1
            elif attempts >= MAX_ATTEMPTS:
                status, nxt = "failed", now
                counts["failed"] += 1
                log.warning("alert %s notification %s failed for good: %s", r["id"], r["reason"],
                            error)
            else:
                status, nxt = "pending", now + backoff(attempts)
                counts["retrying"] += 1
                log.info("alert %s notification %s failed (%s); retry at %s", r["id"],
                         r["reason"], error, nxt)
            session.execute(
                text("UPDATE alert_delivery SET status = :st, attempts = :n, last_attempt_at = :now, "
                     "next_attempt_at = :nxt, http_status = :code, error = :err, "
                     "delivered_at = CASE WHEN :st = 'delivered' THEN CAST(:now AS timestamptz) END "
                     "WHERE id = :id"),
                {"st": status, "n": attempts, "now": now, "nxt": nxt, "code": code,
                 "err": error, "id": r["delivery_id"]},
            )
    finally:
        if own:
            http.close()
    return counts


def notify(*, session: Session, settings: Settings, now: datetime,
           client: httpx.Client | None = None) -> dict[str, int]:
    """Queue repeats, then send what is due."""
    repeats = queue_repeats(session=session, settings=settings, now=now)
    return {"repeats": repeats, **deliver_due(session=session, settings=settings, now=now,
                                              client=client)}
