"""The live-outage layer of the overview map in a real Chromium: it refreshes itself after an ingest.

A small map dataset (tests.test_maps_seed) with areas out for 30 min, 2 h, 6 h and 20 h, one of
them with a hostile name; the page refreshes every 2 s (``live_refresh_seconds``). An outage
record posted to the ingest API (which refreshes live_outage) appears on the open page without
a reload, its restoration removes it, a failing API leaves the last data with a "stale" mark.
``GRIDWATCH_SCREENSHOTS=1`` also saves docs/map-live.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.settings import Settings
from tests.builders import add_area, add_outage
from tests.test_maps_browser import CHROMIUM, Live, Watch, sign_in, start_server
from tests.test_maps_seed import seed
from tests.test_security_maps import SPOT

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "<img src=x onerror=alert(1)>台区"
REFRESH = 2
MAGMA = ("#fcfdbf", "#fb8861", "#b63679", "#51127c")   # < 1 h, 1-4 h, 4-12 h, >= 12 h
# Seeded areas out now: customers are 80 + 10 k for area A{county}{feeder}{k}.
OUT = {"A010": 80, **{f"A02{k}": 80 + 10 * k for k in range(6)}, "A112": 100, "A131": 90, "A-XSS": 7}
BAND = {"A010": 0, **{f"A02{k}": 1 for k in range(6)}, "A-XSS": 1, "A112": 2, "A131": 3}
FEEDER_F10 = {f"A10{k}": 80 + 10 * k for k in range(6)}   # the outage ingested during the test


@dataclass
class Served(Live):
    ingest_key: str = ""
    now: datetime = datetime.now(UTC)


def load(session: Session, now: datetime) -> None:
    """The map dataset, then outages of several ages (one on a whole feeder) and a hostile area."""
    from monitoring.live import refresh_live

    seed(session, now=now)
    h = timedelta(hours=1)
    add_area(session, "A-XSS", "F13", customers=7, lon=106.704, lat=26.575, size=0.012, name=HOSTILE)
    session.execute(text("INSERT INTO asset_region VALUES ('area', 'A-XSS', '520103', '520100', now())"))
    add_outage(session, "L-A010", "area", "A010", now - h / 2, None, cause="fault")
    add_outage(session, "L-F02", "feeder", "F02", now - 2 * h, None, cause="weather")
    add_outage(session, "L-A112", "area", "A112", now - 6 * h, None, cause="planned")
    add_outage(session, "L-A131", "area", "A131", now - 20 * h, None, cause="fault")
    add_outage(session, "L-XSS", "area", "A-XSS", now - 3 * h, None, cause="external")
    session.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'dispatched' "
                         "WHERE outage_id = 'L-A010'"), {"e": now + 2 * h})
    session.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'repairing' "
                         "WHERE outage_id = 'L-A131'"), {"e": now - 2 * h})
    refresh_live(session=session, now=now)


@pytest.fixture
def served(fresh_db: str, tmp_path: Path) -> Iterator[Served]:
    from api.keys import create_key

    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "gw", live_refresh_seconds=REFRESH)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            load(s, now)
            _, planner = create_key(session=s, role="planner", name="live map")
            _, ingest = create_key(session=s, role="ingest", name="live feed")
            s.commit()
    finally:
        engine.dispose()
    base, server, thread = start_server(settings)
    try:
        yield Served(base, planner, settings, ingest_key=ingest, now=now)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def post_outage(served: Served, row: dict[str, str]) -> None:
    cols = ("outage_id", "asset_type", "asset_id", "start_time", "end_time", "cause", "estimated_end",
            "progress")
    body = ",".join(cols) + "\n" + ",".join(row.get(c, "") for c in cols) + "\n"
    r = httpx.post(f"{served.base}/api/v1/ingest/outages", content=body.encode(),
                   headers={"X-API-Key": served.ingest_key, "Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] + r.json()["updated"] == 1, r.text


def live_areas(page: Any) -> dict[str, str]:
    """area id -> fill colour of every drawn live-outage shape."""
    pairs = page.eval_on_selector_all(
        ".leaflet-gw-live-pane path",
        "ps => ps.map(p => [p.getAttribute('data-area'), p.getAttribute('fill')])")
    return dict(pairs)


def box(page: Any) -> dict[str, Any]:
    return dict(page.eval_on_selector(".gw-live-box", """d => ({
      customers: d.querySelector('.gw-live-customers').textContent,
      outages: d.querySelector('.gw-live-outages').textContent,
      refreshes: +d.dataset.refreshes, failures: +d.dataset.failures, stale: d.dataset.stale === '1',
      text: d.innerText})"""))


def wait_for(page: Any, script: str, arg: Any = None, intervals: int = 5) -> None:
    """Wait at most a few refresh intervals (plus the ingest) for ``script`` to hold."""
    page.wait_for_function(script, arg=arg, timeout=(intervals * REFRESH + 10) * 1000)


def hover(page: Any, area_id: str) -> str:
    """Hover the live shape of ``area_id``; the tooltip's text."""
    handle = page.query_selector(f'.leaflet-gw-live-pane path[data-area="{area_id}"]')
    assert handle is not None, area_id
    spot = handle.evaluate(SPOT)
    assert spot is not None, f"{area_id} is hidden"
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_selector(".leaflet-tooltip-pane .leaflet-tooltip")
    return str(page.inner_text(".leaflet-tooltip-pane"))


