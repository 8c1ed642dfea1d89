"""The PV hosting-capacity layer of the overview map (SPEC section 15, docs/hosting-capacity.md).

In a real Chromium: the layer is off until switched on, every area is drawn in its grade's colour
and pattern, the tooltip gives the grade word, C1 and C2 in the page's language, and a hostile
area name stays text. Without a browser: the tile layer at province scale, its tiles' attributes,
and the colours under colour-vision deficiencies. ``GRIDWATCH_SCREENSHOTS=1`` also loads the
county demo and saves docs/hosting-capacity.png.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.i18n import Lang
from core.settings import Settings
from maps import hosting
from monitoring.hosting.capacity import refresh_current
from tests.builders import add_area
from tests.test_i18n_maps import CVD, _closest, _over, _rgb
from tests.test_maps_browser import CHROMIUM, Live, Watch, sign_in, start_server
from tests.test_maps_seed import seed
from tests.test_security_maps import SPOT

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "<img src=x onerror=alert(1)>{{7*7}}台区"
# Every seeded area: S = 100 kVA, P = 24 kW, so S_d = 24 + 0.8·100·0.95 = 100 kW. By index mod 4:
# green (10 connected: C1 = C2 = 90), yellow (60 connected, 40 registered: C1 = 40, C2 = 0),
# red (120 connected: C1 = C2 = −20), unassessed (no load).
CYCLE = ("green", "yellow", "red", "unassessed")
PV = {"green": ((10, "connected"),), "yellow": ((60, "connected"), (40, "registered")),
      "red": ((120, "connected"),), "unassessed": ()}


def grade_inputs(s: Session) -> dict[str, str]:
    """Loads and PV for every area by the cycle, plus a hostile-named red area; area -> grade."""
    add_area(s, "A-XSS", "F13", customers=7, lon=106.704, lat=26.575, size=0.012, name=HOSTILE)
    s.execute(text("INSERT INTO asset_region VALUES ('area', 'A-XSS', '520103', '520100', now())"))
    ids = [r[0] for r in s.execute(text("SELECT area_id FROM area WHERE area_id <> 'A-XSS' ORDER BY 1"))]
    grades = {a: CYCLE[i % 4] for i, a in enumerate(ids)} | {"A-XSS": "red"}
    s.execute(text("UPDATE area SET capacity_kva = 100"))
    for a, g in grades.items():
        if g != "unassessed":
            s.execute(text("INSERT INTO area_load VALUES (:a, 24)"), {"a": a})
        for n, (kw, status) in enumerate(PV[g]):
            s.execute(text("INSERT INTO pv_unit (pv_id, area_id, kw, status) VALUES (:p, :a, :k, :s)"),
                      {"p": f"{a}-{n}", "a": a, "k": kw, "s": status})
    return grades


@pytest.fixture
def served(fresh_db: str, tmp_path: Path) -> Iterator[tuple[Live, dict[str, str]]]:
    from api.keys import create_key

    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "gw")
    engine = create_engine(settings.sqlalchemy_url(), poolclass=pool.NullPool)
    with Session(engine) as s:
        seed(s)
        grades = grade_inputs(s)
        refresh_current(session=s, settings=settings, now=datetime.now(UTC))
        _, planner = create_key(session=s, role="planner", name="hosting map")
        s.commit()
    engine.dispose()
    base, server, thread = start_server(settings)
    try:
        yield Live(base, planner, settings), grades
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def drawn(page: Any) -> dict[str, tuple[str, str]]:
    """area id -> (grade attribute, fill) of every drawn hosting shape."""
    pairs = page.eval_on_selector_all(
        ".leaflet-gw-hosting-pane path",
        "ps => ps.map(p => ['data-area', 'data-grade', 'fill'].map(a => p.getAttribute(a)))")
    return {a: (g, f) for a, g, f in pairs}


def hover(page: Any, area_id: str) -> str:
    handle = page.query_selector(f'.leaflet-gw-hosting-pane path[data-area="{area_id}"]')
    assert handle is not None, area_id
    spot = handle.evaluate(SPOT)
    assert spot is not None, f"{area_id} is hidden"
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip")
    text_ = str(page.inner_text(".leaflet-tooltip-pane"))
    page.mouse.move(5, 5)
    return text_


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_the_layer_in_chromium_in_both_languages(served: tuple[Live, dict[str, str]], browser: Any) -> None:
    live, grades = served
    for locale, name, words in (
            ("en-US", "PV hosting capacity", ("PV hosting grade: red",
                                              "C1 (room before registered PV): -20 kW",
                                              "C2 (room after registered PV): -20 kW")),
            ("zh-CN", "分布式光伏承载力", ("承载力等级：红色", "-20 kW"))):
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale=locale)
        page.add_init_script("window.alert = (m) => { window.__xss = true; };")
        watch = Watch()
        watch.attach(page)
        sign_in(page, live, "/maps/")
        page.wait_for_selector(".leaflet-control-layers")
        box = page.get_by_label(name, exact=False)
        assert not box.is_checked()                                  # off until switched on
        assert drawn(page) == {} and not page.locator(".gw-hosting-legend").is_visible()
        box.check()
        page.wait_for_selector(".leaflet-gw-hosting-pane path")
        shapes = drawn(page)
        assert {a: g for a, (g, _) in shapes.items()} == grades
        fills = {g: {f for a, (gg, f) in shapes.items() if gg == g} for g in CYCLE}
        colors = hosting.HOSTING_COLORS
        assert fills == {"green": {colors["green"]}, "yellow": {"url(#gw-hatch-host-yellow)"},
                         "red": {"url(#gw-hatch-host-red)"}, "unassessed": {colors["unassessed"]}}
        tip = hover(page, "A-XSS")
        assert HOSTILE in tip and all(w in tip for w in words), tip
        green = next(a for a, g in grades.items() if g == "green")
        yellow = next(a for a, g in grades.items() if g == "yellow")
        assert ("90 kW" in hover(page, green)) and ("40 kW" in hover(page, yellow))
        legend = page.inner_text(".gw-legend")
        assert name in legend and ("C2 ≤ 0 < C1" in legend)
        assert page.locator('.gw-legend [data-grade="red"] .gw-host-red').count() == 1
        if locale == "en-US":
            assert "unassessed: no capacity or typical load given" in legend
            assert "unassessed" in hover(page, next(a for a, g in grades.items() if g == "unassessed"))
        else:
            assert "红色：无可接入容量（C1 ≤ 0）" in legend and "49" not in tip
        assert page.evaluate("window.__xss === undefined")
        assert page.locator("img[src='x'], [onerror]").count() == 0
        assert watch.errors == [] and watch.outside(live.base) == []
        page.close()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_province_scale_uses_the_hosting_tiles(fresh_settings: Settings) -> None:
    """Over map_inline_features areas the layer is its own vector-tile layer; tiles carry grade, C1, C2."""
    import mapbox_vector_tile

    from maps.overview import overview_html
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        with Session(api.engine) as s:
            seed(s)
            grades = grade_inputs(s)
            refresh_current(session=s, settings=api.settings, now=datetime.now(UTC))
            s.commit()
            tiled = api.settings.model_copy(update={"map_inline_features": 10})
            page = overview_html(session=s, settings=tiled)
            assert '"/tiles/hosting/{z}/{x}/{y}.pbf"' in page and "Areas from zoom 10" not in page
            assert "台区在缩放级别 10 及以上显示" in page
        x, y = _tile_of(106.71, 26.58, 12)
        tile = api.get(f"/tiles/hosting/12/{x}/{y}.pbf", "planner")
        assert tile.status_code == 200 and "ETag" in tile.headers
        layer = mapbox_vector_tile.decode(tile.content)["hosting"]
        props = {f["properties"]["area_id"]: f["properties"] for f in layer["features"]}
        assert props["A-XSS"]["grade"] == "red" and props["A-XSS"]["c1_kw"] == -20
        assert all(p["grade"] == grades[a] for a, p in props.items())
        assert api.get(f"/tiles/hosting/12/{x}/{y}.pbf").status_code == 401
        # a recomputation (a new PV) changes the tiles' ETag
        with Session(api.engine) as s:
            s.execute(text("INSERT INTO pv_unit VALUES ('new', 'A-XSS', 1, 'registered')"))
            s.commit()
            refresh_current(session=s, settings=api.settings, now=datetime.now(UTC))
            s.commit()
        again = api.get(f"/tiles/hosting/12/{x}/{y}.pbf", "planner")
        assert again.headers["ETag"] != tile.headers["ETag"]


@pytest.mark.parametrize("deficiency", list(CVD))
def test_grade_colours_stay_apart_under_colour_vision_deficiencies(deficiency: str) -> None:
    graded = ("green", "yellow", "red")
    opaque = {g: _rgb(hosting.HOSTING_COLORS[g]) for g in graded}
    filled = {g: _over(hosting.HOSTING_COLORS[g], hosting.HOSTING_FILL_OPACITY[g], "#f4f1ea")
              for g in hosting.GRADES}
    assert _closest(opaque, deficiency)[0] >= 15
    assert _closest({g: filled[g] for g in graded}, deficiency)[0] >= 15
    assert _closest(filled, deficiency)[0] >= 10          # unassessed also has its dotted outline
    assert set(hosting.HOSTING_PATTERNS) == set(hosting.HOSTING_COLORS)
    assert len(set(itertools.chain(hosting.HOSTING_PATTERNS.values()))) == 4


def test_the_legend_names_each_grade_in_both_languages() -> None:
    now = datetime(2026, 11, 28, 4, tzinfo=UTC)
    en = hosting.legend_html(quarter="2026Q4", computed_at=now, lang=Lang("en"))
    zh = hosting.legend_html(quarter="2026Q4", computed_at=now, lang=Lang("zh_CN"))
    assert "red: no room (C1 ≤ 0)" in en and "2026Q4, computed 2026-11-28T12:00+08:00" in en
    assert "红色：无可接入容量（C1 ≤ 0）" in zh and "2026年第4季度，计算于 2026年11月28日 12:00" in zh


@pytest.mark.skipif(os.environ.get("GRIDWATCH_SCREENSHOTS") != "1" or not CHROMIUM.exists(),
                    reason="GRIDWATCH_SCREENSHOTS=1 writes docs/hosting-capacity.png from the county demo")
def test_screenshot_of_the_layer_on_the_demo(cli: Any, browser: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from api.keys import create_key

    monkeypatch.setenv("GRIDWATCH_DATA_DIR", str(tmp_path))
    assert cli("demo").exit_code == 0
    settings = Settings(database_url=cli.url, data_dir=tmp_path / "gw")
    engine = create_engine(settings.sqlalchemy_url(), poolclass=pool.NullPool)
    with Session(engine) as s:
        _, planner = create_key(session=s, role="planner", name="screenshot")
        s.commit()
    engine.dispose()
    base, server, thread = start_server(settings)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        sign_in(page, Live(base, planner, settings), "/maps/")
        page.wait_for_selector(".leaflet-control-layers")
        # only the county outlines and the hosting layer, around Guiyang, Kaili and Sandu
        for box in page.query_selector_all(".leaflet-control-layers-selector"):
            if box.is_checked():
                box.uncheck()
        page.get_by_label("县（区）边界", exact=False).check()
        page.get_by_label("分布式光伏承载力", exact=False).check()
        page.wait_for_selector(".leaflet-gw-hosting-pane path")
        page.evaluate("Object.values(window).find(v => v instanceof L.Map).setView([26.35, 107.35], 9)")
        page.wait_for_timeout(800)
        red = page.query_selector('.leaflet-gw-hosting-pane path[data-grade="red"]')
        assert red is not None
        spot = red.evaluate(SPOT)
        if spot is not None:
            page.mouse.move(spot["x"], spot["y"])
            page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip")
        page.screenshot(path=str(REPO / "docs" / "hosting-capacity.png"))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
