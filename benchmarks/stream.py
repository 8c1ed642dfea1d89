"""Live streams under a storm: publish → alert and → live-outage latency, consumer lag and memory.

In a scratch database with the county demo and its history (`gridwatch demo --scale county`,
then `gridwatch monitor run`), against a broker of its own, with `gridwatch stream` running as
its own process (so its RSS is its own):
  * background: outage-shaped meter events (every meter of an area off within seconds, then
    on ten minutes later, dated in the past year) published at --rate events/s for --seconds;
  * probes: areas given five past interruptions beforehand (status at_risk); during the run
    each gets a sixth, open, interruption (a last-gasp burst). Its publish time is compared
    with the first time the area appears in live_outage and the first time its
    frequent_outage alert fires.
Prints p50/p95/p99 of both latencies, the time from the last publish until every published
event is committed (lag back to zero), the consumer's RSS over the run, and the conditions.
Usage: .venv/bin/python benchmarks/stream.py [--rate 20000] [--seconds 60] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import create, drop, libpq, server  # noqa: E402

GRIDWATCH = str(Path(sys.executable).with_name("gridwatch"))
PROBES = 20
TICK = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([GRIDWATCH, *args], env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise SystemExit(f"gridwatch {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Publisher:
    """QoS 1 publishing without waiting for each PUBACK (up to 1,000 in flight)."""

    def __init__(self, env: dict[str, str]) -> None:
        import paho.mqtt.client as mqtt

        from core import broker
        from core.settings import Settings

        settings = Settings(data_dir=Path(env["GRIDWATCH_DATA_DIR"]),
                            mqtt_port=int(env["GRIDWATCH_MQTT_PORT"]))
        conn = broker.connection(settings)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        conn.apply(self.client)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(conn.host, conn.port)
        self.client.loop_start()
        self.last = None

    def send(self, topic: str, events: list[dict[str, str]]) -> None:
        self.last = self.client.publish(topic, json.dumps(events, separators=(",", ":")), qos=1)

    def close(self) -> None:
        if self.last is not None:
            self.last.wait_for_publish(60)
        self.client.disconnect()
        self.client.loop_stop()


def burst(meters: list[str], off: datetime, minutes: float | None) -> list[dict[str, str]]:
    """Every meter of an area off within a few seconds; on again ``minutes`` later (or not)."""
    out = [{"meter_id": m, "time": (off + timedelta(seconds=i % 5)).isoformat(), "kind": "off"}
           for i, m in enumerate(meters)]
    if minutes is not None:
        on = off + timedelta(minutes=minutes)
        out += [{"meter_id": m, "time": (on + timedelta(seconds=i % 7)).isoformat(), "kind": "on"}
                for i, m in enumerate(meters)]
    return out


def committed(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT COALESCE(sum(accepted + duplicates + updated + rejected), 0) "
                           "FROM ingest_batch WHERE source = 'mqtt'").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000, help="background events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--consumer-log", type=Path, help="write the consumer's log here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    base = server()
    url = create(base.sqlalchemy_url(), f"gw_bench_stream_{uuid.uuid4().hex[:6]}")
    home = Path(tempfile.mkdtemp(prefix="gw-bench-stream-", dir="/tmp"))
    home.chmod(0o755)
    env = dict(os.environ, GRIDWATCH_DATABASE_URL=url, GRIDWATCH_DATA_DIR=str(home / "gw"),
               GRIDWATCH_MQTT_PORT=str(free_port()), GRIDWATCH_STREAM_CLIENT_ID="gw-bench-stream")
    consumer: subprocess.Popen[str] | None = None
    try:
        t0 = time.perf_counter()
        run(env, "demo", "--scale", "county")
        run(env, "monitor", "run")
        run(env, "broker", "start")
        print(f"set-up (county demo, monitor run, broker) in {time.perf_counter() - t0:.0f} s")
        with psycopg.connect(libpq(url)) as conn:
            rows = conn.execute(
                "SELECT m.area_id, array_agg(m.meter_id ORDER BY m.meter_id), "
                "COALESCE(max(s.count_365), 0) FROM meter m LEFT JOIN asset_status s "
                "ON s.asset_type = 'area' AND s.asset_id = m.area_id GROUP BY m.area_id"
            ).fetchall()
        rng = random.Random(2026)
        quiet = [r for r in rows if r[2] == 0]
        rng.shuffle(quiet)
        probes = {r[0]: r[1] for r in quiet[:PROBES]}
        background = [(r[0], r[1]) for r in rows if r[0] not in probes]
        now = datetime.now(UTC).replace(microsecond=0)
        # Probes: five past interruptions, 61 days apart: at_risk, not yet frequent.
        pub = Publisher(env)
        for area, meters in probes.items():
            for k in range(5):
                pub.send(f"gridwatch/meter-events/{area}",
                         burst(meters, now - timedelta(days=300 - 61 * k), 20))
        pub.close()
        log_to = args.consumer_log.open("w") if args.consumer_log else subprocess.DEVNULL
        consumer = subprocess.Popen([GRIDWATCH, "stream"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=log_to, text=True)
        prep = sum(len(m) * 10 for m in probes.values())
        deadline = time.monotonic() + 120
        while committed(url) < prep:
            if consumer.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the consumer did not take the preparation")
            time.sleep(0.2)
        time.sleep(2)
        rss_start = rss_kb(consumer.pid)

        # The run.
        published: dict[str, float] = {}
        seen_live: dict[str, float] = {}
        seen_alert: dict[str, float] = {}
        rss: list[int] = []
        stop = threading.Event()

        def watch() -> None:
            with psycopg.connect(libpq(url), autocommit=True) as conn:
                while not stop.is_set():
                    t = time.time()
                    for (a,) in conn.execute("SELECT area_id FROM live_outage WHERE area_id = ANY(%s)",
                                             (list(probes),)):
                        seen_live.setdefault(a, t)
                    for (a,) in conn.execute(
                            "SELECT subject_id FROM alert WHERE state = 'firing' "
                            "AND rule = 'frequent_outage' AND subject_id = ANY(%s)", (list(probes),)):
                        seen_alert.setdefault(a, t)
                    stop.wait(0.05)

        def sample() -> None:
            while not stop.is_set():
                rss.append(rss_kb(consumer.pid) if consumer else 0)
                stop.wait(1)

        watchers = [threading.Thread(target=watch, daemon=True),
                    threading.Thread(target=sample, daemon=True)]
        for w in watchers:
            w.start()
        pub = Publisher(env)
        per_tick = max(1, int(args.rate * TICK))
        cycle = {a: 0 for a, _ in background}
        queue: list[dict[str, str]] = []
        probe_at = sorted(rng.uniform(2, args.seconds - 2) for _ in probes)
        probe_areas = list(probes)
        sent = 0
        start = time.perf_counter()
        tick = 0
        bg = 0
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                break
            while probe_at and probe_at[0] <= elapsed:
                probe_at.pop(0)
                area = probe_areas.pop()
                events = burst(probes[area], now - timedelta(hours=2), None)
                pub.send(f"gridwatch/meter-events/{area}", events)
                published[area] = time.time()
                sent += len(events)
            target = per_tick * (tick + 1)
            while bg < target:
                if not queue:
                    area, meters = background[rng.randrange(len(background))]
                    k = cycle[area]
                    cycle[area] += 1
                    off = now - timedelta(days=360) + timedelta(minutes=30 * k, seconds=rng.randrange(600))
                    queue = burst(meters, off, 10)
                take = min(len(queue), target - bg, 2000)
                chunk, queue = queue[:take], queue[take:]
                pub.send(f"gridwatch/meter-events/{chunk[0]['meter_id'][:12]}", chunk)
                bg += take
            tick += 1
            pause = start + tick * TICK - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        pub.close()
        publish_seconds = time.perf_counter() - start
        sent += bg
        total = prep + sent
        end_publish = time.perf_counter()
        while committed(url) < total and time.perf_counter() - end_publish < 300:
            time.sleep(0.05)
        drain = time.perf_counter() - end_publish
        time.sleep(3)
        stop.set()
        for w in watchers:
            w.join(5)
        rss_end = rss_kb(consumer.pid)
        live_lat = [seen_live[a] - published[a] for a in published if a in seen_live]
        alert_lat = [seen_alert[a] - published[a] for a in published if a in seen_alert]
        with psycopg.connect(libpq(url)) as conn:
            batches, rows_in = conn.execute(
                "SELECT count(*), COALESCE(sum(accepted + duplicates + updated + rejected), 0) "
                "FROM ingest_batch WHERE source = 'mqtt'").fetchone() or (0, 0)
            version = conn.execute("SHOW server_version").fetchone()
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.terminate()
            consumer.wait(30)
        subprocess.run([GRIDWATCH, "broker", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        if not args.keep:
            drop(url)
    load_after = os.getloadavg()

    def line(name: str, values: list[float]) -> str:
        return (f"{name:<26} n={len(values):>3}/{len(published)}  p50 {pct(values, 50):6.2f} s  "
                f"p95 {pct(values, 95):6.2f} s  p99 {pct(values, 99):6.2f} s")

    print()
    print(f"published {sent:,} events in {publish_seconds:.1f} s = {sent / publish_seconds:,.0f} events/s "
          f"(target {args.rate:,}); {batches} batches, {rows_in:,} rows committed")
    print(line("publish -> live_outage", live_lat))
    print(line("publish -> alert", alert_lat))
    print(f"lag back to zero after the last publish: {drain:.2f} s")
    peak = max(rss) if rss else 0
    print(f"consumer RSS: {rss_start / 1024:.0f} MB before, peak {peak / 1024:.0f} MB, "
          f"{rss_end / 1024:.0f} MB after; samples every 1 s: "
          f"{statistics.mean(rss) / 1024 if rss else 0:.0f} MB mean; every 10 s: "
          + " ".join(f"{v / 1024:.0f}" for v in rss[::10]) + " MB")
    print(f"conditions: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
          f"{load_after[0]:.2f} after, Python {platform.python_version()}, PostgreSQL "
          f"{version[0] if version else '?'}, county demo, broker and database on this machine")


if __name__ == "__main__":
    main()
