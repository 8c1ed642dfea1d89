"""Benchmark: time to a fully rendered planners' overview in headless Chromium, county and province scale.

Usage: .venv/bin/python benchmarks/maps.py [--scale county|province|both] [--runs 3]
                                          [--screenshots docs] [--keep]

For each scale it creates a scratch database on the configured server (GRIDWATCH_DATABASE_URL, else
the embedded one) and fills it:
- county: ``spatial.demo.load_demo(scale="county")`` (real boundaries, synthetic grid, streams), then
  ``monitoring.jobs.run_all`` (statuses, cases, alerts);
- province: the province demo's admin divisions, feeders, areas and overlays through the real loaders,
  tags and regions; statuses and firing alerts are synthesized in SQL (3 % frequent, 5 % at risk,
  one alert each), because loading and evaluating the province streams takes far longer than the
  map needs (meters and streams are not drawn).
It serves the app with uvicorn on 127.0.0.1, signs in through /login, and opens /maps/ in Debian's
/usr/bin/chromium. "Rendered" is: the load event fired, every inline layer drawn, every visible
vector tile loaded (``gridwatch.idle()``) and two animation frames painted. The time is
``performance.now()`` at that moment (from navigation start, so it includes building the page).
Targets: <= 3 s and <= 5 MB of HTML at both scales.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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

from benchmarks.scratch import create, drop, server  # noqa: E402
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


SYNTHETIC_STATUS = """
INSERT INTO asset_status (asset_type, asset_id, as_of, count_365, max_60, status)
SELECT t, id, :as_of,
       CASE WHEN h < 30 THEN 6 + h % 4 WHEN h < 80 THEN 5 ELSE h % 5 END,
       CASE WHEN h < 30 THEN 2 + h % 3 WHEN h < 80 THEN 2 ELSE h % 3 END,
       CASE WHEN h < 30 THEN 'frequent' WHEN h < 80 THEN 'at_risk' ELSE 'ok' END
  FROM (SELECT 'area' AS t, area_id AS id, abs(hashtext(area_id)) % 1000 AS h FROM area
        UNION ALL SELECT 'feeder', feeder_id, abs(hashtext(feeder_id)) % 1000 FROM feeder) s;
INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, summary, starts_at,
                   last_seen_at)
SELECT md5(asset_type || asset_id || status), CASE status WHEN 'frequent' THEN 'frequent_outage'
       ELSE 'frequent_outage_risk' END, CASE status WHEN 'frequent' THEN 'critical' ELSE 'warning' END,
       asset_type, asset_id, 'firing', count_365 || ' interruptions in 365 days', :as_of, :as_of
  FROM asset_status WHERE status IN ('frequent', 'at_risk');
"""


def load_province(url: str, settings: Settings, seed: int) -> str:
    from spatial import loaders, tags
    from spatial.crs import GCJ02
    from spatial.demo import generate

    out_dir = Path(server().data_dir) / "demo" / f"province-{seed}-bench"
    cached = out_dir / "manifest.json"
    if cached.exists():
        import json
        manifest = json.loads(cached.read_text())
    else:
        manifest = generate(out_dir=out_dir, scale="province", seed=seed, anchor=ANCHOR)
    files = manifest["files"]
    engine = create_engine(url)
    with Session(engine) as s:
        loaders.load_admin(session=s, paths=[files["admin"]], crs=GCJ02)
        loaders.load_feeders(session=s, path=files["feeders"])
        loaders.load_areas(session=s, path=files["areas"])
        for layer, path in files["overlays"].items():
            loaders.load_overlay(session=s, layer=layer, path=path)
        tags.refresh(session=s, settings=settings, full=True)
        for statement in SYNTHETIC_STATUS.split(";"):
            if statement.strip():
                s.execute(text(statement), {"as_of": ANCHOR})
        s.commit()
    engine.dispose()
    return (f"province demo assets and overlays (seed {seed}); statuses and alerts synthesized "
            "(3 % frequent, 5 % at risk, one firing alert each); no streams, so county reliability is 0")


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


def run_scale(scale: str, args: argparse.Namespace, base: Settings) -> dict[str, Any]:
    base_url = base.sqlalchemy_url()
    name = f"gw_bench_maps_{scale}_{uuid.uuid4().hex[:6]}"
    url = create(base_url, name)
    try:
        settings = Settings(database_url=url, data_dir=base.data_dir)
        started = time.perf_counter()
        what = load_county(url, settings) if scale == "county" else load_province(url, settings, args.seed)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        with Session(engine) as s:
            from api.keys import create_key
            _, key = create_key(session=s, role="planner", name="benchmark")
            counts = s.execute(text("SELECT (SELECT count(*) FROM area), (SELECT count(*) FROM feeder), "
                                    "(SELECT count(*) FROM alert WHERE state = 'firing')")).one()
            s.commit()
        engine.dispose()
        base, srv, thread = start_server(settings)
        try:
            result = measure(base, key, args.runs, args.screenshots, scale)
        finally:
            srv.should_exit = True
            thread.join(timeout=10)
        result.update(scale=scale, what=what, load_s=load_s, areas=counts[0], feeders=counts[1],
                      alerts=counts[2], inline_limit=settings.map_inline_features)
        return result
    finally:
        if not args.keep:
            drop(url)
        else:
            print(f"kept database {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["county", "province", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7, help="province demo seed (shares files with tags.py)")
    parser.add_argument("--screenshots", type=Path, default=None, help="write map-*.png (county scale) here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: run scripts/install-browser.sh")
    base = server()
    scales = ["county", "province"] if args.scale == "both" else [args.scale]
    results = [run_scale(s, args, base) for s in scales]
    print(f"benchmark: planners' overview /maps/ in headless Chromium ({platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.runs} runs each, 1400x900)")
    print(f"{'scale':9} {'areas':>8} {'feeders':>8} {'alerts':>7} {'mode':>7} {'HTML MB':>8} "
          f"{'render s (median / max)':>24} {'tiles':>6} {'ok':>4}")
    for r in results:
        mode = "tiles" if r["areas"] > r["inline_limit"] else "inline"
        med, worst = statistics.median(r["times"]), max(r["times"])
        ok = med <= 3.0 and r["html_bytes"] <= 5_000_000 and r["outside_requests"] == 0
        print(f"{r['scale']:9} {r['areas']:>8} {r['feeders']:>8} {r['alerts']:>7} {mode:>7} "
              f"{r['html_bytes'] / 1e6:>8.2f} {med:>14.2f} / {worst:<7.2f} {r['tiles']:>6} "
              f"{'yes' if ok else 'NO':>4}")
    for r in results:
        print(f"  {r['scale']}: {r['what']}; loaded in {r['load_s']:.0f} s; drawn paths {r['drawn']}; "
              f"requests to other hosts: {r['outside_requests']}")


if __name__ == "__main__":
    main()
