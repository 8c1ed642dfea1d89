"""The overview map in Chinese and English, on a desk and on a phone (issue 17), in a real Chromium.

A small map dataset (tests.test_maps_seed: two counties, areas of every status, overlays, two
firing alerts) with Chinese names, plus areas out now. The overview is walked in zh-CN and in
English at 1400×900 and 390×844: no English interface text on the Chinese page (the tooltips, the
opened layer control and legend included), no Chinese interface text on the English one; the
layer control and the legend folded behind their buttons on the phone; nothing wider than the
screen; tooltips inside the map at its four edges; the language switch remembered.
``GRIDWATCH_SCREENSHOTS=1`` also writes docs/screenshots/overview-{zh,en}-{desktop,phone}.png.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from core.settings import Settings
from maps import styles
from tests.i18n_check import english_words
from tests.test_maps_browser import CHROMIUM, CHROMIUM_ARGS, Watch, start_server
from tests.test_maps_seed import COUNTIES, seed

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "docs" / "screenshots"
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
# The user types the period in this form (core.clock.parse_period), in either language.
PERIOD_FORMATS = {"2026Q2", "2026-05"}


# ---- Colour-vision: simulated deficiencies (Machado, Oliveira & Fernandes 2009, severity 1.0,
# applied to linear RGB) and CIEDE2000 differences in CIELAB (D65).
CVD = {
    "normal": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.303900)),
}
RGB = tuple[float, float, float]
LAB = tuple[float, float, float]


def _rgb(hex_colour: str) -> RGB:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)


def _over(colour: str, alpha: float, background: str) -> RGB:
    c, b = _rgb(colour), _rgb(background)
    return (alpha * c[0] + (1 - alpha) * b[0], alpha * c[1] + (1 - alpha) * b[1],
            alpha * c[2] + (1 - alpha) * b[2])


def _lab(rgb: RGB, deficiency: str) -> LAB:
    lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
    m = CVD[deficiency]
    r, g, b = (min(1.0, max(0.0, sum(m[i][j] * lin[j] for j in range(3)))) for i in range(3))
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))


def ciede2000(c1: LAB, c2: LAB) -> float:
    """The CIEDE2000 colour difference (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = c1, c2
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar ** 7 / (cbar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1 = math.degrees(math.atan2(b1, a1p)) % 360
    h2 = math.degrees(math.atan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = 0.0 if c1p * c2p == 0 else (h2 - h1 + 180) % 360 - 180
    dhh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbar = h1 + h2
    elif abs(h1 - h2) <= 180:
        hbar = (h1 + h2) / 2
    else:
        hbar = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hbar - 30)) + 0.24 * math.cos(math.radians(2 * hbar))
         + 0.32 * math.cos(math.radians(3 * hbar + 6)) - 0.20 * math.cos(math.radians(4 * hbar - 63)))
    dtheta = 30 * math.exp(-(((hbar - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cbarp ** 7 / (cbarp ** 7 + 25 ** 7))
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh))


def _closest(colours: dict[str, RGB], deficiency: str) -> tuple[float, str, str]:
    labs = {k: _lab(v, deficiency) for k, v in colours.items()}
    return min((ciede2000(labs[a], labs[b]), a, b) for a, b in itertools.combinations(labs, 2))


def test_the_ciede2000_implementation_matches_published_values() -> None:
    # Pairs 1, 7 and 17 of Sharma, Wu & Dalal's test data.
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 0, 0), (50, -1, 2)) == pytest.approx(2.3669, abs=1e-4)
    assert ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)


@pytest.mark.parametrize("deficiency", list(CVD))
def test_status_colours_stay_apart_under_colour_vision_deficiencies(deficiency: str) -> None:
    statuses = ("frequent", "at_risk", "ok", "none")
    # As in the legend and on feeder lines (opaque), and as areas are filled over the map.
    opaque = {s: _rgb(styles.STATUS_COLORS[s]) for s in statuses}
    filled = {s: _over(styles.STATUS_COLORS[s], styles.STATUS_FILL_OPACITY[s], styles.MAP_BACKGROUND)
              for s in statuses}
    assert _closest(opaque, deficiency)[0] >= 20
    # The three evaluated statuses, as filled, stay clearly apart; "not evaluated" is also told
    # from "ok" by its dotted outline (STATUS_PATTERNS), so a smaller difference is enough there.
    assert _closest({s: filled[s] for s in statuses[:3]}, deficiency)[0] >= 20
    assert _closest(filled, deficiency)[0] >= 10
    alerts = {k: _rgb(v) for k, v in styles.ALERT_COLORS.items()}
    assert _closest(alerts, deficiency)[0] >= 20


