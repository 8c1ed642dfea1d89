"""The sign-in, area, error and customers' pages in Chinese and English, on a desk and a phone (issue 17).

A real server and Debian's Chromium: on zh-CN no English interface text is left (``english_words``,
data aside), on English the expected words are there, on a 390×844 phone the area page stacks
its map above the facts with nothing overflowing sideways, and the area's map opens on the area
itself rather than on its whole feeder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.i18n import Lang
from core.settings import Settings
from maps.timeline import fmt_duration, timeline_svg
from tests.conftest import REPO, _clone, _drop
from tests.i18n_check import ALLOWED, WORD, english_words
from tests.test_maps_browser import CHROMIUM, Watch, pane_paths, start_server
from tests.test_maps_seed import COUNTIES, seed

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium "
                                "(scripts/install-browser.sh)")

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
SHOTS = REPO / "docs" / "screenshots"
AREA = "A000"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def screenshot(page: Any, name: str, full_page: bool = False) -> None:
    """Write docs/screenshots/<name>.png when GRIDWATCH_SCREENSHOTS=1 (never in CI)."""
    if os.environ.get("GRIDWATCH_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


@dataclass
class Site:
    base: str
    key: str
    url: str
    data: set[str]


@pytest.fixture(scope="module")
def site(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server on the seeded map data for the module (the tests only read)."""
    from api.keys import create_key

    url = _clone(template_db)
    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as s:
        seed(s)
        _, key = create_key(session=s, role="planner", name="i18n pages")
        s.commit()
        data = {str(v) for row in s.execute(text(
            "SELECT a.area_id, a.name, f.feeder_id, f.name FROM area a JOIN feeder f USING (feeder_id) "
            "WHERE a.area_id = :a"), {"a": AREA}) for v in row}
        data |= {str(v) for row in s.execute(text(
            "SELECT case_id, measures, responsible_unit FROM remediation_case")) for v in row}
        data |= {str(v) for (v,) in s.execute(text("SELECT outage_id FROM outage_record"))}
        data |= {str(v) for (v,) in s.execute(text("SELECT name FROM overlay_feature"))}
    engine.dispose()
    data |= set(COUNTIES) | {name for name, _ in COUNTIES.values()} | {"520100", "贵阳市"}
    base, server, thread = start_server(Settings(database_url=url, data_dir=tmp_path_factory.mktemp("gw")))
    try:
        yield Site(base, key, url, data)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _drop(url)


