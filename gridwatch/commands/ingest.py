"""``gridwatch ingest``: meter events, outages, works, disconnections, area loads and PV; batch history."""

from __future__ import annotations

from pathlib import Path

import click

from core.accounting import RETURNED_REJECTS, Accounting
from core.db import get_engine
from gridwatch import progress
from gridwatch.context import emit_object, emit_rows, session, settings, writing_session
from ingest import service
from monitoring.follow import after_ingest

FILE = click.Path(path_type=Path, dir_okay=False)
FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="json prints the accounting object: accepted, duplicates, updated, rejected, rejects "
    f"(the first {RETURNED_REJECTS}, with rejects_truncated when there are more) and warnings.",
)
INPUT = click.option(
    "--input-format", "input_fmt", type=click.Choice(["csv", "jsonl"]), default=None,
    help="Format of FILE; by default .jsonl/.ndjson/.json files are JSON Lines, others CSV.",
)
OUT = click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the output to this file instead of standard output.",
)
SHOWN_REJECTS = 50


def _text(kind: str, batch_id: int, acct: Accounting) -> str:
    out = (f"{kind} from {acct.source} (batch {batch_id}): {acct.accepted} accepted, "
           f"{acct.duplicates} duplicates, {acct.updated} updated, {acct.rejected} rejected\n")
    for w in acct.warnings:
        out += f"  warning: {w}\n"
    for r in acct.rejects[:SHOWN_REJECTS]:
        out += f"  line {r.line}: {r.field or '(row)'}: {r.reason}\n"
    if len(acct.rejects) > SHOWN_REJECTS:
        out += (f"  … and {len(acct.rejects) - SHOWN_REJECTS} more; "
                f"see 'gridwatch ingest rejects {batch_id}'\n")
    return out


def _run(kind: str, file: Path, fmt: str, input_fmt: str | None, out: Path | None) -> None:
    conf = settings()
    with writing_session("the ingest", "batch") as s, progress.reading(file, f"ingest {kind}") as src:
        result = service.ingest(session=s, kind=kind, source=src, name=str(file), fmt=input_fmt,
                                max_rejects=conf.max_rejects_per_batch, settings=conf)
    # The batch is committed; its change log drives the refresh (split over connections when
    # large). Should the refresh fail (even because the database has just stopped), the rows
    # stay stored, the changes pending for the next refresh, and the output says so.
    acct = result.accounting
    warning = after_ingest(engine=get_engine(conf), settings=conf, kind=kind)
    if warning:
        acct.warnings.append(warning)
    obj = acct.as_dict(RETURNED_REJECTS)
    if obj.get("rejects_truncated"):
        obj["batch_id"] = result.batch_id
    emit_object(obj, fmt, out, _text(kind, result.batch_id, acct))
    if acct.rejected:
        raise click.exceptions.Exit(3)


@click.group("ingest")
def ingest() -> None:
    """Take in meter events, outage records, works, disconnections, area loads and PV (CSV or JSON Lines).

    Every row is counted as accepted, duplicate, updated or rejected; rejected rows are
    listed with their line and reason and the valid rows still land. Exit status 3 means
    some rows were rejected. Loading the same file again stores nothing twice. A file with
    more rejected rows than GRIDWATCH_MAX_REJECTS_PER_BATCH (default 10000) is refused whole:
    nothing of it is stored (exit status 1).
    """


