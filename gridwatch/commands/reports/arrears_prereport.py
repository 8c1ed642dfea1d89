"""``gridwatch report arrears-prereport``."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import parse_as_of
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import arrears_prereport as report_module


@click.command("arrears-prereport")
@click.option("--month", required=True, help="The month of the planned starts, e.g. 2026-11 (local).")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now.")
@format_options
def arrears_prereport(month: str, as_of: str | None, fmt: str, out: Path | None) -> None:
    """List the month's arrears disconnections that must be pre-reported (task 56), with status.

    A disconnection needs a report 72 h ahead when its compound's households on that day add
    up to more than 50, or it cuts an important user. Status at the as-of time: ok, late,
    missing or due.
    """
    when = parse_as_of(as_of)
    with session() as s:
        report = report_module.build(session=s, settings=settings(), month=month, as_of=when)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report arrears-prereport``."""
    group.add_command(arrears_prereport)
