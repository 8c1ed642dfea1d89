"""The Prometheus registry every floor counts into, and its exposition (multiprocess-aware).

Every metric has labels, so that its values are made on first use: ``enable_multiprocess``
(called by ``gridwatch serve --workers N`` before anything is counted) then puts them in the
shared directory, and any process's scrape (``scrape_registry``) merges every process's files.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.accounting import Accounting

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format, which every Prometheus version reads."""
SOURCES = frozenset({"file", "http", "mqtt"})
"""Where ingested rows come from (the ``source`` label)."""

disable_created_metrics()  # no *_created series: half the exposition, nothing a scrape needs
REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            300.0, 600.0)
_LAG = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)
_HTTP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_JOBS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

# Ingest (files, HTTP bodies and MQTT micro-batches: one path, ingest.service)
INGEST_RECEIVED = Counter(
    "gridwatch_ingest_rows_received", "Input rows read and validated, whether or not their "
    "batch was then committed.", ["kind", "source"], registry=REGISTRY)
INGEST_COMMITTED = Counter(
    "gridwatch_ingest_rows_committed", "Rows stored (accepted or updated), counted when their "
    "batch's transaction commits.", ["kind", "source"], registry=REGISTRY)
INGEST_DUPLICATES = Counter(
    "gridwatch_ingest_rows_duplicate", "Rows already stored (duplicates), counted at commit.",
    ["kind", "source"], registry=REGISTRY)
INGEST_REJECTED = Counter(
    "gridwatch_ingest_rows_rejected", "Rows rejected and recorded with their reason, counted "
    "at commit.", ["kind", "source"], registry=REGISTRY)
INGEST_BATCH_SECONDS = Histogram(
    "gridwatch_ingest_batch_seconds", "Time to validate, account and COPY one batch (before "
    "its commit).", ["kind", "source"], buckets=_SECONDS, registry=REGISTRY)

# Derived results after an ingest or a stream batch (monitoring.follow)
REFRESH_SECONDS = Histogram(
    "gridwatch_refresh_seconds", "Time of each step that brings derived results up to date "
    "after an ingest (trigger=ingest) or a stream batch (trigger=stream).",
    ["step", "trigger"], buckets=_SECONDS, registry=REGISTRY)

# The MQTT consumer (ingest.stream.consumer)
STREAM_MESSAGES = Counter(
    "gridwatch_stream_messages", "MQTT messages committed and acknowledged.", ["consumer"],
    registry=REGISTRY)
STREAM_BATCH_SECONDS = Histogram(
    "gridwatch_stream_batch_seconds", "Time to store and commit one micro-batch, retries "
    "included.", ["consumer"], buckets=_SECONDS, registry=REGISTRY)
STREAM_LAG_SECONDS = Histogram(
    "gridwatch_stream_lag_seconds", "Consumer lag: from the moment the consumer received the "
    "oldest message of a micro-batch to that batch's commit.", ["consumer"], buckets=_LAG,
    registry=REGISTRY)
STREAM_STORE_ERRORS = Counter(
    "gridwatch_stream_store_errors", "Failed attempts to store a micro-batch (it is retried; "
    "reason=database when the database was away).", ["consumer", "reason"], registry=REGISTRY)

# Jobs (monitoring.jobs)
JOB_SECONDS = Histogram(
    "gridwatch_job_duration_seconds", "Duration of each monitoring job run.", ["job"],
    buckets=_JOBS, registry=REGISTRY)
JOB_RUNS = Counter(
    "gridwatch_job_runs", "Monitoring job runs by outcome (success or error).", ["job", "outcome"],
    registry=REGISTRY)
JOB_LAST_SUCCESS = Gauge(
    "gridwatch_job_last_success_timestamp_seconds", "When each job last finished with success "
    "(Unix time).", ["job"], multiprocess_mode="max", registry=REGISTRY)

