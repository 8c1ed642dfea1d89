"""``gridwatch report reliability``: SAIFI, SAIDI, CAIDI and ASAI by region."""

from __future__ import annotations

from pathlib import Path

import click

from gridwatch.context import emit_report, format_options, session, settings
from monitoring.reports import reliability as reliability_report


@click.command("reliability")
@click.option("--period", required=True, help="A year (2026), quarter (2026Q2) or month (2026-05).")
@click.option("--by", type=click.Choice(["county", "prefecture", "zone", "province"]), required=True,
              help="The regions: county or prefecture (adcode), core zone, or the whole province.")
@click.option("--basis", type=click.Choice(["customer", "area"]), default="customer", show_default=True,
              help="N = customers served, or the number of areas (the 10 kV basis).")
@click.option("--rank", is_flag=True, help="Rank the regions within each variant (best ASAI first).")
@click.option("--exclude-med", is_flag=True,
              help="Leave out IEEE 1366 major event days (2.5 beta); shows T_MED.")
@format_options
def reliability(period: str, by: str, basis: str, rank: bool, exclude_med: bool, fmt: str,
                out: Path | None) -> None:
    """One row per (region, variant): customers, interruptions, saifi, saidi, caidi, asai."""
    with session() as s:
        report = reliability_report.build(session=s, settings=settings(), period=period, by=by,
                                          basis=basis, rank=rank, exclude_med=exclude_med)
    if exclude_med and fmt == "table":
        t_med = report.meta["major_events"]["t_med_minutes"]
        days = report.meta["major_events"]["major_event_days"]
        click.echo(f"T_MED = {t_med if t_med is None else round(t_med, 3)} customer-minutes per "
                   f"customer per day; major event days left out: {', '.join(days) or 'none'}")
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report reliability``."""
    group.add_command(reliability)
