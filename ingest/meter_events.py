"""Meter events: validate while streaming, COPY chunks into staging, merge set-based."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from core.accounting import Accounting
from core.clock import parse_timestamp
from ingest.sqlfiles import sql
from ingest.validation import KINDS, TIME_HINT, bad_enum, copy_text, missing

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FILE = "meter_events.sql"


@dataclass
class ChunkResult:
    """What the database said about one chunk."""

    known: int = 0
    inserted: int = 0
    unknown: list[tuple[int, str]] = field(default_factory=list)


def _chunks(rows: Iterator[tuple[int, dict[str, str | None]]], acct: Accounting,
            chunk_rows: int) -> Iterator[tuple[str, int]]:
    """Validate rows and yield COPY text buffers of up to ``chunk_rows`` valid rows."""
    buf: list[str] = []
    for line, row in rows:
        meter_id = row.get("meter_id")
        time = row.get("time")
        kind = row.get("kind")
        if meter_id is None or time is None or kind is None:
            if "__error__" in row:
                acct.reject(line, "", str(row["__error__"]))
            else:
                f = "meter_id" if meter_id is None else "time" if time is None else "kind"
                err = missing(f)
                acct.reject(line, err.field, err.reason)
            continue
        if kind not in KINDS:
            err = bad_enum("kind", kind, KINDS)
            acct.reject(line, err.field, err.reason)
            continue
        try:
            ts = parse_timestamp(time)
        except (ValueError, OverflowError):
            acct.reject(line, "time", f"cannot read time '{time}' as a time; {TIME_HINT}")
            continue
        event_id = row.get("event_id")
        if "\x00" in meter_id or (event_id is not None and "\x00" in event_id):
            acct.reject(line, "meter_id", "the row contains a NUL character")
            continue
        buf.append(f"{line}\t{copy_text(meter_id)}\t{ts.isoformat()}\t{kind}\t{copy_text(event_id)}\n")
        if len(buf) >= chunk_rows:
            yield "".join(buf), len(buf)
            buf = []
    if buf:
        yield "".join(buf), len(buf)


def _load_chunk(conn: psycopg.Connection, batch_id: int, data: str) -> ChunkResult:
    """COPY one chunk into staging and merge it into ``meter_event``."""
    result = ChunkResult()
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "truncate"))
        with cur.copy(sql(FILE, "copy")) as copy:
            copy.write(data)
        cur.execute(sql(FILE, "unknown_meters"))
        result.unknown = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
        cur.execute(sql(FILE, "merge"), {"batch_id": batch_id})
        row = cur.fetchone()
        assert row is not None
        result.known, result.inserted = int(row[0]), int(row[1])
    return result


def _apply(acct: Accounting, rows: int, result: ChunkResult) -> None:
    for line, meter_id in result.unknown:
        acct.reject(line, "meter_id",
                    f"unknown meter '{meter_id}'; load it with 'gridwatch load meters' first")
    acct.accepted += result.inserted
    acct.duplicates += result.known - result.inserted
    assert result.known + len(result.unknown) == rows


def ingest_meter_events(*, conn: psycopg.Connection, batch_id: int,
                        rows: Iterator[tuple[int, dict[str, str | None]]], acct: Accounting,
                        chunk_rows: int = CHUNK_ROWS) -> None:
    """Stream, validate and merge meter events (the next chunk is parsed while one merges)."""
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "staging"))
    pending: tuple[int, Future[ChunkResult]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-copy") as pool:
        try:
            for data, n in _chunks(rows, acct, chunk_rows):
                if pending is not None:
                    _apply(acct, pending[0], pending[1].result())
                pending = (n, pool.submit(_load_chunk, conn, batch_id, data))
            if pending is not None:
                _apply(acct, pending[0], pending[1].result())
                pending = None
        finally:
            if pending is not None:
                pending[1].exception()
