"""Alerts pushed to Prometheus Alertmanagers (API v2), like Prometheus itself pushes them.

``GRIDWATCH_ALERTMANAGER_URL`` names one or more Alertmanagers (comma-separated; read at send
time, never stored). The delivery step (``monitoring.alerts.notify.notify``) posts every firing
alert with ``endsAt`` four resend intervals ahead, and posts it again once a resend interval
has passed, so the Alertmanager keeps it firing while gridwatch does and lets it lapse on its
own should gridwatch stop. A resolved alert is posted once more with ``endsAt`` = its
resolution time. ``alert_alertmanager`` keeps, per alert, what the Alertmanagers last accepted
and the failed attempts since (retried with the webhook's backoff). A resolution that could
not be posted before the ``endsAt`` the Alertmanager holds is marked ``expired``: by then the
Alertmanager has resolved the alert itself.

The labels are the alert's identity (alertname, severity, subject_type, subject_id, the
asset or area it concerns, and ``source="gridwatch"``); values that change while an alert
fires (counts) are annotations, so that a changing count never makes a second alert.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import metrics
from core.settings import Settings
from monitoring.alerts.notify import TIMEOUT, _iso, backoff, external_url, redact

log = logging.getLogger(__name__)

PATH = "/api/v2/alerts"
BATCH = 500
MAX_BATCHES = 50
"""At most this many posts of BATCH alerts per round; the rest wait for the next round."""
LIFETIME = 4
"""endsAt of a firing alert: this many resend intervals after it was posted."""
SOURCE = {"source": "gridwatch"}
CONTEXT_LABELS = frozenset({"asset_type", "asset_id", "area_id"})
"""Condition labels that name what an alert is about, so stay labels (the rest: annotations)."""
NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def urls(settings: Settings) -> list[str]:
    """The Alertmanagers' base URLs (none when the setting is unset)."""
    return [u for u in (settings.alertmanager_url or "").split(",") if u]


def alert_body(alert: dict[str, Any], *, now: datetime, settings: Settings) -> dict[str, Any]:
    """One alert in the Alertmanager API v2 ``postableAlert`` shape."""
    labels = {"alertname": alert["rule"], "severity": alert["severity"],
              "subject_type": alert["subject_type"], "subject_id": alert["subject_id"]}
    annotations = {k: str(v) for k, v in (alert["annotations"] or {}).items()}
    for key, value in (alert["labels"] or {}).items():
        if key in labels:
            continue
        if key in CONTEXT_LABELS:
            labels[key] = str(value)
        else:
            annotations.setdefault(key, str(value))
    labels.update(SOURCE)
    annotations["gridwatch_alert_id"] = str(alert["id"])
    starts: datetime = alert["starts_at"]
    if alert["state"] == "firing":
        ends = max(starts, now) + timedelta(seconds=LIFETIME * settings.alertmanager_resend_seconds)
    else:
        ends = max(alert["ends_at"] or now, starts)
    return {
        "labels": {k: str(v) for k, v in labels.items() if NAME.match(k) and str(v) != ""},
        "annotations": {k: v for k, v in annotations.items() if NAME.match(k) and v != ""},
        "startsAt": _iso(starts),
        "endsAt": _iso(ends),
        "generatorURL": f"{external_url(settings)}/api/v1/alerts?id={alert['id']}",
    }


