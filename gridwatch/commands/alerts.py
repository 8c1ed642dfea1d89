"""``gridwatch alerts list`` and ``gridwatch alerts ack``."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from core.clock import utcnow
from gridwatch.context import emit_object, emit_rows, format_options, session

COLUMNS = ["id", "rule", "severity", "state", "subject_type", "subject_id", "summary",
           "starts_at", "ends_at", "acknowledged_by", "acknowledged_at", "fingerprint"]


@click.group("alerts")
def alerts() -> None:
    """List and acknowledge alerts."""


@alerts.command("list")
@click.option("--state", type=click.Choice(["firing", "resolved", "all"]), default="all",
              show_default=True, help="Which alerts to list.")
@format_options
def list_(state: str, fmt: str, out: Path | None) -> None:
    """List alerts, firing first."""
    from monitoring.alerts.service import list_alerts

    with session() as s:
        rows = list_alerts(session=s, state=state)
    emit_rows(rows, COLUMNS, fmt, out, title="alerts")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", "actor", default=None, help="Who acknowledges (default: the login name).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the output to this file instead of standard output.")
def ack(alert_id: int, actor: str | None, fmt: str, out: Path | None) -> None:
    """Acknowledge an alert, recording who and when."""
    from monitoring.alerts.service import acknowledge

    who = actor or getpass.getuser()
    with session() as s:
        row = acknowledge(session=s, alert_id=alert_id, actor=who, at=utcnow())
    text = (f"alert {row['id']} ({row['rule']} {row['subject_type']} {row['subject_id']}) "
            f"acknowledged by {row['acknowledged_by']} at {row['acknowledged_at'].isoformat()}\n")
    emit_object(row, fmt, out, text)


def register(cli: click.Group) -> None:
    """Add the ``alerts`` group."""
    cli.add_command(alerts)
