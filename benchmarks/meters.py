"""The meter registry load (`gridwatch load meters`) side by side with a raw COPY of the same file.

Usage: .venv/bin/python benchmarks/meters.py [--meters 10930944] [--areas 200000] [--seed 7]
       [--skip-equal] [--keep-db]
Creates its own database on the configured (embedded) cluster with province-scale areas
(200,000 areas like the province demo's, ``TQ-<county>-<n>`` on ~9,800 feeders), writes a
registry CSV of ``--meters`` meters in the demo's shape (``M000000001``…, one per customer,
grouped by area, lon/lat with 6 decimals around the area) and, in one run, times:
  a)  raw COPY of the file (client-side, FORMAT csv) into a plain table of its four columns,
      no key, no index: the floor, what storing the bytes costs;
  a') raw COPY of the file into a table equal to ``meter`` (the same primary key, foreign key
      to ``area``, area index and GiST index; the point a generated column of lon/lat);
  b)  `gridwatch load meters FILE` into an empty registry;
  c)  the same file again (the daily resync when nothing changed: all duplicates);
  d)  a file with 1 % of the meters changed (half moved to another area, half moved about
      10 m) and 0.5 % left out. The load never deletes (docs/security.md), so the left-out
      meters stay registered; the file is 0.5 % shorter.
b–d run the real command in a child process: its wall clock is what the user waits for
(start-up, load, the inferred-interruption refresh, commit); the load's phases and the
refresh come from its ``--debug`` log. A CHECKPOINT precedes each step. Prints rows/s for
each step and the ratio of each rate to each raw COPY's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import admin_conninfo as scratch_admin  # noqa: E402
from benchmarks.scratch import create, drop, libpq, server  # noqa: E402

DEMO_METERS = 10_930_944  # the province demo's registry (seed 2026)
DEMO_AREAS = 200_000
FEEDERS_PER_AREA = 0.049  # ~9,800 feeders for 200,000 areas, as in the demo
COUNTIES = 88
RAW_TABLE = """
CREATE TABLE raw_meter (meter_id text, area_id text, lon double precision, lat double precision)
"""


def loadavg() -> str:
    """/proc/loadavg's three averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_areas(url: str, n_areas: int, n_meters: int, seed: int) -> tuple[list[str], np.ndarray,
                                                                          np.ndarray, np.ndarray]:
    """Store feeders and areas; return area ids, meters per area and their centres (x, y).

    Customers per area as the demo draws them (urban lognormal around 140, rural around 30;
    15 % urban), scaled so that they add up to ``n_meters``.
    """
    rng = np.random.default_rng(seed)
    urban = rng.random(n_areas) < 0.15
    weight = np.where(urban, np.clip(rng.lognormal(np.log(140), 0.5, n_areas), 30, 600),
                      np.clip(rng.lognormal(np.log(30), 0.6, n_areas), 5, 200))
    counts = np.floor(weight / weight.sum() * n_meters).astype(np.int64)
    short = n_meters - int(counts.sum())
    counts[rng.choice(n_areas, short, replace=False)] += 1
    per_county = -(-n_areas // COUNTIES)
    ids = [f"TQ-{520102 + (i // per_county) * 10}-{i % per_county + 1:05d}" for i in range(n_areas)]
    x = rng.uniform(103.7, 109.4, n_areas)
    y = rng.uniform(24.7, 29.1, n_areas)
    feeders = max(1, round(n_areas * FEEDERS_PER_AREA))
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(
            "INSERT INTO feeder (feeder_id, name, geom) "
            "SELECT 'XL-' || f, f || '线', ST_Multi(ST_MakeLine(ST_MakePoint(106 + f * 1e-4, 26), "
            "ST_MakePoint(106 + f * 1e-4, 26.1)))::geometry(MultiLineString, 4326) "
            "FROM generate_series(0, %s - 1) f", (feeders,))
        with conn.cursor() as cur, cur.copy("COPY area (area_id, feeder_id, customers, name, geom) "
                                            "FROM STDIN") as cp:
            for i, area in enumerate(ids):
                d = 0.002 if urban[i] else 0.006
                cp.write_row((area, f"XL-{i % feeders}", int(counts[i]), f"台区{i}",
                              f"SRID=4326;MULTIPOLYGON((({x[i] - d} {y[i] - d},{x[i] + d} {y[i] - d},"
                              f"{x[i] + d} {y[i] + d},{x[i] - d} {y[i] + d},{x[i] - d} {y[i] - d})))"))
        conn.execute("ANALYZE feeder; ANALYZE area")
    return ids, counts, x, y


def write_registry(path: Path, ids: list[str], counts: np.ndarray, x: np.ndarray, y: np.ndarray,
                   seed: int) -> int:
    """The registry CSV as the demo writes it: meters numbered in area order, lon/lat around it."""
    rng = np.random.default_rng(seed + 1)
    total = int(counts.sum())
    written = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("meter_id,area_id,lon,lat\n")
        step = 5_000
        for lo in range(0, len(ids), step):
            part = counts[lo:lo + step]
            idx = np.repeat(np.arange(lo, lo + len(part)), part)
            lon = (x[idx] + rng.normal(0, 0.003, len(idx))).round(6)
            lat = (y[idx] + rng.normal(0, 0.003, len(idx))).round(6)
            f.writelines(f"M{written + k + 1:09d},{ids[a]},{lo_},{la}\n"
                         for k, (a, lo_, la) in enumerate(zip(idx.tolist(), lon.tolist(),
                                                              lat.tolist(), strict=True)))
            written += len(idx)
    assert written == total
    return written


def write_resync(src: Path, dst: Path, ids: list[str], seed: int) -> tuple[int, int, int]:
    """``src`` with 1 % of the meters changed and 0.5 % left out: (rows, changed, left out)."""
    rng = random.Random(seed + 2)
    rows = changed = left = 0
    with src.open(encoding="utf-8") as f, dst.open("w", encoding="utf-8") as out:
        out.write(f.readline())
        for line in f:
            r = rng.random()
            if r < 0.005:
                left += 1
                continue
            if r < 0.010:
                meter, _, lon, lat = line.rstrip("\n").split(",")
                line = f"{meter},{rng.choice(ids)},{lon},{lat}\n"
                changed += 1
            elif r < 0.015:
                meter, area, lon, lat = line.rstrip("\n").split(",")
                line = f"{meter},{area},{float(lon) + 0.0001:.6f},{lat}\n"
                changed += 1
            out.write(line)
            rows += 1
    return rows, changed, left


def raw_copy(url: str, path: Path, table: str) -> tuple[float, int]:
    """COPY the file as it is into ``raw_meter`` made by ``table`` (a reference): seconds, rows."""
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_meter")
        conn.execute(table)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY raw_meter (meter_id, area_id, lon, lat) FROM STDIN "
                          "(FORMAT csv, HEADER true)") as cp, \
                    path.open("rb") as f:
                while block := f.read(1 << 20):
                    cp.write(block)
            rows = cur.rowcount
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE raw_meter")
        conn.commit()
    return seconds, rows


