"""Ingest throughput: the library path of `gridwatch ingest meter-events` against a raw COPY.

Creates its own database on the configured (embedded) cluster, loads a registry of 20,000
meters in 500 areas, generates meter-event CSVs in a temp dir, and for each size runs, each in
a fresh child process (so peak RSS is that run's own):
  * raw:    COPY of the CSV into an equivalent hypertable with the same unique index;
  * ingest: ingest.service.ingest + commit + monitoring.interruptions.refresh_committed
    (what the CLI does).
Usage: .venv/bin/python benchmarks/ingest.py [--sizes 250000,1000000] [--keep-db]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

# This file is named ingest.py: keep its folder off the path so `import ingest` is the package,
# and put the repository root on it for `benchmarks.scratch`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import admin_conninfo as scratch_admin  # noqa: E402
from benchmarks.scratch import create, drop, libpq, server  # noqa: E402

AREAS, METERS_PER_AREA, FEEDERS = 500, 40, 50
RAW_TABLE = """
CREATE TABLE IF NOT EXISTS raw_meter_event (
    meter_id text NOT NULL, time timestamptz NOT NULL, kind text NOT NULL, event_id text,
    batch_id bigint);
SELECT create_hypertable('raw_meter_event', 'time', chunk_time_interval => interval '7 days',
                         if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS raw_meter_event_key ON raw_meter_event (meter_id, time, kind);
"""


def load_registry(url: str) -> None:
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(
            """
            INSERT INTO feeder (feeder_id, name, geom)
            SELECT 'F' || f, 'feeder ' || f, ST_Multi(ST_MakeLine(ST_MakePoint(106 + f * 0.01, 26),
                   ST_MakePoint(106 + f * 0.01, 26.2)))::geometry(MultiLineString, 4326)
              FROM generate_series(0, %(feeders)s - 1) f;
            INSERT INTO area (area_id, feeder_id, customers, geom)
            SELECT 'A' || a, 'F' || (a %% %(feeders)s), 40,
                   ST_Multi(ST_MakeEnvelope(106 + a * 0.001, 26, 106.0009 + a * 0.001, 26.001, 4326))
              FROM generate_series(0, %(areas)s - 1) a;
            INSERT INTO meter (meter_id, area_id)
            SELECT 'M' || a || '-' || m, 'A' || a
              FROM generate_series(0, %(areas)s - 1) a, generate_series(0, %(mpa)s - 1) m;
            ANALYZE feeder, area, meter;
            """.replace("%(feeders)s", str(FEEDERS)).replace("%(areas)s", str(AREAS))
            .replace("%(mpa)s", str(METERS_PER_AREA)).replace("%%", "%")
        )
        conn.execute(RAW_TABLE)


def generate(path: Path, n: int, seed: int = 1) -> int:
    """Write about ``n`` events: half area-wide outages (last gasps), half single-meter blinks."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    days = 365
    per_day = n / days
    written = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("meter_id,time,kind,event_id\n")
        for day in range(days):
            target = int(per_day * (day + 1)) - written
            day_start = start + timedelta(days=day)
            events: dict[tuple[str, int, str], None] = {}
            while len(events) < target:
                if rng.random() < 0.5:
                    a = rng.randrange(AREAS)
                    t = rng.randrange(0, 86_000)
                    back = t + rng.randrange(600, 7200)
                    for m in range(METERS_PER_AREA):
                        events[(f"M{a}-{m}", t + rng.randrange(0, 30), "off")] = None
                        events[(f"M{a}-{m}", back + rng.randrange(0, 60), "on")] = None
                else:
                    meter = f"M{rng.randrange(AREAS)}-{rng.randrange(METERS_PER_AREA)}"
                    t = rng.randrange(0, 86_000)
                    events[(meter, t, "off")] = None
                    events[(meter, t + rng.randrange(5, 3600), "on")] = None
            for meter, sec, kind in sorted(events, key=lambda e: e[1])[:target]:
                ts = (day_start + timedelta(seconds=sec)).astimezone(
                    __import__("core.clock", fromlist=["LOCAL_TZ"]).LOCAL_TZ)
                f.write(f"{meter},{ts.isoformat()},{kind},\n")
            written += target
    return written


def reset(url: str) -> None:
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("TRUNCATE meter_event, raw_meter_event, inferred_interruption, area_meter_off_span, "
                     "ingest_change, ingest_reject, ingest_batch")
    # CHECKPOINT needs a superuser (the service role is not one): the server's admin runs it.
    with psycopg.connect(scratch_admin(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def child_raw(url: str, file: Path) -> dict[str, float]:
    t = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY raw_meter_event (meter_id, time, kind, event_id) FROM STDIN "
                      "WITH (FORMAT csv, HEADER true)") as copy, file.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        rows = cur.rowcount
    return {"seconds": time.perf_counter() - t, "rows": rows}


def child_ingest(url: str, file: Path) -> dict[str, float]:
    from sqlalchemy import create_engine

    from core.db import session_scope
    from core.settings import Settings
    from ingest import service
    from monitoring import interruptions

    settings = Settings(database_url=url)
    engine = create_engine(settings.sqlalchemy_url())
    t = time.perf_counter()
    with session_scope(engine) as s:
        result = service.ingest(session=s, kind="meter-events", source=file, name=str(file))
    t_refresh = time.perf_counter()
    areas = interruptions.refresh_committed(engine=engine, settings=settings)
    refresh = time.perf_counter() - t_refresh
    acct = result.accounting
    return {"seconds": time.perf_counter() - t, "refresh_seconds": refresh,
            "rows": acct.accepted, "rejected": acct.rejected, "duplicates": acct.duplicates,
            "areas": areas}


def run_child(mode: str, url: str, file: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url, "--file", str(file)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{mode} run failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--child", choices=["raw", "ingest"])
    parser.add_argument("--url")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        fn = child_raw if args.child == "raw" else child_ingest
        res = fn(args.url, args.file)
        res["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return

    url = create(server().sqlalchemy_url(), f"gw_bench_{uuid.uuid4().hex[:8]}")
    try:
        load_registry(url)
        rows = []
        with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
            for n in (int(x) for x in args.sizes.split(",")):
                file = Path(tmp) / f"events_{n}.csv"
                generate(file, n)
                reset(url)
                raw = run_child("raw", url, file)
                ing = run_child("ingest", url, file)
                assert ing["rows"] == raw["rows"] == n, (ing, raw)
                rows.append((n, file.stat().st_size / 1e6, raw, ing))
        print(f"gridwatch ingest benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
              f"python {platform.python_version()}  cpus {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.1f}")
        print(f"registry: {AREAS * METERS_PER_AREA} meters in {AREAS} areas on {FEEDERS} feeders; "
              "events: half area-wide last gasps, half single-meter blinks, one year, +08:00 times")
        print("raw = COPY csv into a hypertable with the same unique index; ingest = "
              "ingest.service.ingest + commit + interruptions.refresh_committed (the CLI path)")
        head = (f"{'events':>9} {'MB':>6} {'raw s':>7} {'raw ev/s':>10} {'ingest s':>9} "
                f"{'(refresh s)':>11} {'ingest ev/s':>12} {'ratio':>6} {'raw RSS MB':>10} "
                f"{'ingest RSS MB':>13}")
        print(head)
        print("-" * len(head))
        for n, mb, raw, ing in rows:
            print(f"{n:>9} {mb:>6.1f} {raw['seconds']:>7.2f} {n / raw['seconds']:>10,.0f} "
                  f"{ing['seconds']:>9.2f} {ing['refresh_seconds']:>11.2f} "
                  f"{n / ing['seconds']:>12,.0f} {raw['seconds'] / ing['seconds']:>6.2f} "
                  f"{raw['maxrss_mb']:>10.0f} {ing['maxrss_mb']:>13.0f}")
    finally:
        if not args.keep_db:
            drop(url)


if __name__ == "__main__":
    main()
