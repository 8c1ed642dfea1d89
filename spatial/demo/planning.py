"""The demo's planning inputs (SPEC section 14): repeated planned outages and arrears disconnections.

Written as their own files (``planning-outages.csv``, ``planning-works.csv``,
``disconnections.csv``) from their own random generator, so the other demo files stay as they
were. Relative to the anchor (a Beijing midnight):

* some non-core feeders get a planned outage record on one of their areas 20-45 days before
  the anchor, an outage work on that area 5-40 days after it, and an outage work on the whole
  feeder 3-12 days after that: two repeat-planned findings on the area (record → work,
  work → work), one on each other area of the feeder, and a merge candidate;
* old compounds (``old_compound`` overlay features, named by id or by name) get arrears
  disconnections of every kind the task-56 report knows: ``due`` (not reported, deadline
  ahead), ``late`` (reported after the deadline), ``ok`` (30 + 25 households on one day,
  reported in time), ``missing``, an important user with 3 households, and some that need no
  report (30 households; a safety disconnection, which does not add up).

Records lie before the anchor; works and disconnections may lie after it (they are plans);
``reported_at`` is never after the anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import shapely

from spatial.demo.boundaries import Overlay

DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)
FEEDER_SHARE = 40
"""One repeat-planned scenario per this many non-core feeders (at least 2)."""


@dataclass
class Planning:
    """The generated planning inputs."""

    outages: pd.DataFrame
    works: pd.DataFrame
    disconnections: pd.DataFrame


def _iso(ts: pd.Timestamp) -> str:
    return str(ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def generate_planning(rng: np.random.Generator, areas: pd.DataFrame, core_area: np.ndarray,
                      compounds: list[Overlay], anchor: datetime) -> Planning:
    """Planned records and works that repeat, and disconnections in old compounds."""
    day0 = pd.Timestamp(anchor).tz_convert("Asia/Shanghai").normalize()
    morning = 8.5 * HOUR
    outages: list[dict[str, str]] = []
    works: list[dict[str, str]] = []
    free = areas.loc[~core_area]
    feeders = np.sort(free["feeder_id"].unique())
    n = min(len(feeders), max(2, len(feeders) // FEEDER_SHARE))
    for i, feeder in enumerate(rng.choice(feeders, n, replace=False) if n else []):
        here = np.sort(free.loc[free["feeder_id"] == feeder, "area_id"].to_numpy())
        area = str(rng.choice(here))
        before = int(rng.integers(20, 46))
        after = int(rng.integers(5, 41))
        gap = int(rng.integers(3, 13))
        start = day0 - before * DAY + morning
        outages.append({"outage_id": f"OT-P{i + 1:06d}", "asset_type": "area", "asset_id": area,
                        "start_time": _iso(start), "end_time": _iso(start + 4 * HOUR),
                        "cause": "planned", "work_id": ""})
        w1 = day0 + after * DAY + morning
        w2 = w1 + gap * DAY
        works.append({"work_id": f"WK-P{2 * i + 1:06d}", "asset_type": "area", "asset_id": area,
                      "planned_start": _iso(w1), "planned_end": _iso(w1 + 6 * HOUR), "method": "outage"})
        works.append({"work_id": f"WK-P{2 * i + 2:06d}", "asset_type": "feeder", "asset_id": str(feeder),
                      "planned_start": _iso(w2), "planned_end": _iso(w2 + 8 * HOUR), "method": "outage"})
    return Planning(
        outages=pd.DataFrame(outages, columns=["outage_id", "asset_type", "asset_id", "start_time",
                                               "end_time", "cause", "work_id"]),
        works=pd.DataFrame(works, columns=["work_id", "asset_type", "asset_id", "planned_start",
                                           "planned_end", "method"]),
        disconnections=_disconnections(rng, areas, compounds, day0),
    )


def _disconnections(rng: np.random.Generator, areas: pd.DataFrame, compounds: list[Overlay],
                    day0: pd.Timestamp) -> pd.DataFrame:
    """Six kinds of arrears disconnection, in turn, one compound each (its nearest area)."""
    rows: list[dict[str, object]] = []
    xs, ys = areas["x"].to_numpy(float), areas["y"].to_numpy(float)
    ids = areas["area_id"].to_numpy()

    def add(area: str, compound: str, households: int, start: pd.Timestamp,
            reported: pd.Timestamp | None = None, important: bool = False,
            reason: str = "arrears") -> None:
        rows.append({"disconnection_id": f"DC-{len(rows) + 1:06d}", "area_id": area,
                     "compound": compound, "households": households,
                     "important_user": "true" if important else "false", "reason": reason,
                     "planned_start": _iso(start),
                     "reported_at": "" if reported is None else _iso(reported)})

    for i, c in enumerate(sorted((c for c in compounds if c.layer == "old_compound"),
                                 key=lambda c: c.feature_id)):
        p = shapely.centroid(c.geom)
        area = str(ids[int(np.argmin((xs - p.x) ** 2 + (ys - p.y) ** 2))])
        hh = int(rng.integers(51, 121))
        kind = i % 6
        if kind == 0:    # due: not reported; the deadline is the anchor's evening
            add(area, c.feature_id, hh, day0 + 3 * DAY + 18 * HOUR)
        elif kind == 1:  # late: reported 48 h ahead of a past disconnection
            start = day0 - int(rng.integers(5, 25)) * DAY + 9 * HOUR
            add(area, c.name, hh, start, reported=start - 48 * HOUR)
        elif kind == 2:  # ok: 30 + 25 households on one day, by id and by name, reported 4 days ahead
            start = day0 - int(rng.integers(5, 25)) * DAY + 9 * HOUR
            add(area, c.feature_id, 30, start, reported=start - 96 * HOUR)
            add(area, c.name, 25, start + 5 * HOUR, reported=start - 96 * HOUR)
        elif kind == 3:  # missing: the deadline has passed, the disconnection is tomorrow
            add(area, c.feature_id, hh, day0 + DAY + 9 * HOUR)
        elif kind == 4:  # an important user: 3 households, reported in time
            start = day0 + 5 * DAY + 9 * HOUR
            add(area, c.feature_id, 3, start, important=True, reported=day0 - DAY)
        else:            # no report needed: 30 households, and 40 for safety the same day
            start = day0 + 6 * DAY + 9 * HOUR
            add(area, c.feature_id, 30, start)
            add(area, c.feature_id, 40, start + HOUR, reason="safety")
    columns = ["disconnection_id", "area_id", "compound", "households", "important_user", "reason",
               "planned_start", "reported_at"]
    return pd.DataFrame(rows, columns=columns)
