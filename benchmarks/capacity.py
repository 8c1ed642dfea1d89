"""The capacity model: bytes on disk per stored row, measured, and what a province needs a year.

Creates its own database on the configured (embedded) cluster, loads the registry of
benchmarks/ingest.py (20,000 meters in 500 areas, plus the storm registry), ingests a year of
meter events through the real path (ingest.service + the interruption refresh, as
`gridwatch ingest` does) and a year of outage records, runs the monitoring jobs once, then
reads the size of every table with its indexes and TOAST (hypertables through TimescaleDB's
hypertable_size). It prints bytes per meter event (raw and with everything derived from it),
per meter, per outage record, and projects disk per year for a province from the assumptions
given on the command line.

Usage: .venv/bin/python benchmarks/capacity.py [--events 1000000] [--records 50000]
       [--meters 13000000] [--events-per-meter-year 12] [--records-per-area-year 2]
       [--areas 200000] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest import AREAS, FEEDERS, generate, load_registry  # noqa: E402
from benchmarks.scratch import create, drop, libpq, server  # noqa: E402

DB = "gw_bench_capacity"
EVENT_TABLES = ("meter_event", "inferred_interruption", "area_meter_off_span", "ingest_change")
"""What one stored meter event costs: the raw row and what is derived from or kept for it."""


def records_file(path: Path, n: int, seed: int = 3) -> int:
    """``n`` outage records over the last year on the benchmark's areas and feeders."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=366)
    causes = ("fault", "planned", "weather", "external", "customer", "unknown")
    with path.open("w", encoding="utf-8") as f:
        f.write("outage_id,asset_type,asset_id,start_time,end_time,cause,estimated_end,progress\n")
        for i in range(n):
            t = start + timedelta(seconds=rng.randrange(0, 365 * 86400))
            end = t + timedelta(minutes=rng.randrange(5, 600))
            feeder = rng.random() < 0.1
            asset = f"F{rng.randrange(FEEDERS)}" if feeder else f"A{rng.randrange(AREAS)}"
            f.write(f"R{i},{'feeder' if feeder else 'area'},{asset},{t.isoformat()},"
                    f"{end.isoformat()},{rng.choice(causes)},{end.isoformat()},restored\n")
    return n


def sizes(url: str) -> dict[str, tuple[int, int]]:
    """{table: (rows, bytes with indexes and TOAST)} for every table of the schema."""
    out: dict[str, tuple[int, int]] = {}
    with psycopg.connect(libpq(url)) as conn:
        hyper = {r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables")}
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        for t in tables:
            rows = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()
            size = conn.execute(
                "SELECT hypertable_size(%s)" if t in hyper else "SELECT pg_total_relation_size(%s)",
                (t,)).fetchone()
            assert rows is not None and size is not None
            out[t] = (int(rows[0]), int(size[0] or 0))
    return out


def ingest(url: str, kind: str, file: Path) -> float:
    from sqlalchemy import create_engine

    from core.db import session_scope
    from core.settings import Settings
    from ingest import service
    from monitoring.follow import after_ingest

    settings = Settings(database_url=url)
    engine = create_engine(settings.sqlalchemy_url())
    t = time.perf_counter()
    with session_scope(engine) as s:
        service.ingest(session=s, kind=kind, source=file, name=str(file))
    after_ingest(engine=engine, settings=settings)
    engine.dispose()
    return time.perf_counter() - t


def monitor(url: str) -> float:
    from sqlalchemy import create_engine

    from core.settings import Settings
    from monitoring.jobs import run_all

    settings = Settings(database_url=url)
    engine = create_engine(settings.sqlalchemy_url())
    t = time.perf_counter()
    run_all(engine=engine, settings=settings)
    engine.dispose()
    return time.perf_counter() - t


def vacuum(url: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    return f"{n:,.1f} TB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--meters", type=int, default=13_000_000,
                        help="meters of the province to project for (Guizhou: ~13 M customers)")
    parser.add_argument("--areas", type=int, default=200_000)
    parser.add_argument("--events-per-meter-year", type=float, default=12.0,
                        help="off/on events a meter sends a year (2 per interruption it sees, "
                             "plus repeats and blinks)")
    parser.add_argument("--records-per-area-year", type=float, default=2.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    base = server()
    url = create(base.sqlalchemy_url(), DB, replace=True)
    try:
        load_registry(url)
        with tempfile.TemporaryDirectory() as tmp:
            events = Path(tmp) / "events.csv"
            recs = Path(tmp) / "records.csv"
            n_events = generate(events, args.events)
            n_records = records_file(recs, args.records)
            t_events = ingest(url, "meter-events", events)
            t_records = ingest(url, "outages", recs)
        t_monitor = monitor(url)
        vacuum(url)
        measured = sizes(url)
    finally:
        if not args.keep_db:
            drop(url)

    rows = {t: r for t, (r, _b) in measured.items()}
    size = {t: b for t, (_r, b) in measured.items()}
    per_event_raw = size["meter_event"] / max(rows["meter_event"], 1)
    per_event_all = sum(size.get(t, 0) for t in EVENT_TABLES) / max(rows["meter_event"], 1)
    per_meter = (size["meter"] + size.get("meter_last", 0)) / max(rows["meter"], 1)
    per_record = size["outage_record"] / max(rows["outage_record"], 1)
    per_area = size["area"] / max(rows["area"], 1)

    print(f"capacity: {n_events:,} meter events ingested in {t_events:.1f} s "
          f"({n_events / t_events:,.0f}/s), {n_records:,} outage records in {t_records:.1f} s, "
          f"monitoring run {t_monitor:.1f} s; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nmeasured (after VACUUM ANALYZE; sizes include indexes and TOAST):")
    print(f"  {'table':<28}{'rows':>12}{'bytes':>14}{'bytes/row':>11}")
    for t, (r, b) in sorted(measured.items(), key=lambda kv: -kv[1][1]):
        if b:
            print(f"  {t:<28}{r:>12,}{human(b):>14}{(b / r if r else 0):>11,.0f}")
    print(f"\n  one meter event: {per_event_raw:,.0f} B stored, {per_event_all:,.0f} B with what is "
          f"derived from it ({', '.join(EVENT_TABLES[1:])})")
    print(f"  one meter in the registry (with its last event): {per_meter:,.0f} B; "
          f"one area with its geometry: {per_area:,.0f} B; one outage record: {per_record:,.0f} B")

    events_year = args.meters * args.events_per_meter_year
    records_year = args.areas * args.records_per_area_year
    disk_year = events_year * per_event_all + records_year * per_record
    print(f"\nprojection for {args.meters:,} meters, {args.areas:,} areas "
          f"({args.events_per_meter_year:g} events per meter-year, {args.records_per_area_year:g} "
          "records per area-year):")
    print(f"  meter events: {events_year:,.0f} a year = {events_year / 365:,.0f} a day on average")
    print(f"  outage records: {records_year:,.0f} a year")
    print(f"  registry: {human(args.meters * per_meter)} (meters) + "
          f"{human(args.areas * per_area)} (areas)")
    print(f"  disk a year: {human(disk_year)}; per million meters a year: "
          f"{human(disk_year / args.meters * 1e6)}")
    print(f"  three years of raw events kept (GRIDWATCH_METER_EVENT_RETENTION_DAYS=1095): "
          f"{human(3 * disk_year)} plus the registry")


if __name__ == "__main__":
    main()
