"""Benchmark the public routes (no key) with many areas out: /public/outages.json and /public/lookup.

Usage: .venv/bin/python benchmarks/public.py [--areas 200000] [--out 2000] [--seconds 10]
       [--concurrency 32] [--rate 500] [--workers 1] [--only outages,lookup] [--reuse | --keep]

It creates the database ``gw_bench_public`` on the configured cluster (the embedded one by
default) and synthesises a province in the shape of the province demo with COPY: 88 counties,
``--areas`` transformer areas on feeders of 20 areas, one meter per customer (about 40 an area:
8.3 million meters at 200,000 areas), a year of outage records on areas and feeders (faults,
external damage, storms, planned work), inferred interruptions, maintenance works (some in the
coming week), and ``--out`` areas out now through open outage records with ``estimated_end``
and ``progress`` (40 % through open feeder records, the rest through area records, 5 % by
their meters only). ``monitoring.live.refresh_live`` fills ``live_outage``.

It then starts ``gridwatch serve`` (``--workers``, default 1 as the command's own default; no
scheduler, no stream consumer, no access log; ``GRIDWATCH_PUBLIC_RATE_PER_MINUTE`` raised,
since every request comes from 127.0.0.1) and drives each route from a second process (asyncio
with uvloop and raw keep-alive HTTP/1.1 sockets) in two ways, ``--seconds`` each after a 2 s
warm-up: a closed loop of ``--concurrency`` connections (the capacity), and a fixed rate of
``--rate`` requests a second over 64 connections, each latency counted from its scheduled
time (the latency at the target load). The load generator shares the two CPUs with the server
and PostgreSQL (its share is printed): on a machine of their own the server would do better.
The feed is asked for gzipped (as browsers ask), plain, and with a current ETag (304). The
lookups ask for random real meters (30 % in areas out now, the rest elsewhere) and a few
unknown ones (3 %, answered 404, as expected). It prints requests/s, p50/p95/p99, unexpected
answers, the body size, the CPU of the server, of its PostgreSQL backends and of the load
generator, and PASS/FAIL against the targets of issue 14 (>= 500 req/s, p95 <= 50 ms).
The database is dropped at the end unless ``--keep`` or ``--reuse``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import platform
import random
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scratch import create, drop, libpq, server, url_of  # noqa: E402

DB = "gw_bench_public"
WEST, SOUTH, EAST, NORTH = 103.6, 24.6, 109.6, 29.2  # Guizhou, roughly
AREAS_PER_FEEDER = 20
TARGET_RPS, TARGET_P95_MS = 500.0, 50.0
PROGRESS = ("reported", "dispatched", "on_site", "repairing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _square(lon: float, lat: float, r: float) -> str:
    x0, y0, x1, y1 = lon - r, lat - r, lon + r, lat + r
    return (f"SRID=4326;MULTIPOLYGON((({x0:.6f} {y0:.6f},{x1:.6f} {y0:.6f},{x1:.6f} {y1:.6f},"
            f"{x0:.6f} {y1:.6f},{x0:.6f} {y0:.6f})))")


# ---- the province --------------------------------------------------------------------------------


def synthesise(url: str, n_areas: int, n_out: int, now: datetime, seed: int = 14) -> dict[str, int]:
    """COPY the province, its year of history and ``n_out`` open outages into ``url``."""
    rnd = random.Random(seed)
    n_feeders = math.ceil(n_areas / AREAS_PER_FEEDER)
    counties = [f"52{p:02d}{c:02d}" for p in range(1, 10) for c in range(1, 11)][:88]
    cols = int(math.sqrt(n_areas * (EAST - WEST) / (NORTH - SOUTH)))
    rows = math.ceil(n_areas / cols)
    dx, dy = (EAST - WEST) / cols, (NORTH - SOUTH) / rows
    year = timedelta(days=365)

    def area(i: int) -> str:
        return f"TQ-{counties[(i // AREAS_PER_FEEDER) % len(counties)]}-{i:06d}"

    def feeder(f: int) -> str:
        return f"FD-{counties[f % len(counties)]}-{f:05d}"

    def past() -> datetime:
        # Ended by now - 1 day (at most 24 h long): no past record explains an open interval.
        return now - timedelta(days=2) - (year - timedelta(days=2)) * rnd.random()

    counts: dict[str, int] = {}
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY admin_division (adcode, name, level, parent_adcode, geom) FROM STDIN") as cp:
            cp.write_row(("520000", "贵州省", "province", None, _square(106.6, 26.9, 3)))
            for p in range(1, 10):
                cp.write_row((f"52{p:02d}00", f"地市{p}", "prefecture", "520000", _square(106, 26, 0.5)))
            for code in counties:
                cp.write_row((code, f"区县{code[2:]}", "county", code[:4] + "00", _square(106, 26, 0.1)))
        with cur.copy("COPY feeder (feeder_id, name, substation, voltage_kv, geom) FROM STDIN") as cp:
            for f in range(n_feeders):
                i = f * AREAS_PER_FEEDER
                x0, y0 = WEST + (i % cols) * dx, SOUTH + (i // cols) * dy
                x1 = x0 + AREAS_PER_FEEDER * dx
                cp.write_row((feeder(f), f"10kV{f}回线", f"变电站{f // 8}", 10.0,
                              f"SRID=4326;MULTILINESTRING(({x0:.6f} {y0:.6f},{x1:.6f} {y0:.6f}))"))
        customers: list[int] = []
        with cur.copy("COPY area (area_id, feeder_id, customers, name, capacity_kva, geom) FROM STDIN") as cp:
            for i in range(n_areas):
                urban = rnd.random() < 0.05  # the province demo: 3,500 areas in each city district
                c = int(min(600, max(30, rnd.lognormvariate(math.log(140), 0.5)))) if urban else \
                    int(min(200, max(5, rnd.lognormvariate(math.log(30), 0.6))))
                customers.append(c)
                lon, lat = WEST + (i % cols + 0.5) * dx, SOUTH + (i // cols + 0.5) * dy
                cp.write_row((area(i), feeder(i // AREAS_PER_FEEDER), c, f"台区{i}", 200.0,
                              _square(lon, lat, min(dx, dy) * 0.45)))
        with cur.copy("COPY asset_region (asset_type, asset_id, county_adcode, prefecture_adcode) "
                      "FROM STDIN") as cp:
            for f in range(n_feeders):
                code = counties[f % len(counties)]
                cp.write_row(("feeder", feeder(f), code, code[:4] + "00"))
            for i in range(n_areas):
                code = counties[(i // AREAS_PER_FEEDER) % len(counties)]
                cp.write_row(("area", area(i), code, code[:4] + "00"))
        conn.commit()
        # One meter per customer, numbered like the demo's (M000000001 …), made in the server.
        cur.execute("""
            INSERT INTO meter (meter_id, area_id)
            SELECT 'M' || lpad((a.first + g)::text, 9, '0'), a.area_id
              FROM (SELECT area_id, customers,
                           sum(customers) OVER (ORDER BY area_id) - customers AS first
                      FROM area) a
             CROSS JOIN LATERAL generate_series(1, a.customers) AS g""")
        counts["meters"] = cur.rowcount
        conn.commit()

        # A year of history (the province demo's rates): feeder faults and external damage,
        # summer storms, planned work on feeders; faults, customer trips and unknowns on areas.
        n_rec = 0
        works: list[tuple[Any, ...]] = []
        with cur.copy("COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                      "cause, work_id, estimated_end, progress) FROM STDIN") as cp:
            for f in range(n_feeders):
                for cause, rate, median_h in (("fault", 1.2, 2.0), ("external", 0.35, 3.0),
                                              ("weather", 0.4, 5.0)):
                    for _ in range(int(rate) + (rnd.random() < rate % 1)):
                        s = past()
                        h = min(24.0, rnd.lognormvariate(math.log(median_h), 0.7))
                        n_rec += 1
                        cp.write_row((f"OT-{n_rec:08d}", "feeder", feeder(f), s, s + timedelta(hours=h),
                                      cause, None, None, None))
                if rnd.random() < 0.9:
                    s = past().replace(hour=0, minute=30, second=0, microsecond=0)  # 08:30 local
                    work = f"WK-{len(works) + 1:07d}"
                    works.append((work, "feeder", feeder(f), s, s + timedelta(hours=8), "outage"))
                    n_rec += 1
                    cp.write_row((f"OT-{n_rec:08d}", "feeder", feeder(f), s, s + timedelta(hours=7),
                                  "planned", work, None, None))
            for _ in range(int(n_areas * 0.47)):
                s = past()
                h = min(12.0, max(0.1, rnd.lognormvariate(math.log(1.5), 0.6)))
                n_rec += 1
                cp.write_row((f"OT-{n_rec:08d}", "area", area(rnd.randrange(n_areas)), s,
                              s + timedelta(hours=h), rnd.choice(("fault",) * 7 + ("customer", "unknown")),
                              None, None, None))
        counts["past records"] = n_rec

        # Out now: open records on feeders (about 40 % of the areas out), on areas, and a few
        # areas out by their meters only (an open inferred interval that no record explains).
        out_feeders = rnd.sample(range(n_feeders), max(0, int(n_out * 0.4) // AREAS_PER_FEEDER))
        under = {i for f in out_feeders for i in range(f * AREAS_PER_FEEDER,
                                                        min(n_areas, (f + 1) * AREAS_PER_FEEDER))}
        meters_only = min(100, n_out // 20)
        rest = rnd.sample([i for i in range(n_areas) if i not in under], n_out - len(under))
        open_rows = []
        for f in out_feeders:
            open_rows.append(("feeder", feeder(f)))
        for i in rest[meters_only:]:
            open_rows.append(("area", area(i)))
        with cur.copy("COPY outage_record (outage_id, asset_type, asset_id, start_time, end_time, "
                      "cause, work_id, estimated_end, progress) FROM STDIN") as cp:
            for kind, asset in open_rows:
                s = now - timedelta(minutes=rnd.uniform(5, 600))
                n_rec += 1
                cp.write_row((f"OT-{n_rec:08d}", kind, asset, s, None,
                              rnd.choice(("fault", "fault", "weather", "external", "planned")), None,
                              s + timedelta(hours=rnd.uniform(2, 10)), rnd.choice(PROGRESS)))
        counts["open records"] = len(open_rows)

        # Inferred interruptions: a few past ones in 3,000 areas with meter events (the demo's
        # share), and the open ones of the areas out by their meters only.
        with cur.copy("COPY inferred_interruption (area_id, start_time, end_time, meters_off, "
                      "meters_total) FROM STDIN") as cp:
            seen: set[tuple[str, datetime]] = set()
            for i in rnd.sample(range(n_areas), min(n_areas, 3000)):
                if i in under or i in rest:
                    continue
                for _ in range(rnd.randint(1, 6)):
                    s = past().replace(microsecond=0)
                    if (area(i), s) not in seen:
                        seen.add((area(i), s))
                        cp.write_row((area(i), s, s + timedelta(minutes=rnd.uniform(4, 120)), 8, 10))
            for i in rest[:meters_only]:
                cp.write_row((area(i), now - timedelta(minutes=rnd.uniform(5, 90)), None, 9, 10))

        # Works: the past year's (above) and some in the coming week, on feeders and areas.
        for f in rnd.sample(range(n_feeders), n_feeders // 50):
            s = (now + timedelta(days=rnd.uniform(0.5, 6.5))).replace(minute=30, second=0, microsecond=0)
            works.append((f"WK-{len(works) + 1:07d}", "feeder", feeder(f), s, s + timedelta(hours=6),
                          rnd.choice(("outage", "live_line", "load_transfer"))))
        for i in rnd.sample(range(n_areas), n_areas // 100):
            s = (now + timedelta(days=rnd.uniform(0.5, 6.5))).replace(minute=0, second=0, microsecond=0)
            works.append((f"WK-{len(works) + 1:07d}", "area", area(i), s, s + timedelta(hours=4),
                          rnd.choice(("outage", "generator"))))
        with cur.copy("COPY maintenance_work (work_id, asset_type, asset_id, planned_start, planned_end, "
                      "method) FROM STDIN") as cp:
            for w in works:
                cp.write_row(w)
        counts["works"] = len(works)
        conn.commit()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def refresh(url: str, now: datetime) -> dict[str, Any]:
    """``monitoring.live.refresh_live`` at ``now``, committed: the areas and customers out."""
    from sqlalchemy import create_engine, pool
    from sqlalchemy.orm import Session

    from monitoring.live import refresh_live

    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as s:
        result = refresh_live(session=s, now=now)
        s.commit()
    engine.dispose()
    return result


def existing(base_url: str, n_areas: int, n_out: int) -> str | None:
    """The kept database when it has ``n_areas`` areas and ``n_out`` out now, else None."""
    url = url_of(base_url, DB)
    try:
        with psycopg.connect(libpq(url)) as conn:
            row = conn.execute("SELECT (SELECT count(*) FROM area), (SELECT count(*) FROM live_outage)"
                               ).fetchone()
    except psycopg.Error:
        return None
    if row is None or tuple(row) != (n_areas, n_out):
        return None
    import migrations

    migrations.upgrade(url)
    return url


def sample_meters(url: str, n: int, seed: int = 3) -> tuple[list[str], dict[str, int]]:
    """Lookup targets: ~30 % meters in areas out now, ~67 % elsewhere, 3 % unknown; shuffled."""
    rnd = random.Random(seed)
    n_out, n_unknown = int(n * 0.3), max(1, int(n * 0.03))
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("SELECT setseed(0.3)")
        out = [r[0] for r in conn.execute(
            "SELECT m.meter_id FROM meter m JOIN live_outage l ON l.area_id = m.area_id "
            "ORDER BY random() LIMIT %s", (n_out,))]
        total = conn.execute("SELECT count(*) FROM meter").fetchone()
        share = min(100.0, 100.0 * 3 * n / max(1, total[0] if total else 1))
        rest = [r[0] for r in conn.execute(
            f"SELECT m.meter_id FROM meter m TABLESAMPLE BERNOULLI ({share:.4f}) REPEATABLE (7) "
            "WHERE NOT EXISTS (SELECT 1 FROM live_outage l WHERE l.area_id = m.area_id) LIMIT %s",
            (n - len(out) - n_unknown,))]
    unknown = [f"X{rnd.randrange(10**9):09d}" for _ in range(n_unknown)]
    meters = out + rest + unknown
    rnd.shuffle(meters)
    return meters, {"out": len(out), "elsewhere": len(rest), "unknown": len(unknown)}


# ---- the load generator (its own process) --------------------------------------------------------


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Tally:
    """Latencies (s), answers by status and a sample of body sizes."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.status: dict[int, int] = {}
        self.sizes: list[int] = []

    async def exchange(self, conn: Stream, req: bytes, since: float) -> None:
        """Send ``req`` on ``conn``, read the whole answer, count it from ``since``."""
        reader, writer = conn
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        code = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        self.lat.append(time.perf_counter() - since)
        self.status[code] = self.status.get(code, 0) + 1
        if len(self.sizes) < 2000:
            self.sizes.append(length)


