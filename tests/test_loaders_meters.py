"""The streamed meter registry load: exact accounting on a larger file, across COPY chunks."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import spatial.meters
from spatial.loaders import load_meters
from tests.builders import add_area, add_feeder

AREAS = [f"TLM-A{i:02d}" for i in range(20)]


def _write(path: Path, n: int, seed: int) -> list[tuple[int, list[str]]]:
    """A CSV of ``n`` meters with duplicates, unknown areas, bad and missing lon/lat."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(n):
        mid = f"TLM-M{i:06d}"
        if i and rng.random() < 0.03:
            mid = f"TLM-M{rng.randrange(i):06d}"  # the same meter again: the last line wins
        area = rng.choice(AREAS)
        r = rng.random()
        if r < 0.002:
            area = "TLM-NOPE"
        lon, lat = f"{106 + rng.random():.6f}", f"{26 + rng.random():.6f}"
        r = rng.random()
        if r < 0.001:
            lon = "east"
        elif r < 0.002:
            lat = "95"
        elif r < 0.003:
            lon = ""
        elif r < 0.05:
            lon = lat = ""
        elif r < 0.0505:
            mid = ""
        elif r < 0.051:
            area = ""
        rows.append([mid, area, lon, lat])
    with path.open("w", encoding="utf-8") as f:
        f.write("meter_id,area_id,lon,lat\n")
        for row in rows:
            f.write(",".join(row) + "\n")
    return [(line, row) for line, row in enumerate(rows, start=2)]


def _reference(rows: list[tuple[int, list[str]]], existing: set[str]):  # type: ignore[no-untyped-def]
    """The accounting rules, row by row in memory (the pre-streaming implementation)."""
    rejects: list[tuple[int, str, str]] = []
    kept: dict[str, tuple[str, float | None, float | None]] = {}
    duplicates = 0
    for line, (mid, area, lon, lat) in rows:
        if not mid or not area:
            field = "meter_id" if not mid else "area_id"
            rejects.append((line, field, f"required field '{field}' is empty"))
            continue
        if area not in AREAS:
            rejects.append((line, "area_id", f"unknown area '{area}' (load the areas first)"))
            continue
        x = y = None
        if lon or lat:
            try:
                x, y = float(lon), float(lat)
            except ValueError:
                rejects.append((line, "lon", "lon and lat must both be numbers"))
                continue
            if not (-180 <= x <= 180 and -90 <= y <= 90):
                rejects.append((line, "lon", "lon/lat out of range"))
                continue
        if mid in kept:
            duplicates += 1
        kept[mid] = (area, x, y)
    accepted = sum(1 for m in kept if m not in existing)
    same = sum(1 for m, v in kept.items() if m in existing and v == (AREAS[0], None, None))
    return accepted, len(kept) - accepted - same, duplicates + same, rejects, kept


def test_fifty_thousand_meters_account_exactly_across_chunks(db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_feeder(db_session, "TLM-F1")
    for a in AREAS:
        add_area(db_session, a, "TLM-F1")
    existing = {f"TLM-M{i:06d}" for i in range(0, 50_000, 997)}
    db_session.execute(text("INSERT INTO meter (meter_id, area_id) VALUES (:m, :a)"),
                       [{"m": m, "a": AREAS[0]} for m in existing])
    path = tmp_path / "meters.csv"
    rows = _write(path, 50_000, seed=11)
    accepted, updated, duplicates, rejects, kept = _reference(rows, existing)
    assert duplicates > 1000 and updated > 40 and len(rejects) > 100  # the file exercises each case

    acct = load_meters(session=db_session, path=path, chunk_rows=7_000)

    assert (acct.accepted, acct.updated, acct.duplicates, acct.rejected) == (
        accepted, updated, duplicates, len(rejects))
    assert [(r.line, r.field, r.reason) for r in acct.rejects] == rejects
    assert acct.total == 50_000
    stored = {
        m: (a, x, y) for m, a, x, y in db_session.execute(text(
            "SELECT meter_id, area_id, ST_X(geom), ST_Y(geom) FROM meter WHERE meter_id LIKE 'TLM-%'"))
    }
    assert stored == {**{m: (AREAS[0], None, None) for m in existing}, **kept}

    # The same file again changes nothing: every kept meter is identical to the stored one.
    again = load_meters(session=db_session, path=path)
    assert (again.accepted, again.updated) == (0, 0)
    assert again.duplicates == 50_000 - len(rejects)


def test_bad_lon_lat_with_an_unknown_area_is_an_area_reject(db_session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_feeder(db_session, "TLM-F1")
    add_area(db_session, "TLM-A00", "TLM-F1")
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"meter_id": "TLM-1", "area_id": "TLM-NOPE", "lon": "x", "lat": 1}\n'
        '{"meter_id": "TLM-1", "area_id": "TLM-A00", "lon": "x", "lat": 1}\n'
        'not json\n'
        '{"meter_id": "TLM-1", "area_id": "TLM-A00", "lon": 106.5, "lat": 26.5}\n'
        '{"meter_id": "TLM-1", "area_id": "TLM-A00"}\n'
    )
    acct = load_meters(session=db_session, path=path)
    assert (acct.accepted, acct.duplicates, acct.updated) == (1, 1, 0)
    assert [(r.line, r.field) for r in acct.rejects] == [(1, "area_id"), (2, "lon"), (3, "")]
    geom = db_session.execute(text("SELECT geom FROM meter WHERE meter_id = 'TLM-1'")).scalar()
    assert geom is None  # the last line wins, and it has no position


def test_a_bulk_load_rebuilds_the_indexes_and_accounts_the_same(  # type: ignore[no-untyped-def]
    fresh_db, tmp_path, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="spatial.meters")
    monkeypatch.setattr(spatial.meters, "BULK_ROWS", 1_000)
    engine = create_engine(fresh_db)
    path = tmp_path / "meters.csv"
    rows = _write(path, 20_000, seed=5)
    accepted, updated, duplicates, rejects, kept = _reference(rows, set())
    indexes = "SELECT indexdef FROM pg_indexes WHERE tablename = 'meter' ORDER BY indexname"
    try:
        with Session(engine) as s, s.begin():
            before = s.execute(text(indexes)).scalars().all()
            add_feeder(s, "TLM-F1")
            for a in AREAS:
                add_area(s, a, "TLM-F1")
            acct = load_meters(session=s, path=path, chunk_rows=3_000)
        with Session(engine) as s:
            assert s.execute(text(indexes)).scalars().all() == before
            assert len(before) >= 3  # the primary key, area and geometry indexes
            n = s.execute(text("SELECT count(*) FROM meter WHERE geom && "
                               "ST_MakeEnvelope(106, 26, 107, 27, 4326)")).scalar()
            assert n == sum(1 for _, x, _ in kept.values() if x is not None)
    finally:
        engine.dispose()
    assert (acct.accepted, acct.updated, acct.duplicates) == (accepted, updated, duplicates)
    assert [(r.line, r.field, r.reason) for r in acct.rejects] == rejects
    assert "rebuilding 2 index(es)" in caplog.text  # the bulk path ran
