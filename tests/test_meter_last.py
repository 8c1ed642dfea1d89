"""meter_last (each meter's last event) kept from the change log equals a rebuild from all events."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from ingest import service
from monitoring.alerts.meter_last import fold_changes, rebuild
from tests.builders import add_area, add_feeder, add_meters


def _state(session: Session) -> list[tuple[object, ...]]:
    return [tuple(r) for r in session.execute(
        text("SELECT meter_id, time, kind FROM meter_last ORDER BY meter_id")).all()]


def test_folding_batches_late_and_out_of_order_equals_a_rebuild(db_session: Session) -> None:
    s = db_session
    rng = random.Random(11)
    add_feeder(s, "F1")
    meters = []
    for a in range(3):
        add_area(s, f"A{a}", "F1", lon=106.7 + a * 0.02)
        meters += add_meters(s, f"A{a}", 5)
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for _ in range(400):
        m = rng.choice(meters)
        t = now - timedelta(minutes=rng.randint(1, 60 * 24 * 200))
        events.append((m, t, rng.choice(["off", "on"])))
    # Equal times for one meter: 'on' wins.
    events += [(meters[0], now - timedelta(hours=1), "off"), (meters[0], now - timedelta(hours=1), "on")]
    rng.shuffle(events)
    for i in range(0, len(events), 37):
        body = "meter_id,time,kind\n" + "".join(
            f"{m},{t.isoformat()},{k}\n" for m, t, k in events[i:i + 37])
        service.ingest(session=s, kind="meter-events", source=io.BytesIO(body.encode()), name="e.csv")
        fold_changes(session=s)
    folded = _state(s)
    expected: dict[str, tuple[datetime, str]] = {}
    for m, t, k in events:
        expected[m] = max(expected.get(m, (t, k)), (t, k))  # at equal times 'on' > 'off'
    assert folded == sorted((m, t, k) for m, (t, k) in expected.items())
    rebuild(session=s)
    assert _state(s) == folded
    assert s.execute(text("SELECT count(*) FROM ingest_change WHERE meter_last_at IS NULL "
                          "AND stream = 'meter-events'")).scalar_one() == 0
