"""``gridwatch load``: feeders, areas, meters, overlay layers and admin divisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from core.accounting import RETURNED_REJECTS, Accounting
from gridwatch import progress
from gridwatch.context import emit_object, settings, writing_session
from spatial import loaders, tags

FILE = click.Path(path_type=Path, dir_okay=False)
CRS_HELP = (
    "Coordinate system of the file when it is missing or wrong: EPSG:4490 (CGCS2000), "
    "gcj02 (AMap offset coordinates, converted to WGS84), or any EPSG code."
)
SHOWN = 50


def _refresh_tags(s: Session) -> None:
    """Recompute tags and regions (SPEC section 6: fresh whenever assets or overlays change)."""
    tags.refresh(session=s, settings=settings())


def _load(
    what: str, dry_run: bool, fmt: str, run: Callable[[Session], Accounting],
    after: Callable[[Session, Accounting], None],
) -> None:
    """Run one load in one transaction and report it; a dry run rolls everything back.

    ``after`` recomputes what depends on the loaded data (skipped in a dry run, which
    changes nothing). Should the database stop, nothing of the file is stored and the
    message says so.
    """
    with writing_session("the load", "file") as s:
        acct = run(s)
        if dry_run:
            s.rollback()
            acct.warnings = [w.replace(" were removed", " would be removed") for w in acct.warnings]
        else:
            after(s, acct)
    _report(acct, what, fmt, dry_run)


def _report(acct: Accounting, what: str, fmt: str, dry_run: bool) -> None:
    verb = "would be" if dry_run else "were"
    head = f"{what} (dry run: nothing was changed)" if dry_run else what
    text = (
        f"{head}: {acct.accepted} new, {acct.updated} updated, {acct.duplicates} duplicate, "
        f"{acct.rejected} rejected"
    )
    if acct.removed is not None:
        text += f", {len(acct.removed)} removed"
    text += "\n"
    for w in acct.warnings:
        text += f"  warning: {w}\n"
    if acct.removed:
        shown = ", ".join(acct.removed[:SHOWN])
        more = f" … and {len(acct.removed) - SHOWN} more" if len(acct.removed) > SHOWN else ""
        text += f"  removed ({verb} removed, not in the file): {shown}{more}\n"
    for r in acct.rejects[:SHOWN]:
        text += f"  feature/line {r.line}: {r.field}: {r.reason}\n"
    if len(acct.rejects) > SHOWN:
        text += f"  … and {len(acct.rejects) - SHOWN} more\n"
    obj: dict[str, Any] = acct.as_dict(RETURNED_REJECTS)
    obj["dry_run"] = dry_run
    emit_object(obj, fmt, None, text)
    if acct.rejected:
        raise click.exceptions.Exit(3)


fmt_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
    help="json prints the accounting object (with removed, removed_ids and dry_run).",
)
dry_run_option = click.option(
    "--dry-run", is_flag=True,
    help="Check the file and say what the load would add, change, remove and reject, "
    "and change nothing.",
)


def _tags_after(s: Session, _acct: Accounting) -> None:
    _refresh_tags(s)


@click.group("load")
def load() -> None:
    """Load or replace the grid's assets and map layers from geometry files.

    A rejected feature never costs its stored version: loads of feeders, areas, meters and
    admin divisions only add and update, and a replacing overlay load removes only the
    features the file no longer holds, and lists them. Exit status 3 means some features
    were rejected (the others are stored). --dry-run changes nothing.
    """


@load.command("feeders")
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@dry_run_option
@fmt_option
def feeders(file: Path, crs: str | None, dry_run: bool, fmt: str) -> None:
    """Load 10 kV feeders (lines) with feeder_id, name, substation, voltage_kv."""
    _load("feeders", dry_run, fmt,
          lambda s: loaders.load_feeders(session=s, path=file, crs=crs), _tags_after)


@load.command("areas")
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@dry_run_option
@fmt_option
def areas(file: Path, crs: str | None, dry_run: bool, fmt: str) -> None:
    """Load transformer areas (台区, polygons) with area_id, feeder_id, customers."""
    _load("areas", dry_run, fmt,
          lambda s: loaders.load_areas(session=s, path=file, crs=crs), _tags_after)


def _interruptions_after(s: Session, acct: Accounting) -> None:
    if acct.accepted or acct.updated:
        # The share of an area's meters that must be off depends on the registry, so
        # inferred interruptions are rebuilt against the new one.
        from monitoring.interruptions import refresh

        refresh(session=s, settings=settings(), full=True)


@load.command("meters")
@click.argument("file", type=FILE)
@dry_run_option
@fmt_option
def meters(file: Path, dry_run: bool, fmt: str) -> None:
    """Load the meter registry (CSV or JSONL: meter_id, area_id, lon, lat)."""
    with progress.reading(file, "load meters") as source:
        _load("meters", dry_run, fmt,
              lambda s: loaders.load_meters(session=s, path=source, name=str(file)),
              _interruptions_after)


@load.command("overlay")
@click.argument("layer", type=click.Choice(list(loaders.OVERLAY_LAYERS)))
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@dry_run_option
@fmt_option
def overlay(layer: str, file: Path, crs: str | None, dry_run: bool, fmt: str) -> None:
    """Load an overlay layer: weak-supply villages, ethnic-minority areas, old compounds, core zones.

    The file replaces the layer: features it no longer holds are removed (and listed);
    a rejected feature keeps its stored version.
    """
    _load(f"overlay {layer}", dry_run, fmt,
          lambda s: loaders.load_overlay(session=s, layer=layer, path=file, crs=crs), _tags_after)


@load.command("admin")
@click.argument("files", type=FILE, nargs=-1, required=True)
@click.option("--crs", default=None, help=CRS_HELP)
@dry_run_option
@fmt_option
def admin(files: tuple[Path, ...], crs: str | None, dry_run: bool, fmt: str) -> None:
    """Load admin divisions (province, prefectures, counties) from GeoJSON with adcode."""
    _load("admin divisions", dry_run, fmt,
          lambda s: loaders.load_admin(session=s, paths=list(files), crs=crs), _tags_after)


def register(cli: click.Group) -> None:
    """Add the ``load`` group."""
    cli.add_command(load)
