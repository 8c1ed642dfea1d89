"""The public routes' speed features (issue 14): the rate setting, the cached feed with ETag and
gzip, and the one-statement lookup that answers in UTC whatever the session's time zone."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.routers.public import FEED_FRESH_SECONDS, accepts_gzip, etag_matches
from core.settings import Settings
from monitoring.live import refresh_live
from monitoring.live.public import lookup
from tests.builders import add_area, add_feeder, add_meters, add_outage


def _settings(fresh_settings: Settings, rate: int) -> Settings:
    return Settings(database_url=fresh_settings.database_url, data_dir=fresh_settings.data_dir,
                    public_rate_per_minute=rate)


def test_the_public_rate_is_a_setting_shared_by_both_routes(fresh_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.test_api_support import make_api

    monkeypatch.setenv("GRIDWATCH_PUBLIC_RATE_PER_MINUTE", "7")
    assert Settings().public_rate_per_minute == 7
    with pytest.raises(ValueError):
        Settings(public_rate_per_minute=0)
    for api in make_api(_settings(fresh_settings, 5)):
        codes = [api.client.get("/public/outages.json").status_code for _ in range(5)]
        assert codes == [200] * 5
        refused = api.client.get("/public/lookup", params={"meter": "nobody"})   # same address
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "too_many_requests"
    for api in make_api(_settings(fresh_settings, 1000)):
        codes = [api.client.get("/public/outages.json").status_code for _ in range(150)]
        assert codes.count(429) == 0                         # past the default 120


def test_the_feed_is_cached_with_an_etag_gzip_and_304(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.test_api_support import make_api

    now = datetime.now(UTC).replace(microsecond=0)
    for api in make_api(fresh_settings):
        with Session(bind=api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", customers=10)
            add_area(s, "A2", "F1", customers=20, lon=106.8)
            add_outage(s, "O1", "area", "A1", now - timedelta(hours=1), None, cause="fault")
            refresh_live(session=s, now=now)
            s.commit()
        plain = api.client.get("/public/outages.json", headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        etag = plain.headers["etag"]
        assert etag.startswith('W/"') and "max-age=60" in plain.headers["cache-control"]
        assert "accept-encoding" in plain.headers["vary"].lower()
        with api.client.stream("GET", "/public/outages.json",
                               headers={"Accept-Encoding": "br, gzip;q=0.8"}) as zipped:
            raw = b"".join(zipped.iter_raw())                  # the bytes as sent, not decoded
        assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"] == etag
        assert json.loads(gzip.decompress(raw)) == plain.json()
        assert len(raw) < len(plain.content)
        again = api.client.get("/public/outages.json", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and "max-age=60" in again.headers["cache-control"]
        other = api.client.get("/public/outages.json", headers={"If-None-Match": 'W/"other"'})
        assert other.status_code == 200 and len(other.json()["outages"]) == 1
        # A2 goes out: within the freshness window plus one rebuild the feed shows it, with a
        # new ETag, and the old ETag no longer gets 304.
        with Session(bind=api.engine) as s:
            add_outage(s, "O2", "area", "A2", now - timedelta(minutes=5), None, cause="weather")
            refresh_live(session=s, now=now)
            s.commit()
        deadline = time.monotonic() + FEED_FRESH_SECONDS + 5
        while True:
            r = api.client.get("/public/outages.json", headers={"If-None-Match": etag})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200 and r.headers["etag"] != etag
        assert sorted(o["cause"] for o in r.json()["outages"]) == ["fault", "weather"]


def test_accept_encoding_and_if_none_match_are_read_as_rfc_9110_says() -> None:
    assert accepts_gzip("gzip, deflate, br") and accepts_gzip("*") and accepts_gzip("GZIP;q=0.1")
    assert not accepts_gzip("") and not accepts_gzip("identity") and not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br, gzip;q=0.0") and not accepts_gzip("gzip;q=x")
    assert etag_matches('W/"abc"', 'W/"abc"') and etag_matches('"abc"', 'W/"abc"')
    assert etag_matches('"x", W/"abc"', 'W/"abc"') and etag_matches("*", 'W/"abc"')
    assert not etag_matches(None, 'W/"abc"') and not etag_matches('W/"abd"', 'W/"abc"')


def test_the_lookup_answers_in_utc_and_as_the_session_function_does(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.test_api_support import make_api

    url = fresh_settings.sqlalchemy_url()
    admin = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:   # every new connection now reads times at +08:00
        conn.execute(text(f'ALTER DATABASE "{make_url(url).database}" SET timezone = \'Asia/Shanghai\''))
    admin.dispose()
    now = datetime.now(UTC).replace(microsecond=0)
    h = timedelta(hours=1)
    for api in make_api(fresh_settings):
        with Session(bind=api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", customers=10)
            mine = add_meters(s, "A1", 1)[0]
            add_outage(s, "P1", "area", "A1", now - 50 * h, now - 49 * h, cause="external")
            add_outage(s, "NOW", "feeder", "F1", now - 2 * h, None, cause="weather")
            s.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'repairing' "
                           "WHERE outage_id = 'NOW'"), {"e": now + 3 * h})
            s.execute(text(
                "INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, "
                "planned_end, method) VALUES ('W1', 'area', 'A1', :a, :b, 'generator')"),
                {"a": now + 30 * h, "b": now + 32 * h})
            refresh_live(session=s, now=now)
            s.commit()
            assert s.execute(text("SHOW timezone")).scalar() == "Asia/Shanghai"
        body = api.client.get("/public/lookup", params={"meter": f"  {mine} "}).json()
        assert body["out_now"] is True
        assert body["outage"]["since"] == (now - 2 * h).isoformat()          # +00:00, not +08:00
        assert body["outage"]["estimated_restoration"] == (now + 3 * h).isoformat()
        assert body["outage"]["progress"] == "repairing"
        assert [(i["start_time"], i["cause"]) for i in body["recent_interruptions"]] == [
            ((now - 2 * h).isoformat(), "weather"), ((now - 50 * h).isoformat(), "external")]
        assert body["recent_interruptions"][0]["end_time"] is None
        assert body["planned_works"] == [{"planned_start": (now + 30 * h).isoformat(),
                                          "planned_end": (now + 32 * h).isoformat(), "method": "generator"}]
        with Session(bind=api.engine) as s:
            assert lookup(session=s, meter_id=mine, now=now) == body
            assert lookup(session=s, meter_id="nobody", now=now) is None
