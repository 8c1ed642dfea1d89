"""Benchmark the HTTP API against a running ``gridwatch serve`` on loopback (its own database).

Usage: .venv/bin/python benchmarks/api.py [--areas 200000] [--workers 2] [--seconds 10]
       .venv/bin/python benchmarks/api.py --read-scaling [--areas 200000] [--seconds 10]

It creates the database ``gw_bench_api`` on the configured cluster (the embedded one by default),
synthesises a province of transformer areas with COPY, starts ``gridwatch serve`` in a
subprocess and drives it from a second process with keep-alive HTTP/1.1 connections. It prints
requests/s and p50/p95/p99 for a small JSON route, vector tiles and OGC items (limit=100), and
the bare ST_AsMVT query time of the same tiles (the reference for the tile overhead).

``--read-scaling`` instead builds a throwaway primary (its own embedded cluster on a free port,
never the configured one) with the province, a streaming replica of it (``pg_basebackup -R``),
and drives tiles and a report against 1 worker, 2 workers, and 2 workers reading from the
replica (GRIDWATCH_READ_DATABASE_URL), printing req/s and p95 side by side with the ratio to
1 worker on the primary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.keys import create_key  # noqa: E402
from benchmarks.scratch import create, drop, libpq, url_of  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from spatial.features import tile_params  # noqa: E402

DB = "gw_bench_api"
# Guizhou, roughly
WEST, SOUTH, EAST, NORTH = 103.6, 24.6, 109.6, 29.2


def existing_database(base: Settings, n_areas: int) -> str | None:
    """The kept benchmark database when it exists with ``n_areas`` areas, else None."""
    url = url_of(base.sqlalchemy_url(), DB)
    try:
        with psycopg.connect(libpq(url)) as conn:
            row = conn.execute("SELECT count(*) FROM area").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] != n_areas:
        return None
    import migrations

    migrations.upgrade(url)
    return url


def _ring(lon: float, lat: float, r: float) -> str:
    pts = [
        (lon + r * math.cos(a * math.pi / 6), lat + r * 0.9 * math.sin(a * math.pi / 6)) for a in range(12)
    ]
    pts.append(pts[0])
    return "SRID=4326;MULTIPOLYGON(((" + ",".join(f"{x:.6f} {y:.6f}" for x, y in pts) + ")))"


def synthesise(url: str, n_areas: int) -> None:
    """Feeders and ``n_areas`` 12-sided areas tiled over the province, with statuses and tags."""
    rnd = random.Random(7)
    cols = int(math.sqrt(n_areas * (EAST - WEST) / (NORTH - SOUTH)))
    rows = math.ceil(n_areas / cols)
    dx, dy = (EAST - WEST) / cols, (NORTH - SOUTH) / rows
    per_feeder = 100
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        with cur.copy("COPY feeder (feeder_id, name, geom) FROM STDIN") as cp:
            for f in range(math.ceil(n_areas / per_feeder)):
                i = f * per_feeder
                x0, y0 = WEST + (i % cols) * dx, SOUTH + (i // cols) * dy
                cp.write_row(
                    (
                        f"F{f:05d}",
                        f"馈线{f}",
                        f"SRID=4326;MULTILINESTRING(({x0:.6f} {y0:.6f},{x0 + per_feeder * dx:.6f} {y0:.6f}))",
                    )
                )
        with cur.copy("COPY area (area_id, feeder_id, customers, name, geom) FROM STDIN") as cp:
            for i in range(n_areas):
                lon = WEST + (i % cols + 0.5) * dx
                lat = SOUTH + (i // cols + 0.5) * dy
                cp.write_row(
                    (
                        f"A{i:06d}",
                        f"F{i // per_feeder:05d}",
                        rnd.randint(20, 400),
                        f"台区{i}",
                        _ring(lon, lat, min(dx, dy) * 0.45),
                    )
                )
        statuses = ("ok",) * 17 + ("at_risk", "frequent", "frequent")
        with cur.copy(
            "COPY asset_status (asset_type, asset_id, as_of, count_365, max_60, status) FROM STDIN"
        ) as cp:
            for i in range(n_areas):
                cp.write_row(
                    (
                        "area",
                        f"A{i:06d}",
                        "2026-06-30T16:00:00Z",
                        rnd.randint(0, 7),
                        rnd.randint(0, 4),
                        rnd.choice(statuses),
                    )
                )
        with cur.copy("COPY asset_tag (asset_type, asset_id, layer, share) FROM STDIN") as cp:
            for i in range(0, n_areas, 5):
                cp.write_row(("area", f"A{i:06d}", rnd.choice(("core_zone", "weak_supply_village")), 0.8))
        for k in range(10):
            cur.execute(
                "INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, starts_at, "
                "last_seen_at) VALUES (%s, 'frequent_outage', 'critical', 'area', %s, 'firing', "
                "now(), now())",
                (f"fp{k}", f"A{k * 97:06d}"),
            )
        conn.commit()
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def province_tiles(z: int) -> list[tuple[int, int, int]]:
    """Every tile of zoom ``z`` that the province covers."""
    x0, y1 = _tile_xy(WEST, SOUTH, z)
    x1, y0 = _tile_xy(EAST, NORTH, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


# ---- load generator (runs in its own process) -------------------------------------------------


async def _conn_loop(
    port: int, paths: list[str], headers: str, deadline: float, out: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = random.randrange(len(paths))
    try:
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            out.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def _drive(args: tuple[int, list[str], str, int, float], q: mp.Queue) -> None:  # type: ignore[type-arg]
    port, paths, headers, concurrency, seconds = args
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    lat: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(
            *(_conn_loop(port, paths, headers, deadline, lat, errors) for _ in range(concurrency))
        )
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    q.put((lat, errors, elapsed))


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format('{"n": %d, "elapsed": %f, "p50": %f, "p95": %f, "p99": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""
DRIVER = {"name": "auto"}


def load_wrk(port: int, path: str, key: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Drive one path with wrk (C, one thread): the load generator takes little of the CPU."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", fh.name,
             "-H", f"X-API-Key: {key}", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    r = json.loads(out.strip().splitlines()[-1])
    return {"n": r["n"], "rps": r["n"] / r["elapsed"], "p50": r["p50"], "p95": r["p95"],
            "p99": r["p99"], "errors": r["errors"]}


def load(port: int, paths: list[str], key: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Drive ``paths`` round-robin from a second process; requests/s and latency percentiles (ms).

    A single path is driven by ``wrk`` when it is installed (``--driver auto``), since this
    Python driver would take a whole core of the two; several paths use the Python driver.
    """
    use_wrk = DRIVER["name"] == "wrk" or (DRIVER["name"] == "auto" and shutil.which("wrk"))
    if len(paths) == 1 and use_wrk:
        return load_wrk(port, paths[0], key, concurrency, seconds)
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=_drive, args=((port, paths, f"X-API-Key: {key}\r\n", concurrency, seconds), q))
    proc.start()
    lat, errors, elapsed = q.get()
    proc.join()
    return summary(lat, elapsed, len(errors))


