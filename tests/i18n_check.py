"""The check the language tests share: no English interface text on a zh-CN page.

It reads what a person sees (the page's rendered text, its title, and the labels, titles,
placeholders and alt texts of its elements) and lists the Latin-letter words that are neither
data (ids and names from the database, passed in ``data``) nor on the allow-list of names and
units that stay as they are in Chinese text.
"""

from __future__ import annotations

import re
from typing import Any

ALLOWED = {
    # names
    "gridwatch", "Leaflet", "OpenStreetMap", "OSM", "CARTO", "Esri", "AMap", "GeoJSON", "API",
    "OGC", "QGIS", "WGS84", "CGCS2000", "CSV", "XLSX", "JSON", "MQTT", "English",
    # units and the regulator's metric names
    "kV", "kVA", "kW", "km", "m", "h", "min", "s", "SAIDI", "SAIFI", "ASAI", "ms",
}
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")

VISIBLE_TEXT = """() => {
  const out = [document.title];
  out.push(document.body ? document.body.innerText : "");
  for (const el of document.querySelectorAll("[aria-label],[title],[placeholder],[alt]")) {
    for (const a of ["aria-label", "title", "placeholder", "alt"]) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  }
  for (const el of document.querySelectorAll("input[type=submit],input[type=button],button")) {
    out.push(el.value || "");
  }
  return out.join("\\n");
}"""


def english_words(page: Any, data: set[str] | None = None) -> list[str]:
    """The English words a person sees on ``page`` (a Playwright page), data and names aside."""
    text = page.evaluate(VISIBLE_TEXT)
    for item in sorted(data or set(), key=len, reverse=True):
        text = text.replace(item, " ")
    return sorted({w for w in WORD.findall(text) if w not in ALLOWED and w.strip("'’-") not in ALLOWED})
