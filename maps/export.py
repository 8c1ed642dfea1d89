"""Static export: the overview and area pages as HTML files with the vendored assets beside them."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from core.errors import UsageError
from core.i18n import Lang
from core.settings import Settings
from maps.area import area_html
from maps.assets import Links, copy_assets
from maps.overview import overview_html, page_lang
from monitoring import mapdata as mon
from spatial import mapdata as geo

log = logging.getLogger(__name__)

AREA_CHOICES = ("auto", "all", "flagged", "none")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    out: Path
    overview: Path
    area_pages: int
    files: int


def area_filename(area_id: str) -> str:
    """A safe, unique file name for an area page (``A-01.html``; unusual ids get a hash suffix)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", area_id).strip(".") or "area"
    if safe != area_id:
        safe = f"{safe[:80]}-{hashlib.sha1(area_id.encode('utf-8')).hexdigest()[:8]}"
    return f"{safe}.html"


def _area_ids(*, session: Session, settings: Settings, county: str | None, areas: str) -> list[str]:
    if areas == "none":
        return []
    ids = geo.area_ids(session=session, county=county)
    if areas == "auto":
        areas = "all" if len(ids) <= settings.map_inline_features else "flagged"
    if areas == "all":
        return ids
    return mon.flagged_area_ids(session=session, county=county)


def export(
    *, session: Session, settings: Settings, out: Path, county: str | None = None, areas: str = "auto",
    period: str | None = None, metric: str = "saidi", lang: Lang | None = None,
) -> ExportResult:
    """Write ``index.html``, ``areas/<id>.html`` and ``vendor/``, ``gridwatch/`` assets into ``out``.

    ``areas``: ``all`` areas of the region, ``flagged`` (frequent or at risk), ``none``, or
    ``auto`` (all when the region has at most ``map_inline_features`` areas, else flagged).
    ``lang``: the pages' one language (default ``GRIDWATCH_LANGUAGE``); an export has no switch.
    """
    lang = page_lang(settings, lang)
    if areas not in AREA_CHOICES:
        raise UsageError(f"--areas must be one of {', '.join(AREA_CHOICES)}, not {areas!r}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    if county is not None:
        geo.region_bounds(session=session, county=county)
    ids = _area_ids(session=session, settings=settings, county=county, areas=areas)
    names = {i: area_filename(i) for i in ids}
    out.mkdir(parents=True, exist_ok=True)
    files = copy_assets(out)
    overview = out / "index.html"
    page = overview_html(
        session=session, settings=settings, period=period, metric=metric, county=county,
        links=Links(static="", overview="index.html", area=None, tiles=None), inline_only=True,
        href=lambda i: f"areas/{names[i]}" if i in names else None, lang=lang,
    )
    overview.write_text(page, encoding="utf-8")
    area_links = Links(static="..", overview="../index.html", area=None, tiles=None)
    if ids:
        (out / "areas").mkdir(exist_ok=True)
    for n, area_id in enumerate(ids, 1):
        html_text = area_html(session=session, settings=settings, area_id=area_id, links=area_links,
                               lang=lang)
        (out / "areas" / names[area_id]).write_text(html_text, encoding="utf-8")
        if n % 500 == 0:
            log.info("exported %d of %d area pages", n, len(ids))
    log.info("exported the overview and %d area pages to %s (%s)", len(ids), out, lang.html)
    return ExportResult(out=out, overview=overview, area_pages=len(ids), files=len(files) + 1 + len(ids))
