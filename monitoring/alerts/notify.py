"""Webhook notifications in the Prometheus Alertmanager (version 4) JSON shape, with retries."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import metrics
from core.settings import Settings

log = logging.getLogger(__name__)

RECEIVER = "gridwatch-webhook"
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
BATCH = 200
ZERO_TIME = "0001-01-01T00:00:00Z"


def _iso(t: datetime | None) -> str:
    if t is None:
        return ZERO_TIME
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def backoff(attempts: int, settings: Settings) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones (doubling, capped).

    From ``webhook_retry_seconds`` (30 s) up to ``webhook_retry_max_seconds`` (1 h).
    """
    first = settings.webhook_retry_seconds
    wait = first * 2.0 ** min(max(attempts - 1, 0), 40)
    return timedelta(seconds=min(wait, settings.webhook_retry_max_seconds))


def external_url(settings: Settings) -> str:
    """Where gridwatch serves its API (Alertmanager's externalURL)."""
    host = settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{settings.port}"


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
    """Queue a 'repeat' for every firing alert last notified at least alert_repeat_hours ago.

    Runs whether or not this process has a webhook URL (the sender resolves it). The interval
    counts from the last first/repeat notification (its delivery, else its queueing); no repeat
    is queued while an earlier first or repeat of the alert is still waiting to go out, and a
    partial unique index keeps two processes from queueing the same repeat twice.
    """
    due = session.execute(
        text("""
            INSERT INTO alert_delivery (alert_id, reason, next_attempt_at, created_at)
            SELECT a.id, 'repeat', :now, :now
              FROM alert a
             WHERE a.state = 'firing'
               AND NOT EXISTS (SELECT 1 FROM alert_delivery p
                                WHERE p.alert_id = a.id AND p.status = 'pending'
                                  AND p.reason IN ('first', 'repeat'))
               AND (SELECT max(coalesce(d.delivered_at, d.created_at)) FROM alert_delivery d
                     WHERE d.alert_id = a.id AND d.reason IN ('first', 'repeat'))
                   <= CAST(:now AS timestamptz) - make_interval(secs => :secs)
            ON CONFLICT DO NOTHING
            RETURNING alert_id
        """),
        {"now": now, "secs": settings.alert_repeat_hours * 3600.0},
    ).scalars().all()
    if due:
        log.info("queued a repeat notification for %d firing alert(s)", len(due))
    return len(due)


def redact(message: str, url: str) -> str:
    """``message`` without the webhook URL or the secrets in it (user info, query, fragment)."""
    secrets = [url]
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parts = None
    if parts is not None:
        secrets += [p for p in (parts.userinfo.decode("utf-8", "replace"), parts.password,
                                parts.query.decode("utf-8", "replace"), parts.fragment,
                                parts.path if len(parts.path) > 1 else "") if p]
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "<webhook>")
    return message


def deliver_due(
    *, session: Session, settings: Settings, now: datetime, client: httpx.Client | None = None,
) -> dict[str, int]:
    """Send every pending notification that is due; record each attempt. Never raises on HTTP.

    A failed one is retried with ``backoff`` until ``webhook_give_up_hours`` after it was
    queued, then marked failed. The URL is this process's ``settings.webhook_url``, read at
    send time. Without one nothing is sent: the notifications stay queued (counted as
    ``unsent``) for a process that has it.
    """
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "unsent": 0}
    give_up = timedelta(hours=settings.webhook_give_up_hours)
    url = settings.webhook_url
    if not url:
        counts["unsent"] = int(session.execute(
            text("SELECT count(*) FROM alert_delivery WHERE status = 'pending' "
                 "AND next_attempt_at <= :now"), {"now": now}).scalar_one())
        if counts["unsent"]:
            log.info("%d alert notification(s) queued; no webhook here (GRIDWATCH_WEBHOOK_URL), "
                     "a process that has one sends them", counts["unsent"])
        return counts
    rows = session.execute(
        text("""
            SELECT d.id AS delivery_id, d.reason, d.attempts, d.created_at AS queued_at,
                   a.id, a.rule, a.fingerprint, a.labels, a.annotations, a.starts_at, a.ends_at
              FROM alert_delivery d JOIN alert a ON a.id = d.alert_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= :now
             ORDER BY d.id LIMIT :batch
               FOR UPDATE OF d SKIP LOCKED
        """),
        {"now": now, "batch": BATCH},
    ).mappings().all()
    if not rows:
        return counts
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        for r in rows:
            body = json.dumps(payload(dict(r), r["reason"], settings), ensure_ascii=False)
            code: int | None = None
            error: str | None = None
            try:
                resp = http.post(url, content=body.encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
                code = resp.status_code
                if code >= 300:
                    error = f"HTTP {code}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error = redact(f"{type(exc).__name__}: {exc}", url)[:500]
            attempts = r["attempts"] + 1
            if error is None:
                status, nxt = "delivered", now
                counts["delivered"] += 1
            elif now + backoff(attempts, settings) > r["queued_at"] + give_up:
                status, nxt = "failed", now
                counts["failed"] += 1
                log.warning("alert %s notification %s failed for good: %s", r["id"], r["reason"],
                            error)
            else:
                status, nxt = "pending", now + backoff(attempts, settings)
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
        metrics.delivered("webhook", counts)
    return counts


def notify(*, session: Session, settings: Settings, now: datetime,
           client: httpx.Client | None = None) -> dict[str, Any]:
    """Queue repeats, then send what is due: to the webhook, then to the Alertmanager(s).

    The Alertmanager push runs in a savepoint: should it fail, the webhook's records stay, and
    the failure is in the result's ``errors`` (the job's outcome), never raised.
    """
    from monitoring.alerts import alertmanager

    repeats = queue_repeats(session=session, settings=settings, now=now)
    out: dict[str, Any] = {"repeats": repeats, **deliver_due(session=session, settings=settings,
                                                             now=now, client=client)}
    if alertmanager.urls(settings):
        try:
            with session.begin_nested():
                pushed = alertmanager.push(session=session, settings=settings, now=now,
                                           client=client)
            out.update({f"alertmanager_{k}": v for k, v in pushed.items()})
        except Exception as exc:
            log.exception("alertmanager: the push failed")
            out["errors"] = [f"alertmanager: {type(exc).__name__}: {exc}"[:300]]
    return out
