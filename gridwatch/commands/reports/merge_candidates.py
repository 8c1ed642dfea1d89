"""``gridwatch report merge-candidates``."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import parse_day_start
from gridwatch.commands.reports.repeat_planned import period_end
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import merge_candidates as report_module


@click.command("merge-candidates")
@click.option("--from", "start", default=None,
              help="First day (local date) or timestamp; default: no lower bound.")
@click.option("--to", "end", default=None,
              help="Last day (local date, inclusive) or an exclusive end timestamp; default: none.")
@format_options
def merge_candidates(start: str | None, end: str | None, fmt: str, out: Path | None) -> None:
    """List pairs of outage works on one feeder that start within GRIDWATCH_MERGE_CANDIDATE_DAYS
    (default 14) days of each other: jobs one outage could serve (一停多用).

    Fields: feeder_id, work_ids (sorted), days_apart, planned_starts. With --from/--to, the
    pairs whose later work starts in that period.
    """
    with session() as s:
        report = report_module.build(
            session=s, settings=settings(),
            start=parse_day_start(start) if start else None,
            end=period_end(end) if end else None)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report merge-candidates``."""
    group.add_command(merge_candidates)