def _post(http: httpx.Client, targets: list[str], bodies: list[dict[str, Any]]
          ) -> tuple[bool, int | None, str | None, bool]:
    """Post ``bodies`` to every Alertmanager: (accepted by one, status, error, refused).

    ``refused`` is true when every Alertmanager answered 400 (an alert it would not take).
    """
    data = json.dumps(bodies, ensure_ascii=False).encode("utf-8")
    ok, code, errors, refused = False, None, [], True
    for base in targets:
        try:
            resp = http.post(base + PATH, content=data,
                             headers={"Content-Type": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            errors.append(redact(f"{type(exc).__name__}: {exc}", base)
                          .replace("<webhook>", "<alertmanager>"))
            refused = False
            continue
        code = resp.status_code
        if code < 300:
            ok = True
        else:
            refused = refused and code == 400
            detail = resp.text.strip().replace("\n", " ")[:200]
            errors.append(f"HTTP {code}" + (f": {detail}" if detail else ""))
    return ok, code, (None if ok else "; ".join(errors)[:500] or None), (refused and not ok)


def push(*, session: Session, settings: Settings, now: datetime,
         client: httpx.Client | None = None) -> dict[str, int]:
    """Post the firing alerts that are due and the resolutions not yet told; record each.

    Never raises on HTTP. Without ``GRIDWATCH_ALERTMANAGER_URL`` it does nothing.
    """
    counts = {"posted": 0, "firing": 0, "resolved": 0, "retrying": 0, "expired": 0}
    targets = urls(settings)
    if not targets:
        return counts
    counts["expired"] = len(session.execute(text("""
        UPDATE alert_alertmanager m SET status = 'expired'
          FROM alert a
         WHERE a.id = m.alert_id AND a.state = 'resolved' AND m.sent_state = 'firing'
           AND m.sent_ends_at <= :now AND m.status <> 'expired'
        RETURNING m.alert_id
    """), {"now": now}).all())
    if counts["expired"]:
        log.warning("alertmanager: %d resolution(s) could not be posted before the alerts' endsAt; "
                    "the Alertmanager has resolved them itself", counts["expired"])
    session.execute(text("""
        INSERT INTO alert_alertmanager (alert_id, next_attempt_at)
        SELECT id, :now FROM alert WHERE state = 'firing'
        ON CONFLICT DO NOTHING
    """), {"now": now})
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        for _ in range(MAX_BATCHES):
            rows = _due(session, settings, now)
            if not rows:
                break
            reachable = _send(session, settings, http, targets, rows, now, counts)
            if not reachable or len(rows) < BATCH:
                break
    finally:
        if own:
            http.close()
        metrics.delivered("alertmanager", counts, {"posted": "delivered", "retrying": "retrying",
                                                   "expired": "failed"})
    return counts


def _due(session: Session, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The next alerts to post, locked: firing ones not posted for a resend interval (less a
    tenth, for the jitter of the job's clock), and resolved ones the Alertmanager still holds
    as firing."""
    return [dict(r) for r in session.execute(text("""
        SELECT m.alert_id, m.attempts, a.id, a.rule, a.severity, a.state, a.subject_type,
               a.subject_id, a.labels, a.annotations, a.starts_at, a.ends_at
          FROM alert_alertmanager m JOIN alert a ON a.id = m.alert_id
         WHERE m.sent_state IS DISTINCT FROM 'resolved' AND m.status <> 'expired'
           AND (m.status <> 'retrying' OR m.next_attempt_at <= :now)
           AND ((a.state = 'firing'
                 AND (m.sent_state IS DISTINCT FROM 'firing'
                      OR m.sent_at <= CAST(:now AS timestamptz) - make_interval(secs => :again)))
             OR (a.state = 'resolved' AND m.sent_state = 'firing' AND m.sent_ends_at > :now))
         ORDER BY m.alert_id
         LIMIT :batch
           FOR UPDATE OF m SKIP LOCKED
    """), {"now": now, "again": settings.alertmanager_resend_seconds * 0.9, "batch": BATCH}
    ).mappings()]


def _send(session: Session, settings: Settings, http: httpx.Client, targets: list[str],
          rows: list[dict[str, Any]], now: datetime, counts: dict[str, int]) -> bool:
    """Post one batch and record it; a batch an Alertmanager refused (400) is posted again
    one alert at a time, so one bad alert does not hold back the others. False when no
    Alertmanager could be reached."""
    bodies = [alert_body(r, now=now, settings=settings) for r in rows]
    ok, code, error, refused = _post(http, targets, bodies)
    if ok:
        _accepted(session, rows, bodies, now, code, counts)
        return True
    if refused and len(rows) > 1:
        for row, body in zip(rows, bodies, strict=True):
            one_ok, one_code, one_error, _ = _post(http, targets, [body])
            if one_ok:
                _accepted(session, [row], [body], now, one_code, counts)
            else:
                _failed(session, settings, [row], now, one_code, one_error, counts)
        return True
    _failed(session, settings, rows, now, code, error, counts)
    return code is not None


def _accepted(session: Session, rows: list[dict[str, Any]], bodies: list[dict[str, Any]],
              now: datetime, code: int | None, counts: dict[str, int]) -> None:
    session.execute(text("""
        UPDATE alert_alertmanager m
           SET sent_state = x.state, sent_at = :now, sent_ends_at = x.ends, status = 'ok',
               attempts = 0, next_attempt_at = :now, last_attempt_at = :now, http_status = :code,
               error = NULL
          FROM unnest(CAST(:ids AS bigint[]), CAST(:states AS text[]),
                      CAST(:ends AS timestamptz[])) AS x(id, state, ends)
         WHERE m.alert_id = x.id
    """), {"ids": [r["id"] for r in rows], "states": [r["state"] for r in rows],
           "ends": [b["endsAt"] for b in bodies], "now": now, "code": code})
    counts["posted"] += len(rows)
    for r in rows:
        counts["firing" if r["state"] == "firing" else "resolved"] += 1


def _failed(session: Session, settings: Settings, rows: list[dict[str, Any]], now: datetime,
            code: int | None, error: str | None, counts: dict[str, int]) -> None:
    for r in rows:
        attempts = r["attempts"] + 1
        session.execute(text("""
            UPDATE alert_alertmanager
               SET status = 'retrying', attempts = :n, last_attempt_at = :now,
                   next_attempt_at = :next, http_status = :code, error = :err
             WHERE alert_id = :id
        """), {"n": attempts, "now": now, "next": now + backoff(attempts, settings),
               "code": code, "err": error, "id": r["id"]})
    counts["retrying"] += len(rows)
    log.warning("alertmanager: %d alert(s) not posted (%s); retrying with backoff", len(rows),
                error)
