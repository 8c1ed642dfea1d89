"""``gridwatch stream``: consume the MQTT streams into the database until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from core.settings import Settings
from gridwatch.context import emit_object, engine, settings

log = logging.getLogger(__name__)


def follower(eng: Engine, conf: Settings) -> Any:
    """The callback that brings derived results up to date after each committed batch."""
    from monitoring.follow import follow_batch

    def after_commit(results: list[Any]) -> None:
        outcome = follow_batch(engine=eng, settings=conf)
        log.info("stream: derived results up to date (%s)",
                 ", ".join(f"{k} {v:.2f}s" for k, v in outcome["seconds"].items()))

    return after_commit


def start_consumer(conf: Settings, eng: Engine, stop: threading.Event) -> threading.Thread:
    """Run a consumer in a daemon thread until ``stop`` (for ``serve``).

    While the broker cannot be reached it says so once and tries again every 10 s, so the
    API and maps serve whatever the broker is doing.
    """
    from core.errors import BrokerError
    from ingest.stream.consumer import Consumer

    def run() -> None:
        warned = False
        while not stop.is_set():
            try:
                consumer = Consumer(settings=conf, engine=eng, after_commit=follower(eng, conf))
                consumer.connect()
            except BrokerError as exc:
                if not warned:
                    log.warning("stream: not consuming yet (%s); trying again every 10 s", exc.detail)
                    warned = True
                stop.wait(10)
                continue
            log.info("stream: consuming")
            try:
                consumer.run(stop)
            finally:
                consumer.close()

    thread = threading.Thread(target=run, name="gridwatch-stream", daemon=True)
    thread.start()
    return thread


def _serve_metrics(conf: Settings) -> Any:
    """This process's metrics on GRIDWATCH_STREAM_METRICS_PORT, with no key."""
    from core import metrics
    from core.errors import UsageError

    assert conf.stream_metrics_port is not None
    host = conf.metrics_host or conf.host
    try:
        server = metrics.serve_port(host, conf.stream_metrics_port, metrics.scrape_registry())
    except OSError as exc:
        raise UsageError(f"cannot serve the metrics on {host}:{conf.stream_metrics_port} "
                         f"({exc.strerror or exc}); is the port taken? "
                         "(GRIDWATCH_STREAM_METRICS_PORT)") from None
    click.echo(f"gridwatch: metrics on http://{host}:{conf.stream_metrics_port}/metrics", err=True)
    return server


@click.command("stream")
@click.option("--once", is_flag=True,
              help="Commit what the broker has queued for this consumer, then exit.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format of the summary printed at the end.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the summary to this file instead of standard output.")
def stream(once: bool, fmt: str, out: Path | None) -> None:
    """Consume gridwatch/meter-events/#, gridwatch/outages/# and gridwatch/works/# (QoS 1).

    Micro-batches of GRIDWATCH_STREAM_BATCH_SECONDS or GRIDWATCH_STREAM_BATCH_ROWS are
    validated, accounted and committed like files (batch source 'mqtt'); a message is
    acknowledged only after its rows are committed. Runs until interrupted. With
    GRIDWATCH_STREAM_METRICS_PORT set, its Prometheus metrics are on that port (no key).
    """
    from ingest.stream.consumer import Consumer, client_id

    conf = settings()
    eng = engine()
    metrics_server = None
    if conf.stream_metrics_port is not None and not once:
        metrics_server = _serve_metrics(conf)
    consumer = Consumer(settings=conf, engine=eng, after_commit=follower(eng, conf))
    try:
        consumer.connect()
    except BaseException:
        if metrics_server is not None:
            metrics_server.shutdown()
        raise
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if not once:
        click.echo(f"gridwatch: consuming as '{client_id(conf)}'; Ctrl-C to stop", err=True)
    try:
        stats = consumer.run(stop, once=once)
    finally:
        consumer.close()
        if metrics_server is not None:
            metrics_server.shutdown()
    summary = {
        "messages": stats.messages, "batches": stats.batches, "rows": stats.rows,
        "accepted": stats.accepted, "duplicates": stats.duplicates, "updated": stats.updated,
        "rejected": stats.rejected,
    }
    emit_object(summary, fmt, out, text=(
        f"{stats.messages} message(s) in {stats.batches} batch(es): {stats.accepted} accepted, "
        f"{stats.duplicates} duplicates, {stats.updated} updated, {stats.rejected} rejected\n"))


def register(cli: click.Group) -> None:
    """Add the ``stream`` command."""
    cli.add_command(stream)
