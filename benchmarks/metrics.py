"""What the Prometheus metrics cost a request, and what a scrape costs.

Usage: .venv/bin/python benchmarks/metrics.py [--requests 20000]

Side by side, in one run: an ASGI app that answers 200 at once (the reference, no metrics),
and the same app behind ``api.routers.metrics.HttpMetrics`` with the route table of the real
app (``create_app``: 43 routes and the static mount), for three paths: ``/healthz`` (found
early), ``/tiles/{layer}/{z}/{x}/{y}.pbf`` (found late) and an unknown path (every route
tried). Each is measured with the counters in memory (one process) and, in a child process,
in multiprocess mode (``serve --workers N``: every increment writes to an mmap'ed file). It
then times a scrape (``core.metrics.render``) in both modes. It prints microseconds a
request, the overhead against the reference and the ratio, with the conditions. No database
is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PATHS = {"early": "/healthz", "late": "/tiles/areas/12/3245/1702.pbf",
         "unmatched": "/wp-admin/setup.php"}


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _sink(message: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [],
            "query_string": b""}


async def _per_request(app: Any, path: str, n: int) -> float:
    scope = _scope(path)
    for _ in range(200):  # warm-up (builds the route table)
        await app(dict(scope), _receive, _sink)
    t0 = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), _receive, _sink)
    return (time.perf_counter() - t0) / n * 1e6


def measure(n: int) -> dict[str, Any]:
    """This process's figures (multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set)."""
    from api.app import create_app
    from api.routers.metrics import HttpMetrics
    from core import metrics
    from core.settings import Settings

    app = create_app(Settings(database_url="postgresql://bench@127.0.0.1:1/bench"))
    wrapped = HttpMetrics(_answer, routes=app.routes)
    out: dict[str, Any] = {"mode": "multiprocess" if metrics.multiprocess_dir() else "memory"}
    loop = asyncio.new_event_loop()
    try:
        for name, path in PATHS.items():
            ref = loop.run_until_complete(_per_request(_answer, path, n))
            with_metrics = loop.run_until_complete(_per_request(wrapped, path, n))
            out[name] = {"reference_us": ref, "metrics_us": with_metrics}
    finally:
        loop.close()
    registry = metrics.scrape_registry()
    t0 = time.perf_counter()
    for _ in range(50):
        body = metrics.render(registry)
    out["scrape_ms"] = (time.perf_counter() - t0) / 50 * 1e3
    out["scrape_bytes"] = len(body)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.requests)))
        return
    runs = [measure(args.requests)]
    with tempfile.TemporaryDirectory(prefix="gw-bench-metrics-") as shared:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": shared}
        child = subprocess.run([sys.executable, __file__, "--child", "--requests",
                                str(args.requests)], env=env, capture_output=True, text=True,
                               check=True)
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"# benchmarks/metrics.py: {args.requests} requests a path, in-process ASGI calls; "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, loadavg {' '.join(load)}")
    print(f"{'mode':<13} {'path':<10} {'reference µs':>13} {'with metrics µs':>16} "
          f"{'overhead µs':>12} {'ratio':>7}")
    for run in runs:
        for name in PATHS:
            ref, met = run[name]["reference_us"], run[name]["metrics_us"]
            print(f"{run['mode']:<13} {name:<10} {ref:>13.1f} {met:>16.1f} {met - ref:>12.1f} "
                  f"{met / ref:>6.1f}x")
    for run in runs:
        print(f"scrape ({run['mode']}): {run['scrape_ms']:.2f} ms, {run['scrape_bytes']} bytes")


if __name__ == "__main__":
    main()
