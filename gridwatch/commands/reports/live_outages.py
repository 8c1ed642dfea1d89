"""``gridwatch report live-outages``."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import parse_as_of
from gridwatch.context import emit_report, format_options, session
from monitoring.reports import live_outages as live_report


@click.command("live-outages")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now.")
@format_options
def live_outages(as_of: str | None, fmt: str, out: Path | None) -> None:
    """List the areas out at the as-of time: since, cause, customers, source, estimated end, progress."""
    when = parse_as_of(as_of)
    with session() as s:
        report = live_report.build(session=s, as_of=when)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report live-outages``."""
    group.add_command(live_outages)
