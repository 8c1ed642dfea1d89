"""HTTP attacks (issue 12 items 1, 8, 10, 11): big bodies, sign-in lockout, proxies, notes, headers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import LoginLimiter
from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.cases import service as cases
from tests.builders import add_area, add_feeder
from tests.test_api_support import Api, make_api
from tests.test_maps_browser import CHROMIUM, CHROMIUM_ARGS, start_server

MB = 1024 * 1024
STREAM = 200 * MB
READ_BOUND = 10 * MB
SECRET_NOTE = "INTERNAL-ONLY: feeder owner Wang Wu owes arrears"
VERIFY_NOTE = "site visit by Zhao Liu on 2026-05-03"


@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


@pytest.fixture
def live(http: Api) -> Iterator[str]:
    """The same app and database served by a real uvicorn on a free port (for streamed bodies)."""
    base, server, thread = start_server(http.settings)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _error(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    return dict(body)


class Counted:
    """A 200 MB body that counts the bytes handed to the client library (64 KB at a time)."""

    def __init__(self, total: int = STREAM, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    def __iter__(self) -> Iterator[bytes]:
        block = b"x" * self.chunk
        while self.sent < self.total:
            self.sent += self.chunk
            yield block


# -- item 1: memory exhaustion before authentication -----------------------------------------

@pytest.mark.parametrize(
    ("method", "path", "role", "declared", "statuses"),
    [
        ("PATCH", "/api/v1/remediation/cases/1", None, False, (401,)),
        ("PATCH", "/api/v1/remediation/cases/1", None, True, (401, 413)),
        ("POST", "/login", None, False, (413,)),
        ("POST", "/login", None, True, (413,)),
        ("PATCH", "/api/v1/remediation/cases/1", "planner", False, (413,)),
        ("PATCH", "/api/v1/remediation/cases/1", "planner", True, (413,)),
        ("POST", "/api/v1/ingest/meter-events", None, False, (401,)),
        ("POST", "/api/v1/remediation/cases/1/sign-off", "regulator", False, (403, 413)),
    ],
)
def test_a_streamed_200_mb_body_is_refused_before_10_mb_is_read(
    http: Api, live: str, method: str, path: str, role: str | None, declared: bool,
    statuses: tuple[int, ...],
) -> None:
    body = Counted()
    headers = {"content-type": "application/json"}
    if role:
        headers["X-API-Key"] = http.keys[role]
    if declared:
        headers["Content-Length"] = str(STREAM)  # else httpx sends it chunked
    r = httpx.request(method, live + path, content=body, headers=headers, timeout=60)
    assert r.status_code in statuses, (r.status_code, r.text[:200])
    assert _error(r)["error"] in ("unauthorized", "payload_too_large", "forbidden")
    assert body.sent < READ_BOUND, f"{body.sent / MB:.1f} MB sent before the answer"
    assert r.headers.get("connection") == "close"  # and the rest of the body is not read
    assert httpx.get(live + "/healthz").status_code == 200  # the server is still fine


def test_the_key_is_checked_before_any_body_byte_is_read(http: Api, live: str) -> None:
    body = Counted()
    r = httpx.patch(f"{live}/api/v1/remediation/cases/1", content=body,
                    headers={"X-API-Key": "gw_not-a-key", "content-type": "application/json"}, timeout=60)
    assert r.status_code == 401 and "unknown" in _error(r)["detail"]
    assert body.sent < READ_BOUND


def test_body_limits_per_route_and_the_setting(fresh_settings: Settings) -> None:
    small = fresh_settings.model_copy(update={"max_request_bytes": 4096, "max_body_bytes": 64 * 1024})
    for api in make_api(small):
        planner = api.headers("planner")
        big = b'{"measures": "' + b"m" * 5000 + b'"}'
        r = api.client.patch("/api/v1/remediation/cases/1", content=big,
                             headers={**planner, "content-type": "application/json"})
        assert r.status_code == 413 and _error(r)["error"] == "payload_too_large"
        ok = api.client.patch("/api/v1/remediation/cases/1", json={"measures": "m"}, headers=planner)
        assert ok.status_code == 404  # under the limit: the route ran (no such case)
        # ingest keeps its own, larger limit
        rows = b"meter_id,time,kind\n" + b"m1,2026-05-01T08:00:00+08:00,off\n" * 300  # ~10 KB
        r = api.request("POST", "/api/v1/ingest/meter-events", "ingest", content=rows,
                        headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        r = api.request("POST", "/api/v1/ingest/meter-events", "ingest", content=rows * 8,
                        headers={"content-type": "text/csv"})
        assert r.status_code == 413
        r = api.client.post("/login", content=b"key=" + b"k" * 20_000,
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413


# -- item 8: sign-in lockout --------------------------------------------------------------------

def _login(client: TestClient, key: str, **headers: str) -> Any:
    return client.post("/login", data={"key": key}, headers=headers)


def test_failures_from_one_address_never_lock_out_a_valid_key(http: Api) -> None:
    codes = [_login(http.client, "gw_wrong-key-guess").status_code for _ in range(20)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    r = _login(http.client, http.keys["planner"])
    assert r.status_code == 303, r.text
    # the bad key stays limited
    assert _login(http.client, "gw_wrong-key-guess").status_code == 429


def _app_client(settings: Settings, peer: str, base_url: str = "http://testserver") -> TestClient:
    return TestClient(create_app(settings), client=(peer, 40000), base_url=base_url,
                      raise_server_exceptions=False, follow_redirects=False)


def test_forwarded_headers_from_an_untrusted_peer_cannot_dodge_the_limit(http: Api) -> None:
    settings = http.settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    with _app_client(settings, "127.0.0.1") as client:
        for n in range(10):
            r = _login(client, "gw_wrong", **{"X-Forwarded-For": f"198.51.100.{n}"})
            assert r.status_code == 401
        r = _login(client, "gw_wrong", **{"X-Forwarded-For": "198.51.100.77"})
        assert r.status_code == 429  # the spoofed address was ignored
        r = _login(client, http.keys["planner"], **{"X-Forwarded-Proto": "https"})
        assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()


def test_behind_a_trusted_proxy_the_client_address_and_scheme_are_the_forwarded_ones(http: Api) -> None:
    settings = http.settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    with _app_client(settings, "127.0.0.1") as client:
        for _ in range(10):
            # a client-written entry on the left, then the proxies' own; only 203.0.113.5 counts
            for spoof in ("1.1.1.1", "2.2.2.2"):
                _login(client, "gw_wrong", **{"X-Forwarded-For": f"{spoof}, 203.0.113.5, 10.0.0.2"})
        r = _login(client, "gw_wrong", **{"X-Forwarded-For": "9.9.9.9, 203.0.113.5"})
        assert r.status_code == 429
        r = _login(client, "gw_wrong", **{"X-Forwarded-For": "203.0.113.6"})
        assert r.status_code == 401  # another user behind the same proxy is not limited
        r = _login(client, http.keys["planner"],
                   **{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "secure" in cookie.lower() and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        r = _login(client, http.keys["planner"], **{"X-Forwarded-Proto": "http"})
        assert "secure" not in r.headers["set-cookie"].lower()


def test_direct_https_gets_a_secure_cookie(http: Api) -> None:
    with _app_client(http.settings, "127.0.0.1", base_url="https://testserver") as client:
        r = _login(client, http.keys["planner"])
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_untrusted_proxies_setting_is_rejected() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(trusted_proxies="127.0.0.1, proxy.example")


def test_the_limiter_memory_is_bounded_under_many_addresses_and_prefixes(http: Api) -> None:
    limiter = LoginLimiter(limit=10, window=60, max_entries=500)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for n in range(5000):
                address = f"10.{worker}.{n // 250}.{n % 250}"
                limiter.check(address, f"gw_{n:05d}")
                limiter.failed(address, f"gw_{n:05d}")
                assert len(limiter) <= 500
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(limiter) <= 500
    # and through the app: a flood of distinct bad keys keeps the app's limiter bounded too
    http.client.app.state.login_limiter = small = LoginLimiter(max_entries=50)  # type: ignore[attr-defined]
    for n in range(200):
        assert _login(http.client, f"gw_{n:05d}-guess").status_code == 401
    assert len(small) <= 50
    assert _login(http.client, http.keys["planner"]).status_code == 303


# -- item 10: regulators read internal notes ----------------------------------------------------

def _case_with_notes(api: Api) -> int:
    def make(s: Session) -> int:
        at = datetime(2026, 4, 2, tzinfo=LOCAL_TZ)
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.execute(text("INSERT INTO asset_status (asset_type, asset_id, as_of, count_365, max_60, status) "
                       "VALUES ('area', 'A1', :t, 6, 3, 'frequent')"), {"t": at})
        (case,) = cases.open_cases(session=s, settings=api.settings, at=at)
        cases.update_case(session=s, case_id=case["case_id"], actor="Li Si", at=at, changes={
            "status": "in_progress", "measures": "new tie line", "internal_note": SECRET_NOTE,
            "verification_note": VERIFY_NOTE})
        return int(case["case_id"])

    return int(api.sql(make))


def test_regulators_get_the_public_view_of_cases(http: Api) -> None:
    case_id = _case_with_notes(http)
    for path in ("/api/v1/remediation/cases", f"/api/v1/remediation/cases/{case_id}",
                 "/api/v1/reports/remediation?quarter=2026Q2",
                 "/api/v1/reports/remediation?quarter=2026Q2&public=false",
                 "/api/v1/reports/remediation?quarter=2026Q2&format=csv"):
        r = http.get(path, "regulator")
        assert r.status_code == 200, (path, r.text)
        for secret in (SECRET_NOTE, VERIFY_NOTE, "Li Si"):
            assert secret not in r.text, (path, secret)
        if "cases" in path:
            assert "new tie line" in r.text  # the public fields are there
    one = http.get(f"/api/v1/remediation/cases/{case_id}", "regulator").json()
    assert "internal_note" not in one and {h["field"] for h in one["history"]} >= {"status", "measures"}
    for role in ("planner", "admin"):
        listed = http.get("/api/v1/remediation/cases", role)
        assert SECRET_NOTE in listed.text and VERIFY_NOTE in listed.text
        one = http.get(f"/api/v1/remediation/cases/{case_id}", role).json()
        assert one["internal_note"] == SECRET_NOTE
        report = http.get("/api/v1/reports/remediation?quarter=2026Q2", role)
        assert SECRET_NOTE in report.text


# -- item 11: healthz, pagination, headers -----------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthz_does_not_reveal_the_database_address() -> None:
    port = _closed_port()
    app = create_app(Settings(database_url=f"postgresql://gw_secret_user@127.0.0.1:{port}/gw_secret_db"))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/healthz")
    assert r.status_code == 503 and _error(r) == {"error": "database_unavailable",
                                                   "detail": "database unavailable"}
    for leak in ("127.0.0.1", str(port), "gw_secret_user", "gw_secret_db", "connection"):
        assert leak not in r.text


def test_alerts_and_cases_are_paginated(http: Api) -> None:
    def seed(s: Session) -> None:
        s.execute(text(
            "INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, summary, "
            "starts_at, last_seen_at) SELECT 'fp' || n, 'frequent_outage', 'critical', 'area', 'A' || n, "
            "CASE WHEN n % 3 = 0 THEN 'resolved' ELSE 'firing' END, '', now(), now() "
            "FROM generate_series(1, 130) n"))
        s.execute(text(
            "INSERT INTO remediation_case (asset_type, asset_id, status, opened_at, updated_at) "
            "SELECT 'area', 'A' || n, 'open', now() - make_interval(mins => n), now() "
            "FROM generate_series(1, 7) n"))

    http.sql(seed)
    r = http.get("/api/v1/alerts", "planner")
    assert r.status_code == 200 and len(r.json()) == 100 and r.headers["x-total-count"] == "130"
    first = r.json()
    r = http.get("/api/v1/alerts?limit=30&offset=90", "planner")
    assert [a["id"] for a in r.json()][:10] == [a["id"] for a in first[90:100]] and len(r.json()) == 30
    r = http.get("/api/v1/alerts?state=resolved&limit=5", "planner")
    assert len(r.json()) == 5 and r.headers["x-total-count"] == "43"
    assert {a["state"] for a in r.json()} == {"resolved"}
    r = http.get("/api/v1/alerts?offset=1000", "planner")
    assert r.json() == [] and r.headers["x-total-count"] == "130"
    r = http.get("/api/v1/remediation/cases?limit=3&offset=2", "regulator")
    assert len(r.json()) == 3 and r.headers["x-total-count"] == "7"
    assert [c["asset_id"] for c in r.json()] == ["A3", "A4", "A5"]  # newest first
    for bad in ("limit=0", "limit=1001", "limit=abc", "offset=-1", "offset=1e3", "limit=" + "9" * 20):
        for path in ("/api/v1/alerts", "/api/v1/remediation/cases"):
            r = http.get(f"{path}?{bad}", "admin")
            assert r.status_code in (400, 422), (path, bad, r.status_code)
            assert _error(r)["error"] in ("bad_request", "invalid_request")


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def test_every_response_has_the_security_headers(http: Api) -> None:
    planner = http.headers("planner")
    for method, path, headers in (("GET", "/login", {}), ("GET", "/healthz", {}),
                                  ("GET", "/maps/", planner), ("GET", "/docs", planner),
                                  ("GET", "/api/v1/alerts", planner), ("GET", "/nowhere", planner),
                                  ("GET", "/static/vendor/leaflet-1.9.4/leaflet.js", {}),
                                  ("GET", "/maps/", {"accept": "text/html"}),
                                  ("PATCH", "/api/v1/remediation/cases/1", {"content-length": "9999999"})):
        r = http.client.request(method, path, headers=headers)
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (path, name, r.status_code)
        csp = r.headers["content-security-policy"]
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
                          "base-uri 'self'", "form-action 'self'", "connect-src 'self'"):
            assert directive in csp, (path, directive)
        assert "https:" not in csp and "*" not in csp.replace("*.tianditu", "")  # no external host


def test_the_csp_allows_the_configured_basemap_only(fresh_settings: Settings) -> None:
    from api.security import content_security_policy

    assert "openstreetmap" not in content_security_policy(fresh_settings)
    osm = content_security_policy(fresh_settings.model_copy(update={"basemap": "osm"}))
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org" in osm
    tdt = content_security_policy(fresh_settings.model_copy(update={"basemap": "tianditu",
                                                                     "tianditu_key": "k"}))
    assert "https://*.tianditu.gov.cn" in tdt and "openstreetmap" not in tdt


# -- the CSP in a real browser: the maps and /docs render with no violation ----------------------

CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_pages_render_under_the_csp_in_chromium(http: Api, live: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_maps_seed import seed

    http.sql(lambda s: seed(s))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.add_init_script(CSP_PROBE)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            violations: list[str] = []
            page.goto(f"{live}/login?next=/maps/")
            violations += page.evaluate("window.__csp")
            page.fill("#key", http.keys["planner"])
            page.click("button[type=submit]")
            page.wait_for_selector(".leaflet-gw-area-pane path")
            page.wait_for_load_state("networkidle")
            violations += page.evaluate("window.__csp")
            page.goto(f"{live}/maps/areas/A000")
            page.wait_for_selector(".gw-panel")
            page.wait_for_load_state("networkidle")
            violations += page.evaluate("window.__csp")
            page.goto(f"{live}/docs")
            page.wait_for_selector(".swagger-ui .info .title")
            page.wait_for_selector(".opblock-tag")  # the operations were fetched and drawn
            assert "gridwatch" in page.inner_text(".swagger-ui .info .title")
            violations += page.evaluate("window.__csp")
        finally:
            browser.close()
    assert violations == [], violations
    assert [c for c in console if "Content Security Policy" in c] == [], console