def test_live_layer_follows_ingests_without_a_reload(served: Served, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script("window.alert = (m) => { window.__xss = true; };")
    watch = Watch()
    watch.attach(page)
    sign_in(page, served, "/maps/")
    page.wait_for_selector(".leaflet-gw-live-pane path")
    page.evaluate("window.__marker = 'same page'")

    # The layer, on by default, with the right areas coloured by how long they have been out.
    assert "Out now" in page.inner_text(".leaflet-control-layers")
    assert page.get_by_label("Out now").is_checked()
    assert live_areas(page) == {a: MAGMA[BAND[a]] for a in OUT}
    legend = page.inner_text(".gw-legend")
    assert "Out now: time out" in legend and "4–12 h" in legend and "≥ 12 h" in legend
    assert f"Refreshed every {REFRESH} s" in legend
    first = box(page)
    assert (first["customers"], first["outages"]) == (str(sum(OUT.values())), str(len(OUT)))
    # Top counties: 南明区 710 customers in 7 areas, 云岩区 197 in 3.
    assert re.search(r"南明区\s+710\s+7\s+云岩区\s+197\s+3", first["text"]), first["text"]

    # A hostile name is text, never markup.
    tip = hover(page, "A-XSS")
    assert HOSTILE in tip and "Cause: external" in tip
    # The tooltip: name and id, since in Beijing time, cause, customers, restoration, progress.
    tip = hover(page, "A010")
    eta = served.now + timedelta(hours=10)   # two hours ahead, in UTC+8
    assert f"Estimated restoration: {eta:%Y-%m-%dT%H:%M}+08:00" in tip and "(overdue)" not in tip
    assert "dispatched · step 2 of 5" in tip
    tip = hover(page, "A131")
    since = served.now - timedelta(hours=20) + timedelta(hours=8)
    assert "云岩区4-2台区" in tip and "area A131" in tip and f"Out since: {since:%Y-%m-%dT%H:%M}+08:00" in tip
    assert "(out for 20 h 0" in tip and "Cause: fault" in tip and "Customers: 90 customers" in tip
    assert "(overdue)" in tip and "repairing · step 4 of 5" in tip
    if os.environ.get("GRIDWATCH_SCREENSHOTS") == "1":
        page.screenshot(path=str(REPO / "docs" / "map-live.png"))
    # A refresh updates the shapes in place (no flicker): the same element, a popup still open.
    page.mouse.down()
    page.mouse.up()
    page.wait_for_selector(".leaflet-popup-content")
    page.eval_on_selector('.leaflet-gw-live-pane path[data-area="A131"]', "p => { p.__kept = true; }")
    seen = box(page)["refreshes"]
    wait_for(page, "n => +document.querySelector('.gw-live-box').dataset.refreshes > n", seen)
    assert page.eval_on_selector('.leaflet-gw-live-pane path[data-area="A131"]', "p => p.__kept === true")
    popup = page.inner_text(".leaflet-popup-pane")
    assert "area A131" in popup and "Open area page" in popup
    page.click(".leaflet-popup-close-button")
    page.mouse.move(5, 790)

    # A feeder outage ingested through the API appears within a few refreshes, without a reload:
    # its six areas, 1,537 customers out in all, and 云岩区 now first of the counties.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    record = {"outage_id": "NEW-1", "asset_type": "feeder", "asset_id": "F10",
              "start_time": start.isoformat(), "cause": "fault",
              "estimated_end": (start + timedelta(hours=3)).isoformat(), "progress": "reported"}
    post_outage(served, record)
    wait_for(page, "() => document.querySelector('.leaflet-gw-live-pane path[data-area=\"A100\"]')")
    wait_for(page, "n => document.querySelector('.gw-live-customers').textContent === n", "1,537")
    assert sum(OUT.values()) + sum(FEEDER_F10.values()) == 1537
    assert live_areas(page) == {**{a: MAGMA[BAND[a]] for a in OUT}, **{a: MAGMA[0] for a in FEEDER_F10}}
    after = box(page)
    assert after["outages"] == str(len(OUT) + 6) and after["refreshes"] >= 1 and not after["stale"]
    assert re.search(r"云岩区\s+827\s+9\s+南明区\s+710\s+7", after["text"]), after["text"]
    assert "reported · step 1 of 5" in hover(page, "A100")
    page.mouse.move(5, 790)

    # Its restoration takes it off the map again.
    post_outage(served, {**record, "end_time": datetime.now(UTC).replace(microsecond=0).isoformat()})
    wait_for(page, "() => !document.querySelector('.leaflet-gw-live-pane path[data-area=\"A100\"]')")
    wait_for(page, "n => document.querySelector('.gw-live-customers').textContent === n",
             str(sum(OUT.values())))
    assert set(live_areas(page)) == set(OUT)
    assert page.evaluate("window.__marker") == "same page"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # Switched off, the layer is gone from the map; the box stays.
    page.get_by_label("Out now").uncheck()
    assert live_areas(page) == {}
    assert page.locator(".gw-live-box").count() == 1
    page.get_by_label("Out now").check()
    assert set(live_areas(page)) == set(OUT)

    assert dialogs == [] and page.evaluate("window.__xss === undefined")
    assert page.locator("img[src='x'], [onerror]").count() == 0
    assert watch.errors == [], (watch.errors, watch.bad)
    assert watch.failed == [] and watch.outside(served.base) == []
    assert any("/api/v1/outages/live?format=geojson" in u for u in watch.requests)


