"""``gridwatch report repeat-planned``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import click

from core.clock import parse_day_start
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import repeat_planned as report_module


def period_end(text: str) -> datetime:
    """A date is inclusive (up to the next local midnight); a timestamp is exact."""
    end = parse_day_start(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        end += timedelta(days=1)
    return end


@click.command("repeat-planned")
@click.option("--from", "start", required=True, help="First day (local date) or timestamp.")
@click.option("--to", "end", required=True,
              help="Last day (local date, inclusive) or an exclusive end timestamp.")
@format_options
def repeat_planned(start: str, end: str, fmt: str, out: Path | None) -> None:
    """List areas planned out twice within GRIDWATCH_REPEAT_PLANNED_DAYS (default 90) days.

    One row per pair of consecutive planned interruptions (planned outage records on the area
    or its feeder, and works with method outage) whose second one starts in the period:
    area_id, first_ref, first_start, second_ref, second_start, days_apart, customers.
    """
    with session() as s:
        report = report_module.build(session=s, settings=settings(),
                                     start=parse_day_start(start), end=period_end(end))
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report repeat-planned``."""
    group.add_command(repeat_planned)
