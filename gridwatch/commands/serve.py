"""``gridwatch serve``: the HTTP API and maps, with the monitoring scheduler in the same process."""

from __future__ import annotations

import logging
from typing import Any

import click

from core.db import check_database, get_engine
from gridwatch.context import settings

log = logging.getLogger(__name__)


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
    (``gridwatch stream``) unless ``--no-scheduler`` / ``--no-stream``.
    """
    import threading

    import uvicorn

    s = settings()
    check_database(get_engine(s))
    host = host or s.host
    port = port or s.port
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
