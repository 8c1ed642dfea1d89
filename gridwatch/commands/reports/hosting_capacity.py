"""``gridwatch report hosting-capacity``."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import utcnow
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import hosting_capacity as report_module


@click.command("hosting-capacity")
@click.option("--quarter", required=True, help="The quarter, e.g. 2026Q4 (Asia/Shanghai calendar).")
@format_options
def hosting_capacity(quarter: str, fmt: str, out: Path | None) -> None:
    """List each area's distributed-PV hosting capacity and grade, then each feeder's grade.

    S_d = (P + β·S·cos φ)/τ, C1 = S_d − connected kW, C2 = C1 − registered kW; green when
    C2 > 0, yellow when C2 ≤ 0 < C1, red when C1 ≤ 0, unassessed without capacity_kva or a
    typical load. The current quarter is recomputed when its inputs or parameters changed; an
    ended quarter is given exactly as it was stored. An ended quarter that was never computed
    is computed once, from the inputs as they stand, and says so. See docs/hosting-capacity.md.
    """
    with session() as s:
        report = report_module.build(session=s, settings=settings(), quarter=quarter,
                                     now=utcnow())
    if report.meta.get("computed_after_end"):
        click.echo(f"note: {report.meta['quarter']} was never computed while it was current; its "
                   f"figures were computed at {report.meta['computed_at']} from the inputs of "
                   "that time, and are kept from now on", err=True)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report hosting-capacity``."""
    group.add_command(hosting_capacity)
