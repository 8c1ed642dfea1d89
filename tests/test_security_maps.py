"""Stored XSS in the maps (SPEC section 17, issue 12 item 2): hostile ids and names in a real Chromium.

Hostile text goes in the way a user's data would (``gridwatch load``, ``ingest``, ``monitor run``,
``cases update``), then the overview, the area pages, the vector-tile overview and a static export
are opened in Debian's headless Chromium with a dialog handler. No dialog may open, no injected
element may appear, and the maps must still draw, with the hostile text shown as literal text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from core.settings import Settings
from tests.test_maps_browser import CHROMIUM, Live, Watch, pane_paths, start_server

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")

IMG = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(2)>'
COMMENT = "<!--<script>"
SCRIPT = "</script><script>alert(3)</script>"
JSURL = "javascript:alert(4)"
PAYLOADS = (IMG, SVG, COMMENT, SCRIPT, JSURL)

FEEDER = IMG
# area_id -> name; every payload is an id somewhere and a name somewhere.
AREAS = {IMG: SVG, COMMENT: SCRIPT, SVG: COMMENT, JSURL: IMG, SCRIPT: JSURL}
# Area pages served at /maps/areas/{id}: a '/' cannot be in a path segment, so SCRIPT is export-only.
SERVED_AREAS = (IMG, COMMENT, SVG, JSURL)
FREQUENT = (IMG, COMMENT)  # six counted interruptions each: frequent, alert, remediation case

# Sets window.__xss (and raises a dialog) if any payload ever runs, as a second witness.
INJECTED = """() => ({
  flagged: window.__xss === true,
  elements: document.querySelectorAll('[onerror], [onload], img[src="x"], svg[onload]').length,
  jsLinks: Array.from(document.querySelectorAll('a[href]'))
    .filter(a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
})"""


def _box(x: float, y: float, d: float) -> list[list[list[float]]]:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def _geojson(path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]},
        ensure_ascii=False), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def load_hostile(cli: Any, tmp: Path) -> None:
    """Load a grid whose ids, names, outage ids, alert summaries and case texts are all payloads."""
    admin = _geojson(tmp / "admin.geojson", [
        ({"adcode": "520000", "name": "贵州省"}, {"type": "Polygon", "coordinates": _box(106.0, 26.0, 1.0)}),
        ({"adcode": "520100", "name": SCRIPT}, {"type": "Polygon", "coordinates": _box(106.5, 26.4, 0.4)}),
        ({"adcode": "520102", "name": IMG}, {"type": "Polygon", "coordinates": _box(106.6, 26.45, 0.2)}),
    ])
    feeders = _geojson(tmp / "feeders.geojson", [
        ({"feeder_id": FEEDER, "name": COMMENT},
         {"type": "LineString", "coordinates": [[106.61, 26.52], [106.74, 26.52]]}),
    ])
    areas = _geojson(tmp / "areas.geojson", [
        ({"area_id": aid, "feeder_id": FEEDER, "customers": 50, "name": name},
         {"type": "Polygon", "coordinates": _box(106.61 + 0.025 * i, 26.50, 0.02)})
        for i, (aid, name) in enumerate(AREAS.items())
    ])
    zone = _geojson(tmp / "zone.geojson", [
        ({"id": SVG, "name": IMG}, {"type": "Polygon", "coordinates": _box(106.605, 26.495, 0.05)}),
        ({"id": "z2", "name": SCRIPT}, {"type": "Polygon", "coordinates": _box(106.66, 26.495, 0.03)}),
        ({"id": "z3", "name": COMMENT}, {"type": "Polygon", "coordinates": _box(106.69, 26.495, 0.03)}),
    ])
    for args in (("admin", str(admin)), ("feeders", str(feeders)), ("areas", str(areas)),
                 ("overlay", "core_zone", str(zone)), ("overlay", "weak_supply_village", str(zone))):
        result = cli("load", *args)
        assert result.exit_code == 0, (args, result.output)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for aid in FREQUENT:
        for j in range(6):
            start = now - timedelta(days=10 + 25 * j)
            rows.append({"outage_id": f"{COMMENT}{SCRIPT}{aid}{j}" if j else f"{COMMENT}{aid}",
                         "asset_type": "area", "asset_id": aid, "start_time": start.isoformat(),
                         "end_time": (start + timedelta(hours=2)).isoformat(), "cause": "fault",
                         "work_id": JSURL})
    result = cli("ingest", "outages", str(_jsonl(tmp / "outages.jsonl", rows)))
    assert result.exit_code == 0, result.output
    result = cli("monitor", "run")
    assert result.exit_code == 0, result.output
    cases = json.loads(cli("cases", "list", "--format", "json").output)
    assert {c["asset_id"] for c in cases} >= set(FREQUENT), cases
    for c in cases:
        result = cli("cases", "update", str(c["case_id"]), "--measures", f"{SCRIPT} {IMG}", "--unit", SVG,
                     "--internal-note", COMMENT, "--by", IMG)
        assert result.exit_code == 0, result.output


@dataclass
class Visit:
    """A Chromium page with a dialog recorder and the usual request/error watch."""

    page: Any
    dialogs: list[str]
    watch: Watch

    def assert_clean(self) -> None:
        self.page.wait_for_timeout(300)
        assert self.dialogs == [], f"script from the data ran: {self.dialogs}"
        found = self.page.evaluate(INJECTED)
        assert found == {"flagged": False, "elements": 0, "jsLinks": 0}, found
        assert self.watch.errors == [], self.watch.errors


def visit(browser: Any, width: int = 1280, height: int = 800) -> Visit:
    """A new page that records every alert/confirm/prompt (and dismisses it); in English."""
    page = browser.new_page(viewport={"width": width, "height": height}, locale="en-US")
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script("window.alert = (m) => { window.__xss = true; return window.confirm(String(m)); };")
    watch = Watch()
    watch.attach(page)
    return Visit(page, dialogs, watch)


def _serve(settings: Settings) -> Iterator[Live]:
    from api.keys import create_key

    engine = create_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            _, key = create_key(session=s, role="planner", name="xss test")
            s.commit()
    finally:
        engine.dispose()
    base, server, thread = start_server(settings)
    try:
        yield Live(base, key, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def hostile(cli: Any, tmp_path: Path) -> Path:
    load_hostile(cli, tmp_path)
    return tmp_path


def sign_in(v: Visit, live: Live) -> None:
    v.page.goto(f"{live.base}/login?next=/maps/")
    v.page.fill("#key", live.key)
    v.page.click("button[type=submit]")
    v.page.wait_for_load_state("load")


SPOT = """(el) => {
  const r = el.getBoundingClientRect();
  for (let i = 1; i < 12; i++) {
    for (let j = 1; j < 12; j++) {
      const x = r.left + r.width * i / 12, y = r.top + r.height * j / 12;
      if (x > 0 && y > 0 && x < innerWidth && y < innerHeight && document.elementFromPoint(x, y) === el) {
        return {x, y};
      }
    }
  }
  return null;
}"""


def hover_all(v: Visit, selector: str, content: str) -> str:
    """Hover every reachable shape of ``selector`` and click it; returns the text of what opened."""
    seen = []
    for handle in v.page.query_selector_all(selector):
        spot = handle.evaluate(SPOT)
        if spot is None:
            continue
        v.page.mouse.move(spot["x"], spot["y"])
        v.page.wait_for_timeout(50)
        seen.append(v.page.inner_text(".leaflet-tooltip-pane"))
        v.page.mouse.click(spot["x"], spot["y"])
        v.page.wait_for_timeout(50)
        seen.append(v.page.inner_text(content))
    return "\n".join(seen)


def assert_no_raw_markup(page_html: str) -> None:
    """The page as sent carries no payload as markup: not in HTML, not inside a <script>."""
    for raw in (IMG, '<svg onload', COMMENT, "<script>alert(3)", 'href="javascript:'):
        assert raw not in page_html, raw
    for body in re.findall(r"<script[^>]*>(.*?)</script>", page_html, flags=re.S | re.I):
        assert "<!--" not in body and "<script" not in body.lower(), body[:200]


def check_overview(v: Visit, *, tiles: bool = False) -> None:
    """The overview drew everything and shows the payloads as text."""
    page = v.page
    page.wait_for_selector(".leaflet-gw-area-pane path", timeout=15000)
    page.wait_for_function("() => window.gridwatch.idle()", timeout=15000)
    control = page.inner_text(".leaflet-control-layers")
    assert "Feeders by status" in control and "Core zones" in control, control
    assert page.locator(".gw-legend").count() == 1, "the legend script did not run"
    if tiles:  # a shape cut by tile edges is drawn once per tile
        assert pane_paths(page, "area") >= len(AREAS) and pane_paths(page, "feeder") >= 1
    else:
        assert pane_paths(page, "area") == len(AREAS) and pane_paths(page, "feeder") == 1
        assert pane_paths(page, "alert") == len(FREQUENT)
    page.get_by_label(re.compile("Core zones")).check()
    page.wait_for_function("() => document.querySelectorAll('.leaflet-gw-overlay-pane path').length >= 3"
                           " && window.gridwatch.idle()", timeout=15000)
    assert tiles or pane_paths(page, "overlay") == 3
    text = hover_all(v, ".leaflet-gw-overlay-pane path", "body")
    assert IMG in text and SCRIPT in text and COMMENT in text, text
    page.get_by_label(re.compile("Core zones")).uncheck()
    text = hover_all(v, ".leaflet-gw-area-pane path", ".leaflet-popup-pane")
    for aid, name in AREAS.items():
        assert aid in text and name in text, (aid, text)
    if not tiles:
        text = hover_all(v, ".leaflet-gw-alert-pane path", "body")
        assert IMG in text and COMMENT in text, text
    v.assert_clean()


def check_area(v: Visit, area_id: str) -> None:
    """An area page drew its map and shows its hostile id, feeder, name, history and case as text."""
    page = v.page
    page.wait_for_selector(".leaflet-gw-area-pane path", timeout=15000)
    control = page.inner_text(".leaflet-control-layers")
    assert f"Feeder {FEEDER}" in control and f"Area {area_id}" in control, control
    assert page.locator(".gw-legend").count() == 1, "the legend script did not run"
    assert pane_paths(page, "area") == 1 and pane_paths(page, "feeder") == 1
    assert pane_paths(page, "overlay") >= 1
    panel = page.inner_text(".gw-panel")
    assert area_id in panel and AREAS[area_id] in panel and FEEDER in panel and COMMENT in panel, panel
    assert page.title() == f"gridwatch · area {area_id}"
    if area_id in FREQUENT:
        assert f"record {COMMENT}{area_id}" in panel and f"{SCRIPT} {IMG}" in panel and SVG in panel, panel
        assert page.locator("svg.gw-timeline g.gw-int").count() == 6
    text = hover_all(v, ".leaflet-gw-area-pane path", ".leaflet-popup-pane")
    text += hover_all(v, ".leaflet-gw-overlay-pane path", "body")
    assert area_id in text and AREAS[area_id] in text and IMG in text, text
    v.assert_clean()


def test_hostile_data_on_the_served_maps(hostile: Path, cli: Any, browser: Any) -> None:
    settings = Settings(database_url=cli.url, data_dir=hostile / "gw")
    for live in _serve(settings):
        v = visit(browser)
        sign_in(v, live)
        check_overview(v)
        for area_id in SERVED_AREAS:
            response = v.page.goto(f"{live.base}/maps/areas/{quote(area_id, safe='')}")
            assert response is not None and response.status == 200, area_id
            assert_no_raw_markup(response.text())
            check_area(v, area_id)
        response = v.page.goto(f"{live.base}/maps/")
        assert response is not None
        assert_no_raw_markup(response.text())
        # The overview with the hostile county in its title box and form.
        v.page.goto(f"{live.base}/maps/?county=520102&period=2026")
        v.page.wait_for_selector(".leaflet-gw-area-pane path")
        v.assert_clean()


def test_hostile_data_on_the_vector_tile_overview(hostile: Path, cli: Any, browser: Any) -> None:
    settings = Settings(database_url=cli.url, data_dir=hostile / "gw", map_inline_features=2)
    for live in _serve(settings):
        v = visit(browser)
        sign_in(v, live)
        check_overview(v, tiles=True)
        assert any("/tiles/areas/" in u for u in v.watch.requests)
        assert "Areas by status (tiles)" in v.page.inner_text(".leaflet-control-layers")


def test_hostile_data_in_the_static_export(hostile: Path, cli: Any, browser: Any) -> None:
    out = hostile / "share"
    result = cli("map", "export", "--out", str(out), "--areas", "all", "--lang", "en")
    assert result.exit_code == 0, result.output
    pages = sorted((out / "areas").glob("*.html"))
    assert len(pages) == len(AREAS)
    v = visit(browser)
    v.page.goto((out / "index.html").as_uri())
    check_overview(v)
    shown = set()
    assert_no_raw_markup((out / "index.html").read_text(encoding="utf-8"))
    for path in pages:
        assert_no_raw_markup(path.read_text(encoding="utf-8"))
        v.page.goto(path.as_uri())
        v.page.wait_for_selector(".leaflet-gw-area-pane path")
        control = v.page.inner_text(".leaflet-control-layers")
        area_id = next((a for a in AREAS if f"Area {a}" in control), None)
        assert area_id is not None, (path.name, control)
        check_area(v, area_id)
        shown.add(area_id)
    assert shown == set(AREAS)
    assert [u for u in v.watch.requests if not u.startswith("file://")] == []


@pytest.mark.parametrize("payload", [*PAYLOADS, "<!-- x", "a</SCRIPT b", "&lt;", "\u2028\u2029", "<>&'\""])
def test_script_json_never_carries_markup(payload: str) -> None:
    from maps.elements import script_json

    text = script_json(json.dumps({"k": payload, "list": [payload]}, ensure_ascii=False))
    lowered = text.lower()
    for raw in ("<", ">", "&", "<!--", "<script", "</script", "\u2028", "\u2029"):
        assert raw not in lowered, (raw, text)
    assert json.loads(text) == {"k": payload, "list": [payload]}


def test_every_map_json_embedding_is_script_safe() -> None:
    from maps import elements

    options = {"a": COMMENT, "b": SCRIPT}
    setup = elements.Setup(options)
    legend = elements.Legend(SCRIPT + COMMENT)
    layer = elements.GeoLayer(elements.feature_collection([('{"type":"Point","coordinates":[1,2]}',
                                                            {"name": COMMENT + SCRIPT})]),
                              kind="area", name=IMG)
    for text in (setup.options, legend.html, layer.data, layer.opts):
        assert "<" not in text and ">" not in text, text
    # Setup adds the page's words (labels, catalog, language) to the options it is given.
    assert json.loads(setup.options).items() >= options.items()
    assert json.loads(legend.html) == SCRIPT + COMMENT
    assert "<" not in layer.layer_name and IMG not in layer.layer_name
