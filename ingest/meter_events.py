"""Meter events: validate while streaming, COPY chunks into staging, merge set-based."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from core.accounting import Accounting
from core.clock import parse_timestamp
from ingest.sqlfiles import sql
from ingest.validation import KINDS, TIME_HINT, bad_enum, copy_text, missing

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FILE = "meter_events.sql"
# Extended ISO 8601 that PostgreSQL reads exactly as parse_timestamp does; anything else goes
# through parse_timestamp itself. Naive times before 1992 (when Shanghai had summer time)
# take the slow path too.
_PLAIN = re.compile(
    r"(\d{4})-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(Z|[+-](?:0\d|1[0-4]):[0-5]\d)?"
)


def copy_time(value: str) -> str:
    """A timestamp as PostgreSQL timestamptz text, with the meaning ``parse_timestamp`` gives it."""
    m = _PLAIN.fullmatch(value)
    if m is not None:
        datetime.fromisoformat(value)  # raises ValueError for impossible dates and times
        if m.group(2) is not None:
            return value
        if int(m.group(1)) >= 1992:
            return value + "+08:00"
    return parse_timestamp(value).isoformat()


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
            ts = copy_time(time)
        except (ValueError, OverflowError):
            acct.reject(line, "time", f"cannot read time '{time}' as a time; {TIME_HINT}")
            continue
        event_id = row.get("event_id")
        if "\x00" in meter_id or (event_id is not None and "\x00" in event_id):
            acct.reject(line, "meter_id", "the row contains a NUL character")
            continue
        buf.append(f"{line}\t{copy_text(meter_id)}\t{ts}\t{kind}\t{copy_text(event_id)}\n")
        if len(buf) >= chunk_rows:
            yield "".join(buf), len(buf)
            buf = []
    if buf:
        yield "".join(buf), len(buf)


def _copy_chunk(conn: psycopg.Connection, data: str) -> None:
    """COPY one chunk into the (emptied) staging table."""
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "truncate"))
        with cur.copy(sql(FILE, "copy")) as copy:
            copy.write(data)


def _merge_chunk(conn: psycopg.Connection, batch_id: int) -> ChunkResult:
    """Merge the staged chunk into ``meter_event``; runs in the worker thread."""
    result = ChunkResult()
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "unknown_meters"))
        result.unknown = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
        cur.execute(sql(FILE, "merge"), {"batch_id": batch_id})
        row = cur.fetchone()
        assert row is not None
        result.known, result.inserted = int(row[0]), int(row[1])
    log.debug("chunk of %d rows merged in %.2f s", result.known, time.perf_counter() - started)
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
    """Stream, validate and merge meter events (Python parses the next chunk while one merges)."""
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "staging"))
    pending: tuple[int, Future[ChunkResult]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-copy") as pool:
        try:
            for data, n in _chunks(rows, acct, chunk_rows):
                if pending is not None:
                    _apply(acct, pending[0], pending[1].result())
                    pending = None
                _copy_chunk(conn, data)
                pending = (n, pool.submit(_merge_chunk, conn, batch_id))
            if pending is not None:
                _apply(acct, pending[0], pending[1].result())
                pending = None
        finally:
            if pending is not None:
                pending[1].exception()