def test_a_failed_refresh_keeps_the_last_data_and_says_stale(served: Served, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 700}, locale="en-US")
    watch = Watch()
    watch.attach(page)
    sign_in(page, served, "/maps/")
    page.wait_for_selector(".leaflet-gw-live-pane path")
    wait_for(page, "() => +document.querySelector('.gw-live-box').dataset.refreshes >= 1")
    assert not box(page)["stale"]
    page.route("**/api/v1/outages/**", lambda route: route.fulfill(status=503, body="down"))
    wait_for(page, "() => document.querySelector('.gw-live-box').dataset.stale === '1'")
    stale = box(page)
    assert stale["failures"] >= 1 and "stale" in stale["text"]
    assert stale["customers"] == str(sum(OUT.values())) and set(live_areas(page)) == set(OUT)
    assert "failed" in str(page.get_attribute(".gw-stale", "title"))
    page.unroute("**/api/v1/outages/**")
    wait_for(page, "() => document.querySelector('.gw-live-box').dataset.stale === '0'")
    assert box(page)["customers"] == str(sum(OUT.values()))
    # Only the browser's own note of each refused request: the page itself threw nothing.
    assert [e for e in watch.errors if "503" not in e] == [], watch.errors


def test_the_static_export_carries_the_state_without_refresh(served: Served, browser: Any,
                                                             tmp_path: Path) -> None:
    from maps.export import export

    engine = create_engine(served.settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            export(session=s, settings=served.settings, out=tmp_path / "share", areas="none")
    finally:
        engine.dispose()
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    watch = Watch()
    watch.attach(page)
    page.goto((tmp_path / "share" / "index.html").as_uri())
    page.wait_for_selector(".leaflet-gw-live-pane path")
    assert set(live_areas(page)) == set(OUT)
    # The export is in the default language, zh-CN.
    assert "停电快照" in page.inner_text(".leaflet-control-layers")
    text_ = box(page)["text"]
    assert "（不再刷新）" in text_ and "截至" in text_
    assert "不再刷新" in page.inner_text(".gw-legend")
    page.wait_for_timeout((REFRESH + 1) * 1000)
    assert watch.errors == [] and [u for u in watch.requests if not u.startswith("file://")] == []


def test_a_county_view_shows_only_its_counties(served: Served, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    watch = Watch()
    watch.attach(page)
    sign_in(page, served, "/maps/?county=520103")
    page.wait_for_selector(".leaflet-gw-live-pane path")
    mine = {a for a in OUT if a.startswith("A1") or a == "A-XSS"}
    assert set(live_areas(page)) == mine
    assert box(page)["customers"] == "197"
    wait_for(page, "() => +document.querySelector('.gw-live-box').dataset.refreshes >= 1")
    assert set(live_areas(page)) == mine and box(page)["customers"] == "197"
    assert "南明区" not in box(page)["text"]
    assert watch.errors == [], watch.errors


def test_the_refresh_setting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.delenv("GRIDWATCH_LIVE_REFRESH_SECONDS", raising=False)
    assert Settings(database_url="postgresql://x/y").live_refresh_seconds == 30
    for bad in (1, 3601):
        with pytest.raises(ValidationError):
            Settings(database_url="postgresql://x/y", live_refresh_seconds=bad)
    monkeypatch.setenv("GRIDWATCH_LIVE_REFRESH_SECONDS", "7")
    assert Settings(database_url="postgresql://x/y").live_refresh_seconds == 7
