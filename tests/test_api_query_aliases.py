"""Report routes accept the command line's spellings: ?as-of=…, ?exclude-med and bare flags."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.settings import Settings
from tests.builders import add_area, add_feeder, add_outage
from tests.test_api_support import Api, make_api


@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def test_cli_spellings_work_as_query_parameters(http: Api, fresh_settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    engine = create_engine(fresh_settings.sqlalchemy_url())
    with Session(engine) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        add_area(s, "A2", "F1", lon=106.8)
        t0 = datetime(2026, 3, 1, tzinfo=UTC)
        for i in range(4):
            add_outage(s, f"o{i}", "area", "A1", t0 + timedelta(days=i), t0 + timedelta(days=i, hours=1))
        s.commit()
        assert s.execute(text("SELECT count(*) FROM outage_record")).scalar_one() == 4
    engine.dispose()

    base = "/api/v1/reports/frequent-outages"
    frequent = http.request("GET", f"{base}?as-of=2026-03-10", "planner").json()
    assert [(r["asset_id"], r["status"]) for r in frequent] == [("A1", "frequent")]
    before = http.request("GET", f"{base}?as-of=2026-02-01", "planner").json()
    assert before == []  # the dashed as-of is honoured, not ignored
    everything = http.request("GET", f"{base}?as-of=2026-03-10&all", "planner").json()
    assert {r["asset_id"] for r in everything} == {"A1", "A2", "F1"}
    rel = http.request("GET", "/api/v1/reports/reliability?period=2026&by=province&exclude-med",
                       "planner")
    assert rel.status_code == 200, rel.text
    # connection-times' --summary as a bare flag: the rows are the summary by class, not one row
    # per application (as without it).
    with Session(create_engine(fresh_settings.sqlalchemy_url())) as s:
        s.execute(text("INSERT INTO application (app_id, customer_class, external_works, booked_at, "
                       "energized_at, needs_upgrade) VALUES ('Y1', 'lv_resident', false, "
                       "'2026-03-02T09:00+08', '2026-03-04T09:00+08', false)"))
        s.commit()
    path = "/api/v1/reports/connection-times?month=2026-03&as-of=2026-03-10"
    rows = http.request("GET", path, "planner").json()
    assert [(r["app_id"], r["elapsed_days"]) for r in rows] == [("Y1", 2)]  # Tue, Wed
    summary = http.request("GET", path + "&summary", "planner")
    assert summary.status_code == 200, summary.text
    assert {(r["customer_class"], r["applications"]) for r in summary.json()} >= {("lv_resident", 1)}
