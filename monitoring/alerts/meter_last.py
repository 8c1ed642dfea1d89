"""Each meter's last event (``meter_last``), kept from the ingest change log for the meter rules.

``fold_changes`` (after each stream batch) folds the meter-event change rows not folded yet:
for each meter of a changed area, its latest event in the changed range replaces the stored
one when later. Every change row is folded once (``ingest_change.meter_last_at``), so the
table always equals each meter's latest stored event; ``rebuild`` (every full evaluation:
``monitor run`` and the scheduled job) recomputes it from all events. Between rebuilds
retention never removes a row from it.

``prepare(session, as_of)`` fills the temp table ``alert_meter_last`` with the meters whose
last event at or before ``as_of`` is ``off``. From the table when only a few meters have a
later event (the as-of time is now); from the whole history otherwise (an as-of time in the
past, as ``monitor run --as-of`` gives).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.sqlfiles import statements

LOOKUP_LIMIT = 10_000
"""More meters with an event after the as-of time than this, and the history is scanned."""


def _sql() -> dict[str, str]:
    return statements("monitoring.alerts", "meter_last.sql")


CLUSTER_GAP = timedelta(days=7)
"""Changed ranges closer than this are folded in one statement (about a chunk apart)."""


def _clusters(ranges: list[tuple[str, datetime, datetime]]) -> list[tuple[datetime, datetime, list[str]]]:
    """Group the (area, from, to) ranges, sorted by from, into time clusters with their areas."""
    out: list[tuple[datetime, datetime, list[str]]] = []
    for area, lo, hi in ranges:
        if out and lo <= out[-1][1] + CLUSTER_GAP:
            c_lo, c_hi, areas = out[-1]
            out[-1] = (c_lo, max(c_hi, hi), [*areas, area])
        else:
            out.append((lo, hi, [area]))
    return out


def fold_changes(*, session: Session) -> int:
    """Fold the pending meter-event change rows into ``meter_last`` (one refresher at a time).

    The rows are grouped into time clusters, one statement each, so a storm's changes (all
    within minutes) probe one chunk per meter. Returns the change rows folded.
    """
    q = _sql()
    session.execute(text(q["lock"]))
    session.execute(text(q["drop"]))
    session.execute(text(q["pending"]))
    ranges = [(r[0], r[1], r[2]) for r in session.execute(text(q["ranges"]))]
    for lo, hi, areas in _clusters(ranges):
        session.execute(text(q["fold"]), {"lo": lo, "hi": hi, "areas": sorted(set(areas))})
    session.execute(text(q["mark"]))
    session.execute(text(q["drop"]))
    return len(ranges)


def rebuild(*, session: Session) -> None:
    """Recompute ``meter_last`` from every stored event (what a full evaluation does).

    It also takes in events that reached ``meter_event`` without the change log.
    """
    q = _sql()
    session.execute(text(q["lock"]))
    session.execute(text(q["drop"]))
    session.execute(text(q["pending"]))
    session.execute(text(q["rebuild_clear"]))
    session.execute(text(q["rebuild_fill"]))
    session.execute(text(q["mark"]))
    session.execute(text(q["drop"]))


def prepare(*, session: Session, as_of: datetime, history_sql: str, incremental: bool) -> str:
    """Fill ``alert_meter_last`` for ``as_of``; returns which way (``table`` or ``history``).

    ``incremental`` folds the pending change rows (after a stream batch); otherwise the table
    is rebuilt from every event first (a full evaluation).
    """
    q = _sql()
    if incremental:
        fold_changes(session=session)
    else:
        rebuild(session=session)
    later = session.execute(text(q["later_than"]), {"as_of": as_of}).scalar_one()
    if later <= LOOKUP_LIMIT:
        session.execute(text(q["alert_table"]), {"as_of": as_of})
        return "table"
    session.execute(text(history_sql), {"as_of": as_of})
    return "history"
