"""The meter registry load's fast path: plain CSV chunks COPYed as they are, the resync diff.

The row-by-row Python reading is the reference (it is what the loader always did): every file
here is loaded both ways, and the accounting, the rejects and the stored registry must agree.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

import spatial.meter_stage
import spatial.meters
from core.errors import InputError
from spatial.loaders import load_meters
from tests.builders import add_area, add_feeder

AREAS = [f"TML-A{i}" for i in range(8)]


def _nasty(n: int, seed: int, quote_at: float | None = None) -> bytes:
    """A registry CSV whose lines each may hold a hazard for a reader that is not Python's."""
    rng = random.Random(seed)
    out = ["meter_id,area_id,note,lon,lat\n"]
    picked = 0
    for i in range(n):
        mid, area = f"TML-M{rng.randrange(n):05d}", rng.choice(AREAS)
        lon, lat, note = f"{106 + rng.random():.6f}", f"{26 + rng.random():.6f}", "贵阳"
        end = "\n"
        r = rng.random()
        fields: tuple[str, ...] = (mid, area, note, lon, lat)
        if r < 0.03:
            hazards: list[tuple[str, ...]] = [
                (f" {mid}", area, note, lon, lat),          # whitespace str.strip() trims
                (mid, f"{area}\u3000", note, lon, lat),
                (mid, area, note, f"{lon}\xa0", lat),
                (mid, area, note, "0x6A", lat),              # PostgreSQL reads hex, Python not
                (mid, area, note, "nan(1)", lat),
                (mid, area, note, "NaN", lat),
                (mid, area, note, "-inf", lat),
                (mid, area, note, "1_06.5", lat),            # Python reads underscores
                (mid, area, note, "１０６.５", lat),          # and full-width digits
                (mid, area, note, "1e400", lat),
                (mid, area, note, "", lat),
                (mid, area, note, "", ""),
                (mid, area, note, "190", lat),
                (mid, "TML-NOPE", note, "east", lat),
                ("", area, note, lon, lat),
                (mid, "", note, lon, lat),
                ("", "", "", "", ""),                        # blank: not a row at all
                ("", " ", "", "\t", ""),
                (mid, area, note, lon),                      # a field short
                (mid, area, note, lon, lat, "extra"),         # and one too many
                ("M" * 300, area, note, lon, lat),           # longer than a key may be
                ("\\.",),
                (f"{mid}-台区", area, "", lon, lat),
            ]
            fields = hazards[picked % len(hazards)]  # each in turn
            picked += 1
        r = rng.random()
        if r < 0.01:
            end = "\r\n"
        elif r < 0.012:
            end = "\r"
        elif r < 0.015:
            end = "\n\n"
        if quote_at is not None and i == int(n * quote_at):
            fields = (mid, area, '"a note, on\ntwo lines"', lon, lat)
        out.append(",".join(fields) + end)
    return "".join(out).encode("utf-8")


def _stored(s: Session) -> dict[str, tuple[Any, ...]]:
    rows = s.execute(text("SELECT meter_id, area_id, ST_X(geom), ST_Y(geom) FROM meter "
                          "WHERE meter_id LIKE 'TML-%' OR meter_id LIKE 'MMM%'"))
    return {r[0]: tuple(r[1:]) for r in rows}


def _both_ways(s: Session, path: Path, monkeypatch: pytest.MonkeyPatch,
               chunk_rows: int = 20) -> list[tuple[Any, ...]]:
    """Load ``path`` as it is and then row by row (each in a savepoint rolled back after)."""
    results = []
    for python in (False, True):
        with monkeypatch.context() as m:
            if python:
                m.setattr(spatial.meter_stage, "COPY_AS_IS", False)
            nested = s.begin_nested()
            acct = load_meters(session=s, path=path, chunk_rows=chunk_rows)
            results.append(((acct.accepted, acct.updated, acct.duplicates, acct.rejected),
                            [(r.line, r.field, r.reason) for r in acct.rejects], acct.warnings,
                            _stored(s)))
            nested.rollback()
    return results


