"""``gridwatch report zero-perception``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import click

from core.clock import parse_day_start
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import zero_perception as zp_report


def _period_end(text: str) -> datetime:
    """A date is inclusive (up to the next local midnight); a timestamp is exact."""
    end = parse_day_start(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        end += timedelta(days=1)
    return end


@click.command("zero-perception")
@click.option("--from", "start", required=True, help="First day (local date) or timestamp.")
@click.option("--to", "end", required=True,
              help="Last day (local date, inclusive) or an exclusive end timestamp.")
@click.option("--by", type=click.Choice(["zone"]), default=None,
              help="One row per core zone with its zero-perception rate.")
@format_options
def zero_perception(start: str, end: str, by: str | None, fmt: str, out: Path | None) -> None:
    """List in-scope maintenance works of the period and whether customers lost supply."""
    with session() as s:
        report = zp_report.build(session=s, settings=settings(), start=parse_day_start(start),
                                 end=_period_end(end), by=by)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report zero-perception``."""
    group.add_command(zero_perception)
