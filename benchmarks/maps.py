"""Benchmark: the planners' overview /maps/ on the county demo and on the province demo's own data.

Usage: .venv/bin/python benchmarks/maps.py [--scale county|province|both] [--runs 3] [--requests 7]
                                          [--screenshots docs] [--keep] [--rebuild]

- county: a scratch database filled with ``spatial.demo.load_demo(scale="county")`` and one
  monitoring run (dropped afterwards unless --keep);
- province: the province demo itself (``gridwatch demo --scale province``: 200,000 areas, 10.9 M
  meters, a year of outages and meter events, the monitoring run), built once into its own
  database (``gw_bench_maps_province_demo``, about 10 minutes) and reused by later runs
  (--rebuild builds it again). Migrations are applied to it on each run.

It serves the app with uvicorn on 127.0.0.1 and measures, side by side in one run:
- server time of ``GET /maps/`` (and the SAIFI, quarter and county variants): p50 and p95 of
  ``--requests`` requests over loopback, with the map cache off (every view recomputes, as
  before issue 18) and on (``monitoring.reliability.cache``), and the first view after a data
  change (cache cold);
- Chromium time until the page is idle: the load event fired, every inline layer drawn, every
  visible vector tile loaded (``gridwatch.idle()``) and two animation frames painted, from
  navigation start (so it includes building the page), in Debian's /usr/bin/chromium.
Targets: /maps/ <= 1 s server time at p95 and <= 3 s until idle, <= 5 MB of HTML.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scratch import admin_conninfo, create, drop, server, url_of  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.test_maps_browser import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: E402

ANCHOR = datetime.fromisoformat("2026-11-01T00:00:00+08:00")
RENDERED_JS = """() => new Promise(resolve => {
  const check = () => {
    if (document.readyState === 'complete' && window.gridwatch && gridwatch.idle()
        && document.querySelector('.leaflet-gw-county-pane path')) {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
    } else { setTimeout(check, 10); }
  };
  check();
})"""


def _run_all(url: str, settings: Settings) -> str:
    try:
        from monitoring.jobs import run_all
    except ImportError:
        return "monitoring jobs not available"
    engine = create_engine(url)
    try:
        result = run_all(engine=engine, settings=settings, as_of=ANCHOR)
    finally:
        engine.dispose()
    return "ok" if result.get("ok") else "with errors"


def load_county(url: str, settings: Settings) -> str:
    from spatial.demo import load_demo

    engine = create_engine(url)
    with Session(engine) as s:
        load_demo(session=s, settings=settings, scale="county", seed=2026, anchor=ANCHOR)
        try:
            from monitoring.interruptions import refresh
            refresh(session=s, settings=settings)
        except ImportError:
            pass
        s.commit()
    engine.dispose()
    return "county demo (seed 2026), monitoring " + _run_all(url, settings)


PROVINCE_DB = "gw_bench_maps_province_demo"
PROVINCE_ANCHOR = "2026-11-28T00:00:00+08:00"


def _exists(base_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_conninfo(base_url), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def province_demo(base: Settings, seed: int, rebuild: bool) -> tuple[str, str, float]:
    """The province demo's database (built with ``gridwatch demo`` unless it is there): URL,
    what it holds, seconds spent building (0 when reused)."""
    import migrations

    base_url = base.sqlalchemy_url()
    url = url_of(base_url, PROVINCE_DB)
    built = 0.0
    ready = False
    if _exists(base_url, PROVINCE_DB) and not rebuild:
        engine = create_engine(url)
        with engine.connect() as conn:
            ready = bool(conn.execute(text(
                "SELECT EXISTS (SELECT 1 FROM job_run WHERE job = 'alerts')")).scalar())
        engine.dispose()
    if not ready:
        url = create(base_url, PROVINCE_DB, replace=True)
        started = time.perf_counter()
        print(f"building the province demo into {PROVINCE_DB} (about 10 minutes) …", flush=True)
        subprocess.run([str(REPO / ".venv" / "bin" / "gridwatch"), "demo", "--scale", "province",
                        "--seed", str(seed), "--anchor", PROVINCE_ANCHOR],
                       env={**os.environ, "GRIDWATCH_DATABASE_URL": url}, check=True)
        built = time.perf_counter() - started
    migrations.upgrade(url)
    return url, f"province demo (seed {seed}, data up to {PROVINCE_ANCHOR})", built


def server_times(base: str, key: str, paths: list[str], n: int) -> dict[str, list[float]]:
    """Wall time of ``n`` GETs of each path over loopback (the server's time to build the page)."""
    import httpx

    out: dict[str, list[float]] = {}
    with httpx.Client(headers={"X-API-Key": key}, timeout=300) as client:
        for path in paths:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                r = client.get(f"{base}{path}")
                times.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    sys.exit(f"GET {path}: {r.status_code}")
            out[path] = times
    return out


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def measure(base: str, key: str, runs: int, shots: Path | None, scale: str) -> dict[str, Any]:
    """Sign in, then open /maps/ ``runs`` times; returns timings, HTML size and what was drawn."""
    import httpx
    from playwright.sync_api import sync_playwright

    html_bytes = len(httpx.get(f"{base}/maps/", headers={"X-API-Key": key}, timeout=120).content)
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
        page.goto(f"{base}/login?next=/maps/")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        for _ in range(runs):
            page.goto(f"{base}/maps/", timeout=120_000)
            times.append(float(page.evaluate(RENDERED_JS)) / 1000.0)
        drawn = {k: page.locator(f".leaflet-gw-{k}-pane path").count() for k in ("area", "feeder", "alert")}
        tiles = page.evaluate("() => performance.getEntriesByType('resource')"
                              ".filter(e => e.name.includes('/tiles/')).length")
        if shots is not None and scale == "county":
            shots.mkdir(parents=True, exist_ok=True)
            for label in ("Core zones (零感知核心区)", "Weak-supply villages (供电薄弱村)"):
                box = page.get_by_label(label)
                if box.count():
                    box.check()
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / "map-overview.png"))
            area_id = page.evaluate("""() => { for (const l of Object.values(window)) {
                  if (l && l.eachLayer && l.options && l.options.pane === 'gw-area') {
                    let best = null; l.eachLayer(x => { const p = x.feature.properties;
                      if (!best || (p.count_365 || 0) > (best.count_365 || 0)) { best = p; } });
                    return best && best.id; } } return null; }""")
            if area_id:
                page.goto(f"{base}/maps/areas/{area_id}")
                page.wait_for_selector(".leaflet-gw-area-pane path")
                page.wait_for_timeout(300)
                page.screenshot(path=str(shots / "map-area.png"))
        browser.close()
    return {"times": times, "html_bytes": html_bytes, "drawn": drawn, "tiles": tiles,
            "outside_requests": len(outside)}


