"""The ingest benchmark's generators: their files load cleanly today (dates relative to now)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.db import session_scope
from core.settings import Settings
from ingest import service
from monitoring import interruptions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    path = sys.path[:]
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "benchmarks" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path[:] = path
    return module


@pytest.mark.parametrize("shape", ["mixed", "storm"])
def test_generated_events_are_all_accepted_and_storm_episodes_are_interruptions(
        bench, shape: str, fresh_settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = fresh_settings.database_url
    bench.load_registry(url)
    file = tmp_path / f"{shape}.csv"
    assert bench.GENERATORS[shape](file, 3000) == 3000
    engine = create_engine(fresh_settings.sqlalchemy_url())
    with session_scope(engine) as s:
        acct = service.ingest(session=s, kind="meter-events", source=file,
                              settings=fresh_settings).accounting
    assert (acct.accepted, acct.rejected, acct.duplicates) == (3000, 0, 0)
    interruptions.refresh_committed(engine=engine, settings=fresh_settings)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT count(*), count(end_time) FROM inferred_interruption "
                                  "WHERE area_id LIKE 'SA%'")).one()
    engine.dispose()
    if shape == "storm":         # 30 episodes of 100 events, each one area-wide outage, all over
        assert tuple(found) == (30, 30)
    else:
        assert found[0] == 0
