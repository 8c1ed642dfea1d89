"""``gridwatch report remediation``: the quarterly remediation list."""

from __future__ import annotations

from pathlib import Path

import click

from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import remediation as remediation_report


@click.command("remediation")
@click.option("--quarter", required=True, help="The quarter, e.g. 2026Q2 (Asia/Shanghai calendar).")
@click.option("--public", is_flag=True, help="Leave out people's names and internal notes.")
@format_options
def remediation(quarter: str, public: bool, fmt: str, out: Path | None) -> None:
    """List every asset frequent at any moment of the quarter, or with a case open in it."""
    with session() as s:
        report = remediation_report.build(session=s, settings=settings(), quarter=quarter,
                                          public=public)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report remediation``."""
    group.add_command(remediation)
