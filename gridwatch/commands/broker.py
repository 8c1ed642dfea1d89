"""``gridwatch broker``: manage the embedded MQTT broker (Mosquitto) for live streams."""

from __future__ import annotations

import click

from core import broker as mqtt_broker
from core.errors import BrokerError
from gridwatch.context import settings


@click.group("broker")
def broker() -> None:
    """Manage the MQTT broker of live streams: start, stop, status, url."""


@broker.command("start")
def start() -> None:
    """Create (once) and start the embedded Mosquitto on 127.0.0.1, with password authentication."""
    s = settings()
    if not mqtt_broker.is_embedded(s):
        click.echo("using GRIDWATCH_MQTT_URL; nothing to start")
        return
    b = mqtt_broker.start(s)
    # Before any publisher reconnects: Mosquitto does not restore shared subscriptions.
    from ingest.stream.consumer import restore_session

    restore_session(s)
    click.echo(f"broker running on {mqtt_broker.HOST}:{b.port} (data in {b.home})")


@broker.command("stop")
def stop() -> None:
    """Stop the embedded broker (it saves its queued messages first)."""
    s = settings()
    if not mqtt_broker.is_embedded(s):
        click.echo("using GRIDWATCH_MQTT_URL; nothing to stop")
        return
    click.echo("broker stopped" if mqtt_broker.stop(s) else "broker was not running")


@broker.command("status")
def status() -> None:
    """Say whether the broker accepts gridwatch's credentials (exit 1 when it does not)."""
    s = settings()
    if mqtt_broker.is_embedded(s):
        b = mqtt_broker.broker(s)
        if not mqtt_broker.is_running(b):
            raise BrokerError(
                f"the embedded broker is not running ({mqtt_broker.HOST}:{b.port}); "
                "start it with 'gridwatch broker start'")
    conn = mqtt_broker.connection(s)
    shown = conn.url(hide_password=True)
    problem = mqtt_broker.probe(conn)
    if problem is not None:
        raise BrokerError(f"broker unreachable at {shown}: {problem}")
    click.echo(f"broker reachable at {shown}")


@broker.command("url")
def url() -> None:
    """Print the broker URL with its password (mqtt://user:password@host:port)."""
    click.echo(mqtt_broker.url(settings()))


def register(cli: click.Group) -> None:
    """Add the ``broker`` group."""
    cli.add_command(broker)
