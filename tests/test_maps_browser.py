"""Maps in a real headless Chromium: sign in, open the overview and an area page, offline only."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from core.settings import Settings
from tests.test_maps_seed import seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium "
                                "(scripts/install-browser.sh)")

VARIANCE_JS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0; const colours = new Set();
  for (let i = 0; i < d.length; i += 16) {
    const v = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    n++; s += v; s2 += v * v;
    if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  }
  return {width: c.width, height: c.height, variance: s2 / n - (s / n) * (s / n), colours: colours.size};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    base: str
    key: str
    settings: Settings


def start_server(settings: Settings) -> tuple[str, Any, threading.Thread]:
    """Run the app with uvicorn in a thread on an ephemeral port; returns (base URL, server, thread)."""
    import uvicorn

    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def seeded_key(url: str) -> str:
    """Seed the map dataset into ``url`` and return a new planner key."""
    from api.keys import create_key

    engine = create_engine(url)
    try:
        with Session(engine) as s:
            seed(s)
            _, key = create_key(session=s, role="planner", name="map test")
            s.commit()
    finally:
        engine.dispose()
    return key


def _live(settings: Settings) -> Iterator[Live]:
    key = seeded_key(settings.sqlalchemy_url())
    base, server, thread = start_server(settings)
    try:
        yield Live(base, key, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(fresh_settings: Settings) -> Iterator[Live]:
    yield from _live(fresh_settings)


@pytest.fixture
def live_tiles(fresh_db: str, tmp_path: Path) -> Iterator[Live]:
    yield from _live(Settings(database_url=fresh_db, data_dir=tmp_path / "gw", map_inline_features=5))


@dataclass
class Watch:
    """Everything a page asked for and complained about."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("response", lambda r: self.bad.append((r.status, r.url)) if r.status >= 400 else None)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, msg: Any) -> None:
        # The browser's own /favicon.ico probe of the sign-in page is not part of the maps.
        if msg.type == "error" and not str(msg.location.get("url", "")).endswith("/favicon.ico"):
            self.errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def outside(self, base: str) -> list[str]:
        host = urlsplit(base).netloc
        return [u for u in self.requests
                if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != host]


def sign_in(page: Any, live: Live, next_path: str) -> None:
    page.goto(f"{live.base}/login?next={next_path}")
    page.fill("#key", live.key)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def pane_paths(page: Any, kind: str) -> int:
    return int(page.locator(f".leaflet-gw-{kind}-pane path").count())


def not_blank(browser: Any, png: bytes) -> dict[str, Any]:
    """Decode the PNG in a blank page and measure its luminance variance and colours."""
    probe = browser.new_page()
    try:
        stats: dict[str, Any] = probe.evaluate(VARIANCE_JS, base64.b64encode(png).decode())
    finally:
        probe.close()
    return stats