@pytest.mark.parametrize("deficiency", list(CVD))
def test_live_bands_keep_their_order_under_colour_vision_deficiencies(deficiency: str) -> None:
    bands = {label: _rgb(colour) for _, colour, label in styles.LIVE_BANDS}
    assert _closest(bands, deficiency)[0] >= 12
    lightness = [_lab(rgb, deficiency)[0] for rgb in bands.values()]
    assert all(a - b >= 10 for a, b in itertools.pairwise(lightness)), lightness


def test_the_palette_check_can_fail() -> None:
    # Red and green of equal lightness, the classic confusion: apart in normal vision, not in deuteranopia.
    pair = {"red": _rgb("#d62728"), "green": _rgb("#4b8f00")}
    assert _closest(pair, "normal")[0] > 20 and _closest(pair, "deuteranopia")[0] < 10


def test_status_is_shown_by_pattern_and_word_in_the_legend() -> None:
    from core.i18n import Lang

    for code, words in (("zh_CN", ("频繁停电", "停电预警", "正常", "未评估")),
                        ("en", ("frequent", "at risk", "ok", "not evaluated"))):
        legend = styles.legend_html(lang=Lang(code))
        for key, word in zip(("frequent", "at_risk", "ok", "none"), words, strict=True):
            assert re.search(rf'data-status="{key}"><span class="sw gw-st gw-st-{key}"[^>]*></span>{word}<',
                             legend), (code, key)
    assert set(styles.STATUS_PATTERNS) == set(styles.STATUS_COLORS)


# ---- Pages as HTML


@pytest.fixture
def seeded(db_session: Session) -> Session:
    seed(db_session)
    return db_session


def test_the_overview_html_in_each_language(seeded: Session) -> None:
    from core.i18n import Lang
    from maps.overview import overview_html

    settings = Settings()  # type: ignore[call-arg]
    zh = overview_html(session=seeded, settings=settings, period="2026Q2", lang=Lang("zh_CN"))
    assert '<html lang="zh-CN">' in zh
    # The page carries the catalog for the browser code (msgid -> msgstr); the rest is Chinese.
    at = zh.index('"messages": {') + len('"messages": ')
    catalog, end = json.JSONDecoder().raw_decode(zh, at)
    assert catalog["Out since"] == "停电开始" and catalog["Layers"] == "图层"
    zh = zh[:at] + zh[end:]
    for text in ("台区频繁停电状态", "馈线频繁停电状态", "县（区）边界", "告警中（2）", "供电薄弱村",
                 "核心区", "户均停电时间 (SAIDI)", "2026年第2季度", "当前停电", "gridwatch · 配网规划总览",
                 "个台区：频繁停电"):
        assert text in zh or text.encode("unicode_escape").decode() in zh, text
    for text in ("Areas by status", "Firing alerts", "(台区)", "(供电薄弱村)", "County reliability"):
        assert text not in zh, text
    en = overview_html(session=seeded, settings=settings, period="2026-05", lang=Lang("en"))
    assert '<html lang="en">' in en
    for text in ("Areas by status", "Feeders by status", "County outlines", "Firing alerts (2)",
                 "Weak-supply villages", "SAIDI by county (2026-05)", "48 areas: ", "County reliability"):
        assert text in en, text
    assert "台区频繁停电状态" not in en and "当前停电" not in en and '"messages": {}' in en
    # The default is the setting (GRIDWATCH_LANGUAGE).
    assert '<html lang="en">' in overview_html(session=seeded, settings=Settings(language="en"))  # type: ignore[call-arg]
    assert '<html lang="zh-CN">' in overview_html(session=seeded, settings=settings)


