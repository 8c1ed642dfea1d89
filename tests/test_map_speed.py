"""The planners' map figures kept per change stamp (migration 0099): equal to the direct
computation, never stale after an ingest, not recomputed while the data is unchanged."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.clock import parse_period
from core.settings import Settings
from monitoring import mapdata
from monitoring.reliability import cache
from monitoring.reliability.indices import reliability_rows
from tests.builders import add_area, add_outage
from tests.test_reliability import scenario, t

SETTINGS = Settings()
YEAR = parse_period("2026")


def _key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["region_id"], r["variant"]): r for r in rows}


def assert_same(cached_rows: list[dict], direct_rows: list[dict]) -> None:
    a, b = _key(cached_rows), _key(direct_rows)
    assert a.keys() == b.keys() and a
    for k, row in b.items():
        for col, want in row.items():
            got = a[k][col]
            if isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (k, col)
            else:
                assert got == want, (k, col)


def _cache_row(engine, key: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text("SELECT stamp, computed_at FROM map_cache WHERE key = :k"),
                            {"k": key}).first()


@pytest.fixture
def populated(fresh_db: str):  # type: ignore[no-untyped-def]
    """The hand-worked reliability scenario (with an interruption still open), committed."""
    engine = create_engine(fresh_db)
    with Session(engine) as s:
        scenario(s)
        s.commit()
    yield engine
    engine.dispose()


def test_cached_county_figures_equal_the_direct_computation_as_time_passes(populated) -> None:  # type: ignore[no-untyped-def]
    key = "reliability:county:customer:2026"
    t0, t1 = t(2026, 6, 15), t(2026, 9, 1, 7, 30)
    with Session(populated) as s:
        first = cache.county_rows(session=s, settings=SETTINGS, period=YEAR, now=t0)
        assert_same(first, reliability_rows(session=s, settings=SETTINGS, period=YEAR, by="county", now=t0))
    stored = _cache_row(populated, key)
    assert stored is not None
    # Later: A3's open fault has gone on for 2.5 months more. The cached sums are grown, not
    # recomputed, and still equal the direct computation at t1.
    with Session(populated) as s:
        later = cache.county_rows(session=s, settings=SETTINGS, period=YEAR, now=t1)
        direct = reliability_rows(session=s, settings=SETTINGS, period=YEAR, by="county", now=t1)
    assert_same(later, direct)
    assert _cache_row(populated, key) == stored
    saidi = {r["region_id"]: r["saidi"] for r in later if r["variant"] == "all"}
    assert saidi["520111"] > {r["region_id"]: r["saidi"] for r in first if r["variant"] == "all"}["520111"]


def test_a_later_interval_bounds_the_extrapolation(populated) -> None:  # type: ignore[no-untyped-def]
    """A closed interval ahead of the computation's time (here recorded in advance) changes how
    SAIDI grows when it starts: the cache is recomputed past it, and stays equal."""
    with Session(populated) as s:
        add_outage(s, "ahead", "area", "A3", t(2026, 8, 1), t(2026, 8, 20), "planned")
        add_outage(s, "ahead2", "area", "A4", t(2026, 8, 1), t(2026, 8, 3), "fault")
        s.commit()
    for when in (t(2026, 7, 1), t(2026, 7, 30), t(2026, 8, 2), t(2026, 8, 25), t(2027, 3, 1)):
        with Session(populated) as s:
            got = cache.county_rows(session=s, settings=SETTINGS, period=YEAR, now=when)
            assert_same(got, reliability_rows(session=s, settings=SETTINGS, period=YEAR, by="county",
                                              now=when))


def test_stamps_cover_what_the_figures_are_made_of(populated) -> None:  # type: ignore[no-untyped-def]
    def stamp() -> str:
        with Session(populated) as s:
            return cache.stamp(s, cache.RELIABILITY_NAMES)

    def change(sql: str) -> tuple[str, str]:
        before = stamp()
        with populated.begin() as conn:
            conn.execute(text(sql))
        return before, stamp()

    for sql in (
        "UPDATE outage_record SET end_time = end_time + interval '1 minute' WHERE outage_id = 'june'",
        "INSERT INTO inferred_interruption VALUES ('A4', '2026-07-01', '2026-07-02', 3, 4)",
        "UPDATE inferred_interruption SET end_time = '2026-07-03'",
        "DELETE FROM inferred_interruption",
        "UPDATE asset_region SET county_adcode = '520112' WHERE asset_id = 'A1'",
        "UPDATE admin_division SET name = '花溪' WHERE adcode = '520111'",
        "UPDATE area SET customers = 101 WHERE area_id = 'A1'",
    ):
        before, after = change(sql)
        assert before != after, sql
    # Statements that change nothing the figures use leave the stamp alone.
    with populated.begin() as conn:
        conn.execute(text("INSERT INTO inferred_interruption VALUES ('A4', '2026-07-05', NULL, 3, 4)"))
    for sql in ("UPDATE inferred_interruption SET meters_off = 2",
                "UPDATE asset_region SET computed_at = now()",
                "DELETE FROM inferred_interruption WHERE area_id = 'nowhere'"):
        before, after = change(sql)
        assert before == after, sql


def test_own_uncommitted_changes_bypass_the_cache(db_session: Session) -> None:
    scenario(db_session)
    db_session.flush()
    rows = cache.county_rows(session=db_session, settings=SETTINGS, period=YEAR, now=t(2026, 7, 1))
    assert rows and db_session.execute(text("SELECT count(*) FROM map_cache")).scalar() == 0


def test_status_counts_follow_status_changes(populated) -> None:  # type: ignore[no-untyped-def]
    with populated.begin() as conn:
        conn.execute(text(
            "INSERT INTO asset_status (asset_type, asset_id, as_of, count_365, max_60, status) "
            "VALUES ('area', 'A1', now(), 7, 3, 'frequent'), ('area', 'A2', now(), 5, 2, 'at_risk')"))
    with Session(populated) as s:
        assert mapdata.status_counts(session=s) == mapdata._status_counts(session=s)
        assert mapdata.status_counts(session=s)["area"] == {"frequent": 1, "at_risk": 1, "ok": 0, "none": 2}
        assert mapdata.status_counts(session=s, county="520112")["area"]["none"] == 1
    with populated.begin() as conn:
        conn.execute(text("UPDATE asset_status SET status = 'ok', count_365 = 1 WHERE asset_id = 'A2'"))
        add_area(Session(bind=conn), "A9", "F1", customers=5)
    with Session(populated) as s:
        assert mapdata.status_counts(session=s)["area"] == {"frequent": 1, "at_risk": 0, "ok": 1, "none": 3}


def test_the_monitoring_job_precomputes_this_year(populated, fresh_db: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from monitoring.jobs import run_all

    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "gw")
    result = run_all(engine=populated, settings=settings)
    step = next(s for s in result["steps"] if s["job"] == "map_cache")
    assert step["outcome"] == "success", step
    year = datetime.now(tz=t(2026, 1, 1).tzinfo).year
    with Session(populated) as s:
        current = cache.stamp(s, cache.RELIABILITY_NAMES)
    row = _cache_row(populated, f"reliability:county:customer:{year}")
    assert row is not None and row[0] == current
    assert _cache_row(populated, "status_counts:") is not None


def _saidi(page: str, adcode: str) -> float:
    m = re.search(r'"adcode":"' + adcode + r'","name":"[^"]*","value":([-0-9.eE+]+)', page)
    assert m, f"no choropleth value for {adcode}"
    return float(m.group(1))


def test_the_next_view_after_an_ingest_shows_the_new_saidi(fresh_settings: Settings) -> None:
    from monitoring.reports import reliability
    from tests.test_api_support import make_api

    for api in make_api(fresh_settings):
        with Session(api.engine) as s:
            scenario(s)
            s.commit()

        def direct(engine=api.engine) -> float:  # type: ignore[no-untyped-def]
            with Session(engine) as s:
                rows = reliability.build(session=s, settings=fresh_settings, period="2026-05",
                                         by="county").rows
            return next(r["saidi"] for r in rows if r["region_id"] == "520111" and r["variant"] == "all")

        key = "reliability:county:customer:2026-05"
        r = api.get("/maps/?period=2026-05&metric=saidi", "planner")
        assert r.status_code == 200
        before = _saidi(r.text, "520111")
        assert before == pytest.approx(direct(), rel=1e-12)
        stored = _cache_row(api.engine, key)
        assert stored is not None
        r = api.get("/maps/?period=2026-05&metric=saidi", "planner")
        assert _saidi(r.text, "520111") == before and _cache_row(api.engine, key) == stored

        body = ("outage_id,asset_type,asset_id,start_time,end_time,cause\n"
                "new1,area,A2,2026-05-15T08:00:00+08:00,2026-05-15T14:00:00+08:00,fault\n")
        r = api.client.post("/api/v1/ingest/outages", content=body.encode(),
                            headers={**api.headers("ingest"), "Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        after = _saidi(api.get("/maps/?period=2026-05&metric=saidi", "planner").text, "520111")
        # A2 has 300 of the county's 1000 customers: 6 hours more is 1.8 hours of SAIDI.
        assert after == pytest.approx(before + 1.8, rel=1e-9)
        assert after == pytest.approx(direct(), rel=1e-12)
        # An end time arriving later (the record replaced) moves it again.
        body = ("outage_id,asset_type,asset_id,start_time,end_time,cause\n"
                "new1,area,A2,2026-05-15T08:00:00+08:00,2026-05-15T09:00:00+08:00,fault\n")
        r = api.client.post("/api/v1/ingest/outages", content=body.encode(),
                            headers={**api.headers("ingest"), "Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        again = _saidi(api.get("/maps/?period=2026-05&metric=saidi", "planner").text, "520111")
        assert again == pytest.approx(before + 0.3, rel=1e-9)
        assert timedelta(0) < (_cache_row(api.engine, key)[1] - stored[1])
