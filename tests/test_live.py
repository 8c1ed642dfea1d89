"""Live outages (SPEC section 13): the areas out now, as the live_outage table keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from monitoring.live import refresh_live
from tests.builders import add_area, add_feeder, add_meters, add_outage

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _inferred(session: Session, area: str, start: datetime, end: datetime | None) -> None:
    session.execute(text(
        "INSERT INTO inferred_interruption (area_id, start_time, end_time, meters_off, meters_total) "
        "VALUES (:a, :s, :e, 3, 4)"), {"a": area, "s": start, "e": end})


def _live(session: Session) -> dict[str, tuple[object, ...]]:
    rows = session.execute(text(
        "SELECT area_id, since, cause, customers, source FROM live_outage ORDER BY 1")).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_who_is_out_now_from_records_feeders_and_meters(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_feeder(s, "F2", lon=107.0)
    for area, feeder, customers in (("A1", "F1", 10), ("A2", "F1", 20), ("A3", "F2", 30),
                                    ("A4", "F2", 40), ("A5", "F2", 50)):
        add_area(s, area, feeder, customers=customers)
    h = timedelta(hours=1)
    add_outage(s, "O-F1", "feeder", "F1", NOW - 3 * h, None, cause="weather")
    add_outage(s, "O-A1", "area", "A1", NOW - 5 * h, None, cause="fault")
    _inferred(s, "A3", NOW - 2 * h, None)                 # meters only: out, cause unknown
    _inferred(s, "A4", NOW - 2 * h, None)                 # ... but a record explains it
    add_outage(s, "O-A4", "area", "A4", NOW - 4 * h, NOW - h, cause="planned")
    _inferred(s, "A5", NOW - 9 * h, NOW - 8 * h)          # over: not out
    add_outage(s, "O-A5", "area", "A5", NOW + h, None)    # not begun at NOW
    result = refresh_live(session=s, now=NOW)
    assert _live(s) == {
        "A1": (NOW - 5 * h, "fault", 10, "record"),       # the earliest record's cause
        "A2": (NOW - 3 * h, "weather", 20, "record"),     # its feeder is out
        "A3": (NOW - 2 * h, "unknown", 30, "meters"),
    }
    assert sorted(result["started"]) == ["A1", "A2", "A3"]
    assert (result["areas"], result["customers"]) == (3, 60)
    # The feeder comes back; A1's own outage goes on; A3's meters come back.
    s.execute(text("UPDATE outage_record SET end_time = :e WHERE outage_id = 'O-F1'"),
              {"e": NOW + h / 2})
    s.execute(text("UPDATE inferred_interruption SET end_time = :e WHERE area_id = 'A3'"),
              {"e": NOW + h / 2})
    again = refresh_live(session=s, now=NOW + h)
    assert _live(s) == {"A1": (NOW - 5 * h, "fault", 10, "record"),
                        "A5": (NOW + h, "fault", 50, "record")}   # it has begun by now
    assert sorted(again["ended"]) == ["A2", "A3"] and again["started"] == ["A5"]
    assert refresh_live(session=s, now=NOW + h)["updated"] == []  # nothing rewritten


def test_estimated_restoration_and_progress_come_with_the_records(  # type: ignore[no-untyped-def]
    cli, fresh_db: str, tmp_path: Path
) -> None:
    """Through the real ingest: a re-sent record is a duplicate; new progress updates it."""
    import json

    from sqlalchemy import create_engine, pool

    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=10)
        s.commit()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    record = {"outage_id": "O1", "asset_type": "area", "asset_id": "A1",
              "start_time": start.isoformat(), "cause": "fault",
              "estimated_end": (start + timedelta(hours=4)).isoformat(), "progress": "dispatched"}

    def send(*rows: dict[str, str]) -> dict[str, object]:
        path = tmp_path / "outages.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        try:
            out = cli("ingest", "outages", str(path), "--format", "json")
        finally:
            path.unlink()
        result: dict[str, object] = json.loads(out.output)
        return result

    assert send(record)["accepted"] == 1
    assert send(record)["duplicates"] == 1
    assert send({**record, "progress": "on_site"})["updated"] == 1
    bad = send({**record, "progress": "almost"})
    assert bad["rejected"] == 1 and bad["rejects"][0]["field"] == "progress"  # type: ignore[index]
    with Session(bind=eng) as s:
        refresh_live(session=s, now=datetime.now(UTC))
        row = s.execute(text("SELECT since, estimated_end, progress FROM live_outage")).one()
        s.commit()
    eng.dispose()
    assert tuple(row) == (start, start + timedelta(hours=4), "on_site")


def test_report_live_outages_at_past_moments(cli, fresh_db: str) -> None:  # type: ignore[no-untyped-def]
    """A hand-worked case: who was out at 10:00, 12:00 and 15:00 (Beijing) on one day."""
    import json

    from sqlalchemy import create_engine, pool

    day = datetime(2026, 10, 10, tzinfo=UTC) - timedelta(hours=8)   # 00:00 Beijing
    h = timedelta(hours=1)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        for area, customers in (("A1", 10), ("A2", 20), ("A3", 30)):
            add_area(s, area, "F1", customers=customers)
        add_outage(s, "O-A1", "area", "A1", day + 9 * h, day + 11 * h, cause="fault")
        add_outage(s, "O-F1", "feeder", "F1", day + 11 * h + h / 2, day + 13 * h, cause="weather")
        add_outage(s, "O-A1b", "area", "A1", day + 12 * h, day + 16 * h, cause="planned")
        _inferred(s, "A3", day + 14 * h, None)        # meters only, still out
        s.commit()
    eng.dispose()

    def out_at(hour: int) -> list[tuple[str, str, str, int, str]]:
        done = cli("report", "live-outages", "--as-of", (day + hour * h).isoformat(),
                   "--format", "json")
        assert done.exit_code == 0, done.output
        return [(r["area_id"], r["since"], r["cause"], r["customers"], r["source"])
                for r in json.loads(done.output)]

    assert out_at(10) == [("A1", (day + 9 * h).isoformat(), "fault", 10, "record")]
    assert out_at(12) == [                             # the feeder outage covers all three
        ("A1", (day + 11.5 * h).isoformat(), "weather", 10, "record"),
        ("A2", (day + 11.5 * h).isoformat(), "weather", 20, "record"),
        ("A3", (day + 11.5 * h).isoformat(), "weather", 30, "record"),
    ]
    assert out_at(15) == [
        ("A1", (day + 12 * h).isoformat(), "planned", 10, "record"),
        ("A3", (day + 14 * h).isoformat(), "unknown", 30, "meters"),
    ]
    assert out_at(17) == [("A3", (day + 14 * h).isoformat(), "unknown", 30, "meters")]


def test_live_and_summary_over_the_api(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        with Session(bind=api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", customers=10)
            add_area(s, "A2", "F1", customers=20)
            s.execute(text("INSERT INTO admin_division (adcode, name, level, geom) SELECT '520102', "
                           "'南明区', 'county', ST_Multi(ST_Buffer(ST_MakePoint(106.7, 26.5), 1))"
                           "::geometry(MultiPolygon, 4326)"))
            s.execute(text("INSERT INTO asset_region (asset_type, asset_id, county_adcode) "
                           "VALUES ('area', 'A1', '520102'), ('area', 'A2', '520102')"))
            add_outage(s, "O1", "area", "A1", NOW - timedelta(hours=1), None, cause="fault")
            refresh_live(session=s, now=NOW)
            s.commit()
        assert api.request("GET", "/api/v1/outages/live", None).status_code == 401
        assert api.request("GET", "/api/v1/outages/live", "ingest").status_code == 403
        rows = api.request("GET", "/api/v1/outages/live", "planner").json()
        assert [(r["area_id"], r["cause"], r["customers"], r["county"]) for r in rows] == [
            ("A1", "fault", 10, "南明区")]
        geo = api.request("GET", "/api/v1/outages/live", "planner", params={"format": "geojson"})
        assert geo.headers["content-type"].startswith("application/geo+json")
        feature = geo.json()["features"][0]
        assert feature["id"] == "A1" and feature["geometry"]["type"] == "MultiPolygon"
        total = api.request("GET", "/api/v1/outages/summary", "planner").json()
        assert total == {"outages": 1, "customers": 10, "by_county": [
            {"county_adcode": "520102", "county": "南明区", "outages": 1, "customers": 10}]}


def test_the_public_feed_leaks_nothing_and_is_rate_limited(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    import json

    from api.security import ClientRateLimit
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        with Session(bind=api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", customers=10)
            meters = add_meters(s, "A1", 3, prefix="MTR-SECRET")
            add_outage(s, "REC-INTERNAL-7", "area", "A1", NOW - timedelta(hours=1), None,
                       cause="fault", work_id="WORK-INTERNAL-9")
            s.execute(text("UPDATE outage_record SET estimated_end = :e"), {"e": NOW + timedelta(hours=2)})
            refresh_live(session=s, now=NOW)
            s.commit()
        r = api.client.get("/public/outages.json")            # no key
        assert r.status_code == 200
        assert "max-age=60" in r.headers["cache-control"]
        body = r.json()
        assert [set(o) for o in body["outages"]] == [{
            "mRID", "cause", "customersAffected", "reportedStartTime", "estimatedRestorationTime",
            "statusKind", "centroid", "county"}]
        outage = body["outages"][0]
        assert (outage["customersAffected"], outage["cause"], outage["statusKind"]) == (10, "fault", "active")
        assert outage["estimatedRestorationTime"] == (NOW + timedelta(hours=2)).isoformat()
        text_ = json.dumps(body)
        for secret in (*meters, "MTR-SECRET", "REC-INTERNAL-7", "WORK-INTERNAL-9", "meter"):
            assert secret not in text_
        # The limit: the 121st request in a minute from one address is refused, with Retry-After.
        codes = [api.client.get("/public/outages.json").status_code for _ in range(125)]
        assert codes.count(429) >= 4 and codes[:119].count(429) == 0
        refused = api.client.get("/public/outages.json")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    limiter = ClientRateLimit(limit=2, window=60, max_clients=100)
    for i in range(10_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100                                 # bounded memory
    assert limiter.hit("192.0.2.1") is None and limiter.hit("192.0.2.1") is None
    assert limiter.hit("192.0.2.1") is not None


def test_customer_lookup_shows_only_the_customers_own_area(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.test_api_support import make_api

    now = datetime.now(UTC).replace(microsecond=0)
    h = timedelta(hours=1)
    for api in make_api(fresh_settings):
        with Session(bind=api.engine) as s:
            add_feeder(s, "F1")
            add_area(s, "A1", "F1", customers=10)
            add_area(s, "A2", "F1", customers=20, lon=106.8)
            mine = add_meters(s, "A1", 2)
            other = add_meters(s, "A2", 2)
            for k in range(7):                                  # seven past interruptions
                add_outage(s, f"P{k}", "area", "A1", now - (100 - k) * h, now - (99 - k) * h)
            add_outage(s, "NOW-A1", "area", "A1", now - 2 * h, None, cause="weather")
            s.execute(text("UPDATE outage_record SET estimated_end = :e, progress = 'on_site' "
                           "WHERE outage_id = 'NOW-A1'"), {"e": now + 3 * h})
            add_outage(s, "NOW-A2", "area", "A2", now - h, None, cause="external")
            s.execute(text(
                "INSERT INTO maintenance_work (work_id, asset_type, asset_id, planned_start, "
                "planned_end, method) VALUES ('W-soon', 'feeder', 'F1', :a, :b, 'outage'), "
                "('W-later', 'area', 'A1', :c, :d, 'outage'), ('W-A2', 'area', 'A2', :a, :b, 'outage')"),
                {"a": now + 24 * h, "b": now + 26 * h, "c": now + 10 * 24 * h, "d": now + 10 * 24 * h + h})
            refresh_live(session=s, now=now)
            s.commit()
        r = api.client.get("/public/lookup", params={"meter": mine[0]})   # no key
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["out_now"] is True
        assert body["outage"]["cause"] == "weather" and body["outage"]["progress"] == "on_site"
        assert body["outage"]["estimated_restoration"] == (now + 3 * h).isoformat()
        assert len(body["recent_interruptions"]) == 5
        assert body["recent_interruptions"][0]["start_time"] == (now - 2 * h).isoformat()
        assert [w["planned_start"] for w in body["planned_works"]] == [(now + 24 * h).isoformat()]
        for leak in (*other, mine[1], "NOW-A1", "NOW-A2", "W-soon", "A2", "external"):
            assert leak not in r.text
        unknown = api.client.get("/public/lookup", params={"meter": "nobody-123"})
        assert unknown.status_code == 404
        assert "电表号" in unknown.json()["detail"]
        assert api.client.get("/public/lookup").status_code == 422   # the meter is required


def test_every_ingest_keeps_the_live_state_through_late_data_resends_and_restoration(  # type: ignore[no-untyped-def]
        cli, fresh_db: str, base: Path) -> None:
    """File ingests (not only the stream) bring live_outage up to date: meters first, then a
    late record that explains them, the same record sent again, and its restoration."""
    from sqlalchemy import create_engine, pool

    from core.clock import utcnow

    now = utcnow().replace(microsecond=0)
    h = timedelta(hours=1)
    eng = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(bind=eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1", customers=40)
        add_area(s, "A2", "F1", customers=60)
        meters = add_meters(s, "A1", 2)
        s.commit()

    def ingest(kind: str, name: str, body: str) -> None:
        f = base / name
        f.write_text(body)
        done = cli("ingest", kind, str(f), "--format", "json")
        assert done.exit_code == 0, done.output

    def live() -> dict[str, tuple[object, ...]]:
        with Session(bind=eng) as s:
            return _live(s)

    ingest("meter-events", "ev.csv", "meter_id,time,kind\n" + "".join(
        f"{m},{(now - 2 * h).isoformat()},off\n" for m in meters))
    assert live() == {"A1": (now - 2 * h, "unknown", 40, "meters")}
    # The dispatcher's record arrives late, starting earlier, on the whole feeder.
    record = ("outage_id,asset_type,asset_id,start_time,end_time,cause,estimated_end\n"
              f"R1,feeder,F1,{(now - 3 * h).isoformat()},,weather,{(now + h).isoformat()}\n")
    ingest("outages", "r1.csv", record)
    expected = {"A1": (now - 3 * h, "weather", 40, "record"),
                "A2": (now - 3 * h, "weather", 60, "record")}
    assert live() == expected
    ingest("outages", "r1-again.csv", record)          # the same record again: no change
    assert live() == expected
    # Restored. A1's meters have not said "on" yet, but their interval overlaps the record,
    # which explains it (SPEC section 13: only an unexplained inferred interval counts).
    ingest("outages", "r1-end.csv", record.replace(",,weather", f",{(now - h).isoformat()},weather"))
    assert live() == {}
    eng.dispose()
