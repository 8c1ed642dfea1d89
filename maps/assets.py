"""Vendored Leaflet assets: where they live, the URLs pages use, and how folium is pointed at them."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import folium

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SERVER_PREFIX = "/static"

LEAFLET = "vendor/leaflet-1.9.4"
VECTORGRID = "vendor/leaflet.vectorgrid-1.3.0"
JS = {
    "leaflet": f"{LEAFLET}/leaflet.js",
    "vectorgrid": f"{VECTORGRID}/Leaflet.VectorGrid.bundled.min.js",
    "gridwatch": "gridwatch/map.js",
}
CSS = {"leaflet_css": f"{LEAFLET}/leaflet.css", "gridwatch_css": "gridwatch/map.css"}
# Files a static export copies next to its pages (paths relative to STATIC_DIR).
EXPORT_FILES = (
    JS["leaflet"], CSS["leaflet_css"], f"{LEAFLET}/LICENSE", JS["gridwatch"], CSS["gridwatch_css"],
    *(f"{LEAFLET}/images/{n}" for n in (
        "layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")),
)


@dataclass(frozen=True)
class Links:
    """Where a page finds its assets and its sibling pages (server routes or exported files)."""

    static: str = SERVER_PREFIX
    overview: str = "/maps/"
    area: str | None = "/maps/areas/{id}"
    tiles: str | None = "/tiles/{layer}/{z}/{x}/{y}.pbf"

    def asset(self, rel: str) -> str:
        """URL of a static file (``rel`` relative to maps/static)."""
        return f"{self.static.rstrip('/')}/{rel}" if self.static else rel


def offline(m: folium.Map, links: Links) -> folium.Map:
    """Replace folium's CDN defaults with the vendored Leaflet (no jQuery, Bootstrap or fonts)."""
    m.default_js = [("leaflet", links.asset(JS["leaflet"])), ("gridwatch", links.asset(JS["gridwatch"]))]
    m.default_css = [
        ("leaflet_css", links.asset(CSS["leaflet_css"])),
        ("gridwatch_css", links.asset(CSS["gridwatch_css"])),
    ]
    return m


def copy_assets(out: Path, with_tiles: bool = False) -> list[Path]:
    """Copy the vendored files a static export needs into ``out`` (same layout); returns them."""
    names = list(EXPORT_FILES) + ([JS["vectorgrid"], f"{VECTORGRID}/LICENSE"] if with_tiles else [])
    written = []
    for rel in names:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC_DIR / rel, target)
        written.append(target)
    return written
