"""``gridwatch report frequent-outages``."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import parse_as_of
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import frequent_outages as frequent_report


@click.command("frequent-outages")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now.")
@click.option("--all", "all_", is_flag=True, help="Every asset, not only frequent and at-risk.")
@format_options
def frequent_outages(as_of: str | None, all_: bool, fmt: str, out: Path | None) -> None:
    """List areas and feeders that are frequent or at risk (SPEC section 4) at the as-of time."""
    when = parse_as_of(as_of)
    with session() as s:
        report = frequent_report.build(session=s, settings=settings(), as_of=when, all=all_)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report frequent-outages``."""
    group.add_command(frequent_outages)
