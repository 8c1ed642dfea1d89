"""The customers' phone page /public/ (停电查询, task 53) in headless Chromium at 390×844."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, utcnow
from core.settings import Settings
from monitoring.live import refresh_live
from tests.builders import add_area, add_feeder, add_meters, add_outage, square
from tests.conftest import REPO
from tests.test_maps_browser import CHROMIUM, Watch, start_server

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium "
                                "(scripts/install-browser.sh)")

PHONE = {"width": 390, "height": 844}
HOSTILE = "<img src=x onerror=alert(1)>"
SCREENSHOT = REPO / "docs" / "public-phone.png"
H = timedelta(hours=1)


def beijing(t: datetime) -> str:
    """The page's way of writing a moment: ``2026年11月28日 14:59``, Beijing time."""
    local = t.astimezone(LOCAL_TZ)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


@dataclass
class Site:
    base: str
    server: Any
    now: datetime
    mine: str            # a meter of the area out now, with history and a planned work
    other: str           # a meter of another area out now
    calm: str            # a meter of an area with no outage


def populate(url: str, county2: str) -> Site:
    """Three areas out now in two counties (230 customers), and one calm area."""
    now = utcnow().replace(second=0, microsecond=0)
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        for adcode, name, lon in (("520102", "南明区", 106.6), ("520103", county2, 106.8)):
            s.execute(text("INSERT INTO admin_division (adcode, name, level, geom) "
                           "VALUES (:a, :n, 'county', ST_GeomFromEWKT(:g))"),
                      {"a": adcode, "n": name, "g": square(lon, 26.4, 0.2)})
        add_feeder(s, "F1")
        add_feeder(s, "F2", lon=106.9)
        for area, feeder, customers, county, lon in (
                ("AREA-MINE-01", "F1", 120, "520102", 106.70), ("AREA-MINE-03", "F1", 30, "520102", 106.72),
                ("AREA-OTHER-02", "F2", 80, "520103", 106.90), ("AREA-CALM-04", "F2", 40, "520103", 106.92)):
            add_area(s, area, feeder, customers=customers, lon=lon, name=f"{HOSTILE}{area}")
            s.execute(text("INSERT INTO asset_region (asset_type, asset_id, county_adcode) "
                           "VALUES ('area', :a, :c)"), {"a": area, "c": county})
        mine = add_meters(s, "AREA-MINE-01", 2, prefix="MTR-MINE-5501")
        other = add_meters(s, "AREA-OTHER-02", 2, prefix="MTR-OTHER-7731")
        calm = add_meters(s, "AREA-CALM-04", 1, prefix="MTR-CALM-9090")
        causes = ("customer", "fault", "planned", "weather", "external", "weather")
        for k, cause in enumerate(causes):              # six past interruptions, 90 min each
            start = now - (30 - 4 * k) * 24 * H
            add_outage(s, f"REC-PAST-{k}", "area", "AREA-MINE-01", start, start + 1.5 * H, cause=cause)
        add_outage(s, "REC-NOW-A1", "area", "AREA-MINE-01", now - 2.25 * H, None, cause="fault")
        add_outage(s, "REC-NOW-A3", "area", "AREA-MINE-03", now - 1 * H, None, cause="weather")
        add_outage(s, "REC-NOW-A2", "area", "AREA-OTHER-02", now - 5 * H, None, cause="external")
        s.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'on_site' "
                       "WHERE outage_id = 'REC-NOW-A1'"), {"e": now + 3 * H})
        s.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'reported' "
                       "WHERE outage_id = 'REC-NOW-A2'"), {"e": now + 9 * H})
        s.execute(text(
            "INSERT INTO maintenance_work "
            "(work_id, asset_type, asset_id, planned_start, planned_end, method) "
            "VALUES ('WORK-SOON', 'area', 'AREA-MINE-01', :a, :b, 'live_line'), "
            "('WORK-LATER', 'area', 'AREA-MINE-01', :c, :d, 'outage'), "
            "('WORK-OTHER', 'area', 'AREA-OTHER-02', :a, :b, 'generator')"),
            {"a": now + 72 * H, "b": now + 76 * H, "c": now + 240 * H, "d": now + 244 * H})
        refresh_live(session=s, now=now)
        s.commit()
    eng.dispose()
    return Site(base="", server=None, now=now, mine=mine[0], other=other[0], calm=calm[0])


