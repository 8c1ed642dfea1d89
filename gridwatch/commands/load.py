"""``gridwatch load``: feeders, areas, meters, overlay layers and admin divisions."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from core.accounting import Accounting
from gridwatch.context import emit_object, session, settings
from spatial import loaders, tags

FILE = click.Path(path_type=Path, dir_okay=False)
CRS_HELP = (
    "Coordinate system of the file when it is missing or wrong: EPSG:4490 (CGCS2000), "
    "gcj02 (AMap offset coordinates, converted to WGS84), or any EPSG code."
)


def _refresh_tags(s: Session) -> None:
    """Recompute tags and regions (SPEC section 6: fresh whenever assets or overlays change)."""
    tags.refresh(session=s, settings=settings())


def _report(acct: Accounting, what: str, fmt: str) -> None:
    text = (
        f"{what}: {acct.accepted} new, {acct.updated} updated, {acct.duplicates} duplicate, "
        f"{acct.rejected} rejected\n"
    )
    for r in acct.rejects[:50]:
        text += f"  feature/line {r.line}: {r.field}: {r.reason}\n"
    if len(acct.rejects) > 50:
        text += f"  … and {len(acct.rejects) - 50} more\n"
    emit_object(acct.as_dict(), fmt, None, text)
    if acct.rejected:
        raise click.exceptions.Exit(3)


fmt_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
    help="json prints the accounting object.",
)


@click.group("load")
def load() -> None:
    """Load or replace the grid's assets and map layers from geometry files."""


@load.command("feeders")
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@fmt_option
def feeders(file: Path, crs: str | None, fmt: str) -> None:
    """Load 10 kV feeders (lines) with feeder_id, name, substation, voltage_kv."""
    with session() as s:
        acct = loaders.load_feeders(session=s, path=file, crs=crs)
        _refresh_tags(s)
    _report(acct, "feeders", fmt)


@load.command("areas")
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@fmt_option
def areas(file: Path, crs: str | None, fmt: str) -> None:
    """Load transformer areas (台区, polygons) with area_id, feeder_id, customers."""
    with session() as s:
        acct = loaders.load_areas(session=s, path=file, crs=crs)
        _refresh_tags(s)
    _report(acct, "areas", fmt)


@load.command("meters")
@click.argument("file", type=FILE)
@fmt_option
def meters(file: Path, fmt: str) -> None:
    """Load the meter registry (CSV or JSONL: meter_id, area_id, lon, lat)."""
    with session() as s:
        acct = loaders.load_meters(session=s, path=file)
        if acct.accepted or acct.updated:
            # The share of an area's meters that must be off depends on the registry, so
            # inferred interruptions are rebuilt against the new one.
            from monitoring.interruptions import refresh

            refresh(session=s, settings=settings(), full=True)
    _report(acct, "meters", fmt)


@load.command("overlay")
@click.argument("layer", type=click.Choice(list(loaders.OVERLAY_LAYERS)))
@click.argument("file", type=FILE)
@click.option("--crs", default=None, help=CRS_HELP)
@fmt_option
def overlay(layer: str, file: Path, crs: str | None, fmt: str) -> None:
    """Load an overlay layer: weak-supply villages, ethnic-minority areas, old compounds, core zones."""
    with session() as s:
        acct = loaders.load_overlay(session=s, layer=layer, path=file, crs=crs)
        _refresh_tags(s)
    _report(acct, f"overlay {layer}", fmt)


@load.command("admin")
@click.argument("files", type=FILE, nargs=-1, required=True)
@click.option("--crs", default=None, help=CRS_HELP)
@fmt_option
def admin(files: tuple[Path, ...], crs: str | None, fmt: str) -> None:
    """Load admin divisions (province, prefectures, counties) from GeoJSON with adcode."""
    with session() as s:
        acct = loaders.load_admin(session=s, paths=list(files), crs=crs)
        _refresh_tags(s)
    _report(acct, "admin divisions", fmt)


def register(cli: click.Group) -> None:
    """Add the ``load`` group."""
    cli.add_command(load)
