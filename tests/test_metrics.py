"""Prometheus metrics: what /metrics counts after real work, who may scrape it, several workers.

Every scrape is parsed with prometheus-client's own text parser; ``promtool check metrics``
(Debian's ``prometheus`` package, installed by scripts/install-tools.sh) lints it; and the real
Prometheus server scrapes two ``gridwatch serve`` workers once.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from api.keys import create_key
from api.routers.metrics import RouteTable
from core import metrics
from core.settings import Settings
from ingest import service
from monitoring import jobs
from tests.builders import add_area, add_feeder, add_meters, free_port
from tests.test_alerts_webhook import Receiver
from tests.test_api_support import Api, make_api

GRIDWATCH = str(Path(sys.executable).with_name("gridwatch"))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> Samples:
    """Every sample of a scrape, by (name, labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet, as for a fresh counter)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def api(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def _grid(api: Api) -> None:
    def build(s: Session) -> None:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=30)
        add_meters(s, "A1", 4)
    api.sql(build)


def test_after_real_ingest_jobs_and_alerts_metrics_show_them_with_their_labels(
    api: Api, cli: Any, tmp_path: Path,
) -> None:
    """A CLI ingest (file), two HTTP ingests (http), a monitoring run with a webhook: each shows
    in /metrics under its kind and source, the job's runs, the alert firing by rule, the live
    outage, the webhook delivery and the requests by route template."""
    _grid(api)
    before = parse(api.get("/metrics", "planner").text)
    now = datetime.now(UTC).replace(microsecond=0)
    outages = tmp_path / "outages.csv"
    outages.write_text(
        "outage_id,asset_type,asset_id,start_time,end_time,cause\n"
        f"O-open,area,A1,{(now - timedelta(hours=100)).isoformat()},,fault\n"   # open 100 h
        f"O-past,area,A1,{(now - timedelta(days=9)).isoformat()},"
        f"{(now - timedelta(days=9) + timedelta(hours=1)).isoformat()},weather\n"
        f"O-bad,planet,A1,{now.isoformat()},,fault\n", encoding="utf-8")
    result = cli("ingest", "outages", str(outages), "--format", "json")
    assert result.exit_code == 3 and json.loads(result.output)["accepted"] == 2
    events = "".join(json.dumps(e) + "\n" for e in [
        *({"meter_id": f"A1-m{i}", "time": (now - timedelta(minutes=30)).isoformat(),
           "kind": "off"} for i in range(3)),
        {"meter_id": "A1-m3", "time": now.isoformat(), "kind": "blink"},
    ])
    for _ in range(2):  # the second time: three duplicates and the same reject
        r = api.request("POST", "/api/v1/ingest/meter-events", "ingest", content=events,
                        headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
    receiver = Receiver()
    try:
        conf = api.settings.model_copy(update={"webhook_url": receiver.url})
        started = time.time()
        assert jobs.run_all(engine=api.engine, settings=conf)["ok"]
        assert len(receiver.messages) == 1
    finally:
        receiver.close()
    assert api.get("/api/v1/alerts").status_code == 401           # no key: answered before routing
    assert api.get("/tiles/areas/12/3245/1702.pbf", "planner").status_code == 200

    body = api.get("/metrics", "planner").text
    after = parse(body)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    rows = "gridwatch_ingest_rows_"
    assert delta(rows + "received_total", kind="outages", source="file") == 3
    assert delta(rows + "committed_total", kind="outages", source="file") == 2
    assert delta(rows + "rejected_total", kind="outages", source="file") == 1
    assert delta(rows + "received_total", kind="meter-events", source="http") == 8
    assert delta(rows + "committed_total", kind="meter-events", source="http") == 3
    assert delta(rows + "duplicate_total", kind="meter-events", source="http") == 3
    assert delta(rows + "rejected_total", kind="meter-events", source="http") == 2
    assert delta("gridwatch_ingest_batch_seconds_count", kind="meter-events", source="http") == 2
    assert delta("gridwatch_refresh_seconds_count", step="interruptions", trigger="ingest") == 3
    for job in ("interruptions", "live_outages", "frequent_outage", "cases", "alerts", "push",
                "notify"):
        assert delta("gridwatch_job_runs_total", job=job, outcome="success") == 1, job
        assert delta("gridwatch_job_duration_seconds_count", job=job) == 1, job
    assert value(after, "gridwatch_job_last_success_timestamp_seconds", job="alerts") >= started
    assert delta("gridwatch_deliveries_total", channel="webhook", outcome="delivered") == 1
    # Read from the database at scrape time: every rule is there, firing or not.
    assert value(after, "gridwatch_state_up") == 1
    assert value(after, "gridwatch_alerts_firing", rule="open_outage", severity="warning") == 1
    assert value(after, "gridwatch_alerts_firing", rule="frequent_outage", severity="critical") == 0
    assert ("gridwatch_alerts_firing",
            frozenset({("rule", "frequent_outage"), ("severity", "critical")})) in after
    assert value(after, "gridwatch_live_outage_areas") == 1
    assert value(after, "gridwatch_live_outage_customers") == 30
    # Requests by route template, never by raw path; a 401 given before routing counts too.
    requests = "gridwatch_http_requests_total"
    assert delta(requests, method="POST", route="/api/v1/ingest/meter-events", status="200") == 2
    assert delta(requests, method="GET", route="/api/v1/alerts", status="401") == 1
    assert delta(requests, method="GET", route="/tiles/{layer}/{z}/{x}/{y}.pbf", status="200") == 1
    routes = {dict(labels)["route"] for name, labels in after if name == requests}
    # (other tests in the same process may have counted /maps/areas/{area_id}: a template)
    assert not any("3245" in r or r.startswith("/tiles/areas") for r in routes), routes
    checked = promtool_check(body)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rows_of_a_batch_that_is_rolled_back_are_received_but_never_committed(
    fresh_settings: Settings,
) -> None:
    engine = create_engine(fresh_settings.sqlalchemy_url(), poolclass=pool.NullPool)
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    body = f"outage_id,asset_type,asset_id,start_time,cause\nR1,area,A1,{start},fault\n".encode()

    def counts() -> tuple[float, float]:
        s = parse(metrics.render(metrics.scrape_registry()).decode())
        return (value(s, "gridwatch_ingest_rows_received_total", kind="outages", source="file"),
                value(s, "gridwatch_ingest_rows_committed_total", kind="outages", source="file"))

    try:
        first = counts()
        with Session(engine) as s:
            service.ingest(session=s, kind="outages", source=io.BytesIO(body), name="o.csv")
            s.rollback()
        assert counts() == (first[0] + 1, first[1])
        with Session(engine) as s:
            service.ingest(session=s, kind="outages", source=io.BytesIO(body), name="o.csv")
            s.commit()
        assert counts() == (first[0] + 2, first[1] + 1)
    finally:
        engine.dispose()


def test_who_may_scrape_and_the_separate_port(api: Api, fresh_settings: Settings) -> None:
    """On the API's port: a planner or admin key; no key 401, other roles 403. With
    GRIDWATCH_METRICS_PORT set, the API's port has no /metrics at all."""
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", "ingest").status_code == 403
    assert api.get("/metrics", "regulator").status_code == 403
    for role in ("planner", "admin"):
        r = api.get("/metrics", role)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    from fastapi.testclient import TestClient

    from api.app import create_app

    separate = fresh_settings.model_copy(update={"metrics_port": free_port()})
    with TestClient(create_app(separate), raise_server_exceptions=False) as client:
        assert client.get("/metrics", headers=api.headers("admin")).status_code == 404
        assert client.get("/healthz").status_code == 200


def test_route_templates_bound_the_route_label(api: Api) -> None:
    table = RouteTable(api.client.app.routes)  # type: ignore[attr-defined]

    def route(method: str, path: str) -> str:
        return table.template({"type": "http", "method": method, "path": path, "root_path": ""})

    assert route("GET", "/ogc/collections/areas/items/A-<script>") == \
        "/ogc/collections/{collection_id}/items/{feature_id}"
    assert route("POST", "/api/v1/alerts/17/ack") == "/api/v1/alerts/{alert_id}/ack"
    assert route("GET", "/static/vendor/leaflet/leaflet.js") == "/static/{path}"
    assert route("DELETE", "/healthz") == "/healthz"           # a 405 keeps its route
    assert route("GET", "/wp-admin/" + "x" * 500) == "unmatched"


# --- real processes: two workers, the metrics port, the Prometheus server ------------------------

def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GRIDWATCH_") and k != metrics.MULTIPROC_ENV}
    env.update(GRIDWATCH_DATABASE_URL=settings.sqlalchemy_url(),
               GRIDWATCH_DATA_DIR=str(settings.data_dir), **extra)
    return env


def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    end = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError, ValueError, KeyError, IndexError):
            pass
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    out, _ = proc.communicate()
    return out or ""


