"""Time the planning reports (SPEC section 14) on a province-scale dataset against the 5 s target.

Builds its own database on the configured (embedded) cluster and COPYs a synthetic province
into it, shaped like the province demo: 10,000 feeders of 20 areas (200,000 areas), and the
year 2026 of
- outage records: about 800,000 faults, external damage and the like on areas and feeders,
  about 60,000 planned records on areas (5 % of them 3 minutes or shorter), and a planned
  feeder record for 85 % of the outage works, carrying the work's work_id;
- maintenance works: about 12,000 a year on feeders (1.2 per feeder), three quarters of them
  with method ``outage``, in the dry season, plus 1,500 area works;
- 600 old-compound overlay features and about 150,000 disconnections (12,500 a month, 90 %
  arrears), a third of them in one of those compounds by id, the rest in named compounds or
  none, 70 % of them reported.

Then it times, best of ``--repeat``, each side by side with the target (ratio = time / 5 s):
- ``report repeat-planned --from 2026-01-01 --to 2026-12-31`` (build and xlsx);
- ``report merge-candidates --from 2026-01-01 --to 2026-12-31``;
- ``report arrears-prereport --month 2026-11 --as-of 2026-11-15`` (build and xlsx);
- the alert evaluators that run after every ingest and stream batch (``repeat_planned_outage``
  at 2026-10-15, with the works after it ahead, and the arrears pre-report alerts).

Usage: .venv/bin/python benchmarks/planning.py [--areas 200000] [--repeat 2] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, libpq, loadavg, server, timed  # noqa: E402

TARGET_S = 5.0
PER_FEEDER = 20
YEAR = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)          # 2026-01-01 00:00 Beijing
YEAR_S = 365 * 86400
DRY = [(0, 120), (300, 365)]                             # days of the year: Nov to Apr
NOISE = ["fault"] * 60 + ["weather"] * 15 + ["external"] * 15 + ["customer"] * 6 + ["unknown"] * 4


def square(lon: float, lat: float, size: float) -> str:
    x2, y2 = lon + size, lat + size
    return f"SRID=4326;MULTIPOLYGON((({lon} {lat},{x2} {lat},{x2} {y2},{lon} {y2},{lon} {lat})))"


def _dry_day(rng: random.Random) -> int:
    lo, hi = DRY[0] if rng.random() < 0.6 else DRY[1]
    return rng.randrange(lo, hi)


def load(url: str, areas: int, seed: int = 19) -> dict[str, int]:
    """COPY the synthetic province into the database; the counts of what was written."""
    rng = random.Random(seed)
    feeders = areas // PER_FEEDER
    counts = {"feeders": feeders, "areas": areas, "records": 0, "planned_records": 0, "works": 0,
              "disconnections": 0}
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY feeder (feeder_id, name, geom) FROM STDIN") as cp:
            for f in range(feeders):
                lon, lat = 104 + (f % 100) * 0.04, 25 + (f // 100) * 0.03
                cp.write_row((f"F{f:05d}", f"线路{f}",
                              f"SRID=4326;MULTILINESTRING(({lon} {lat},{lon + 0.02} {lat + 0.02}))"))
        with cur.copy("COPY area (area_id, feeder_id, customers, name, geom) FROM STDIN") as cp:
            for a in range(areas):
                f = a // PER_FEEDER
                lon, lat = 104 + (f % 100) * 0.04 + (a % PER_FEEDER) * 0.001, 25 + (f // 100) * 0.03
                cp.write_row((f"A{a:06d}", f"F{f:05d}", rng.randint(20, 400), f"台区{a}",
                              square(lon, lat, 0.0009)))
        with cur.copy("COPY overlay_feature (layer, feature_id, name, geom) FROM STDIN") as cp:
            for c in range(600):
                cp.write_row(("old_compound", f"OC-{c:04d}", f"老旧小区{c}",
                              square(104 + (c % 30) * 0.1, 25 + (c // 30) * 0.1, 0.01)))
        works: list[tuple[str, str, str, datetime, datetime, str]] = []
        for f in range(feeders):
            for _ in range(rng.choices((0, 1, 2, 3), (0.25, 0.4, 0.25, 0.1))[0]):
                st = YEAR + timedelta(days=_dry_day(rng), hours=8.5)
                method = "outage" if rng.random() < 0.75 else rng.choice(("live_line", "load_transfer"))
                works.append((f"WK-{len(works):06d}", "feeder", f"F{f:05d}", st,
                              st + timedelta(hours=rng.choice((4, 6, 8, 9))), method))
        for _ in range(1500):
            st = YEAR + timedelta(days=_dry_day(rng), hours=9)
            works.append((f"WK-{len(works):06d}", "area", f"A{rng.randrange(areas):06d}", st,
                          st + timedelta(hours=4), "outage"))
        with cur.copy("COPY maintenance_work (work_id, asset_type, asset_id, planned_start, "
                      "planned_end, method) FROM STDIN") as cp:
            for w in works:
                cp.write_row(w)
        counts["works"] = len(works)
        n = 0
        with cur.copy("COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                      "cause, work_id) FROM STDIN") as cp:
            for w in works:                                   # the works done as outages
                if w[5] == "outage" and rng.random() < 0.85:
                    st = w[3] + timedelta(minutes=rng.randrange(0, 30))
                    cp.write_row((f"OT-{n:07d}", w[1], w[2], st, st + (w[4] - w[3]) * 0.8,
                                  "planned", w[0]))
                    n += 1
            for _ in range(60_000):                           # transformer maintenance
                st = YEAR + timedelta(days=_dry_day(rng), hours=rng.uniform(8, 16))
                length = timedelta(minutes=rng.choice((2, 3)) if rng.random() < 0.05
                                   else rng.uniform(60, 480))
                cp.write_row((f"OT-{n:07d}", "area", f"A{rng.randrange(areas):06d}", st,
                              st + length, "planned", None))
                n += 1
            counts["planned_records"] = n
            for _ in range(800_000):                          # everything else
                st = YEAR + timedelta(seconds=rng.random() * YEAR_S)
                asset = (("feeder", f"F{rng.randrange(feeders):05d}") if rng.random() < 0.1
                         else ("area", f"A{rng.randrange(areas):06d}"))
                cp.write_row((f"OT-{n:07d}", *asset, st, st + timedelta(minutes=rng.uniform(1, 300)),
                              rng.choice(NOISE), None))
                n += 1
        counts["records"] = n
        with cur.copy("COPY disconnection (disconnection_id, area_id, compound, households, "
                      "important_user, reason, planned_start, reported_at) FROM STDIN") as cp:
            for i in range(150_000):
                st = YEAR + timedelta(days=rng.randrange(365), hours=rng.uniform(8, 17))
                pick = rng.random()
                compound = (f"OC-{rng.randrange(600):04d}" if pick < 0.33
                            else f"小区{rng.randrange(20_000)}" if pick < 0.9 else None)
                reported = (st - timedelta(hours=rng.uniform(0, 200))) if rng.random() < 0.7 else None
                cp.write_row((f"DC-{i:06d}", f"A{rng.randrange(areas):06d}", compound,
                              rng.randint(1, 40), rng.random() < 0.01,
                              "arrears" if rng.random() < 0.9 else rng.choice(("safety", "other")),
                              st, reported))
        counts["disconnections"] = 150_000
        conn.commit()
        conn.execute("ANALYZE")
    return counts


def main() -> None:
    """Build the database, time the reports and alert evaluators, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    from core.settings import Settings
    from monitoring.alerts import conditions
    from monitoring.reports import arrears_prereport, merge_candidates, repeat_planned

    url = create(server().sqlalchemy_url(), f"gw_bench_planning_{uuid.uuid4().hex[:6]}")
    try:
        t0 = time.perf_counter()
        counts = load(url, args.areas)
        load_s = time.perf_counter() - t0
        settings = Settings(database_url=url)
        engine = create_engine(url)
        year = (YEAR, YEAR + timedelta(days=365))
        nov15 = datetime(2026, 11, 14, 16, tzinfo=UTC)
        oct15 = datetime(2026, 10, 14, 16, tzinfo=UTC)
        before = loadavg()
        with Session(engine) as s:
            rp_s, rp = timed(lambda: repeat_planned.build(session=s, settings=settings,
                                                          start=year[0], end=year[1]), args.repeat)
            rpx_s, _ = timed(lambda: rp.render("xlsx"), 1)
            mc_s, mc = timed(lambda: merge_candidates.build(session=s, settings=settings,
                                                            start=year[0], end=year[1]), args.repeat)
            ar_s, ar = timed(lambda: arrears_prereport.build(session=s, settings=settings,
                                                             month="2026-11", as_of=nov15), args.repeat)
            arx_s, _ = timed(lambda: ar.render("xlsx"), 1)
            al_s, al = timed(lambda: conditions.repeat_planned_outage(session=s, settings=settings,
                                                                      as_of=oct15), args.repeat)
            aa_s, aa = timed(lambda: conditions.arrears_prereports(session=s, settings=settings,
                                                                   as_of=nov15), args.repeat)
            s.rollback()
        engine.dispose()
        rows = [
            ("repeat-planned --from 2026-01-01 --to 2026-12-31", rp_s, f"{len(rp.rows)} findings"),
            ("  ... as xlsx", rpx_s, ""),
            ("merge-candidates --from 2026-01-01 --to 2026-12-31", mc_s, f"{len(mc.rows)} pairs"),
            ("arrears-prereport --month 2026-11 --as-of 2026-11-15", ar_s,
             f"{len(ar.rows)} rows {ar.meta['statuses']}"),
            ("  ... as xlsx", arx_s, ""),
            ("alert repeat_planned_outage at 2026-10-15", al_s, f"{len(al)} works"),
            ("alerts arrears_prereport_* at 2026-11-15", aa_s, f"{len(aa)} disconnections"),
        ]
        print(f"# planning benchmark: {counts['areas']} areas, {counts['feeders']} feeders, "
              f"{counts['works']} works, {counts['records']} outage records "
              f"({counts['planned_records']} planned), {counts['disconnections']} disconnections "
              f"(load {load_s:.0f} s); Python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"best of {args.repeat}; loadavg before {before}, after {loadavg()}")
        print(f"{'run':<56}{'seconds':>9}{'target':>8}{'ratio':>7}  result")
        for name, secs, note in rows:
            print(f"{name:<56}{secs:>9.2f}{TARGET_S:>8.1f}{secs / TARGET_S:>7.2f}  {note}")
    finally:
        if not args.keep_db:
            drop(url)


if __name__ == "__main__":
    main()
