"""``gridwatch map export``: the planners' maps as static HTML files for people without server access."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from core.i18n import Lang, normalise
from gridwatch.context import session, settings
from maps.export import AREA_CHOICES, export

log = logging.getLogger(__name__)


@click.group("map")
def map_group() -> None:
    """Planner maps (the live maps are served at /maps/ by `gridwatch serve`)."""


@map_group.command("export")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write index.html, areas/*.html and the vendored assets into.")
@click.option("--county", default=None, metavar="ADCODE",
              help="Only this county (or prefecture) adcode; default the whole province.")
@click.option("--areas", type=click.Choice(AREA_CHOICES), default="auto", show_default=True,
              help="Area pages to write: all, flagged (frequent or at risk), none, or auto "
                   "(all when the region is small enough to draw inline, else flagged).")
@click.option("--period", default=None, help="Reliability period of the county map (default this year).")
@click.option("--metric", type=click.Choice(["saidi", "saifi"]), default="saidi", show_default=True,
              help="County choropleth metric.")
@click.option("--lang", "language", type=click.Choice(["zh-CN", "en"], case_sensitive=False), default=None,
              help="The pages' language (default GRIDWATCH_LANGUAGE, itself zh-CN by default).")
def export_cmd(out: Path, county: str | None, areas: str, period: str | None, metric: str,
               language: str | None) -> None:
    """Write self-contained HTML maps (no server and no internet needed to open them)."""
    cfg = settings()
    lang = Lang(normalise(language or cfg.language) or Lang().code)
    with session() as s:
        result = export(session=s, settings=cfg, out=out, county=county, areas=areas, period=period,
                        metric=metric, lang=lang)
    click.echo(f"wrote {result.overview} and {result.area_pages} area pages "
               f"({result.files} files) to {result.out}")


def register(cli: click.Group) -> None:
    """Add the ``map`` group."""
    cli.add_command(map_group)