def test_map_export_in_each_language(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(cli.url)
    with Session(engine) as s:
        seed(s)
        s.commit()
    engine.dispose()
    result = cli("map", "export", "--out", str(tmp_path / "en"), "--areas", "none", "--lang", "en")
    assert result.exit_code == 0, result.output
    index = (tmp_path / "en" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index and "Out at " in index and "not refreshed" in index
    result = cli("map", "export", "--out", str(tmp_path / "zh"), "--areas", "none")
    index = (tmp_path / "zh" / "index.html").read_text(encoding="utf-8")
    assert result.exit_code == 0 and '<html lang="zh-CN">' in index and "停电快照" in index
    monkeypatch.setenv("GRIDWATCH_LANGUAGE", "en")
    result = cli("map", "export", "--out", str(tmp_path / "default"), "--areas", "none")
    assert '<html lang="en">' in (tmp_path / "default" / "index.html").read_text(encoding="utf-8")
    bad = cli("map", "export", "--out", str(tmp_path / "x"), "--lang", "fr")
    assert bad.exit_code == 2 and "fr" in bad.output


# ---- In Chromium


@dataclass
class Site:
    base: str
    key: str
    data: set[str]


def _load(session: Session, now: datetime) -> set[str]:
    """The map dataset and four areas out now; returns the names and ids a page may show."""
    from monitoring.live import refresh_live
    from tests.builders import add_outage

    seed(session, now=now)
    h = timedelta(hours=1)
    add_outage(session, "L-A010", "area", "A010", now - h / 2, None, cause="fault")
    add_outage(session, "L-F02", "feeder", "F02", now - 2 * h, None, cause="weather")
    add_outage(session, "L-A112", "area", "A112", now - 6 * h, None, cause="planned")
    add_outage(session, "L-A131", "area", "A131", now - 20 * h, None, cause="fault")
    from sqlalchemy import text

    session.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'repairing' "
                         "WHERE outage_id = 'L-A131'"), {"e": now - 2 * h})
    refresh_live(session=session, now=now)
    names = session.execute(text(
        "SELECT area_id, name FROM area UNION ALL SELECT feeder_id, name FROM feeder UNION ALL "
        "SELECT feature_id, name FROM overlay_feature UNION ALL SELECT adcode, name FROM admin_division"
    )).all()
    return {str(v) for row in names for v in row if v} | {c for c, _ in COUNTIES.values()}