def visit(browser: Any, lang: str, size: str) -> tuple[Any, Any, Watch]:
    """A browser context whose language is ``lang`` (Accept-Language) at ``size``."""
    context = browser.new_context(viewport=SIZES[size], locale=LOCALES[lang],
                                  is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    return context, page, watch


def sign_in(page: Any, site: Site, next_path: str) -> None:
    page.goto(f"{site.base}/login?next={quote(next_path)}")
    page.fill("#key", site.key)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def overflow(page: Any) -> int:
    """How far the page is wider than the window (0: nothing overflows sideways)."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


# ---- the sign-in page -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LOCALES)
def test_the_sign_in_page_in_each_language(site: Site, browser: Any, lang: str, size: str) -> None:
    context, page, watch = visit(browser, lang, size)
    try:
        response = page.goto(f"{site.base}/login?next=/maps/areas/{AREA}")
        assert response is not None and response.status == 200
        assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
        key = page.get_by_label("API 密钥" if lang == "zh" else "API key")       # a labelled field
        assert key.get_attribute("type") == "password"
        current = page.locator(".gw-lang a[aria-current]").inner_text()
        assert current == ("中文" if lang == "zh" else "English")
        if lang == "zh":
            assert page.title() == "gridwatch · 登录"
            assert english_words(page) == []
            assert "请使用 API 密钥登录" in page.inner_text("body")
        else:
            assert page.title() == "gridwatch · sign in"
            assert "Sign in with your API key" in page.inner_text("body")
            assert page.get_by_role("button", name="Sign in").is_visible()
            assert not CJK.search(page.inner_text("body").replace("中文", ""))
        assert overflow(page) <= 0
        screenshot(page, f"login-{lang}-{size}")

        # A wrong key: the page says so in its language, and keeps where to go next.
        key.fill("gw_not-a-key")
        page.click("button[type=submit]")
        page.wait_for_selector(".err")
        error = page.inner_text(".err")
        assert error == ("API 密钥无效或已被吊销。" if lang == "zh" else "Unknown or revoked API key.")
        if lang == "zh":
            assert english_words(page) == []
        assert "next=%2Fmaps%2Fareas%2FA000" in page.get_attribute("form", "action")

        # The switch on the failed attempt's page changes the language and keeps ``next``.
        other = "en" if lang == "zh" else "zh-CN"
        page.click(f".gw-lang a[hreflang={other}]")
        page.wait_for_load_state("load")
        assert page.get_attribute("html", "lang") == ("en" if lang == "zh" else "zh-CN")
        page.fill("#key", site.key)
        page.click("button[type=submit]")
        page.wait_for_selector(".gw-panel")
        assert urlsplit(page.url).path == f"/maps/areas/{AREA}"
        assert page.get_attribute("html", "lang") == ("en" if lang == "zh" else "zh-CN")   # remembered
        assert watch.outside(site.base) == []
    finally:
        context.close()


def test_sign_in_errors_for_a_browser_and_for_an_api_client(site: Site) -> None:
    html_zh = {"Accept": "text/html", "Accept-Language": "zh-CN"}
    r = httpx.post(f"{site.base}/login", data={"key": ""}, headers=html_zh)
    assert r.status_code == 401 and "请输入 API 密钥。" in r.text and '<html lang="zh-CN">' in r.text
    r = httpx.post(f"{site.base}/login?lang=en", data={"key": ""}, headers=html_zh)
    assert r.status_code == 401 and "Enter your API key." in r.text
    r = httpx.post(f"{site.base}/login", content=b"\xff\xfe", headers={
        **html_zh, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "无法读取登录表单。" in r.text
    # API clients keep their English JSON with its codes.
    r = httpx.post(f"{site.base}/login", data={"key": "gw_wrong"})
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "detail": "unknown or revoked API key"}
    # Too many failures: the form says so in words (a browser), JSON 429 (an API client).
    headers = {"Accept": "text/html", "Accept-Language": "en", "X-Forwarded-For": "198.51.100.9"}
    for _ in range(12):
        r = httpx.post(f"{site.base}/login", data={"key": "gw_guess-guess"}, headers=headers)
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text and "<form" in r.text
    r = httpx.post(f"{site.base}/login", data={"key": "gw_guess-guess"},
                   headers={"X-Forwarded-For": "198.51.100.9"})
    assert r.status_code == 429 and r.json()["error"] == "too_many_requests"


# ---- the area page --------------------------------------------------------------------------------

EN_AREA = ("Facts", "Feeder", "Customers", "Interruption history", "Remediation case", "Tags",
           "Weak-supply village", "Core zone", "meters 7/10 off", "feeder record OUT-F", "frequent",
           "in progress", "Start", "Duration", "Cause", "Counted", "Overview map")
ZH_AREA = ("基本情况", "馈线", "用户数", "停电历史", "整治工单", "专题标签", "供电薄弱村", "核心区",
           "电表 7/10 停电", "馈线停电记录 OUT-F", "整治中", "开始", "时长", "原因", "计入", "配网规划总览")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LOCALES)
def test_the_area_page_in_each_language(site: Site, browser: Any, lang: str, size: str) -> None:
    context, page, watch = visit(browser, lang, size)
    try:
        sign_in(page, site, f"/maps/areas/{AREA}")
        page.wait_for_selector(".leaflet-gw-area-pane path")
        page.wait_for_selector("svg.gw-timeline g.gw-int")
        assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
        panel = page.inner_text(".gw-panel")
        for word in (ZH_AREA if lang == "zh" else EN_AREA):
            assert word in panel, word
        assert page.locator("svg.gw-timeline g.gw-int").count() == 9
        if lang == "zh":
            assert page.title() == f"gridwatch · 台区 {AREA}"
            assert english_words(page, site.data) == []
            assert "2 小时 00 分钟" in panel or "1 小时 00 分钟" in panel   # durations in Chinese units
            assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", panel)   # lang.datetime
            assert "频繁停电" in page.inner_text(".gw-area-id")                # the status as a word
        else:
            assert page.title() == f"gridwatch · area {AREA}"
            assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\+08:00", panel)
            assert not CJK.search(_without(panel, site.data))
        # The timeline speaks the page's language too (its legend and axis are SVG text).
        svg = page.inner_html("svg.gw-timeline")
        assert ("不计入" in svg and "近 365 天" in svg) if lang == "zh" else ("not counted" in svg)
        assert page.locator(".gw-lang a[aria-current]").count() == 1
        assert overflow(page) <= 0
        map_box = page.locator(".folium-map").bounding_box()
        facts_box = page.locator(".gw-facts").bounding_box()
        if size == "phone":   # stacked: the map above the facts, both the page's width
            assert map_box["y"] + map_box["height"] <= facts_box["y"] + 1, (map_box, facts_box)
            assert map_box["width"] >= PHONE["width"] - 1
            assert map_box["height"] >= 260
            # the layer control and the legend fold away behind their buttons on a phone
            assert page.locator(".leaflet-control-layers").is_hidden()
            assert page.locator(".gw-legend").is_hidden()
            legend = page.get_by_role("button", name="图例" if lang == "zh" else "Legend")
            legend.click()
            assert page.locator(".gw-legend").is_visible()
            if lang == "zh":
                assert english_words(page, site.data) == []
            legend.click()
        else:                 # side by side: the map on the left
            assert map_box["x"] + map_box["width"] <= facts_box["x"] + 1, (map_box, facts_box)
            assert map_box["height"] >= DESKTOP["height"] - 1
        screenshot(page, f"area-{lang}-{size}")
        assert watch.errors == [], watch.errors
        assert watch.outside(site.base) == []
    finally:
        context.close()


def _without(text_: str, data: set[str]) -> str:
    for item in sorted(data, key=len, reverse=True):
        text_ = text_.replace(item, " ")
    return text_.replace("中文", " ")


FIT = """() => {
  const map = document.querySelector('.folium-map').getBoundingClientRect();
  const area = document.querySelector('.leaflet-gw-area-pane path').getBoundingClientRect();
  const feeder = document.querySelector('.leaflet-gw-feeder-pane path').getBoundingClientRect();
  return {map: [map.left, map.top, map.right, map.bottom, map.width, map.height],
          area: [area.left, area.top, area.right, area.bottom, area.width, area.height],
          feeder: [feeder.width, feeder.height]};
}"""


@pytest.mark.parametrize("size", SIZES)
def test_the_area_map_fits_the_area_not_the_feeder(site: Site, browser: Any, size: str) -> None:
    context, page, _ = visit(browser, "zh", size)
    try:
        sign_in(page, site, f"/maps/areas/{AREA}")
        page.wait_for_selector(".leaflet-gw-area-pane path")
        page.wait_for_timeout(300)   # the fit's zoom settles
        box = page.evaluate(FIT)
        (ml, mt, mr, mb, mw, mh), (al, at, ar, ab, aw, ah) = box["map"], box["area"]
        assert max(aw / mw, ah / mh) > 0.4, box                        # the area fills the view
        assert al >= ml and at >= mt and ar <= mr and ab <= mb, box    # and lies inside it, whole
        assert box["feeder"][0] > 0                                     # the feeder is still drawn
        assert pane_paths(page, "feeder") == 1
    finally:
        context.close()


# ---- not-found and other error pages ---------------------------------------------------------------

@pytest.mark.parametrize("lang", LOCALES)
def test_a_missing_area_is_a_not_found_page_in_the_language(site: Site, browser: Any, lang: str) -> None:
    context, page, _ = visit(browser, lang, "desktop")
    try:
        sign_in(page, site, "/maps/")
        missing = "no-such-area"
        response = page.goto(f"{site.base}/maps/areas/{missing}")
        assert response is not None and response.status == 404
        assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
        body = page.inner_text("body")
        if lang == "zh":
            assert "未找到" in body and f"没有编号为 {missing} 的台区。" in body
            assert english_words(page, {missing}) == []
        else:
            assert "Not found" in body and f"There is no area with the id {missing}." in body
            assert not CJK.search(body.replace("中文", ""))
        assert page.locator(".gw-lang a").count() == 2 and page.locator("a[href='/maps/']").count() == 1
        # A hostile id is shown as text.
        page.goto(f"{site.base}/maps/areas/{quote('<img src=x onerror=alert(1)>', safe='')}")
        assert page.locator("img").count() == 0 and "<img src=x" in page.inner_text("body")
        # Another error page: the API's English detail is folded away on a Chinese page.
        response = page.goto(f"{site.base}/maps/?metric=caidi")
        assert response is not None and response.status == 422
        if lang == "zh":
            assert english_words(page) == [] and page.locator("details[lang=en], details p[lang=en]").count()
        else:
            assert "metric" in page.inner_text("body")
    finally:
        context.close()


def test_error_pages_for_browsers_and_json_for_api_clients(site: Site) -> None:
    key = {"X-API-Key": site.key}
    browser_zh = {**key, "Accept": "text/html,application/xhtml+xml", "Accept-Language": "zh-CN"}
    # An API client: English JSON with its code, as before.
    r = httpx.get(f"{site.base}/maps/areas/nope", headers=key)
    assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no area with id 'nope'"}
    r = httpx.get(f"{site.base}/maps/nowhere", headers=key)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    # A browser: a page in its language, same status.
    r = httpx.get(f"{site.base}/maps/nowhere", headers=browser_zh)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "此网址没有对应的页面。" in r.text
    assert "no such route" not in r.text
    r = httpx.get(f"{site.base}/maps/", params={"metric": "caidi"}, headers=browser_zh)
    assert r.status_code == 422 and "请求无效" in r.text and "技术信息（英文）" in r.text
    r = httpx.get(f"{site.base}/maps/", params={"metric": "caidi", "lang": "en"}, headers=browser_zh)
    assert r.status_code == 422 and "Invalid request" in r.text and "metric" in r.text
    r = httpx.get(f"{site.base}/maps/", params={"metric": "caidi"}, headers=key)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    # The customers' pages lead back to their own page, not to the planners' map.
    r = httpx.get(f"{site.base}/public/nowhere", headers={"Accept": "text/html", "Accept-Language": "zh-CN"})
    assert r.status_code == 404 and '<a href="/public/">返回停电查询</a>' in r.text and "/maps/" not in r.text


@pytest.mark.parametrize("lang", LOCALES)
def test_the_ogc_html_pages_speak_the_language(site: Site, lang: str) -> None:
    r = httpx.get(f"{site.base}/ogc", params={"f": "html"},
                  headers={"X-API-Key": site.key, "Accept-Language": LOCALES[lang]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    if lang == "zh":
        assert '<html lang="zh-CN">' in r.text and "链接" in r.text and "API 文档" in r.text
    else:
        assert '<html lang="en">' in r.text and "Links" in r.text and "API documentation" in r.text
    assert 'class="gw-lang"' in r.text


# ---- the customers' phone page in English ---------------------------------------------------------

@pytest.fixture
def public_site(fresh_settings: Settings) -> Iterator[Any]:
    from tests.test_public_page import _site

    yield from _site(fresh_settings, "云岩区")


def test_the_phone_page_in_english(public_site: Any, browser: Any) -> None:
    from tests.test_public_page import HOSTILE, wait_answer

    site = public_site
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    try:
        page.goto(f"{site.base}/public/?lang=en")
        assert page.get_attribute("html", "lang") == "en" and page.title() == "Power outage lookup"
        page.wait_for_function("() => document.getElementById('province-total').textContent.includes('out,')")
        assert "3 areas out, 230 customers affected" in page.inner_text("#province-total")
        assert page.locator("#province-counties li").all_inner_texts() == [
            "南明区: 2 areas, 150 customers", "云岩区: 1 area, 80 customers"]
        page.get_by_label("Meter number").fill(site.mine)
        page.get_by_role("button", name="Look up").click()
        wait_answer(page)
        assert page.url == f"{site.base}/public/?meter={site.mine}"
        assert page.inner_text("#status-text") == "Power out"
        assert page.inner_text("#since") == Lang("en").datetime(site.now - 2.25 * timedelta(hours=1))
        assert page.inner_text("#cause") == "Fault"
        assert page.inner_text("#eta") == Lang("en").datetime(site.now + 3 * timedelta(hours=1))
        assert page.locator("#steps li").all_inner_texts() == [
            "Reported", "Crew dispatched", "Crew on site", "Repairing", "Restored"]
        assert page.locator("#steps li.current").all_inner_texts() == ["Crew on site"]
        recent = page.locator("#recent li").all_inner_texts()
        assert len(recent) == 5 and "not restored yet" in recent[0] and "Fault" in recent[0]
        assert "Lasted 1 hour 30 minutes" in recent[1] and "Weather" in recent[1]
        assert "External damage" in recent[2] and "Customer side" not in " ".join(recent)
        works = page.locator("#works li").all_inner_texts()
        assert len(works) == 1 and "Live-line work" in works[0]
        dom = page.content()
        for leak in (site.other, "MTR-OTHER", "AREA-", "REC-", "WORK-", "onerror"):
            assert leak not in dom, leak
        # No Chinese interface text: only the counties' names (data) and the switch's 中文.
        assert not CJK.search(_without(page.inner_text("body"), {"南明区", "云岩区"}))
        assert overflow(page) <= 0
        screenshot(page, "public-en-phone", full_page=True)
        # The switch keeps the meter: 中文 shows the same answer in Chinese.
        assert page.get_attribute(".gw-lang a[hreflang=zh-CN]", "href") == f"?meter={site.mine}&lang=zh-CN"
        page.click(".gw-lang a[hreflang=zh-CN]")
        wait_answer(page)
        assert page.get_attribute("html", "lang") == "zh-CN" and page.inner_text("#status-text") == "正在停电"
        assert english_words(page, {site.mine}) == []
        # An unknown meter: the English message, not the server's bilingual detail.
        page.goto(f"{site.base}/public/?lang=en&meter={quote(HOSTILE)}")
        wait_answer(page)
        assert page.inner_text("#message").startswith("No meter with this number was found.")
        assert page.locator("main img").count() == 0
        assert [e for e in watch.errors if "404" not in e] == [], watch.errors
        assert watch.outside(site.base) == []
    finally:
        context.close()


def test_the_phone_page_follows_the_browser_and_embeds_its_words_safely(public_site: Any) -> None:
    r = httpx.get(f"{public_site.base}/public/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in r.text and "<title>Power outage lookup</title>" in r.text
    assert "set-cookie" not in r.headers and "Accept-Language" in r.headers["vary"]
    zh = httpx.get(f"{public_site.base}/public/?meter=%3C/script%3E%3Cb%3E")
    assert '<html lang="zh-CN">' in zh.text and "<title>停电查询</title>" in zh.text
    block = re.search(r'<script id="gw-words" type="application/json">(.*?)</script>', zh.text, re.S)
    assert block is not None and "</" not in block.group(1) and '"停电查询"' in block.group(1)
    assert "</script><b>" not in zh.text and "meter=" not in zh.text      # the query is never written


# ---- the timeline without a browser ----------------------------------------------------------------

def test_the_timeline_in_each_language() -> None:
    now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    rows = [{"start_time": now - timedelta(days=d), "minutes": m, "cause": c, "source": s, "counts": k,
             "end_time": None if d == 1 else now - timedelta(days=d - 1)}
            for d, m, c, s, k in ((1, 30, "fault", "record", True), (40, 125, "weather", "inferred", False),
                                  (300, 600, "planned", "feeder_record", True))]
    zh = timeline_svg(rows, now=now, lang=Lang("zh_CN"))
    words = {w for w in WORD.findall(re.sub(r"<[^>]+>", " ", zh)) if w not in ALLOWED}
    assert words == set(), words
    assert "2026年11月27日 14:00" in zh and "自然灾害" in zh and "2 小时 05 分钟" in zh and "（未恢复）" in zh
    en = timeline_svg(rows, now=now, lang=Lang("en"))
    assert "2026-11-27T14:00+08:00" in en and "weather" in en and "2 h 05 min" in en and "(ongoing)" in en
    assert not CJK.search(en)
    assert fmt_duration(45, Lang("zh_CN")) == "45 分钟" and fmt_duration(45, Lang("en")) == "45 min"