async def closed_loop(port: int, requests: list[bytes], concurrency: int, seconds: float,
                      tally: Tally) -> None:
    """``concurrency`` connections, each sending its next request as soon as the last is answered."""
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        conn = await asyncio.open_connection("127.0.0.1", port)
        i = random.randrange(len(requests))
        try:
            while time.perf_counter() < deadline:
                await tally.exchange(conn, requests[i % len(requests)], time.perf_counter())
                i += 1
        finally:
            conn[1].close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float, connections: int,
                    tally: Tally) -> None:
    """Requests sent on a fixed schedule (``rate`` a second), whether or not earlier ones are answered.

    Each latency runs from the request's scheduled time, so waiting for a free connection counts
    (no coordinated omission).
    """
    idle: asyncio.Queue[Stream] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    offset = random.randrange(len(requests))

    async def one(req: bytes, due: float) -> None:
        conn = await idle.get()
        try:
            await tally.exchange(conn, req, due)
        finally:
            idle.put_nowait(conn)

    tasks = []
    start, total, k = time.perf_counter(), int(rate * seconds), 0
    while k < total:
        now = time.perf_counter()
        while k < total and start + k / rate <= now:
            tasks.append(asyncio.create_task(one(requests[(offset + k) % len(requests)], start + k / rate)))
            k += 1
        if k < total:
            await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()