@pytest.fixture(scope="module")
def site(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from api.keys import create_key
    from tests.conftest import _clone, _drop

    url = _clone(template_db)
    settings = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("gw"))  # type: ignore[call-arg]
    engine = create_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            data = _load(s, datetime.now(UTC).replace(microsecond=0))
            _, key = create_key(session=s, role="planner", name="i18n maps")
            s.commit()
    finally:
        engine.dispose()
    base, server, thread = start_server(settings)
    try:
        yield Site(base, key, data)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _drop(url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Debian Chromium for the module (a context per test keeps cookies apart)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's /usr/bin/chromium (scripts/install-browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def open_overview(chromium: Any, site: Site, lang: str, size: str, path: str = "/maps/") -> tuple[Any, Watch]:
    """A signed-in page at ``path`` whose browser prefers ``lang`` (Accept-Language), at ``size``."""
    width, height = SIZES[size]
    context = chromium.new_context(viewport={"width": width, "height": height}, locale=LOCALES[lang],
                                   is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(f"{site.base}/login?next={path}")
    page.fill("#key", site.key)
    page.click("button[type=submit]")
    page.wait_for_selector(".leaflet-gw-area-pane path")
    page.wait_for_selector(".leaflet-gw-live-pane path")
    return page, watch


MAP = "Object.values(window).find(v => v instanceof L.Map)"

# A point of ``el`` that is on top (not under a control or the header box), inside the map.
SPOT_NEAR = """([el, edge]) => {
  const m = document.querySelector('.folium-map').getBoundingClientRect();
  const r = el.getBoundingClientRect();
  const left = Math.max(r.left, m.left) + 1, right = Math.min(r.right, m.right) - 1;
  const top = Math.max(r.top, m.top) + 1, bottom = Math.min(r.bottom, m.bottom) - 1;
  const xs = [], ys = [];
  for (let i = 0; i <= 40; i++) {
    xs.push(left + (right - left) * i / 40);
    ys.push(top + (bottom - top) * i / 40);
  }
  if (edge === 'right') xs.reverse();
  if (edge === 'bottom') ys.reverse();
  const outer = edge === 'left' || edge === 'right' ? xs : ys, inner = outer === xs ? ys : xs;
  for (const a of outer) for (const b of inner) {
    const [x, y] = outer === xs ? [a, b] : [b, a];
    if (document.elementFromPoint(x, y) === el) return {x, y};
  }
  return null;
}"""

# Pan the map so the shape nearest ``edge`` straddles it (half of it outside the map).
STRADDLE = """([edge, map]) => {
  const M = eval(map);
  const m = M.getContainer().getBoundingClientRect();
  const paths = [...document.querySelectorAll('.leaflet-gw-area-pane path, .leaflet-gw-live-pane path')];
  const key = p => { const r = p.getBoundingClientRect();
    return {left: r.left, right: -r.right, top: r.top, bottom: -r.bottom}[edge]; };
  const p = paths.sort((a, b) => key(a) - key(b))[0];
  const r = p.getBoundingClientRect(), cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
  const target = {left: [m.left, cy], right: [m.right, cy], top: [cx, m.top], bottom: [cx, m.bottom]}[edge];
  const dx = edge === 'left' || edge === 'right' ? cx - target[0] : 0;
  const dy = edge === 'top' || edge === 'bottom' ? cy - target[1] : 0;
  M.panBy([dx, dy], {animate: false});
  return true;
}"""

INSIDE = """() => {
  const t = document.querySelector('.leaflet-tooltip-pane .leaflet-tooltip');
  const m = document.querySelector('.folium-map').getBoundingClientRect();
  if (!t) return null;
  const r = t.getBoundingClientRect();
  return {tip: [r.left, r.top, r.right, r.bottom], map: [m.left, m.top, m.right, m.bottom]};
}"""


def hover(page: Any, selector: str, edge: str = "left") -> str:
    """Hover the first reachable shape of ``selector``; the tooltip's text."""
    for handle in page.query_selector_all(selector):
        spot = page.evaluate(SPOT_NEAR, [handle, edge])
        if spot is None:
            continue
        page.mouse.move(spot["x"], spot["y"])
        page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip", timeout=5000)
        return str(page.inner_text(".leaflet-tooltip-pane"))
    raise AssertionError(f"no reachable shape for {selector}")


def tooltip_inside(page: Any) -> tuple[bool, Any]:
    box = page.evaluate(INSIDE)
    if box is None:
        return False, box
    (tl, tt, tr, tb), (ml, mt, mr, mb) = box["tip"], box["map"]
    return (tl >= ml - 0.5 and tt >= mt - 0.5 and tr <= mr + 0.5 and tb <= mb + 0.5), box


def visible(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).first.is_visible())


def no_horizontal_overflow(page: Any) -> list[str]:
    """Elements that reach past the right edge of the screen (or the page wider than it)."""
    return list(page.evaluate("""() => {
      const w = document.documentElement.clientWidth, out = [];
      if (document.documentElement.scrollWidth > w) out.push('page ' + document.documentElement.scrollWidth);
      for (const el of document.querySelectorAll('.gw-title, .leaflet-control, .gw-legend, .gw-live-box')) {
        const r = el.getBoundingClientRect();
        if (r.width && (r.right > w + 0.5 || r.left < -0.5)) {
          out.push(el.className + ' ' + r.left + '-' + r.right);
        }
      }
      return out; }"""))


def interface_chinese(page: Any, data: set[str]) -> list[str]:
    """Chinese characters a person sees on ``page`` outside data and the switch's own 中文."""
    text = page.evaluate("() => [document.title, document.body.innerText].join('\\n')")
    for item in sorted(data | {"中文"}, key=len, reverse=True):
        text = text.replace(item, " ")
    return sorted(set(CJK.findall(text)))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", list(LOCALES))
def test_the_overview_in_each_language_and_size(chromium: Any, site: Site, lang: str, size: str) -> None:
    page, watch = open_overview(chromium, site, lang, size)
    assert page.get_attribute("html", "lang") == {"zh": "zh-CN", "en": "en"}[lang]
    phone = size == "phone"
    layers, legend = ".leaflet-control-layers", ".gw-legend"
    buttons = {"layers": ".gw-fold-layers", "legend": ".gw-fold-legend"}
    if phone:
        # Folded behind two buttons at first, each unfolding on a click (one panel at a time).
        assert not visible(page, layers) and not visible(page, legend)
        for b in buttons.values():
            assert visible(page, b) and page.get_attribute(b, "aria-expanded") == "false"
        # The header and the live summary are one line each.
        assert page.eval_on_selector(".gw-title", "e => e.getBoundingClientRect().height") < 34
        assert page.eval_on_selector(".gw-live-box", "e => e.getBoundingClientRect().height") < 30
    else:
        assert visible(page, layers) and visible(page, legend)
        assert not visible(page, buttons["layers"]) and not visible(page, buttons["legend"])
    assert no_horizontal_overflow(page) == []

    # What a person reads: the page, each folded panel opened, an area's, a live area's and an
    # alert's tooltip.
    seen: list[str] = []

    def look() -> None:
        if lang == "zh":
            assert english_words(page, site.data | PERIOD_FORMATS) == [], seen[-1:]
        else:
            assert interface_chinese(page, site.data) == [], seen[-1:]

    look()
    for name, panel in (("layers", layers), ("legend", legend)):
        if phone:
            page.click(buttons[name])
            assert visible(page, panel) and page.get_attribute(buttons[name], "aria-expanded") == "true"
            assert no_horizontal_overflow(page) == []
        seen.append(page.inner_text(panel))
        look()
    if phone:
        assert not visible(page, layers)   # opening the legend folded the layer list away
        page.click(buttons["legend"])
        assert not visible(page, legend)
    frequent = '.leaflet-gw-area-pane path[fill="url(#gw-hatch-frequent)"]'
    seen.append(hover(page, frequent))
    assert ("频繁停电" if lang == "zh" else "Status: frequent") in seen[-1], seen[-1]
    look()
    seen.append(hover(page, '.leaflet-gw-live-pane path[data-area="A131"]'))
    look()
    if lang == "zh":
        assert "停电开始" in seen[-1] and "已超时" in seen[-1] and "抢修中 · 第 4/5 步" in seen[-1], seen[-1]
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", seen[-1]), seen[-1]
    else:
        assert "Out since" in seen[-1] and "(overdue)" in seen[-1] and "repairing · step 4 of 5" in seen[-1]
        assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\+08:00", seen[-1]), seen[-1]
    seen.append(hover(page, ".leaflet-gw-alert-pane path"))
    look()
    page.mouse.move(2, SIZES[size][1] - 2)

    box = page.inner_text(".gw-live-box")
    expected = {
        "zh": ("台区频繁停电状态", "停电", "户", "更新于", "当前停电：已停电时长", "每 30 秒刷新一次"),
        "en": ("Areas by status", "Out now", "customers out", "updated", "Out now: time out",
               "Refreshed every 30 s", "Firing alerts (2)", "Metric", "Period"),
    }[lang]
    if phone:   # the legend, and the header unfolded to its title and form
        page.click(buttons["legend"])
        page.click(".gw-more")
        seen.append(page.inner_text(".gw-title"))
        look()
        assert no_horizontal_overflow(page) == []
    everything = page.inner_text("body") + "\n".join(seen)
    for word in expected:
        assert word in everything, (word, box)
    if lang == "en":
        assert "1 h" in everything and "frequent" in everything and "at risk" in everything
    if phone:
        page.click(".gw-more")
        page.click(buttons["legend"])
    if os.environ.get("GRIDWATCH_SCREENSHOTS") == "1":
        # As a person first sees it (folded on a phone), with the tooltip of an area out now.
        page.reload()
        page.wait_for_selector(".leaflet-gw-live-pane path")
        hover(page, '.leaflet-gw-live-pane path[data-area="A131"]')
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"overview-{lang}-{size}.png"))
    assert watch.errors == [], watch.errors
    assert watch.outside(site.base) == [] and watch.failed == []
    page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_tooltips_stay_inside_the_map(chromium: Any, site: Site, size: str) -> None:
    page, watch = open_overview(chromium, site, "zh", size)
    checked = 0
    page.evaluate(f"() => {{ const M = {MAP}; window.__home = [M.getCenter(), M.getZoom()]; }}")
    for edge in ("left", "right", "top", "bottom"):
        page.evaluate(STRADDLE, [edge, MAP])
        page.wait_for_timeout(100)
        page.mouse.move(SIZES[size][0] / 2, SIZES[size][1] / 2)
        handles = page.query_selector_all(".leaflet-gw-area-pane path, .leaflet-gw-live-pane path")
        spots = [s for s in (page.evaluate(SPOT_NEAR, [h, edge]) for h in handles) if s]
        key = {"left": lambda s: s["x"], "right": lambda s: -s["x"], "top": lambda s: s["y"],
               "bottom": lambda s: -s["y"]}[edge]
        for spot in sorted(spots, key=key)[:3]:   # the three shapes nearest the edge
            page.mouse.move(spot["x"], spot["y"])
            page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip", timeout=5000)
            ok, box = tooltip_inside(page)
            assert ok, (edge, spot, box)
            checked += 1
        page.evaluate(f"() => {MAP}.setView(window.__home[0], window.__home[1], {{animate: false}})")
    # And right of the middle of a phone's map, where a wide tooltip used to run off the left edge.
    width, height = SIZES[size]
    for x, y in itertools.product((0.55, 0.7, 0.85), (0.3, 0.5, 0.7)):
        page.mouse.move(width * x, height * y)
        page.wait_for_timeout(30)
        if page.locator(".leaflet-tooltip-pane .leaflet-tooltip").count():
            ok, box = tooltip_inside(page)
            assert ok, (x, y, box)
            checked += 1
    assert checked >= 12
    assert watch.errors == [], watch.errors
    page.context.close()