@ingest.command("meter-events", short_help="Ingest meter off/on events (last gasps and restorations).")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def meter_events(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest meter on/off events: meter_id, time, kind (off|on), event_id.

    A time without an offset is Beijing time. An event already stored (same meter, time and
    kind) counts as a duplicate. Inferred interruptions of the areas touched are updated.
    """
    _run("meter-events", file, fmt, input_fmt, out)


@ingest.command("outages", short_help="Ingest outage records; a known outage_id replaces the stored one.")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def outages(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest outage records: outage_id, asset_type (feeder|area), asset_id, start_time,
    end_time (empty while still out), cause, work_id.

    cause is one of fault, planned, weather, external, customer, unknown. A record whose
    outage_id is already stored replaces it (even with a new start time): this is how an
    end time arrives later. Re-sending an unchanged record counts as a duplicate.
    """
    _run("outages", file, fmt, input_fmt, out)


@ingest.command("works", short_help="Ingest planned maintenance works; a known work_id is replaced.")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def works(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest planned maintenance works: work_id, asset_type (feeder|area), asset_id,
    planned_start, planned_end, method (live_line|load_transfer|generator|outage).

    A work whose work_id is already stored is replaced by the new version.
    """
    _run("works", file, fmt, input_fmt, out)


@ingest.command("disconnections",
                short_help="Ingest planned customer disconnections; a known id is replaced.")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def disconnections(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest planned customer disconnections (SPEC section 14): disconnection_id, area_id,
    compound, households, important_user (true|false), reason (arrears|safety|other),
    planned_start, reported_at.

    compound is an old_compound overlay feature's id (or its name), or any compound name.
    reported_at is when the local energy department was told; it cannot be in the future.
    A known disconnection_id is replaced: this is how reported_at arrives later. See
    'gridwatch report arrears-prereport'.
    """
    _run("disconnections", file, fmt, input_fmt, out)


@ingest.command("area-loads",
                short_help="Ingest each area's typical noon load (PV hosting capacity).")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def area_loads(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest areas' typical loads (SPEC section 15): area_id, typical_load_kw.

    typical_load_kw (P, kW, 0 or more) is the load at the assessed typical time, a spring or
    autumn working-day noon. A known area_id is replaced by the new load; an unchanged one is
    a duplicate. See 'gridwatch report hosting-capacity'.
    """
    _run("area-loads", file, fmt, input_fmt, out)


@ingest.command("pv", short_help="Ingest distributed-PV installations; a known pv_id is replaced.")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def pv(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest distributed-PV installations (SPEC section 15): pv_id, area_id, kw,
    status (connected|registered).

    registered means approved but not yet connected. A known pv_id is replaced: this is how
    an installation moves from registered to connected (counted as updated). See 'gridwatch
    report hosting-capacity'.
    """
    _run("pv", file, fmt, input_fmt, out)


@ingest.command("applications",
                short_help="Ingest connection applications; a known app_id is replaced.")
@click.argument("file", type=FILE)
@INPUT
@FORMAT
@OUT
def applications(file: Path, input_fmt: str | None, fmt: str, out: Path | None) -> None:
    """Ingest connection applications (SPEC section 16): app_id, area_id, county,
    customer_class (lv_resident|lv_three_zero|lv_other|hv_single|hv_dual), external_works,
    booked_at, energized_at, needs_upgrade, upgrade_estimated_days, upgrade_due.

    booked_at (the booked on-site service) starts the clock and energized_at stops it; a time
    without an offset is Beijing time, and energized_at cannot be in the future or before
    booked_at. A known app_id is replaced: this is how energized_at arrives later. See
    'gridwatch report connection-times' and 'gridwatch report upgrade-filing'.
    """
    _run("applications", file, fmt, input_fmt, out)


@ingest.command("history")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="How many of the most recent batches to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
@OUT
def history(limit: int, fmt: str, out: Path | None) -> None:
    """List recent ingest batches with their counts (newest first)."""
    with session() as s:
        rows = service.list_batches(session=s, limit=limit)
    emit_rows(rows, ["batch_id", "kind", "source", "started_at", "finished_at", "accepted",
                     "duplicates", "updated", "rejected"], fmt, out)


@ingest.command("rejects")
@click.argument("batch_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
@OUT
def rejects(batch_id: int, fmt: str, out: Path | None) -> None:
    """List the rejected rows of one batch: line, field and reason (and for a streamed batch,
    the topic, the message's position in the batch and the item's in the message)."""
    with session() as s:
        rows = service.batch_rejects(session=s, batch_id=batch_id)
    columns = ["line", "field", "reason"]
    if rows and "topic" in rows[0]:
        columns += ["topic", "message", "item"]
    emit_rows(rows, columns, fmt, out)


def register(cli: click.Group) -> None:
    """Add the ``ingest`` group."""
    cli.add_command(ingest)
