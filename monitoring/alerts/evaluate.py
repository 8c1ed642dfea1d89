"""Evaluate every alert rule at an as-of time and bring the alert table in line."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.settings import Settings
from monitoring.alerts import conditions, service

log = logging.getLogger(__name__)


def evaluate_alerts(
    *, session: Session, settings: Settings, as_of: datetime, now: datetime | None = None,
    incremental: bool = False, only: Collection[str] | None = None,
) -> dict[str, Any]:
    """Run each rule's evaluator in a savepoint; a failing evaluator leaves its alerts as they were.

    ``incremental`` (after a stream batch) lets the meter rules fold only the new events into
    each meter's last event instead of rebuilding it from the whole history, and leaves out the
    planning rules (``conditions.NOT_PER_BATCH``). ``only`` runs just the evaluators of those
    rules (the planning rules right after a file or HTTP ingest).
    """
    now = now or utcnow()
    totals: dict[str, Any] = {"fired": 0, "firing": 0, "resolved": 0, "errors": []}
    for evaluator, rules in conditions.EVALUATORS:
        if only is not None and not set(rules) & set(only):
            continue
        if incremental and evaluator in conditions.NOT_PER_BATCH:
            continue
        try:
            with session.begin_nested():
                extra = {"incremental": incremental} if evaluator is conditions.meters else {}
                found = evaluator(session=session, settings=settings, as_of=as_of, **extra)
                result = service.sync(session=session, settings=settings, conditions=found,
                                      rules=rules, at=as_of, now=now)
        except Exception as exc:  # one broken rule must not stop the others
            log.exception("alert rules %s failed", ",".join(rules))
            totals["errors"].append(f"{','.join(rules)}: {type(exc).__name__}: {exc}"[:300])
            continue
        for k in ("fired", "firing", "resolved"):
            totals[k] += result[k]
    return totals