def test_overview_and_area_page_in_chromium(live: Live, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    watch = Watch()
    watch.attach(page)
    sign_in(page, live, "/maps/")
    assert urlsplit(page.url).path == "/maps/"
    page.wait_for_selector(".leaflet-gw-area-pane path")
    control = page.inner_text(".leaflet-control-layers")
    for label in ("Areas by status", "Feeders by status", "Firing alerts (2)", "County outlines",
                  "Weak-supply villages", "Ethnic-minority areas", "Old compounds", "Core zones"):
        assert label in control, label
    legend = page.inner_text(".gw-legend")
    assert "frequent" in legend and "Firing alerts" in legend and "2 firing" in legend
    assert page.locator(".leaflet-control-scale").count() == 1
    assert pane_paths(page, "area") == 48
    assert pane_paths(page, "feeder") == 8
    assert pane_paths(page, "alert") == 2
    assert pane_paths(page, "county") == 2
    assert pane_paths(page, "overlay") == 0
    page.get_by_label("Core zones").check()
    assert pane_paths(page, "overlay") == 1
    # Frequent areas are drawn red and cross-hatched, at-risk ones orange and hatched.
    fills = page.eval_on_selector_all(".leaflet-gw-area-pane path",
                                      "ps => ps.map(p => p.getAttribute('fill'))")
    assert fills.count("url(#gw-hatch-frequent)") == 6 and fills.count("url(#gw-hatch-at_risk)") == 12
    assert page.get_attribute("#gw-hatch-frequent rect", "fill") == "#ca0020"
    stats = not_blank(browser, page.screenshot())
    assert stats["variance"] > 100 and stats["colours"] > 20, stats

    spot = page.evaluate("""() => {
      for (const p of document.querySelectorAll('.leaflet-gw-area-pane path')) {
        const r = p.getBoundingClientRect(), x = r.left + 3, y = r.top + 3;
        if (p.getAttribute('fill') === 'url(#gw-hatch-frequent)' && document.elementFromPoint(x, y) === p) {
          return {x, y};
        }
      }
      return null; }""")
    assert spot is not None
    page.mouse.click(spot["x"], spot["y"])
    popup = page.wait_for_selector(".leaflet-popup-content")
    assert "Outages in 365 days: 6" in popup.inner_text()
    page.click(".leaflet-popup-content a")
    page.wait_for_selector(".gw-panel")
    assert urlsplit(page.url).path.startswith("/maps/areas/")

    page.goto(f"{live.base}/maps/areas/A000")
    page.wait_for_selector(".leaflet-gw-area-pane path")
    panel = page.inner_text(".gw-panel")
    assert "Interruption history" in panel and "meters 7/10 off" in panel and "更换配变并新增联络线" in panel
    assert page.locator("svg.gw-timeline g.gw-int").count() == 9
    assert pane_paths(page, "area") == 1 and pane_paths(page, "feeder") == 1
    assert pane_paths(page, "overlay") >= 2
    stats = not_blank(browser, page.screenshot())
    assert stats["variance"] > 100, stats

    missing = page.goto(f"{live.base}/maps/areas/no-such-area")
    assert missing is not None and missing.status == 404
    assert "There is no area with the id no-such-area." in page.inner_text("body")   # in the page's language
    # The only error the console shows is the deliberate 404 of the unknown area.
    assert len(watch.errors) == 1 and "404" in watch.errors[0], (watch.errors, watch.bad)
    assert watch.outside(live.base) == []
    assert watch.failed == []
    assert any("/static/vendor/leaflet-1.9.4/leaflet.js" in u for u in watch.requests)


def test_overview_from_vector_tiles_in_chromium(live_tiles: Live, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
    watch = Watch()
    watch.attach(page)
    sign_in(page, live_tiles, "/maps/")
    page.wait_for_selector(".leaflet-gw-area-pane path", timeout=15000)
    page.wait_for_load_state("networkidle")
    tiles = [u for u in watch.requests if "/tiles/areas/" in u]
    assert tiles, watch.requests
    assert "Areas by status (tiles)" in page.inner_text(".leaflet-control-layers")
    assert pane_paths(page, "area") >= 40
    assert watch.errors == [], (watch.errors, watch.bad)
    assert watch.outside(live_tiles.base) == []
    assert watch.failed == []


def test_pages_need_a_session(live: Live) -> None:
    import httpx

    r = httpx.get(f"{live.base}/maps/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code in (302, 303, 307) and r.headers["location"].startswith("/login")
    r = httpx.get(f"{live.base}/maps/")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = httpx.get(f"{live.base}/maps/areas/nope", headers={"X-API-Key": live.key})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.get(f"{live.base}/maps/", params={"metric": "caidi"}, headers={"X-API-Key": live.key})
    assert r.status_code in (400, 422)
    from api.keys import create_key

    engine = create_engine(live.settings.sqlalchemy_url())
    with Session(engine) as s:
        _, regulator = create_key(session=s, role="regulator", name="regulator")
        s.commit()
    engine.dispose()
    r = httpx.get(f"{live.base}/maps/", headers={"X-API-Key": regulator})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = httpx.get(f"{live.base}/static/vendor/leaflet-1.9.4/leaflet.js")
    assert r.status_code == 200 and "1.9.4" in r.text


def test_static_export_opens_from_disk(fresh_settings: Settings, browser: Any, tmp_path: Path) -> None:
    from maps.export import export

    engine = create_engine(fresh_settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            seed(s)
            export(session=s, settings=fresh_settings, out=tmp_path / "share", areas="flagged")
    finally:
        engine.dispose()
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    watch = Watch()
    watch.attach(page)
    page.goto((tmp_path / "share" / "index.html").as_uri())
    page.wait_for_selector(".leaflet-gw-area-pane path")
    assert pane_paths(page, "area") == 48 and pane_paths(page, "alert") == 2
    page.goto((tmp_path / "share" / "areas" / "A000.html").as_uri())
    page.wait_for_selector(".gw-panel")
    assert page.locator("svg.gw-timeline g.gw-int").count() == 9
    assert watch.errors == [] and watch.failed == []
    assert [u for u in watch.requests if not u.startswith("file://")] == []
