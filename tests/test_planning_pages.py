"""The area page's repeated planned outages (一停多用, SPEC section 14) in Chinese and English.

A real server and Debian's Chromium: the area planned out by a record and, 40 days later, by a
feeder work shows the pair (both sides dated and named, days apart); the zh-CN page has no
English interface text; an area of the same feeder with only the work shows none; a live-line
work (no interruption) is never named.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from core.i18n import Lang
from core.settings import Settings
from tests.builders import add_area, add_feeder, add_outage
from tests.conftest import _clone, _drop
from tests.i18n_check import english_words
from tests.test_maps_browser import CHROMIUM, start_server

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium "
                                "(scripts/install-browser.sh)")

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
RECORD_START = NOW - timedelta(days=30)
WORK_START = NOW + timedelta(days=10)
HOSTILE = "<b>老旧</b>小区台区"


@dataclass
class Site:
    base: str
    key: str
    data: set[str]


def _work(s: Session, work_id: str, asset_type: str, asset_id: str, start: datetime,
          method: str) -> None:
    s.execute(text(
        "INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, planned_end, "
        "method) VALUES (:w, :t, :a, :s, :e, :m)"),
        {"w": work_id, "t": asset_type, "a": asset_id, "s": start, "e": start + timedelta(hours=6),
         "m": method})


@pytest.fixture(scope="module")
def site(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from api.keys import create_key

    url = _clone(template_db)
    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as s:
        add_feeder(s, "F-P1", name="花溪10kV线")
        add_area(s, "A-P1", "F-P1", customers=120, name=HOSTILE)
        add_area(s, "A-P2", "F-P1", customers=80, lon=106.72, name="机械厂宿舍台区")
        add_outage(s, "OT-P1", "area", "A-P1", RECORD_START, RECORD_START + timedelta(hours=4),
                   cause="planned")
        _work(s, "WK-P1", "feeder", "F-P1", WORK_START, "outage")
        _work(s, "WK-P9", "area", "A-P1", WORK_START + timedelta(days=20), "live_line")
        _, key = create_key(session=s, role="planner", name="planning pages")
        s.commit()
    engine.dispose()
    data = {"A-P1", "A-P2", "F-P1", "OT-P1", "WK-P1", HOSTILE, "机械厂宿舍台区", "花溪10kV线"}
    base, server, thread = start_server(Settings(database_url=url, data_dir=tmp_path_factory.mktemp("gw")))
    try:
        yield Site(base, key, data)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _drop(url)


def _open(browser: Any, site: Site, locale: str, area: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale)
    page = context.new_page()
    page.goto(f"{site.base}/login?next={quote('/maps/areas/' + area)}")
    page.fill("#key", site.key)
    page.click("button[type=submit]")
    page.wait_for_selector(".gw-panel")
    return context, page


def _rows(page: Any) -> list[list[str]]:
    return [[" ".join(c.split()) for c in row.locator("td").all_inner_texts()]
            for row in page.locator("table.gw-findings tbody tr").all()]


def test_the_area_page_shows_its_repeat_planned_finding_in_chinese(site: Site, browser: Any) -> None:
    context, page = _open(browser, site, "zh-CN", "A-P1")
    try:
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert page.inner_text("#repeat-planned") == "重复计划停电（一停多用）"
        zh = Lang("zh_CN")
        assert _rows(page) == [[f"{zh.datetime(RECORD_START)} 停电记录 OT-P1",
                                f"{zh.datetime(WORK_START)} 停电检修 WK-P1", "40"]]
        body = page.inner_text("body")
        assert "一停多用" in body and "相隔天数" in body and "WK-P9" not in body
        assert HOSTILE in body                      # the hostile name is text, not markup
        assert english_words(page, site.data) == []
    finally:
        context.close()


def test_the_area_page_shows_its_repeat_planned_finding_in_english(site: Site, browser: Any) -> None:
    context, page = _open(browser, site, "en-US", "A-P1")
    try:
        assert page.get_attribute("html", "lang") == "en"
        assert page.inner_text("#repeat-planned") == "Repeated planned outages (one outage, many jobs)"
        en = Lang("en")
        assert _rows(page) == [[f"{en.datetime(RECORD_START)} record OT-P1",
                                f"{en.datetime(WORK_START)} work WK-P1", "40"]]
        assert "Days apart" in page.inner_text("body")
    finally:
        context.close()


def test_an_area_with_only_the_work_has_no_finding(site: Site, browser: Any) -> None:
    context, page = _open(browser, site, "zh-CN", "A-P2")
    try:
        assert _rows(page) == []
        assert "本台区没有重复计划停电。" in page.inner_text("body")
        assert english_words(page, site.data) == []
    finally:
        context.close()
