"""``gridwatch serve``: the HTTP API and maps, with the monitoring scheduler in the same process."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from core import metrics
from core.db import check_database, get_engine
from core.errors import UsageError
from core.settings import Settings
from gridwatch.context import settings

log = logging.getLogger(__name__)


def metrics_dir(s: Settings, port: int) -> Path:
    """Where this ``serve --workers N`` on ``port`` has its processes count (under the data
    dir, one directory per supervisor process)."""
    return s.data_dir.resolve() / "metrics" / f"serve-{port}-{os.getpid()}"


def clear_stale_metrics(s: Settings) -> None:
    """Remove the metrics directories of ``serve`` processes that are gone (killed runs)."""
    import shutil

    for path in (s.data_dir.resolve() / "metrics").glob("serve-*-*"):
        pid = path.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, another account's


def serve_metrics_port(s: Settings, host: str, port: int) -> Any:
    """Answer /metrics on ``port`` with no key: this process's counters (every process's in
    multiprocess mode) and the database's alerts and live outages. Returns the server."""
    from sqlalchemy.orm import Session

    from api.routers.metrics import StateCollector

    engine = get_engine(s)
    registry = metrics.scrape_registry(StateCollector(lambda: Session(bind=engine)))
    try:
        return metrics.serve_port(host, port, registry)
    except OSError as exc:
        raise UsageError(f"cannot serve the metrics on {host}:{port} ({exc.strerror or exc}); "
                         "is the port taken? (GRIDWATCH_METRICS_PORT)") from None


def _start_scheduler(s: Any) -> Any:
    from monitoring import scheduler

    return scheduler.start(s)


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the monitoring scheduler here.")
@click.option("--no-stream", is_flag=True, help="Do not consume the MQTT streams here.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="Server log level.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log each request.")
def serve(
    host: str | None, port: int | None, workers: int, no_scheduler: bool, no_stream: bool,
    log_level: str, access_log: bool,
) -> None:
    """Serve the HTTP API and the maps (the planners' overview is at /maps/).

    The same process runs the monitoring scheduler and the MQTT stream consumer
    (``gridwatch stream``) unless ``--no-scheduler`` / ``--no-stream``. Prometheus metrics
    are at /metrics (a planner or admin key), or with no key on GRIDWATCH_METRICS_PORT only.
    """
    s = settings()
    check_database(get_engine(s))
    host = host or s.host
    port = port or s.port
    if s.metrics_port is not None and s.metrics_port == port:
        raise UsageError(f"GRIDWATCH_METRICS_PORT ({s.metrics_port}) must differ from the API's port")
    shared_dir = None
    if workers > 1:
        # Before any worker starts or anything is counted: each process (the workers, and this
        # one's scheduler and stream consumer) counts into its own files there, and a scrape
        # of any of them merges them all. A fresh directory: counters start at 0 with the run;
        # those of killed runs are removed.
        clear_stale_metrics(s)
        shared_dir = metrics.prepare_dir(metrics_dir(s, port))
        metrics.enable_multiprocess(shared_dir)
    try:
        _serve(s, host, port, workers, no_scheduler, no_stream, log_level, access_log)
    finally:
        if shared_dir is not None:
            metrics.disable_multiprocess(shared_dir)


def _serve(s: Settings, host: str, port: int, workers: int, no_scheduler: bool, no_stream: bool,
           log_level: str, access_log: bool) -> None:
    metrics_server = None
    if s.metrics_port is not None:
        metrics_host = s.metrics_host or host
        metrics_server = serve_metrics_port(s, metrics_host, s.metrics_port)
        click.echo(f"gridwatch metrics on http://{metrics_host}:{s.metrics_port}/metrics "
                   "(no key; not on the API's port)", err=True)
    try:
        _run(s, host, port, workers, no_scheduler, no_stream, log_level, access_log)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()


def _run(s: Settings, host: str, port: int, workers: int, no_scheduler: bool, no_stream: bool,
         log_level: str, access_log: bool) -> None:
    import threading

    import uvicorn

    scheduler = None if no_scheduler or not s.scheduler else _start_scheduler(s)
    stop_stream = threading.Event()
    if not no_stream:
        from gridwatch.commands.stream import start_consumer

        start_consumer(s, get_engine(s), stop_stream)
    click.echo(f"gridwatch serving on http://{host}:{port}/ (maps at /maps/, sign in at /login)", err=True)
    if s.trusted_proxies:
        click.echo(f"trusting X-Forwarded-For/-Proto from {s.trusted_proxies}", err=True)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        # Forwarded headers are read by api.security.ProxyHeaders, and only from the proxies
        # in GRIDWATCH_TRUSTED_PROXIES; uvicorn's own reading (which trusts 127.0.0.1) stays off.
        "proxy_headers": False,
        "server_header": False,
    }
    try:
        if workers > 1:
            uvicorn.run("api.app:create_app_from_env", factory=True, workers=workers, **options)
        else:
            from api.app import create_app

            uvicorn.run(create_app(s), **options)
    finally:
        stop_stream.set()
        if scheduler is not None:
            scheduler.stop()


def register(cli: click.Group) -> None:
    """Add the ``serve`` command."""
    cli.add_command(serve)