@pytest.fixture
def areas(db_session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setattr(spatial.meter_stage, "_READ", 128)  # small reads: chunks of a few lines
    add_feeder(db_session, "TML-F1")
    for a in AREAS:
        add_area(db_session, a, "TML-F1")
    return db_session


@pytest.mark.parametrize("stored", [0, 300])
def test_plain_chunks_are_read_exactly_as_python_reads_them(  # type: ignore[no-untyped-def]
        areas, tmp_path, monkeypatch, caplog, stored) -> None:
    caplog.set_level(logging.INFO, logger="spatial.meters")
    path = tmp_path / "meters.csv"
    path.write_bytes(_nasty(4_000, seed=stored, quote_at=0.8))
    if stored:  # a registry that already holds meters: the resync diff path
        areas.execute(text("INSERT INTO meter (meter_id, area_id, geom) VALUES (:m, :a, NULL)"),
                      [{"m": f"TML-M{i:05d}", "a": AREAS[i % 3]} for i in range(0, 4_000, 4_000 // stored)])
    fast, python = _both_ways(areas, path, monkeypatch)
    assert fast == python
    counts, rejects, warnings, registry = fast
    assert counts[0] > 1_000 and counts[2] > 100 and len(rejects) > 40, counts
    assert warnings == ["ignoring unknown column(s): note"]
    for reason in ("lon and lat must both be numbers", "lon/lat out of range", "unknown area",
                   "required field 'meter_id' is empty", "meter_id is longer than 200 characters"):
        assert any(r.startswith(reason) for _, _, r in rejects), reason
    assert not any(m.startswith(" ") or m.endswith("\u3000") for m in registry)
    staged = [line for line in caplog.messages if "rows staged" in line][0]
    fast_chunks = int(staged.split("(")[1].split(" chunk")[0])
    assert fast_chunks >= 40, staged  # most chunks went to the server as they were …
    assert "0 read in Python" not in staged, staged  # … and the hazardous ones were read in Python


def test_the_same_file_twice_is_all_duplicates_and_the_bulk_path_finds_duplicates(  # type: ignore[no-untyped-def]
        areas, tmp_path, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger="spatial.meters")
    monkeypatch.setattr(spatial.meters, "BULK_ROWS", 100)
    path = tmp_path / "meters.csv"
    path.write_bytes(_nasty(3_000, seed=3))
    fast, python = _both_ways(areas, path, monkeypatch)
    assert fast == python
    assert "meter_pkey, meter_area_id_fkey" in caplog.text  # the empty-registry bulk path ran
    first = load_meters(session=areas, path=path, chunk_rows=500)
    again = load_meters(session=areas, path=path, chunk_rows=500)
    assert (again.accepted, again.updated, again.rejected) == (0, 0, first.rejected)
    assert again.duplicates == first.accepted + first.duplicates


def test_a_resync_writes_only_what_changed_and_never_deletes(fresh_db: str, tmp_path: Path) -> None:
    engine = create_engine(fresh_db, poolclass=pool.NullPool)
    with Session(engine) as s:
        add_feeder(s, "F1")
        for a in ("A1", "A2"):
            add_area(s, a, "F1")
        s.commit()
    day1 = tmp_path / "day1.csv"
    day1.write_text("meter_id,area_id,lon,lat\n" + "".join(
        f"MMM{i:04d},A1,106.{i:04d},26.5\n" for i in range(2_000)))
    day2 = tmp_path / "day2.csv"
    lines = []
    for i in range(2_000):
        line = f"MMM{i:04d},A1,106.{i:04d},26.5"
        if i % 100 == 7:
            continue                                          # 20 meters left out
        if i == 10:
            line = "MMM0010,A2,106.0010,26.5"                 # moved to another area
        if i == 11:
            line = "MMM0011,A1,106.0011,26.6"                 # moved a little
        if i == 20:
            lines.append("MMM0020,A2,106.0020,26.5")          # changed, but the later line wins
        lines.append(line)
    lines += ["MMM9999,A2,,",                                 # a new meter
              "MMM0030,A9,106.0030,26.5"]                     # rejected: keeps the stored version
    day2.write_text("meter_id,area_id,lon,lat\n" + "\n".join(lines) + "\n")

    def load(path: Path) -> tuple[tuple[int, ...], dict[str, tuple[Any, ...]], int]:
        with Session(engine) as s:
            acct = load_meters(session=s, path=path)
            s.commit()
            rows = {r[0]: tuple(r[1:]) for r in s.execute(text(
                "SELECT meter_id, area_id, ST_X(geom), ST_Y(geom), xmin::text FROM meter"))}
            version = s.execute(text("SELECT version FROM meter_registry")).scalar_one()
        return (acct.accepted, acct.updated, acct.duplicates, acct.rejected), rows, version

    try:
        counts, first, v1 = load(day1)
        assert counts == (2_000, 0, 0, 0)
        counts, same, v2 = load(day1)
        assert counts == (0, 0, 2_000, 0)
        assert same == first and v2 == v1  # nothing rewritten, the registry's version unchanged
        counts, after, v3 = load(day2)
        assert counts == (1, 2, 1_979, 1), counts
        assert v3 > v2
        assert set(after) == set(first) | {"MMM9999"}  # the 20 left out are still registered
        assert after["MMM0010"][:3] == ("A2", 106.001, 26.5)
        assert after["MMM0011"][:3] == ("A1", 106.0011, 26.6)
        assert after["MMM9999"][:3] == ("A2", None, None)
        assert after["MMM0020"] == first["MMM0020"] and after["MMM0030"] == first["MMM0030"]
        untouched = [m for m in first if m not in ("MMM0010", "MMM0011")]
        assert all(after[m] == first[m] for m in untouched)  # same xmin: not even rewritten
    finally:
        engine.dispose()


def test_line_numbers_survive_crlf_blank_lines_and_a_quoted_field_over_two_lines(  # type: ignore[no-untyped-def]
        areas, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(spatial.meter_stage, "_READ", 16)
    path = tmp_path / "m.csv"
    path.write_bytes(
        b"\xef\xbb\xbfmeter_id,area_id,lon,lat\r\n"   # 1 (a BOM, CR LF endings)
        b"TML-1,TML-A0,106.5,26.5\r\n"                 # 2
        b"\r\n"                                        # 3 blank
        b"TML-2,TML-NOPE,,\r\n"                        # 4 unknown area
        b"TML-3,TML-A0,106.5,95\n"                     # 5 out of range
        b"TML-4,\"TML-A0\",\"a\r\nb\",26.5\n"          # 6-7 a quoted field over two lines
        b"TML-5,TML-NOPE,,\n")                         # 8
    acct = load_meters(session=areas, path=path, chunk_rows=2)
    assert [(r.line, r.field) for r in acct.rejects] == [(4, "area_id"), (5, "lon"), (7, "lon"),
                                                         (8, "area_id")]
    assert acct.accepted == 1


def test_a_line_that_is_not_utf8_is_named_exactly(areas, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.csv"
    path.write_bytes(b"meter_id,area_id\n" + b"".join(f"TML-{i},TML-A0\n".encode() for i in range(40))
                     + b"TML-\xff,TML-A0\n" + b"TML-x,TML-A0\n")
    with pytest.raises(InputError, match=r"line 42 is not UTF-8"):
        load_meters(session=areas, path=path, chunk_rows=10)


def test_the_staging_table_is_private_to_the_load(areas, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.csv"
    path.write_text("meter_id,area_id\nTML-1,TML-A0\n")
    load_meters(session=areas, path=path)
    left = areas.execute(text("SELECT relname FROM pg_class WHERE relname LIKE '\\_meter\\_%'")).all()
    assert left == []  # the stage and the delta went with the load (and are never committed)


def test_a_role_that_may_not_create_tables_stages_in_a_temporary_table(  # type: ignore[no-untyped-def]
        areas, tmp_path) -> None:
    areas.execute(text("SET LOCAL search_path = pg_catalog, public"))  # new tables: pg_catalog, refused
    path = tmp_path / "m.csv"
    path.write_text("meter_id,area_id\nTML-1,TML-A0\nTML-2,TML-NOPE\nTML-1,TML-A1\n")
    acct = load_meters(session=areas, path=path)
    assert (acct.accepted, acct.duplicates, acct.rejected) == (1, 1, 1)
    assert _stored(areas) == {"TML-1": ("TML-A1", None, None)}
