"""Time PV hosting capacity (SPEC section 15) at province scale against its targets.

Builds its own database on the configured (embedded) cluster and COPYs a synthetic province
into it, shaped like the province demo: 88 counties, 10,000 feeders of 20 areas (200,000 areas,
transformers of 100-630 kVA), a noon load for 96 % of the areas, and 300,000 PV installations
(about 5-30 kW, a quarter registered, the rest connected) on the areas of about a quarter of the
feeders. Then it times, best of ``--repeat``:

- the computation of the current quarter (S_d, C1, C2 and the grade of every area, the worst
  grade of every feeder, stored with the parameters): target 10 s (issue 15);
- ``report hosting-capacity --quarter Q`` as stored (build), and as xlsx and csv;
- the public document ``/public/hosting-capacity.json`` (the SQL that makes it, and its gzip);
- one hosting vector tile at zoom 10.

With ``--province-demo`` it runs on the province demo itself instead (the database
``benchmarks/maps.py`` builds and keeps, ``gw_bench_maps_province_demo``: 200,000 areas with a
year of history): the demo's own generator (``spatial.demo.hosting``) writes the area loads and
PV of those areas, which go in through the real ingest path (timed too), then the same runs.

Usage: .venv/bin/python benchmarks/hosting.py [--areas 200000] [--pv 300000] [--repeat 2] [--keep-db]
                                              [--province-demo]
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import platform
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, libpq, loadavg, server, timed, url_of  # noqa: E402

PER_FEEDER = 20
COUNTIES = 88
SIZES = (100.0, 200.0, 315.0, 400.0, 630.0)
TARGETS = {"compute": 10.0, "report": 5.0, "xlsx": 10.0, "csv": 5.0, "public": 5.0, "tile": 1.0}


def square(lon: float, lat: float, size: float) -> str:
    x2, y2 = lon + size, lat + size
    return f"SRID=4326;MULTIPOLYGON((({lon} {lat},{x2} {lat},{x2} {y2},{lon} {y2},{lon} {lat})))"


def load(url: str, areas: int, pv: int, seed: int = 15) -> dict[str, int]:
    """COPY the synthetic province into the database; the counts of what was written."""
    rng = random.Random(seed)
    feeders = areas // PER_FEEDER
    counts = {"feeders": feeders, "areas": areas, "loads": 0, "pv": pv}
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY admin_division (adcode, name, level, parent_adcode, geom) FROM STDIN") as cp:
            for c in range(COUNTIES):
                cp.write_row((f"52{c:04d}", f"县{c}", "county", "520000",
                              square(104 + (c % 10) * 0.4, 25 + (c // 10) * 0.3, 0.4)))
        with cur.copy("COPY feeder (feeder_id, name, geom) FROM STDIN") as cp:
            for f in range(feeders):
                lon, lat = 104 + (f % 100) * 0.04, 25 + (f // 100) * 0.03
                cp.write_row((f"F{f:05d}", f"线路{f}",
                              f"SRID=4326;MULTILINESTRING(({lon} {lat},{lon + 0.02} {lat + 0.02}))"))
        caps: list[float] = []
        with cur.copy("COPY area (area_id, feeder_id, customers, name, capacity_kva, geom) FROM STDIN") as cp:
            for a in range(areas):
                f = a // PER_FEEDER
                lon, lat = 104 + (f % 100) * 0.04 + (a % PER_FEEDER) * 0.001, 25 + (f // 100) * 0.03
                customers = rng.randint(5, 400)
                cap = SIZES[sum(customers >= s for s in (60, 120, 200, 300))]
                caps.append(cap)
                cp.write_row((f"A{a:06d}", f"F{f:05d}", customers, f"台区{a}", cap, square(lon, lat, 0.0009)))
        with cur.copy("COPY asset_region (asset_type, asset_id, county_adcode, prefecture_adcode) "
                      "FROM STDIN") as cp:
            for a in range(areas):
                cp.write_row(("area", f"A{a:06d}", f"52{(a // PER_FEEDER) % COUNTIES:04d}", "520000"))
        with cur.copy("COPY area_load (area_id, typical_load_kw) FROM STDIN") as cp:
            for a in range(areas):
                if rng.random() < 0.96:
                    cp.write_row((f"A{a:06d}", round(caps[a] * rng.uniform(0.05, 0.5), 1)))
                    counts["loads"] += 1
        with_pv = [f for f in range(feeders) if rng.random() < 0.25]
        with cur.copy("COPY pv_unit (pv_id, area_id, kw, status) FROM STDIN") as cp:
            for i in range(pv):
                f = rng.choice(with_pv)
                cp.write_row((f"PV-{i:07d}", f"A{f * PER_FEEDER + rng.randrange(PER_FEEDER):06d}",
                              rng.choice((5, 8, 10, 12, 15, 20, 25, 30)) * rng.uniform(0.8, 1.2),
                              "registered" if rng.random() < 0.25 else "connected"))
        conn.commit()
        conn.execute("ANALYZE")
    return counts


PROVINCE_DEMO_DB = "gw_bench_maps_province_demo"


def load_province_demo(url: str) -> tuple[dict[str, int], float]:
    """The province demo's areas get the demo's loads and PV through the ingest path.

    Returns the counts and the seconds the two ingests took (COPY, validation, accounting).
    """
    import tempfile

    import numpy as np
    import pandas as pd

    import migrations
    from ingest.service import ingest
    from spatial.demo.boundaries import URBAN
    from spatial.demo.hosting import generate_hosting

    migrations.upgrade(url)
    with psycopg.connect(libpq(url)) as conn:
        # A rerun starts from no loads and no PV, so that every row is ingested as new.
        conn.execute("TRUNCATE area_load, pv_unit")
        conn.commit()
        areas = pd.DataFrame(conn.execute(
            "SELECT a.area_id, a.capacity_kva, a.customers, r.county_adcode AS county "
            "FROM area a LEFT JOIN asset_region r ON r.asset_type = 'area' AND r.asset_id = a.area_id "
            "ORDER BY a.area_id").fetchall(), columns=["area_id", "capacity_kva", "customers", "county"])
        feeders = conn.execute("SELECT count(*) FROM feeder").fetchone()
    if areas.empty:
        raise SystemExit(f"{PROVINCE_DEMO_DB} has no areas: "
                         "build it with benchmarks/maps.py --scale province")
    areas["county"] = areas["county"].fillna("520000")
    areas["urban"] = areas["county"].isin(URBAN)
    host = generate_hosting(np.random.default_rng([2026, 23]), areas)
    engine = create_engine(url)
    took = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for kind, frame in (("area-loads", host.loads), ("pv", host.pv)):
            path = Path(tmp) / f"{kind}.csv"
            frame.to_csv(path, index=False)
            t = time.perf_counter()
            with Session(engine) as s:
                result = ingest(session=s, kind=kind, source=path)
                s.commit()
            took += time.perf_counter() - t
            acct = result.accounting
            print(f"# ingest {kind}: {len(frame)} rows, {acct.accepted} accepted, "
                  f"{acct.updated} updated, {acct.duplicates} duplicates, {acct.rejected} rejected "
                  f"in {time.perf_counter() - t:.1f} s")
    engine.dispose()
    return {"areas": len(areas), "feeders": int(feeders[0]) if feeders else 0, "loads": len(host.loads),
            "pv": len(host.pv)}, took


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The Web Mercator tile holding (lon, lat) at zoom ``z``."""
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def main() -> None:
    """Build the database, time the computation, the report and the public document, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=200_000)
    parser.add_argument("--pv", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--province-demo", action="store_true",
                        help=f"Run on the kept province demo database ({PROVINCE_DEMO_DB}).")
    args = parser.parse_args()

    from core.settings import Settings
    from monitoring.hosting import capacity
    from monitoring.hosting import public as hosting_public
    from monitoring.reports import hosting_capacity
    from spatial import features

    if args.province_demo:
        url = url_of(server().sqlalchemy_url(), PROVINCE_DEMO_DB)
        args.keep_db = True
    else:
        url = create(server().sqlalchemy_url(), f"gw_bench_hosting_{uuid.uuid4().hex[:6]}")
    try:
        t0 = time.perf_counter()
        if args.province_demo:
            counts, load_s = load_province_demo(url)
        else:
            counts = load(url, args.areas, args.pv)
            load_s = time.perf_counter() - t0
        settings = Settings(database_url=url)
        engine = create_engine(url)
        now = datetime.now(UTC)
        quarter = capacity.current_quarter(now).label
        before = loadavg()

        def compute() -> capacity.Run:
            with Session(engine) as s:
                run = capacity.compute(session=s, settings=settings, quarter=quarter, now=now)
                s.commit()
                return run

        compute_s, run = timed(compute, args.repeat)
        with Session(engine) as s:
            report_s, report = timed(lambda: hosting_capacity.build(
                session=s, settings=settings, quarter=quarter, now=now), args.repeat)
            xlsx_s, xlsx = timed(lambda: report.render("xlsx"), 1)
            csv_s, _ = timed(lambda: report.render("csv"), 1)
            s.rollback()
        with psycopg.connect(libpq(url)) as conn:
            def document() -> bytes:
                row = conn.execute(hosting_public.document_sql(), {"quarter": quarter}).fetchone()
                assert row is not None
                body = str(row[0]).encode()
                gzip.compress(body, compresslevel=6, mtime=0)
                return body

            public_s, body = timed(document, args.repeat)
            tx, ty = tile_of(106.0, 26.5, 10)
            sql, params = features.tile_params("hosting", 10, tx, ty, settings.tag_min_share)
            tile_s, tile = timed(lambda: conn.execute(sql, params).fetchone(), args.repeat)
        engine.dispose()
        grades = {g: sum(1 for r in report.rows if r["asset_type"] == "area" and r["grade"] == g)
                  for g in capacity.GRADES}
        rows = [
            ("compute", f"compute {quarter} (store areas and feeders)", compute_s,
             f"{run.areas} areas, {run.feeders} feeders: {grades}"),
            ("report", f"report hosting-capacity --quarter {quarter}", report_s, f"{len(report.rows)} rows"),
            ("xlsx", "  ... as xlsx", xlsx_s, f"{len(xlsx) / 1e6:.1f} MB"),
            ("csv", "  ... as csv", csv_s, ""),
            ("public", "/public/hosting-capacity.json (SQL + gzip)", public_s,
             f"{len(body) / 1e6:.1f} MB, gzip {len(gzip.compress(body, 6, mtime=0)) / 1e6:.1f} MB"),
            ("tile", f"tile hosting/10/{tx}/{ty}", tile_s, f"{len(bytes(tile[0] or b'')) / 1e3:.0f} kB"),
        ]
        print(f"# hosting benchmark: {counts['areas']} areas, {counts['feeders']} feeders, "
              f"{counts['loads']} loads, {counts['pv']} PV rows "
              f"({'the province demo, ingested' if args.province_demo else 'synthetic, COPY'} "
              f"in {load_s:.1f} s); "
              f"Python {platform.python_version()}, {os.cpu_count()} CPUs, best of {args.repeat}; "
              f"loadavg before {before}, after {loadavg()}")
        print(f"{'run':<52}{'seconds':>9}{'target':>8}{'ratio':>7}  result")
        for key, name, secs, note in rows:
            print(f"{name:<52}{secs:>9.2f}{TARGETS[key]:>8.1f}{secs / TARGETS[key]:>7.2f}  {note}")
    finally:
        if not args.keep_db:
            drop(url)


if __name__ == "__main__":
    main()