def test_the_switch_reloads_in_english_and_is_remembered(chromium: Any, site: Site) -> None:
    page, _watch = open_overview(chromium, site, "zh", "desktop")
    assert page.get_attribute("html", "lang") == "zh-CN"
    switch = page.locator(".gw-title .gw-lang")
    assert switch.is_visible() and page.get_attribute(".gw-lang a[aria-current]", "lang") == "zh-CN"
    with page.expect_navigation():
        page.click(".gw-lang a[lang=en]")
    page.wait_for_selector(".leaflet-gw-area-pane path")
    assert page.get_attribute("html", "lang") == "en"
    assert "Areas by status" in page.inner_text(".leaflet-control-layers")
    assert "lang=en" in page.url
    assert any(c["name"] == "gw_lang" and c["value"] == "en" for c in page.context.cookies())
    # The next visit, with no ?lang= and a browser that still prefers Chinese, is in English.
    again = page.context.new_page()
    again.goto(f"{site.base}/maps/?metric=saifi")
    again.wait_for_selector(".leaflet-gw-area-pane path")
    assert again.get_attribute("html", "lang") == "en"
    assert "SAIFI by county" in again.inner_text(".leaflet-control-layers")
    # The switch keeps the page's other parameters; back to Chinese, remembered too.
    href = again.get_attribute(".gw-lang a[lang=zh-CN]", "href")
    assert href is not None and "metric=saifi" in href and "lang=zh-CN" in href
    with again.expect_navigation():
        again.click(".gw-lang a[lang=zh-CN]")
    again.wait_for_selector(".leaflet-gw-area-pane path")
    assert again.get_attribute("html", "lang") == "zh-CN"
    assert "县（区）户均停电次数 (SAIFI)" in again.inner_text(".leaflet-control-layers")
    page.context.close()


def test_the_phone_header_unfolds_to_the_reliability_form(chromium: Any, site: Site) -> None:
    page, _watch = open_overview(chromium, site, "zh", "phone")
    form = page.locator(".gw-title form")
    assert not form.is_visible() and page.get_attribute(".gw-more", "aria-expanded") == "false"
    page.click(".gw-more")
    assert form.is_visible() and page.get_attribute(".gw-more", "aria-expanded") == "true"
    # Real labels: each field is found by its label's words.
    assert page.get_by_label("指标").is_visible() and page.get_by_label("统计期").is_visible()
    page.get_by_label("指标").select_option("saifi")
    with page.expect_navigation():
        page.click(".gw-title button[type=submit]")
    page.wait_for_selector(".leaflet-gw-area-pane path")
    assert "metric=saifi" in page.url
    page.context.close()
