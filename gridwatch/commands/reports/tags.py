"""``gridwatch report tags``."""

from __future__ import annotations

from pathlib import Path

import click

from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import tags as tags_report


@click.command("tags")
@click.option("--asset-type", type=click.Choice(["area", "feeder"]), default=None,
              help="Only areas or only feeders.")
@format_options
def tags(asset_type: str | None, fmt: str, out: Path | None) -> None:
    """List every tag an asset has (share inside the layer at or above tag_min_share)."""
    with session() as s:
        report = tags_report.build(session=s, settings=settings(), asset_type=asset_type)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report tags``."""
    group.add_command(tags)