# Deliveries (monitoring.alerts.notify, monitoring.alerts.alertmanager, monitoring.notify.deliver)
DELIVERIES = Counter(
    "gridwatch_deliveries", "Delivery attempts by channel (webhook: alert notifications; "
    "alertmanager: alerts posted to the Alertmanager; gateway: customer notifications) and "
    "outcome (delivered, retrying, failed).", ["channel", "outcome"], registry=REGISTRY)

# HTTP (api.routers.metrics.HttpMetrics)
HTTP_REQUESTS = Counter(
    "gridwatch_http_requests", "HTTP requests by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram(
    "gridwatch_http_request_duration_seconds", "Time from a request's arrival to the end of "
    "its answer, by method and route template.", ["method", "route"], buckets=_HTTP,
    registry=REGISTRY)


# --- ingest accounting, counted when the batch's transaction commits -----------------------------

_PENDING = "gridwatch.metrics.pending"


def source_label(source: str) -> str:
    """``source`` if it is one of file, http, mqtt; else ``other`` (bounded cardinality)."""
    return source if source in SOURCES else "other"


def ingest_received(*, kind: str, source: str, rows: int) -> None:
    """Count rows read for a batch that failed before it was accounted (e.g. refused whole)."""
    if rows:
        INGEST_RECEIVED.labels(kind, source_label(source)).inc(rows)


def ingest_accounted(*, session: Session, kind: str, source: str, acct: Accounting,
                     seconds: float) -> None:
    """Count a batch's rows as received now, and as committed, duplicate or rejected once
    ``session`` commits (nothing if it rolls back)."""
    source = source_label(source)
    INGEST_RECEIVED.labels(kind, source).inc(acct.total)
    INGEST_BATCH_SECONDS.labels(kind, source).observe(seconds)
    pending: list[tuple[str, str, int, int, int]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    pending.append((kind, source, acct.accepted + acct.updated, acct.duplicates, acct.rejected))


def _committed(session: Session) -> None:
    pending = session.info.get(_PENDING) or []
    for kind, source, stored, duplicates, rejected in pending:
        INGEST_COMMITTED.labels(kind, source).inc(stored)
        INGEST_DUPLICATES.labels(kind, source).inc(duplicates)
        INGEST_REJECTED.labels(kind, source).inc(rejected)
    pending.clear()


def _rolled_back(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        pending.clear()


# --- deliveries -----------------------------------------------------------------------------------

def delivered(channel: str, counts: dict[str, int], names: dict[str, str] | None = None) -> None:
    """Count a delivery round's outcomes; ``names`` maps a key of ``counts`` to an outcome."""
    names = names or {"delivered": "delivered", "retrying": "retrying", "failed": "failed"}
    for key, outcome in names.items():
        if counts.get(key):
            DELIVERIES.labels(channel, outcome).inc(counts[key])


# --- multiprocess mode and exposition ------------------------------------------------------------

def multiprocess_dir() -> str | None:
    """The directory processes count into (``PROMETHEUS_MULTIPROC_DIR``), if any."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_dir(path: Path) -> Path:
    """Make ``path`` an empty directory, readable by this account only (left-overs removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    return path


def enable_multiprocess(path: Path) -> None:
    """Count into files under ``path`` from now on, in this process and in the processes it
    starts (they inherit the environment variable). Call before anything is counted."""
    os.environ[MULTIPROC_ENV] = str(path)
    values.ValueClass = values.get_value_class()


def disable_multiprocess(path: Path | None = None) -> None:
    """Back to counting in memory, and remove ``path`` (the directory of a finished run)."""
    os.environ.pop(MULTIPROC_ENV, None)
    values.ValueClass = values.get_value_class()
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """What a scrape shows: every process's files in multiprocess mode, else this process's
    registry (with its process_* metrics); plus ``extra`` collectors (read at scrape time)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format of ``registry``."""
    return generate_latest(registry)


def serve_port(host: str, port: int, registry: CollectorRegistry) -> Any:
    """Answer GET /metrics (any path) on ``host:port`` with no key, in a daemon thread.

    Returns the server; ``.shutdown()`` stops it. Raises OSError when the port is taken.
    """
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