def _touch_interruptions(url: str) -> None:
    """A committed change that the county figures depend on (and that changes nothing)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outage_record SET end_time = end_time WHERE outage_id = "
                          "(SELECT min(outage_id) FROM outage_record)"))
    engine.dispose()


def run_scale(scale: str, args: argparse.Namespace, base: Settings) -> dict[str, Any]:
    from monitoring.reliability import cache

    base_url = base.sqlalchemy_url()
    temporary = scale == "county"
    if temporary:
        name = f"gw_bench_maps_{scale}_{uuid.uuid4().hex[:6]}"
        url = create(base_url, name)
    try:
        started = time.perf_counter()
        if temporary:
            settings = Settings(database_url=url, data_dir=base.data_dir)
            what = load_county(url, settings)
            load_s = time.perf_counter() - started
        else:
            url, what, load_s = province_demo(base, args.seed, args.rebuild)
            settings = Settings(database_url=url, data_dir=base.data_dir)
        engine = create_engine(url)
        with Session(engine) as s:
            from api.keys import create_key
            _, key = create_key(session=s, role="planner", name="benchmark")
            counts = s.execute(text("SELECT (SELECT count(*) FROM area), (SELECT count(*) FROM feeder), "
                                    "(SELECT count(*) FROM alert WHERE state = 'firing'), "
                                    "(SELECT count(*) FROM outage_record), "
                                    "(SELECT count(*) FROM inferred_interruption), "
                                    "(SELECT min(county_adcode) FROM asset_region)")).one()
            s.commit()
        engine.dispose()
        county = counts[5]
        paths = ["/maps/", "/maps/?metric=saifi", "/maps/?period=2026Q3"] + (
            [f"/maps/?county={county}"] if county else [])
        srv_base, srv, thread = start_server(settings)
        result: dict[str, Any] = {}
        try:
            cache.ENABLED = False
            result["before"] = server_times(srv_base, key, paths, args.requests_before)
            result["before_idle"] = measure(srv_base, key, args.runs, None, scale)["times"]
            cache.ENABLED = True
            _touch_interruptions(url)
            # The first view of each path after the change computes (cold); the rest are timed.
            result["cold"] = server_times(srv_base, key, paths, 1)
            result["after"] = server_times(srv_base, key, paths, args.requests)
            result.update(measure(srv_base, key, args.runs, args.screenshots, scale))
        finally:
            cache.ENABLED = True
            srv.should_exit = True
            thread.join(timeout=10)
        result.update(scale=scale, what=what, load_s=load_s, areas=counts[0], feeders=counts[1],
                      alerts=counts[2], outages=counts[3], inferred=counts[4],
                      inline_limit=settings.map_inline_features)
        return result
    finally:
        if temporary:
            if not args.keep:
                drop(url)
            else:
                print(f"kept database {name}")


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["county", "province", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="Chromium page loads per mode")
    parser.add_argument("--requests", type=int, default=7, help="GETs per path with the cache on")
    parser.add_argument("--requests-before", type=int, default=3, help="GETs per path with the cache off")
    parser.add_argument("--seed", type=int, default=2026, help="province demo seed")
    parser.add_argument("--screenshots", type=Path, default=None, help="write map-*.png (county scale) here")
    parser.add_argument("--keep", action="store_true", help="keep the county scratch database")
    parser.add_argument("--rebuild", action="store_true", help="build the province demo database again")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: run scripts/install-browser.sh")
    base = server()
    scales = ["county", "province"] if args.scale == "both" else [args.scale]
    load_before = loadavg()
    results = [run_scale(s, args, base) for s in scales]
    print(f"benchmark: planners' overview /maps/ ({platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, Chromium 1400x900); /proc/loadavg before: {load_before}, "
          f"after: {loadavg()}")
    print(f"{'scale':9} {'path':26} {'before p50/p95 s':>17} {'first s':>8} {'after p50/p95 s':>17} "
          f"{'ratio p95':>9} {'ok':>3}")
    for r in results:
        for path, after in r["after"].items():
            before = r["before"][path]
            ratio = pct(before, 0.95) / pct(after, 0.95)
            print(f"{r['scale']:9} {path:26} {pct(before, .5):>8.2f}/{pct(before, .95):<8.2f} "
                  f"{r['cold'][path][0]:>8.2f} "
                  f"{pct(after, .5):>8.2f}/{pct(after, .95):<8.2f} {ratio:>8.1f}x "
                  f"{'yes' if pct(after, .95) <= 1.0 else 'NO':>3}")
    print(f"{'scale':9} {'areas':>8} {'feeders':>8} {'alerts':>7} {'mode':>7} {'HTML MB':>8} "
          f"{'idle s before (med/max)':>24} {'idle s after (med/max)':>23} {'ratio':>6} {'ok':>4}")
    for r in results:
        mode = "tiles" if r["areas"] > r["inline_limit"] else "inline"
        med, worst = statistics.median(r["times"]), max(r["times"])
        bmed, bworst = statistics.median(r["before_idle"]), max(r["before_idle"])
        ok = worst <= 3.0 and r["html_bytes"] <= 5_000_000 and r["outside_requests"] == 0
        print(f"{r['scale']:9} {r['areas']:>8} {r['feeders']:>8} {r['alerts']:>7} {mode:>7} "
              f"{r['html_bytes'] / 1e6:>8.2f} {bmed:>14.2f} / {bworst:<7.2f} {med:>13.2f} / {worst:<7.2f} "
              f"{bmed / med:>5.1f}x {'yes' if ok else 'NO':>4}")
    for r in results:
        print(f"  {r['scale']}: {r['what']}; {r['outages']} outage records, {r['inferred']} inferred "
              f"interruptions; loaded in {r['load_s']:.0f} s; 'first': the first view of each path after a "
              f"change (cache cold); drawn paths {r['drawn']}; requests to other hosts: "
              f"{r['outside_requests']}")


if __name__ == "__main__":
    main()