PHASE = re.compile(r"^(?P<at>\S+ \S+) INFO (?:spatial\.meters: meters [^:]*|monitoring\.interruptions): "
                   r"(?P<what>.*)$")
LOADED = re.compile(r"accepted, .* rejected in (?P<s>[0-9.]+) s$")


def load_command(url: str, path: Path) -> dict[str, Any]:
    """Run `gridwatch load meters` on ``path``: wall seconds, its JSON accounting, its phases.

    ``load`` is the library's own time (staging to the merged registry), ``refresh`` the
    inferred-interruption refresh the command runs after it, in the same transaction.
    """
    env = {**os.environ, "GRIDWATCH_DATABASE_URL": url, "GRIDWATCH_NO_PROGRESS": "1"}
    gridwatch = Path(sys.executable).with_name("gridwatch")
    started = time.perf_counter()
    out = subprocess.run([str(gridwatch), "--debug", "load", "meters", str(path), "--format", "json"],
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if out.returncode not in (0, 3):
        raise SystemExit(f"gridwatch load meters failed ({out.returncode}):\n{out.stderr[-3000:]}")
    phases = [(m.group("at"), m.group("what")) for line in out.stderr.splitlines()
              if (m := PHASE.match(line))]
    load = refresh = 0.0
    for i, (at, what) in enumerate(phases):
        if done := LOADED.search(what):
            load = float(done.group("s"))
            refreshed = [t for t, w in phases[i + 1:] if w.startswith("inferred interruptions")]
            if refreshed:
                refresh = (_stamp(refreshed[-1]) - _stamp(at)).total_seconds()
    return {"seconds": seconds, "acct": json.loads(out.stdout), "phases": phases, "load": load,
            "refresh": refresh}


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")


EQUAL_TABLE = """
CREATE TABLE raw_meter (
    meter_id   text PRIMARY KEY,
    area_id    text NOT NULL REFERENCES area (area_id),
    lon        double precision,
    lat        double precision,
    geom       geometry(Point, 4326)
               GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_meter_area_idx ON raw_meter (area_id);
CREATE INDEX raw_meter_geom_gist ON raw_meter USING gist (geom)
"""


def checkpoint(url: str) -> None:
    """CHECKPOINT (by the server's admin: the service role may not), so no step pays another's."""
    with psycopg.connect(scratch_admin(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def server_version(url: str) -> str:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'postgis'), "
            "current_setting('shared_buffers'), current_setting('work_mem'), "
            "current_setting('maintenance_work_mem'), "
            "current_setting('max_parallel_workers_per_gather')").fetchone()
    assert row is not None
    return (f"PostgreSQL {row[0]}, PostGIS {row[1]}, shared_buffers {row[2]}, work_mem {row[3]}, "
            f"maintenance_work_mem {row[4]}, max_parallel_workers_per_gather {row[5]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=DEMO_METERS)
    parser.add_argument("--areas", type=int, default=DEMO_AREAS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-equal", action="store_true",
                        help="leave out the COPY into a table equal to meter (slow: ~5 min at 10.9 M)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    before = loadavg()
    url = create(server().sqlalchemy_url(), f"gw_bench_meters_{uuid.uuid4().hex[:8]}")
    steps: list[tuple[str, int, float, dict[str, Any] | None]] = []
    try:
        version = server_version(url)
        with tempfile.TemporaryDirectory(prefix="gw-bench-meters-") as tmp:
            t = time.perf_counter()
            ids, counts, x, y = make_areas(url, args.areas, args.meters, args.seed)
            registry, resync = Path(tmp) / "meters.csv", Path(tmp) / "meters-resync.csv"
            n = write_registry(registry, ids, counts, x, y, args.seed)
            rows, changed, left = write_resync(registry, resync, ids, args.seed)
            print(f"  data: {args.areas} areas, {n} meters ({registry.stat().st_size / 1e6:.0f} MB), "
                  f"resync file {rows} rows ({changed} changed, {left} left out) in "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)

            def step(name: str, seconds: float, count: int, run: dict[str, Any] | None = None) -> None:
                steps.append((name, count, seconds, run))
                print(f"  {name}: {seconds:.1f} s (load average {loadavg()})", file=sys.stderr, flush=True)

            checkpoint(url)
            seconds, copied = raw_copy(url, registry, RAW_TABLE)
            step("a) raw COPY, plain table", seconds, copied)
            if not args.skip_equal:
                checkpoint(url)
                seconds, copied = raw_copy(url, registry, EQUAL_TABLE)
                step("a') raw COPY, table equal to meter", seconds, copied)
            for name, path, count in (("b) load, empty registry", registry, n),
                                      ("c) load again, nothing changed", registry, n),
                                      ("d) resync, 1 % changed, 0.5 % left out", resync, rows)):
                checkpoint(url)
                run = load_command(url, path)
                step(name, float(run["seconds"]), count, run)
            acct = [r["acct"] for _, _, _, r in steps if r is not None]
            assert acct[0]["accepted"] == n and acct[1]["duplicates"] == n, acct
            assert acct[2]["rejected"] == 0 and acct[2]["updated"] > 0, acct[2]
    finally:
        if not args.keep_db:
            drop(url)
    report(steps, before, version, args)


def report(steps: list[tuple[str, int, float, dict[str, Any] | None]], before: str,
           version: str, args: argparse.Namespace) -> None:
    """The table: rows/s of each step and its ratio to each raw COPY; the load's phases."""
    print(f"gridwatch meter registry load benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
          f"python {platform.python_version()}  nproc {os.cpu_count()}")
    print(version)
    print(f"load average before {before}, after {loadavg()}")
    print(f"{args.meters} meters in {args.areas} areas (demo shape, seed {args.seed}); b-d: "
          "`gridwatch load meters FILE` in a child process, wall clock = start-up + load + "
          "inferred-interruption refresh + commit")
    refs = [(name[:2], count / seconds) for name, count, seconds, run in steps if run is None]
    head = (f"{'step':<40} {'rows':>10} {'wall s':>7} {'load s':>7} {'refresh':>7} {'rows/s':>9}"
            + "".join(f" {'÷ ' + name:>6}" for name, _ in refs))
    print(head)
    print("-" * len(head))
    for name, count, seconds, run in steps:
        rate = count / seconds
        load = f"{run['load']:>7.1f} {run['refresh']:>7.1f}" if run else f"{'':>7} {'':>7}"
        print(f"{name:<40} {count:>10} {seconds:>7.1f} {load} {rate:>9,.0f}"
              + "".join(f" {rate / ref:>6.2f}" for _, ref in refs))
    for name, _, _, run in steps:
        if run is None:
            continue
        a = run["acct"]
        print(f"{name}: accepted {a['accepted']}, updated {a['updated']}, duplicates "
              f"{a['duplicates']}, rejected {a['rejected']}")
        for at, what in run["phases"]:
            print(f"    {at[11:]}  {what}")


if __name__ == "__main__":
    main()