def _drive(port: int, requests: list[bytes], concurrency: int, rate: float, seconds: float, q: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    tally = Tally()

    async def main() -> float:
        t0 = time.perf_counter()
        if rate:
            await open_loop(port, requests, rate, seconds, concurrency, tally)
        else:
            await closed_loop(port, requests, concurrency, seconds, tally)
        return time.perf_counter() - t0

    cpu0 = time.process_time()
    elapsed = asyncio.run(main())
    q.put((tally.lat, tally.status, tally.sizes, elapsed, time.process_time() - cpu0))


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def process_cpu(pids: set[int], parents: frozenset[int] | set[int] = frozenset()) -> float:
    """CPU seconds (user + system) of ``pids`` and of the children of ``parents``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) in pids or int(fields[1]) in parents:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def backends(url: str) -> set[int]:
    """The PostgreSQL backends connected to the benchmark database (the server's pools)."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return {int(r[0]) for r in rows}


def load(port: int, requests: list[bytes], concurrency: int, seconds: float, server_pid: int,
         url: str, rate: float = 0.0) -> dict[str, Any]:
    """Drive ``requests`` (cycled from a random start) from a second process: ``concurrency``
    connections in a closed loop, or, with ``rate``, that many requests a second over them."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_drive, args=(port, requests, concurrency, rate, seconds, q))
    db = backends(url)
    cpu0, db0 = process_cpu({server_pid}, {server_pid}), process_cpu(db)
    proc.start()
    lat, status, sizes, elapsed, driver_cpu = q.get()
    cpu1, db1 = process_cpu({server_pid}, {server_pid}), process_cpu(db)
    proc.join()
    ms = sorted(x * 1000 for x in lat)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")

    return {"n": len(ms), "rps": len(ms) / elapsed if elapsed else 0.0, "p50": pct(50),
            "p95": pct(95), "p99": pct(99), "status": status,
            "bytes": sum(sizes) / len(sizes) if sizes else 0.0,
            "server_cpu": (cpu1 - cpu0) / elapsed, "db_cpu": (db1 - db0) / elapsed,
            "driver_cpu": driver_cpu / elapsed}


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRIDWATCH_DATABASE_URL": url, "GRIDWATCH_PUBLIC_RATE_PER_MINUTE": "1000000"}
    cmd = [str(REPO / ".venv/bin/gridwatch"), "serve", "--port", str(port), "--workers", str(workers),
           "--no-scheduler", "--no-stream", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))


def etag_of(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/public/outages.json",
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        r.read()
        return str(r.headers["ETag"])


Result = dict[str, Any]


def run(url: str, a: argparse.Namespace, now: datetime
        ) -> tuple[dict[str, Any], dict[str, int], list[Result]]:
    """Refresh the live state, serve ``url`` and drive each scenario; the results."""
    live = refresh(url, now)
    if live["areas"] != a.out:
        raise SystemExit(f"expected {a.out} areas out, live_outage has {live['areas']}")
    meters, mix = sample_meters(url, a.meters)
    port = free_port()
    srv = start_server(url, port, a.workers)
    results: list[Result] = []
    try:
        etag = etag_of(port)
        gz = {"Accept-Encoding": "gzip"}
        feed = "/public/outages.json"
        # name, requests, the answers expected, held to the targets
        scenarios: list[tuple[str, list[bytes], set[int], bool]] = [
            ("outages.json, gzip", [request_bytes(feed, gz)], {200}, True),
            ("outages.json, identity", [request_bytes(feed, {})], {200}, True),
            ("outages.json, If-None-Match", [request_bytes(feed, {**gz, "If-None-Match": etag})], {304},
             False),
            ("lookup?meter=", [request_bytes(f"/public/lookup?meter={m}", gz) for m in meters], {200, 404},
             True),
        ]
        for name, reqs, expected, target in scenarios:
            if not any(word in name for word in a.only.split(",")):
                continue
            # Warm-up at the same concurrency: the pool's connections and their prepared statements.
            load(port, reqs, a.concurrency, 2.0, srv.pid, url)
            r = load(port, reqs, a.concurrency, a.seconds, srv.pid, url)
            results.append({**r, "name": name, "mode": f"c={a.concurrency}", "expected": expected,
                            "target": target, "offered": 0.0})
            if target and a.rate:
                r = load(port, reqs, max(64, a.concurrency), a.seconds, srv.pid, url, rate=a.rate)
                results.append({**r, "name": name, "mode": f"{a.rate:.0f}/s", "expected": expected,
                                "target": target, "offered": a.rate})
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    return live, mix, results


def verdict(r: Result) -> str:
    """PASS or FAIL against the targets (a run at a fixed rate must also keep up with it)."""
    if not r["target"]:
        return "-"
    ok = r["p95"] <= TARGET_P95_MS and r["bad"] == 0
    if r["offered"]:  # the rate, offered and kept up with (the run also opens and drains 64 connections)
        ok = ok and r["offered"] >= TARGET_RPS and r["rps"] >= 0.97 * r["offered"]
    else:
        ok = ok and r["rps"] >= TARGET_RPS
    return "PASS" if ok else "FAIL"


def report(a: argparse.Namespace, live: dict[str, Any], mix: dict[str, int], counts: dict[str, int],
           results: list[Result], setup: float, loads: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    print(f"gridwatch public routes benchmark ({platform.node()}, {os.cpu_count()} CPUs shared by "
          f"PostgreSQL, the server, the load generator and whatever else runs; Python "
          f"{platform.python_version()})")
    print(f"server: gridwatch serve --workers {a.workers} --no-scheduler --no-stream --no-access-log; "
          f"load generator: one process, asyncio + uvloop, raw keep-alive HTTP/1.1; "
          f"{a.seconds:.0f} s a run")
    print(f"data: {a.areas} areas, {live['areas']} out now ({live['customers']} customers), "
          + (", ".join(f"{v} {k}" for k, v in counts.items()) if counts else "reused database")
          + f"; lookups: {mix['out']} meters in areas out, {mix['elsewhere']} elsewhere, "
          f"{mix['unknown']} unknown (shuffled); setup {setup:.0f} s")
    before, after = loads
    print(f"load average (1, 5 min) before {before[0]:.2f} {before[1]:.2f}, "
          f"after {after[0]:.2f} {after[1]:.2f}")
    print(f"{'GET /public/…':30s} {'load':>6s} {'n':>6s} {'req/s':>6s} {'p50 ms':>7s} {'p95 ms':>7s} "
          f"{'p99 ms':>7s} {'bad':>4s} {'bytes':>7s} {'srv cpu':>7s} {'db cpu':>7s} {'gen cpu':>7s}  target")
    for r in results:
        r["bad"] = sum(v for k, v in r["status"].items() if k not in r["expected"])
        print(f"{r['name']:30s} {r['mode']:>6s} {r['n']:6d} {r['rps']:6.0f} {r['p50']:7.1f} {r['p95']:7.1f} "
              f"{r['p99']:7.1f} {r['bad']:4d} {r['bytes']:7.0f} {r['server_cpu']:7.0%} {r['db_cpu']:7.0%} "
              f"{r['driver_cpu']:7.0%}  {verdict(r)}")
    for r in results:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(r["status"].items()))
        print(f"  answers, {r['name']} {r['mode']}: {codes}")
    print(f"targets: >= {TARGET_RPS:.0f} req/s and p95 <= {TARGET_P95_MS:.0f} ms, no unexpected answer "
          "(404 for an unknown meter and 304 for the current ETag are expected). load c=N: N connections, "
          "each sending as soon as it is answered; N/s: a fixed rate over 64 connections, latency from the "
          "scheduled time. cpu: share of one CPU (srv: the server's processes; db: the PostgreSQL "
          "backends of the benchmark database; gen: the load generator).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, default=200_000, help="transformer areas (province: 200,000)")
    ap.add_argument("--out", type=int, default=2_000, help="areas out now")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each scenario")
    ap.add_argument("--concurrency", type=int, default=32, help="keep-alive connections (closed loop)")
    ap.add_argument("--rate", type=float, default=TARGET_RPS,
                    help="requests/s of the fixed-rate run of each target route (0: none)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers (gridwatch serve's default: 1)")
    ap.add_argument("--meters", type=int, default=20_000, help="distinct meters to look up")
    ap.add_argument("--only", default="outages.json,lookup", help="scenarios whose name has one of these")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse a kept database of the same --areas and --out (implies --keep)")
    a = ap.parse_args()
    before = os.getloadavg()
    base = server().sqlalchemy_url()
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    url = existing(base, a.areas, a.out) if a.reuse else None
    counts: dict[str, int] = {}
    try:
        if url is None:
            url = create(base, DB, replace=True)
            counts = synthesise(url, a.areas, a.out, now)
        setup = time.perf_counter() - t0
        live, mix, results = run(url, a, now)
    finally:
        if url is not None and not (a.keep or a.reuse):
            drop(url)
    report(a, live, mix, counts, results, setup, (before, os.getloadavg()))


if __name__ == "__main__":
    main()
