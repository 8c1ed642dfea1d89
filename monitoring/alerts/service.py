"""The alert lifecycle: raise, keep, resolve and acknowledge; queue the notifications due."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound, UsageError
from core.settings import Settings
from monitoring.alerts.conditions import SEVERITY, Condition

log = logging.getLogger(__name__)

STATES = ("firing", "resolved")

_COLUMNS = """id, fingerprint, rule, severity, state, subject_type, subject_id, summary, labels,
              annotations, starts_at, ends_at, last_seen_at, acknowledged_by, acknowledged_at"""


def fingerprint(rule: str, subject_type: str, subject_id: str) -> str:
    """The identity of an alert: a digest of its rule and subject (16 hex digits)."""
    key = json.dumps([rule, subject_type, subject_id], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _labels(c: Condition) -> dict[str, str]:
    return {"alertname": c.rule, "severity": c.severity, "subject_type": c.subject_type,
            "subject_id": c.subject_id, **c.labels}


def queue_delivery(*, session: Session, alert_id: int, reason: str, now: datetime) -> None:
    """Queue one webhook notification, whatever this process's settings say.

    The row records the alert and the reason (first, repeat or resolved), never where it
    goes: the sender resolves the webhook URL from its own settings when it sends, so an
    alert raised by a process without ``GRIDWATCH_WEBHOOK_URL`` is still delivered by one that
    has it, and no URL (or token in it) is stored per row.
    """
    session.execute(
        text("INSERT INTO alert_delivery (alert_id, reason, next_attempt_at, created_at) "
             "VALUES (:a, :r, :now, :now)"),
        {"a": alert_id, "r": reason, "now": now},
    )


def sync(
    *, session: Session, settings: Settings, conditions: Iterable[Condition],
    rules: Iterable[str], at: datetime, now: datetime,
) -> dict[str, int]:
    """Make the open alerts of ``rules`` equal to ``conditions`` as evaluated at ``at``.

    New conditions fire (one 'first' notification), held ones stay firing, and open alerts of
    these rules whose condition no longer holds are resolved (one 'resolved' notification).
    """
    rules = set(rules)
    wanted = {fingerprint(c.rule, c.subject_type, c.subject_id): c for c in conditions
              if c.rule in rules}
    open_rows = session.execute(
        text("SELECT id, fingerprint FROM alert WHERE state = 'firing' AND rule = ANY(:r)"),
        {"r": sorted(rules)},
    ).all()
    open_by_fp = {r.fingerprint: r.id for r in open_rows}
    fired = kept = resolved = 0
    for fp, c in wanted.items():
        annotations = json.dumps({"summary": c.summary}, ensure_ascii=False)
        if fp in open_by_fp:
            session.execute(
                text("UPDATE alert SET last_seen_at = :at, summary = :s, annotations = "
                     "CAST(:ann AS jsonb), labels = CAST(:lab AS jsonb), updated_at = :now "
                     "WHERE id = :id"),
                {"at": at, "s": c.summary, "ann": annotations, "now": now,
                 "lab": json.dumps(_labels(c), ensure_ascii=False), "id": open_by_fp[fp]},
            )
            kept += 1
            continue
        alert_id = session.execute(
            text("INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, "
                 "state, summary, labels, annotations, starts_at, last_seen_at, updated_at) "
                 "VALUES (:fp, :rule, :sev, :st, :sid, 'firing', :s, CAST(:lab AS jsonb), "
                 "CAST(:ann AS jsonb), :at, :at, :now) RETURNING id"),
            {"fp": fp, "rule": c.rule, "sev": c.severity, "st": c.subject_type,
             "sid": c.subject_id, "s": c.summary, "lab": json.dumps(_labels(c), ensure_ascii=False),
             "ann": annotations, "at": at, "now": now},
        ).scalar_one()
        queue_delivery(session=session, alert_id=alert_id, reason="first", now=now)
        fired += 1
    for fp, alert_id in open_by_fp.items():
        if fp in wanted:
            continue
        session.execute(
            text("UPDATE alert SET state = 'resolved', ends_at = GREATEST(:at, starts_at), "
                 "updated_at = :now WHERE id = :id"),
            {"at": at, "now": now, "id": alert_id},
        )
        queue_delivery(session=session, alert_id=alert_id, reason="resolved", now=now)
        resolved += 1
    log.info("alerts %s: %d fired, %d still firing, %d resolved", ",".join(sorted(rules)),
             fired, kept, resolved)
    return {"fired": fired, "firing": kept, "resolved": resolved}


def _row(r: Any) -> dict[str, Any]:
    return dict(r)


def list_alerts(*, session: Session, state: str | None = None) -> list[dict[str, Any]]:
    """Alerts, firing first then newest first; ``state`` is firing, resolved, all or None."""
    if state not in (None, "all", *STATES):
        raise UsageError(f"state must be firing, resolved or all, not {state!r}")
    where = "" if state in (None, "all") else "WHERE state = :state"
    rows = session.execute(
        text(f"SELECT {_COLUMNS} FROM alert {where} "  # noqa: S608 - fixed fragments only
             "ORDER BY state = 'firing' DESC, id DESC"),
        {"state": state},
    ).mappings()
    return [_row(r) for r in rows]


def get_alert(*, session: Session, alert_id: int) -> dict[str, Any]:
    """One alert; raises NotFound."""
    row = session.execute(text(f"SELECT {_COLUMNS} FROM alert WHERE id = :id"),  # noqa: S608
                          {"id": alert_id}).mappings().first()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return _row(row)


def acknowledge(*, session: Session, alert_id: int, actor: str, at: datetime) -> dict[str, Any]:
    """Record who acknowledged an alert and when; raises NotFound for an unknown id."""
    if not actor or not actor.strip():
        raise UsageError("acknowledging needs a name")
    row = session.execute(
        text(f"UPDATE alert SET acknowledged_by = :by, acknowledged_at = :at, updated_at = :at "
             f"WHERE id = :id RETURNING {_COLUMNS}"),  # noqa: S608
        {"by": actor.strip(), "at": at, "id": alert_id},
    ).mappings().first()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    log.info("alert %d acknowledged by %s", alert_id, actor)
    return _row(row)


def firing_counts(*, session: Session) -> dict[tuple[str, str], int]:
    """Alerts firing now by (rule, severity); every rule is present, with 0 when none fires."""
    counts = {(rule, severity): 0 for rule, severity in SEVERITY.items()}
    for rule, severity, n in session.execute(text(
            "SELECT rule, severity, count(*) FROM alert WHERE state = 'firing' "
            "GROUP BY rule, severity")):
        counts[(rule, severity)] = int(n)
    return counts
