"""Ingest throughput: the library path of `gridwatch ingest meter-events` against a raw COPY.

Creates its own database on the configured (embedded) cluster with two registries, generates
meter-event CSVs in a temp dir, and for each shape and size runs, each in a fresh child process
(so peak RSS is that run's own):
  * raw:    COPY of the CSV into an equivalent hypertable with the same unique index;
  * ingest: ingest.service.ingest + commit + monitoring.interruptions.refresh_committed
    (what the CLI does).
Shapes (every time within the last year, relative to now, so inside the retention horizon):
  * mixed: 20,000 meters in 500 areas; half area-wide last gasps, half single-meter blinks;
  * storm: 10,000 meters in 200 areas; every event is part of an area-wide outage (all meters
    of the area go off within seconds, some lag or miss, and come back minutes to hours
    later), written episode by episode, meter by meter; 1,000,000 events are 10,000 episodes.
Usage: .venv/bin/python benchmarks/ingest.py [--shapes mixed,storm] [--sizes 250000,1000000]
       [--repeat N] [--keep-db]
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
from core.clock import LOCAL_TZ  # noqa: E402

AREAS, METERS_PER_AREA, FEEDERS = 500, 40, 50
STORM_AREAS, STORM_METERS_PER_AREA = 200, 50
"""The storm registry: meters 'S<area>-<m>' in areas 'SA<area>' (beside the mixed one)."""
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
            INSERT INTO area (area_id, feeder_id, customers, geom)
            SELECT 'SA' || a, 'F' || (a %% %(feeders)s), 50,
                   ST_Multi(ST_MakeEnvelope(106 + a * 0.001, 26.1, 106.0009 + a * 0.001, 26.101,
                                            4326))
              FROM generate_series(0, %(sareas)s - 1) a;
            INSERT INTO meter (meter_id, area_id)
            SELECT 'S' || a || '-' || m, 'SA' || a
              FROM generate_series(0, %(sareas)s - 1) a, generate_series(0, %(smpa)s - 1) m;
            ANALYZE feeder, area, meter;
            """.replace("%(feeders)s", str(FEEDERS)).replace("%(areas)s", str(AREAS))
            .replace("%(mpa)s", str(METERS_PER_AREA)).replace("%(sareas)s", str(STORM_AREAS))
            .replace("%(smpa)s", str(STORM_METERS_PER_AREA)).replace("%%", "%")
        )
        conn.execute(RAW_TABLE)


