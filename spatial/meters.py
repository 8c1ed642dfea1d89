"""Bulk load of the meter registry: stream, check rows in Python, COPY in chunks, upsert in SQL.

Memory stays flat as the file grows: only one chunk of accepted candidates and the rejects are
held in Python. The unknown-area check, in-file duplicates (the last line of a ``meter_id``
wins; earlier ones count as duplicates) and the upsert run set-based in the database. A meter
identical to the stored one is not rewritten and counts as a duplicate, as in the other loaders.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Any

import psycopg
import psycopg.sql
from sqlalchemy.orm import Session

from core import sqlfiles
from core.accounting import Accounting
from core.records import open_rows

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000
BULK_ROWS = 500_000  # loads at least this large (and larger than the table) rebuild the indexes
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _sql(name: str) -> str:
    return sqlfiles.statements("spatial.sql", "meters.sql")[name]


def _lon_lat(lon: str | None, lat: str | None) -> tuple[str, str] | str:
    """The COPY text of lon and lat (``\\N`` when both are empty), or the reason they are bad."""
    if lon is None and lat is None:
        return "\\N", "\\N"
    try:
        x, y = float(str(lon)), float(str(lat))
    except ValueError:
        return "lon and lat must both be numbers"
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        return "lon/lat out of range"
    return repr(x), repr(y)


def _drop_secondary_indexes(cur: psycopg.Cursor[Any], staged: int) -> list[str]:
    """Before a bulk load larger than the table, drop meter's non-constraint indexes.

    Returns their definitions, to be built again after the upsert (in the same transaction):
    one sorted index build is much faster than millions of single-row GiST/btree inserts.
    """
    if staged < BULK_ROWS:
        return []
    cur.execute(_sql("existing"), {"limit": staged})
    row = cur.fetchone()
    if row is None or int(row[0]) >= staged:
        return []
    cur.execute(_sql("secondary_indexes"))
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
    log.info("meters: %d staged rows; rebuilding %d index(es) after the load", staged, len(indexes))
    return [str(definition) for _, definition in indexes]


def load_meters(*, session: Session, path: str | Path | IO[bytes], name: str | None = None,
                chunk_rows: int = CHUNK_ROWS) -> Accounting:
    """Load or replace the meter registry from CSV/JSONL (meter_id, area_id, lon, lat).

    ``path`` may be an open binary stream; ``name`` (default: the path) then names the input
    in messages and tells its format by its ending.
    """
    label = name or str(path)
    source = open_rows(path, known=("meter_id", "area_id", "lon", "lat"),
                       required=("meter_id", "area_id"), name=label)
    acct = Accounting(source=label)
    if source.unknown_columns:
        acct.warnings.append(f"ignoring unknown column(s): {', '.join(source.unknown_columns)}")
    rejects: list[tuple[int, str, str]] = []
    bad_lon_lat: list[tuple[int, str, str]] = []  # (line, area_id, reason): the area check comes first
    conn = session.connection().connection.driver_connection
    assert conn is not None
    staged = 0
    with conn.cursor() as cur:
        cur.execute(_sql("stage"))
        buf: list[str] = []

        def flush() -> None:
            nonlocal staged
            if buf:
                with cur.copy("COPY _meter_stage (line, meter_id, area_id, lon, lat) FROM STDIN") as cp:
                    cp.write("".join(buf))
                staged += len(buf)
                buf.clear()

        for line, row in source.rows:
            if "__error__" in row:
                rejects.append((line, "", str(row["__error__"])))
                continue
            meter_id, area_id = row.get("meter_id"), row.get("area_id")
            if not meter_id:
                rejects.append((line, "meter_id", "required field 'meter_id' is empty"))
                continue
            if not area_id:
                rejects.append((line, "area_id", "required field 'area_id' is empty"))
                continue
            point = _lon_lat(row.get("lon"), row.get("lat"))
            if isinstance(point, str):
                bad_lon_lat.append((line, area_id, point))
                continue
            buf.append(f"{line}\t{meter_id.translate(_ESCAPE)}\t{area_id.translate(_ESCAPE)}\t"
                       f"{point[0]}\t{point[1]}\n")
            if len(buf) >= chunk_rows:
                flush()
        flush()

        if bad_lon_lat:
            cur.execute(_sql("known_areas"), {"ids": sorted({a for _, a, _ in bad_lon_lat})})
            known = {r[0] for r in cur.fetchall()}
            for line, area_id, reason in bad_lon_lat:
                if area_id in known:
                    rejects.append((line, "lon", reason))
                else:
                    rejects.append((line, "area_id", f"unknown area '{area_id}' (load the areas first)"))
        if staged:
            cur.execute(_sql("unknown_areas"))
            unknown = cur.fetchall()
            rejects.extend((line, "area_id", f"unknown area '{area_id}' (load the areas first)")
                           for line, area_id in unknown)
            staged -= len(unknown)
        if staged:
            rebuild = _drop_secondary_indexes(cur, staged)
            cur.execute(_sql("upsert"))
            counts = cur.fetchone()
            assert counts is not None
            acct.accepted, acct.updated = int(counts[0]), int(counts[1])
            acct.duplicates = staged - acct.accepted - acct.updated
            for definition in rebuild:
                cur.execute(definition)
            if rebuild:
                cur.execute(_sql("analyze"))
        cur.execute(_sql("drop"))
    for line, field_name, reason in sorted(rejects, key=lambda r: r[0]):
        acct.reject(line, field_name, reason)
    log.info("meters %s: %d accepted, %d updated, %d duplicates, %d rejected", path,
             acct.accepted, acct.updated, acct.duplicates, acct.rejected)
    return acct