def summary(lat: list[float], elapsed: float, errors: int = 0) -> dict[str, float]:
    ms = sorted(x * 1000 for x in lat)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")

    return {
        "n": len(ms),
        "rps": len(ms) / elapsed if elapsed else 0.0,
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "errors": errors,
    }


def bare_tiles(url: str, tiles: list[tuple[int, int, int]], tag_min_share: float) -> dict[str, float]:
    """The ST_AsMVT query alone, sequentially, for the same tiles (no HTTP, no auth, no ETag)."""
    lat: list[float] = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        t0 = time.perf_counter()
        for z, x, y in tiles:
            sql, params = tile_params("areas", z, x, y, tag_min_share)
            s = time.perf_counter()
            conn.execute(sql, params).fetchone()
            lat.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - t0
    return summary(lat, elapsed)


def clear_tile_cache(url: str) -> None:
    """Empty the shared tile cache (the workers' own caches start empty with the server)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("TRUNCATE tile_cache")


def _seq(port: int, key: str, paths: list[str]) -> dict[str, float]:
    lat = []
    t0 = time.perf_counter()
    for p in paths:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{p}", headers={"X-API-Key": key})
        s = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            r.read()
        lat.append(time.perf_counter() - s)
    return summary(lat, time.perf_counter() - t0)


def start_server(url: str, port: int, workers: int, read_url: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "GRIDWATCH_READ_DATABASE_URL"}
    env["GRIDWATCH_DATABASE_URL"] = url
    if read_url:
        env["GRIDWATCH_READ_DATABASE_URL"] = read_url
    cmd = [
        str(REPO / ".venv/bin/gridwatch"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-scheduler",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replica_pair(home: Path, n_areas: int) -> tuple[Settings, str, Path, int]:
    """A throwaway primary with the province and a streaming replica; (settings, read URL, dir, port)."""
    import secrets

    import migrations
    from core import embedded

    primary = Settings(database_url=None, data_dir=home / "gw", db_port=_free_port())
    c = embedded.start(primary)
    url = primary.sqlalchemy_url()
    migrations.upgrade(url)
    synthesise(url, n_areas)
    password = secrets.token_urlsafe(16)
    with psycopg.connect(embedded.admin_url(primary), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE gw_bench_replicator LOGIN REPLICATION PASSWORD '{password}'")
    with (c.pgdata / "pg_hba.conf").open("a", encoding="utf-8") as fh:
        fh.write("host replication gw_bench_replicator 127.0.0.1/32 scram-sha-256\n")
    embedded._run(c, [str(c.bin_dir / "pg_ctl"), "reload", "-D", str(c.pgdata)])
    rdir = c.data_dir / "replica"
    rdir.mkdir(mode=0o700)
    embedded._chown(c, rdir)
    source = f"host=127.0.0.1 port={primary.db_port} user=gw_bench_replicator password={password}"
    embedded._run(c, [str(c.bin_dir / "pg_basebackup"), "-d", source, "-D", str(rdir / "pgdata"),
                      "-R", "-X", "stream", "-c", "fast"])
    rport = _free_port()
    embedded._run(c, [str(c.bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(rdir / "pgdata"),
                      "-l", str(rdir / "postgres.log"), "-o", f"-p {rport} -k {rdir}"])
    service = primary.secret_file(primary.db_user).read_text(encoding="ascii").strip()
    read_url = f"postgresql://{primary.db_user}:{service}@127.0.0.1:{rport}/{primary.db_name}"
    return primary, read_url, rdir, rport


def read_scaling(a: argparse.Namespace) -> None:
    """Tiles and a report: 1 worker, 2 workers, 2 workers on the replica; side by side."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from core import embedded

    home = Path(tempfile.mkdtemp(prefix="gw-bench-replica-"))
    home.chmod(0o755)
    t = time.perf_counter()
    primary, read_url, rdir, _ = replica_pair(home, a.areas)
    setup = time.perf_counter() - t
    c = embedded.cluster(primary)
    url = primary.sqlalchemy_url()
    try:
        eng = create_engine(url)
        with Session(eng) as s:
            key = create_key(session=s, role="planner", name="bench")[1]
            s.commit()
        eng.dispose()
        time.sleep(1)  # the key reaches the replica
        z = int(a.zooms.split(",")[-1])
        tiles = [f"/tiles/areas/{z}/{x}/{y}.pbf" for _, x, y in province_tiles(z)]
        report = ["/api/v1/reports/reliability?period=2026&by=county"]
        configs = [("1 worker, primary", 1, None), ("2 workers, primary", 2, None),
                   ("2 workers, replica reads", 2, read_url)]
        rows: list[tuple[str, str, dict[str, float]]] = []
        for label, workers, rurl in configs:
            server = start_server(url, a.port, workers, rurl)
            try:
                clear_tile_cache(url)
                load(a.port, tiles[:50] + report, key, 4, 2)  # warm up
                runs = ((f"tiles z{z} ({len(tiles)})", tiles, 8), ("report reliability", report, 4))
                for what, paths, conc in runs:
                    rows.append((what, label, load(a.port, paths, key, conc, a.seconds)))
            finally:
                server.terminate()
                server.wait(timeout=20)
    finally:
        embedded._run(c, [str(c.bin_dir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(rdir / "pgdata")],
                      check=False)
        embedded.destroy(primary)
        shutil.rmtree(home, ignore_errors=True)
    with open("/proc/loadavg", encoding="ascii") as fh:
        loadavg = fh.read().strip()
    print(f"gridwatch read scaling  ({os.cpu_count()} CPUs shared by both postmasters, the API and the "
          f"load generator; {a.areas} areas; setup {setup:.0f}s; /proc/loadavg {loadavg})")
    print(f"{'scenario':28s} {'server':26s} {'n':>7s} {'req/s':>8s} {'p95 ms':>8s} {'errors':>6s} "
          f"{'req/s x':>8s} {'p95 x':>7s}")
    base: dict[str, dict[str, float]] = {}
    for what, label, r in rows:
        ref = base.setdefault(what, r)
        print(f"{what:28s} {label:26s} {r['n']:7.0f} {r['rps']:8.1f} {r['p95']:8.1f} {r['errors']:6.0f} "
              f"{r['rps'] / ref['rps'] if ref['rps'] else float('nan'):8.2f} "
              f"{r['p95'] / ref['p95'] if ref['p95'] else float('nan'):7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--areas", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto",
                    help="Load generator for single-route runs (auto: wrk when installed).")
    ap.add_argument("--zooms", default="8,10", help="Tile zooms for the province-scale tile runs.")
    ap.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="Reuse a kept benchmark database of the same size (implies --keep).",
    )
    ap.add_argument(
        "--only", default="healthz,alerts,ogc,tiles", help="Scenarios to run (comma-separated subset)."
    )
    ap.add_argument("--read-scaling", action="store_true",
                    help="Compare 1 and 2 workers and 2 workers reading from a streaming replica.")
    a = ap.parse_args()
    DRIVER["name"] = a.driver
    if a.read_scaling:
        read_scaling(a)
        return
    only = set(a.only.split(","))
    base = get_settings()
    t = time.perf_counter()
    url = existing_database(base, a.areas) if a.reuse else None
    if url is None:
        url = create(base.sqlalchemy_url(), DB, replace=True)
        synthesise(url, a.areas)
    a.keep = a.keep or a.reuse
    setup = time.perf_counter() - t
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    eng = create_engine(url)
    with Session(eng) as s:
        key = create_key(session=s, role="planner", name="bench")[1]
        s.commit()
    eng.dispose()
    ogc_paths = [f"/ogc/collections/areas/items?limit=100&offset={o}" for o in range(0, a.areas - 100, 997)]
    server = start_server(url, a.port, a.workers)
    results: list[tuple[str, int, dict[str, float]]] = []
    ratios: list[str] = []
    try:
        load(a.port, ["/api/v1/alerts"], key, 8, 2)  # warm up every worker and pool
        if "healthz" in only:
            results.append(
                ("GET /healthz (no auth, SELECT 1)", 32, load(a.port, ["/healthz"], key, 32, a.seconds))
            )
        if "alerts" in only:
            results.append(
                (
                    "GET /api/v1/alerts (key + 1 query)",
                    32,
                    load(a.port, ["/api/v1/alerts"], key, 32, a.seconds),
                )
            )
        if "ogc" in only:
            results.append(
                ("GET /ogc/.../areas/items?limit=100", 8, load(a.port, ogc_paths, key, 8, a.seconds))
            )
        if "tiles" in only:
            clear_tile_cache(url)
        for z in (int(v) for v in a.zooms.split(",") if "tiles" in only):
            tiles = province_tiles(z)
            paths = [f"/tiles/areas/{z}/{x}/{y}.pbf" for _, x, y in tiles]
            sample = random.Random(1).sample(tiles, min(100, len(tiles)))
            sample_paths = [f"/tiles/areas/{z}/{x}/{y}.pbf" for _, x, y in sample]
            cold = _seq(a.port, key, sample_paths)  # first request of each tile: rendered
            bare = bare_tiles(url, sample, base.tag_min_share)
            results.append((f"  z{z} cold over HTTP, one at a time ({len(sample)} tiles)", 1, cold))
            results.append((f"  z{z} bare ST_AsMVT query, same tiles", 1, bare))
            results.append(
                (
                    f"GET /tiles/areas z{z} ({len(tiles)} province tiles)",
                    8,
                    load(a.port, paths, key, 8, a.seconds),
                )
            )
            warm = _seq(a.port, key, sample_paths)
            results.append((f"  z{z} again, one at a time ({len(sample)} tiles)", 1, warm))
            ratios.append(f"z{z}: p50 {cold['p50'] / bare['p50']:.2f}x, p95 {cold['p95'] / bare['p95']:.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(
        f"gridwatch API benchmark  ({platform.node()}, {os.cpu_count()} CPUs shared with the database and "
        f"the load generator; Python {platform.python_version()}; {a.workers} uvicorn workers; "
        f"{a.areas} areas; setup {setup:.0f}s)"
    )
    single = "wrk" if a.driver == "wrk" or (a.driver == "auto" and shutil.which("wrk")) else "python"
    print(f"load generator: {single} for single-route runs, the Python driver for the tile/OGC "
          f"mixes; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'scenario':52s} {'conc':>4s} {'n':>7s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
        f"{'p99 ms':>8s} {'non-200':>7s}"
    )
    for name, conc, r in results:
        print(
            f"{name:52s} {conc:4d} {r['n']:7.0f} {r['rps']:8.0f} {r['p50']:8.1f} {r['p95']:8.1f} "
            f"{r['p99']:8.1f} {r['errors']:7.0f}"
        )
    print("cold tile overhead (HTTP / bare query): " + "; ".join(ratios))
    if not a.keep:
        drop(url)


if __name__ == "__main__":
    main()