def _planner_key(settings: Settings) -> str:
    engine = create_engine(settings.sqlalchemy_url(), poolclass=pool.NullPool)
    try:
        with Session(engine) as s:
            key = create_key(session=s, role="planner", name="prometheus")[1]
            s.commit()
        return key
    finally:
        engine.dispose()


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_two_workers_merge_their_counts_and_prometheus_scrapes_them(
    fresh_settings: Settings, tmp_path: Path,
) -> None:
    """``serve --workers 2`` counts into a fresh directory under the data dir; whichever worker
    answers a scrape shows both workers' requests; the real Prometheus scrapes it with a key
    and says the target is up; stopping serve removes the directory."""
    key = _planner_key(fresh_settings)
    port = free_port()
    root = fresh_settings.data_dir.resolve() / "metrics"
    stale = root / f"serve-{port}-{_dead_pid()}"
    stale.mkdir(parents=True)
    (stale / "counter_4242.db").write_bytes(b"left over from a killed run")
    proc = subprocess.Popen(
        [GRIDWATCH, "serve", "--port", str(port), "--workers", "2", "--no-scheduler",
         "--no-stream", "--no-access-log"],
        env=_env(fresh_settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {key}"}
    prometheus: subprocess.Popen[str] | None = None
    try:
        _until(lambda: httpx.get(base + "/healthz", timeout=5).status_code == 200, 90, "serve")
        assert not stale.exists()
        [shared] = root.glob(f"serve-{port}-*")
        assert shared.name == f"serve-{port}-{proc.pid}"

        def healthz_count() -> float:
            r = httpx.get(base + "/metrics", headers=auth, timeout=10)
            assert r.status_code == 200
            return value(parse(r.text), "gridwatch_http_requests_total", method="GET",
                         route="/healthz", status="200")

        def burst() -> list[int]:
            with ThreadPoolExecutor(8) as pool_:
                return list(pool_.map(
                    lambda _: httpx.get(base + "/healthz", timeout=10).status_code, range(40)))

        def both_count() -> bool:
            # A worker's file appears with its first count: two files, both workers answer
            # (the second may still be starting when the first answers /healthz).
            burst()
            return len(list(shared.glob("counter_*.db"))) >= 2

        _until(both_count, 90, "both workers to answer requests")
        first = healthz_count()
        assert burst() == [200] * 40
        # Each scrape goes to either worker (a new connection each time): all say first + 40.
        assert [healthz_count() for _ in range(6)] == [first + 40] * 6

        (tmp_path / "key").write_text(key)
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: gridwatch\n"
            f"    authorization:\n      credentials_file: {tmp_path / 'key'}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        prom = f"http://127.0.0.1:{prom_port}"

        def target_up() -> dict[str, Any] | None:
            targets = httpx.get(prom + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return targets[0] if targets and targets[0]["health"] == "up" else None

        target = _until(target_up, 60, "Prometheus to scrape gridwatch")
        assert target["lastError"] == "" and target["scrapeUrl"] == f"{base}/metrics"

        def stored() -> float:
            query = 'sum(gridwatch_http_requests_total{route="/healthz",status="200"})'
            result = httpx.get(prom + "/api/v1/query", params={"query": query},
                               timeout=5).json()["data"]["result"]
            return float(result[0]["value"][1]) if result else 0.0

        assert _until(lambda: stored() >= first + 40, 30, "the samples in Prometheus")
    finally:
        if prometheus is not None:
            _stop(prometheus)
        out = _stop(proc)
    assert proc.returncode == 0, out[-3000:]
    assert not shared.exists() and list(root.iterdir()) == []  # cleaned when serve stops


def test_the_metrics_port_answers_without_a_key_and_the_api_port_has_no_metrics(
    fresh_settings: Settings, api: Api,
) -> None:
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        [GRIDWATCH, "serve", "--port", str(port), "--no-scheduler", "--no-stream",
         "--no-access-log"],
        env=_env(fresh_settings, GRIDWATCH_METRICS_PORT=str(metrics_port)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _until(lambda: httpx.get(base + "/healthz", timeout=5).status_code == 200, 60, "serve")
        r = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert r.status_code == 200
        scraped = parse(r.text)
        assert value(scraped, "gridwatch_state_up") == 1
        assert value(scraped, "gridwatch_http_requests_total", method="GET", route="/healthz",
                     status="200") >= 1
        assert httpx.get(base + "/metrics", headers=api.headers("admin"), timeout=10).status_code == 404
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out[-3000:]
    same = subprocess.run([GRIDWATCH, "serve", "--port", str(port)], capture_output=True, text=True,
                          env=_env(fresh_settings, GRIDWATCH_METRICS_PORT=str(port)), timeout=60,
                          check=False)
    assert same.returncode == 2 and "must differ" in same.stderr


# --- the stream consumer -------------------------------------------------------------------------

def test_a_stream_batch_is_counted_with_its_lag_and_gridwatch_stream_serves_it(
    base: Path, fresh_db: str,
) -> None:
    from core import broker
    from gridwatch.commands.stream import _serve_metrics, follower
    from ingest.stream.consumer import Consumer
    from tests.test_stream import Publisher

    name = f"gw-metrics-{uuid.uuid4().hex[:8]}"
    conf = Settings(database_url=fresh_db, data_dir=base / "gw", mqtt_port=free_port(),
                    stream_batch_seconds=0.3, stream_client_id=name,
                    stream_metrics_port=free_port())
    engine = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=20)
        add_meters(s, "A1", 4)
        s.commit()
    broker.start(conf)
    server = None
    try:
        Consumer(settings=conf, engine=engine).connect()  # the persistent session exists
        before = parse(metrics.render(metrics.scrape_registry()).decode())
        when = datetime.now(UTC) - timedelta(minutes=5)
        publisher = Publisher(conf)
        try:
            publisher.send("gridwatch/meter-events/A1", [
                {"meter_id": f"A1-m{i}", "time": when.isoformat(), "kind": "off"} for i in range(4)])
            publisher.send("gridwatch/meter-events/A1", b"not json")
        finally:
            publisher.close()
        consumer = Consumer(settings=conf, engine=engine, after_commit=follower(engine, conf))
        consumer.connect()
        try:
            stats = consumer.run(threading.Event(), once=True)
        finally:
            consumer.close()
        assert stats.messages == 2 and stats.accepted == 4 and stats.rejected == 1
        server = _serve_metrics(conf)
        r = httpx.get(f"http://{conf.host}:{conf.stream_metrics_port}/metrics", timeout=10)
        assert r.status_code == 200
        after = parse(r.text)

        def delta(metric: str, **labels: str) -> float:
            return value(after, metric, **labels) - value(before, metric, **labels)

        assert delta("gridwatch_stream_messages_total", consumer=name) == 2
        assert delta("gridwatch_stream_lag_seconds_count", consumer=name) == stats.batches
        assert delta("gridwatch_stream_batch_seconds_count", consumer=name) == stats.batches
        assert delta("gridwatch_ingest_rows_committed_total", kind="meter-events", source="mqtt") == 4
        assert delta("gridwatch_ingest_rows_rejected_total", kind="meter-events", source="mqtt") == 1
        assert delta("gridwatch_refresh_seconds_count", step="alerts", trigger="stream") == \
            stats.batches
        # The lag is received → committed: at least the micro-batch wait, well under a minute.
        lag_sum = delta("gridwatch_stream_lag_seconds_sum", consumer=name)
        assert 0 < lag_sum < 60 * stats.batches
        checked = promtool_check(r.text)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        if server is not None:
            server.shutdown()
        broker.destroy(conf)
        engine.dispose()


def test_promtool_rejects_a_broken_exposition() -> None:
    """The lint above can fail: a counter without _total and a bad line are refused."""
    bad = "# TYPE requests counter\nrequests{route=\"/x\"} 1\nthis is not a sample\n"
    assert promtool_check(bad).returncode != 0