def _site(settings: Settings, county2: str) -> Iterator[Site]:
    site = populate(settings.sqlalchemy_url(), county2)
    site.base, site.server, thread = start_server(settings)
    try:
        yield site
    finally:
        site.server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def site(fresh_settings: Settings) -> Iterator[Site]:
    yield from _site(fresh_settings, "云岩区")


@pytest.fixture
def hostile_site(fresh_settings: Settings) -> Iterator[Site]:
    """The second county's name is markup: free text that reaches the page."""
    yield from _site(fresh_settings, f"{HOSTILE}云岩区")


def phone(browser: Any) -> tuple[Any, Watch, list[str]]:
    """A 390×844 phone page that records requests, console errors and dialogs."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    dialogs: list[str] = []

    def dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    return page, watch, dialogs


def wait_answer(page: Any) -> None:
    page.wait_for_selector("#answer:not([hidden]), #message:not([hidden])")


def test_a_customer_looks_up_their_meter_on_a_phone(site: Site, browser: Any) -> None:
    page, watch, dialogs = phone(browser)
    page.goto(f"{site.base}/public/")
    assert page.get_attribute("html", "lang") == "zh-CN" and page.title() == "停电查询"
    # Sign of life on load: the province's outages now, by county (largest first).
    page.wait_for_function("() => document.getElementById('province-total').textContent.includes('台区停电')")
    assert "3 个台区停电，影响 230 户" in page.inner_text("#province-total")
    assert page.locator("#province-counties li").all_inner_texts() == [
        "南明区：2 个台区，150 户", "云岩区：1 个台区，80 户"]
    assert page.locator("#answer").is_hidden()

    page.get_by_label("电表号").fill(site.mine)
    page.get_by_role("button", name="查询").click()
    wait_answer(page)
    assert page.url == f"{site.base}/public/?meter={site.mine}"   # a link that reopens the answer
    assert page.inner_text("#status-text") == "正在停电"
    assert page.inner_text("#since") == beijing(site.now - 2.25 * H)
    assert page.inner_text("#cause") == "故障"
    assert page.inner_text("#eta") == beijing(site.now + 3 * H)
    steps = page.locator("#steps li")
    assert steps.all_inner_texts() == ["已受理", "已派单", "已到达现场", "抢修中", "已恢复"]
    current = page.locator("#steps li.current")
    assert current.all_inner_texts() == ["已到达现场"] and current.get_attribute("aria-current") == "step"
    assert page.locator("#steps li.done").count() == 2
    recent = page.locator("#recent li").all_inner_texts()
    assert len(recent) == 5
    assert "尚未恢复" in recent[0] and "故障" in recent[0]
    newest_past = site.now - 10 * 24 * H                       # REC-PAST-5, weather, 90 min
    assert beijing(newest_past) in recent[1] and "持续 1小时30分钟" in recent[1] and "自然灾害" in recent[1]
    assert "外力破坏" in recent[2] and "用户原因" not in " ".join(recent)   # the oldest is past five
    works = page.locator("#works li").all_inner_texts()
    assert len(works) == 1                                       # the one in 10 days is not shown
    assert beijing(site.now + 72 * H) in works[0] and "带电作业" in works[0]
    # Nothing from the other area, and no ids at all.
    answer = page.inner_text("#answer")
    assert "外力破坏" not in page.inner_text("#status") and beijing(site.now + 9 * H) not in answer
    assert "发电车保供" not in answer
    dom = page.content()
    for leak in (site.other, "MTR-OTHER", "AREA-", "REC-", "WORK-", "onerror"):
        assert leak not in dom, leak
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    if os.environ.get("GRIDWATCH_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The link from an SMS opens the answer directly (through /public too).
    page.goto(f"{site.base}/public?meter={quote(site.mine)}")
    wait_answer(page)
    assert urlsplit(page.url).path == "/public/" and page.input_value("#meter") == site.mine
    assert page.inner_text("#status-text") == "正在停电"
    page.go_back()
    wait_answer(page)                                           # back to the first answer's URL
    assert watch.errors == [], (watch.errors, watch.bad)
    assert watch.outside(site.base) == [] and watch.failed == [] and dialogs == []
    assert not any("/lookup" in u and "MTR-OTHER" in u for u in watch.requests)


def test_no_outage_unknown_meter_busy_and_unreachable(hostile_site: Site, browser: Any) -> None:
    site = hostile_site
    page, watch, dialogs = phone(browser)
    page.goto(f"{site.base}/public/?meter={quote(site.calm)}")
    wait_answer(page)
    assert page.inner_text("#status-text") == "供电正常"
    assert page.locator("#outage").is_hidden() and page.locator("#progress-card").is_hidden()
    assert page.locator("#works-none").is_visible()
    # A county's name that is markup is shown as text, never run.
    page.wait_for_function("() => document.getElementById('province-counties').children.length === 2")
    counties = page.locator("#province-counties li").all_inner_texts()
    assert counties[1] == f"{HOSTILE}云岩区：1 个台区，80 户"
    assert page.locator("main img").count() == 0

    page.goto(f"{site.base}/public/?meter={quote(HOSTILE)}")
    wait_answer(page)
    assert "没有找到这个电表号" in page.inner_text("#message")
    assert page.locator("#answer").is_hidden() and page.input_value("#meter") == HOSTILE
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]

    page.get_by_label("电表号").fill(" ")
    page.get_by_role("button", name="查询").click()
    assert page.inner_text("#message") == "请输入电表号。"

    # Too many questions from this address: the page says how long to wait.
    for _ in range(200):
        if httpx.get(f"{site.base}/public/outages.json").status_code == 429:
            break
    page.get_by_label("电表号").fill(site.mine)
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => document.getElementById('message').textContent.includes('查询太频繁')")
    busy = page.inner_text("#message")
    assert re.fullmatch(r"查询太频繁，请 \d+ 秒后再试", busy) and int(re.findall(r"\d+", busy)[0]) >= 1

    # The server is gone: a polite message, no error on the page.
    site.server.should_exit = True
    page.wait_for_timeout(300)
    deadline = 50
    while deadline and _answers(site.base):
        page.wait_for_timeout(100)
        deadline -= 1
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => document.getElementById('message').textContent.includes('稍后再试')")
    assert "暂时无法查询" in page.inner_text("#message")

    assert dialogs == []
    assert [e for e in watch.errors if not e.startswith("Failed to load resource")] == [], watch.errors
    assert sorted({s for s, _ in watch.bad}) == [404, 429]
    assert watch.outside(site.base) == []


def _answers(base: str) -> bool:
    try:
        httpx.get(f"{base}/healthz", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True


def test_the_page_needs_no_key_and_sets_no_cookie(site: Site) -> None:
    r = httpx.get(f"{site.base}/public", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/public/"
    r = httpx.get(f"{site.base}/public?meter=M%201", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/public/?meter=M%201"
    r = httpx.get(f"{site.base}/public/?meter={HOSTILE}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in r.headers
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '<html lang="zh-CN">' in r.text and 'name="viewport"' in r.text
    assert '<label for="meter">电表号</label>' in r.text
    assert "onerror" not in r.text                    # the query is never written into the HTML
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", r.text)
    for asset, kind in (("/static/public/phone.js", "javascript"), ("/static/public/phone.css", "text/css")):
        got = httpx.get(f"{site.base}{asset}")
        assert got.status_code == 200 and kind in got.headers["content-type"], asset
        assert "http://" not in got.text and "https://" not in got.text and "innerHTML" not in got.text
