"""Time the province-scale quarterly remediation list and yearly reliability by county.

Builds its own database on the configured (embedded) cluster, COPYs a synthetic province into
it (1 province, 9 prefectures, 88 counties, 10,000 feeders, 200,000 areas with asset_region and
some tags, 1,000,000 outage records 2025-01..2026-09, 5 % of them on feeders, skewed so that
a few thousand assets are frequent), then times each report build (best of --repeat runs).
Usage: .venv/bin/python benchmarks/reports.py [--areas 200000] [--feeders 10000]
       [--outages 1000000] [--repeat 2] [--keep-db]
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

from benchmarks.scratch import create, drop, libpq, server  # noqa: E402

CAUSES = ["fault"] * 50 + ["planned"] * 20 + ["unknown"] * 5 + ["weather"] * 10 + \
    ["external"] * 10 + ["customer"] * 5


def square(lon: float, lat: float, size: float) -> str:
    x2, y2 = lon + size, lat + size
    return f"SRID=4326;MULTIPOLYGON((({lon} {lat},{x2} {lat},{x2} {y2},{lon} {y2},{lon} {lat})))"


def load(url: str, areas: int, feeders: int, outages: int, seed: int = 7) -> None:
    """COPY the synthetic province into the database."""
    rng = random.Random(seed)
    counties = [(f"52{p:02d}{c:02d}", f"52{p:02d}00") for p in range(1, 10) for c in range(1, 11)][:88]
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY admin_division (adcode, name, level, parent_adcode, geom) FROM STDIN") as cp:
            cp.write_row(("520000", "贵州省", "province", None, square(103.5, 24.5, 5)))
            for p in range(1, 10):
                cp.write_row((f"52{p:02d}00", f"地市{p}", "prefecture", "520000",
                              square(103.5 + p * 0.5, 24.5, 0.5)))
            for code, parent in counties:
                cp.write_row((code, f"区县{code}", "county", parent, square(103.5, 24.5, 0.05)))
        with cur.copy("COPY feeder (feeder_id, name, geom) FROM STDIN") as cp:
            for f in range(feeders):
                lon, lat = 104 + (f % 100) * 0.04, 25 + (f // 100) * 0.03
                cp.write_row((f"F{f:05d}", f"线路{f}",
                              f"SRID=4326;MULTILINESTRING(({lon} {lat},{lon + 0.02} {lat + 0.02}))"))
        per_feeder = max(1, areas // feeders)
        with cur.copy("COPY area (area_id, feeder_id, customers, name, geom) FROM STDIN") as cp:
            for a in range(areas):
                f = min(a // per_feeder, feeders - 1)
                lon, lat = 104 + (f % 100) * 0.04 + (a % per_feeder) * 0.001, 25 + (f // 100) * 0.03
                cp.write_row((f"A{a:06d}", f"F{f:05d}", rng.randint(20, 400), f"台区{a}",
                              square(lon, lat, 0.0009)))
        with cur.copy("COPY asset_region (asset_type, asset_id, county_adcode, prefecture_adcode) "
                      "FROM STDIN") as cp:
            for f in range(feeders):
                code, parent = counties[f % len(counties)]
                cp.write_row(("feeder", f"F{f:05d}", code, parent))
            for a in range(areas):
                code, parent = counties[min(a // per_feeder, feeders - 1) % len(counties)]
                cp.write_row(("area", f"A{a:06d}", code, parent))
        with cur.copy("COPY asset_tag (asset_type, asset_id, layer, share) FROM STDIN") as cp:
            layers = ["weak_supply_village", "ethnic_minority_area", "old_compound"]
            for a in range(0, areas, 7):
                cp.write_row(("area", f"A{a:06d}", layers[a % 3], 0.5 + (a % 50) / 100))
        start = datetime(2025, 1, 1, tzinfo=UTC)
        span = (datetime(2026, 10, 1, tzinfo=UTC) - start).total_seconds()
        with cur.copy("COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                      "cause) FROM STDIN") as cp:
            for i in range(outages):
                s = start + timedelta(seconds=rng.random() * span)
                minutes = rng.choice((1, 2, 3)) if rng.random() < 0.05 else rng.uniform(5, 360)
                e = None if rng.random() < 0.001 else s + timedelta(minutes=minutes)
                if rng.random() < 0.05:
                    asset = ("feeder", f"F{int(feeders * rng.random() ** 2):05d}")
                else:
                    asset = ("area", f"A{int(areas * rng.random() ** 3):06d}")
                cp.write_row((f"O{i:07d}", *asset, s, e, rng.choice(CAUSES)))
        conn.commit()
        conn.execute("ANALYZE")


def timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    """Build the database, time the two reports, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=200_000)
    parser.add_argument("--feeders", type=int, default=10_000)
    parser.add_argument("--outages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    from core.settings import Settings
    from monitoring.reports import reliability, remediation

    url = create(server().sqlalchemy_url(), f"gw_bench_reports_{uuid.uuid4().hex[:6]}")
    try:
        t0 = time.perf_counter()
        load(url, args.areas, args.feeders, args.outages)
        load_s = time.perf_counter() - t0
        settings = Settings(database_url=url)
        engine = create_engine(url)
        now = datetime(2026, 11, 1, tzinfo=UTC)
        results = []
        with Session(engine) as s:
            q_s, q = timed(lambda: remediation.build(session=s, settings=settings, quarter="2026Q2",
                                                     now=now), args.repeat)
            x_s, _ = timed(lambda: q.xlsx() if q.xlsx else b"", 1)  # type: ignore[attr-defined]
            r_s, r = timed(lambda: reliability.build(session=s, settings=settings, period="2026",
                                                     by="county", now=now), args.repeat)
            m_s, _ = timed(lambda: reliability.build(session=s, settings=settings, period="2026",
                                                     by="province", exclude_med=True, now=now), 1)
            s.rollback()
        results = [
            ("remediation --quarter 2026Q2 (build)", q_s, f"{len(q.rows)} rows"),  # type: ignore[attr-defined]
            ("remediation --quarter 2026Q2 (xlsx)", x_s, ""),
            ("reliability --period 2026 --by county", r_s, f"{len(r.rows)} rows"),  # type: ignore[attr-defined]
            ("reliability --period 2026 --by province --exclude-med", m_s, ""),
        ]
        engine.dispose()
        print(f"# reports benchmark: {args.areas} areas, {args.feeders} feeders, {args.outages} "
              f"outage records (load {load_s:.1f} s); {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, best of {args.repeat}")
        print(f"{'report':<58}{'seconds':>9}  result")
        for name, secs, note in results:
            print(f"{name:<58}{secs:>9.2f}  {note}")
    finally:
        if not args.keep_db:
            drop(url)


if __name__ == "__main__":
    main()