def year_start() -> datetime:
    """Midnight UTC a little over a year ago: every generated time is in the last year."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=367)


def generate(path: Path, n: int, seed: int = 1) -> int:
    """Write ``n`` events: half area-wide outages (last gasps), half single-meter blinks."""
    rng = random.Random(seed)
    start = year_start()
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
                ts = (day_start + timedelta(seconds=sec)).astimezone(LOCAL_TZ)
                f.write(f"{meter},{ts.isoformat()},{kind},\n")
            written += target
    return written


def storm_episode(rng: random.Random, area: int, start: int) -> list[tuple[str, int, str]]:
    """One area-wide outage: (meter_id, second, kind) for ``STORM_METERS_PER_AREA`` meters.

    Every meter sends its last gasp (`off`) within 5 s of ``start``, a few lag by up to a
    minute; power returns after 2 minutes to 6 hours and the meters report `on` within 30 s.
    Like real last-gasp data some meters miss their `off` (the capacitor ran out) and as many
    others send it twice (a retry): always ``2 * STORM_METERS_PER_AREA`` events.
    """
    back = start + int(rng.expovariate(1 / 3600)) % 21_600 + 120
    meters = [f"S{area}-{m}" for m in range(STORM_METERS_PER_AREA)]
    missing = set(rng.sample(range(STORM_METERS_PER_AREA), rng.choice((0, 0, 1, 2))))
    retries = rng.sample([m for m in range(STORM_METERS_PER_AREA) if m not in missing],
                         len(missing))
    events = []
    for m, meter in enumerate(meters):
        if m not in missing:
            lag = rng.randrange(5, 60) if rng.random() < 0.05 else rng.randrange(0, 5)
            events.append((meter, start + lag, "off"))
            if m in retries:
                events.append((meter, start + lag + rng.randrange(1, 10), "off"))
        events.append((meter, back + rng.randrange(0, 30), "on"))
    return events


def generate_storm(path: Path, n: int, seed: int = 2) -> int:
    """Write ``n`` events of area-wide outages (``storm_episode``), one episode after another.

    ``n / 100`` episodes (10,000 for 1,000,000 events) spread over one year and over
    ``STORM_AREAS`` areas, one at a time per area. Written as a generator or a head-end export
    by outage would write them: episodes in order of their start, each episode meter by meter
    (`off`, then `on`), so the file is only roughly in time order.
    """
    rng = random.Random(seed)
    start = year_start()
    per_episode = 2 * STORM_METERS_PER_AREA
    episodes = -(-n // per_episode)
    year = 365 * 86_400
    plan: list[tuple[int, int]] = []
    for area in range(STORM_AREAS):
        count = episodes // STORM_AREAS + (area < episodes % STORM_AREAS)
        if not count:
            continue
        slot = year // count          # one episode per slot: episodes of an area never overlap
        plan += [(i * slot + rng.randrange(0, slot - 7 * 3600), area) for i in range(count)]
    plan.sort()
    written = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("meter_id,time,kind,event_id\n")
        for sec, area in plan:
            for meter, t, kind in storm_episode(rng, area, sec):
                if written == n:
                    break
                ts = (start + timedelta(seconds=t)).astimezone(LOCAL_TZ)
                f.write(f"{meter},{ts.isoformat()},{kind},\n")
                written += 1
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
    from sqlalchemy import create_engine, text

    from core.db import session_scope
    from core.settings import Settings
    from ingest import service
    from monitoring import interruptions

    settings = Settings(database_url=url)
    engine = create_engine(settings.sqlalchemy_url())
    t = time.perf_counter()
    with session_scope(engine) as s:
        result = service.ingest(session=s, kind="meter-events", source=file, name=str(file))
        t_commit = time.perf_counter()
    t_refresh = time.perf_counter()
    areas = interruptions.refresh_committed(engine=engine, settings=settings)
    end = time.perf_counter()
    with engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM inferred_interruption")).scalar_one()
    acct = result.accounting
    return {"seconds": end - t, "write_seconds": t_commit - t,
            "commit_seconds": t_refresh - t_commit, "refresh_seconds": end - t_refresh,
            "rows": acct.accepted, "rejected": acct.rejected, "duplicates": acct.duplicates,
            "areas": areas, "interruptions": found}


def run_child(mode: str, url: str, file: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url, "--file", str(file)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{mode} run failed:\n{out.stderr}")
    return json.loads(out.stdout)


def server_version(url: str) -> str:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT current_setting('server_version'), "
                           "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), "
                           "current_setting('shared_buffers')").fetchone()
    assert row is not None
    return f"PostgreSQL {row[0]}, TimescaleDB {row[1]}, shared_buffers {row[2]}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


GENERATORS = {"mixed": generate, "storm": generate_storm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="mixed,storm", help="mixed, storm or both (comma)")
    parser.add_argument("--sizes", default="250000,1000000")
    parser.add_argument("--repeat", type=int, default=1, help="measure each file this often")
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
    shapes = args.shapes.split(",")
    if unknown := [x for x in shapes if x not in GENERATORS]:
        raise SystemExit(f"unknown shape(s): {', '.join(unknown)}; use mixed, storm")

    load_before = load()
    url = create(server().sqlalchemy_url(), f"gw_bench_{uuid.uuid4().hex[:8]}")
    try:
        load_registry(url)
        version = server_version(url)
        rows = []
        with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
            for shape in shapes:
                for n in (int(x) for x in args.sizes.split(",")):
                    file = Path(tmp) / f"{shape}_{n}.csv"
                    GENERATORS[shape](file, n)
                    for _ in range(args.repeat):
                        reset(url)
                        raw = run_child("raw", url, file)
                        ing = run_child("ingest", url, file)
                        assert ing["rows"] == raw["rows"] == n, (ing, raw)
                        rows.append((shape, n, file.stat().st_size / 1e6, raw, ing))
                        print(f"  {shape} {n}: raw {raw['seconds']:.2f} s, ingest "
                              f"{ing['seconds']:.2f} s, ratio {raw['seconds'] / ing['seconds']:.2f}",
                              file=sys.stderr, flush=True)
    finally:
        if not args.keep_db:
            drop(url)
    print(f"gridwatch ingest benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
          f"python {platform.python_version()}  nproc {os.cpu_count()}  {version}")
    print(f"load average before {load_before}, after {load()}")
    print(f"mixed: {AREAS * METERS_PER_AREA} meters in {AREAS} areas on {FEEDERS} feeders; half "
          "area-wide last gasps, half single-meter blinks, one year, +08:00 times, in time order")
    print(f"storm: {STORM_AREAS * STORM_METERS_PER_AREA} meters in {STORM_AREAS} areas; every "
          "event part of an area-wide outage (100 events an episode), one year, +08:00 times, "
          "episode by episode")
    print("raw = COPY csv into a hypertable with the same unique index; ingest = "
          "ingest.service.ingest + commit + interruptions.refresh_committed (the CLI path)")
    head = (f"{'shape':>5} {'events':>9} {'MB':>5} {'raw s':>6} {'ingest s':>8} {'(write':>6} "
            f"{'refresh)':>8} {'ingest ev/s':>11} {'ratio':>5} {'intervals':>9} "
            f"{'raw RSS MB':>10} {'ingest RSS MB':>13}")
    print(head)
    print("-" * len(head))
    for shape, n, mb, raw, ing in rows:
        print(f"{shape:>5} {n:>9} {mb:>5.1f} {raw['seconds']:>6.2f} {ing['seconds']:>8.2f} "
              f"{ing['write_seconds'] + ing['commit_seconds']:>6.2f} {ing['refresh_seconds']:>8.2f} "
              f"{n / ing['seconds']:>11,.0f} {raw['seconds'] / ing['seconds']:>5.2f} "
              f"{ing['interruptions']:>9} {raw['maxrss_mb']:>10.0f} {ing['maxrss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
