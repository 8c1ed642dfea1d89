"""``gridwatch report connection-times``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from core.clock import LOCAL_TZ, parse_as_of
from gridwatch.context import _table, emit_report, format_options, session, settings
from monitoring.reports import Report
from monitoring.reports import connection_times as report_module


def _local(value: Any) -> Any:
    return f"{value.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" if isinstance(value, datetime) else value


def _text(report: Report, as_of: datetime) -> str:
    """The summary, then the over-limit list (what the table format shows), in Beijing time."""
    meta = report.meta
    out = (f"Connection times {meta['month']} as of {_local(as_of)} (Beijing time): applications "
           "booked in the month or open during it; working days in (booked date, energized "
           "date]; median and p90 of the energized ones\n")
    out += _table(meta["summary"], meta["summary_columns"])
    over = [{k: _local(v) for k, v in r.items()} for r in meta["over_limit"]]
    out += f"\nOver the limit ({len(over)}):\n"
    out += _table(over, meta["over_limit_columns"]) if over else "(none)\n"
    return out


@click.command("connection-times")
@click.option("--month", required=True, help="The month, e.g. 2026-11 (local).")
@click.option("--by", "by", type=click.Choice(["class", "county"]), default="class",
              show_default=True, help="Summarise by customer class, or by county and class.")
@click.option("--summary", is_flag=True,
              help="json/csv/xlsx rows are the summary instead of one row per application.")
@click.option("--as-of", "as_of", default=None,
              help="As-of time (ISO 8601; a date means the end of that local day). Default: now.")
@format_options
def connection_times(month: str, by: str, summary: bool, as_of: str | None, fmt: str,
                     out: Path | None) -> None:
    """Connection times in working days (SPEC section 16) for the applications booked in the
    month or still open during it.

    The table gives, by class (or county and class), the counts, how many are ok, at_risk or
    over_limit, and the median and p90 working days of the energized ones, then the over-limit
    list. json/csv: one row per application (app_id, customer_class, limit_days, elapsed_days,
    status). Limits: lv_resident and lv_three_zero 5 (15 with external works), lv_other 6,
    hv_single 22, hv_dual 32 working days.
    """
    when = parse_as_of(as_of)
    with session() as s:
        report = report_module.build(session=s, settings=settings(), month=month, as_of=when,
                                     by_county=by == "county", summary=summary)
    if fmt == "table":
        text = _text(report, when)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
        return
    emit_report(report, fmt, out)


def register(group: click.Group) -> None:
    """Add ``report connection-times``."""
    group.add_command(connection_times)
