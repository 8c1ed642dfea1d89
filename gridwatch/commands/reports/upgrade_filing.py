"""``gridwatch report upgrade-filing``."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from core.clock import LOCAL_TZ, parse_as_of
from gridwatch.context import emit_report, format_options, session, settings
from monitoring.connections import filing
from monitoring.reports import upgrade_filing as report_module


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.command("upgrade-filing")
@click.option("--month", required=True, help="The filing's month, e.g. 2026-12 (local).")
@click.option("--mark-filed", "mark", is_flag=True,
              help="Record that this month's ledger was filed (by --filed-by, at --as-of or now): "
                   "its applications are not listed again by a later month.")
@click.option("--filed-by", "filed_by", default=None,
              help="Who filed it (with --mark-filed). Default: the login name.")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now. "
                   "With --mark-filed, when it was filed.")
@format_options
def upgrade_filing(month: str, mark: bool, filed_by: str | None, as_of: str | None, fmt: str,
                   out: Path | None) -> None:
    """The monthly ledger 业扩接入需改造不满足接电时限台账 (SPEC section 16, Appendix 2).

    Low-voltage applications waiting on a 10 kV+ grid upgrade whose estimated working days
    exceed their limit, booked before the month, that no earlier filing listed; carried_over
    (前期漏报) when booked before the previous month. It is due by the month's 5th working day.
    --format xlsx --out FILE gives the document to file.
    """
    when = parse_as_of(as_of)
    conf = settings()
    with session() as s:
        if mark:
            done = filing.mark_filed(session=s, settings=conf, month=month,
                                     filed_by=filed_by or _default_user(),
                                     at=when if as_of else None)
            when = done["filed_at"] or when
        report = report_module.build(session=s, settings=conf, month=month, as_of=when)
    if mark:
        if done["filing_id"] is None:
            click.echo(f"upgrade filing {done['month']}: nothing new to file (already filed)",
                       err=True)
        else:
            click.echo(f"upgrade filing {done['month']}: filing {done['filing_id']} recorded, "
                       f"{done['filed']} application(s), by {done['filed_by']} at "
                       f"{done['filed_at'].astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} (Beijing time); "
                       f"deadline {done['deadline']}", err=True)
    if fmt == "table":
        meta = report.meta
        click.echo(f"{meta['month']}: deadline {meta['deadline']} (5th working day); "
                   f"{meta['rows']} row(s), {meta['carried_over']} carried over, "
                   f"{meta['filed']} filed, {meta['to_file']} to file", err=True)
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report upgrade-filing``."""
    group.add_command(upgrade_filing)
