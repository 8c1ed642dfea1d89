"""Meter events: validate while streaming, COPY chunks into staging, merge set-based."""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import psycopg

from core.accounting import Accounting
from core.clock import parse_timestamp
from core.errors import InputError
from ingest.sqlfiles import sql
from ingest.validation import KINDS, METER_EVENTS, TIME_HINT, bad_enum, copy_text, missing

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FIRST_CHUNK_ROWS = 10_000
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


Event = tuple[int, str | None, str | None, str | None, str | None, str | None]
"""(line, meter_id, time, kind, event_id, error) of one input row."""


def from_rows(rows: Iterator[tuple[int, dict[str, str | None]]]) -> Iterator[Event]:
    """Events from ``core.records`` rows (JSON Lines)."""
    for line, r in rows:
        yield line, r.get("meter_id"), r.get("time"), r.get("kind"), r.get("event_id"), r.get("__error__")


def csv_events(path_or_stream: Path | IO[bytes], label: str) -> tuple[Iterator[Event], list[str]]:
    """A lean CSV reader for the hot path, with the checks and messages of ``open_rows``."""
    if isinstance(path_or_stream, (str, Path)):
        path = Path(path_or_stream)
        if not path.exists():
            raise InputError(f"no such file: {path}")
        if path.is_dir():
            raise InputError(f"{path} is a directory, not a file")
        binary: IO[bytes] = path.open("rb")
    else:
        binary = path_or_stream
    reader = csv.reader(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{label}: the file is empty (a CSV header row is required)") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{label}: cannot read the header: {exc}") from None
    missing_cols = sorted(set(METER_EVENTS.required) - set(header))
    if missing_cols:
        raise InputError(f"{label}: missing required column(s): {', '.join(missing_cols)}")
    unknown = [h for h in header if h not in METER_EVENTS.fields]
    if unknown:
        log.warning("%s: ignoring unknown column(s): %s", label, ", ".join(unknown))
    pos = {h: i for i, h in enumerate(header) if h in METER_EVENTS.fields}
    im, it, ik = pos["meter_id"], pos["time"], pos["kind"]
    ie = pos.get("event_id")
    width = max(pos.values()) + 1

    def gen() -> Iterator[Event]:
        line = 1
        try:
            for values in reader:
                line = reader.line_num
                if len(values) < width:
                    if not any(v.strip() for v in values):
                        continue
                    values = values + [""] * (width - len(values))
                m, t, k = values[im].strip() or None, values[it].strip() or None, values[ik].strip() or None
                e = (values[ie].strip() or None) if ie is not None else None
                if m is None and t is None and k is None and not any(v.strip() for v in values):
                    continue
                yield line, m, t, k, e, None
        except UnicodeDecodeError as exc:
            raise InputError(f"{label}: line {line + 1} is not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise InputError(f"{label}: line {line + 1}: {exc}") from None

    return gen(), unknown


def _chunks(events: Iterator[Event], acct: Accounting, chunk_rows: int) -> Iterator[tuple[str, int]]:
    """Validate rows and yield COPY text buffers of up to ``chunk_rows`` valid rows.

    The first buffer is small so that the database starts merging while Python parses on.
    """
    buf: list[str] = []
    limit = min(chunk_rows, FIRST_CHUNK_ROWS)
    for line, meter_id, when, kind, event_id, error in events:
        if meter_id is None or when is None or kind is None:
            if error is not None:
                acct.reject(line, "", error)
            else:
                f = "meter_id" if meter_id is None else "time" if when is None else "kind"
                err = missing(f)
                acct.reject(line, err.field, err.reason)
            continue
        if kind not in KINDS:
            err = bad_enum("kind", kind, KINDS)
            acct.reject(line, err.field, err.reason)
            continue
        try:
            ts = copy_time(when)
        except (ValueError, OverflowError):
            acct.reject(line, "time", f"cannot read time '{when}' as a time; {TIME_HINT}")
            continue
        if "\x00" in meter_id or (event_id is not None and "\x00" in event_id):
            acct.reject(line, "meter_id", "the row contains a NUL character")
            continue
        buf.append(f"{line}\t{copy_text(meter_id)}\t{ts}\t{kind}\t{copy_text(event_id)}\n")
        if len(buf) >= limit:
            yield "".join(buf), len(buf)
            buf, limit = [], chunk_rows
    if buf:
        yield "".join(buf), len(buf)


def _copy_chunk(conn: psycopg.Connection, data: str) -> None:
    """COPY one chunk into the (emptied) staging table."""
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "truncate"))
        with cur.copy(sql(FILE, "copy")) as copy:
            copy.write(data)


def _merge_chunk(conn: psycopg.Connection, batch_id: int, rows: int) -> ChunkResult:
    """Merge the staged chunk into ``meter_event``; runs in the worker thread."""
    result = ChunkResult()
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "unknown_meters"))
        result.unknown = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
        result.known, result.inserted = rows - len(result.unknown), _insert(cur, batch_id)
    log.debug("chunk of %d rows merged in %.2f s", result.known, time.perf_counter() - started)
    return result


def _insert(cur: psycopg.Cursor[Any], batch_id: int) -> int:
    """Insert the staged events not stored yet; the number inserted."""
    params = {"batch_id": batch_id}
    cur.execute(sql(FILE, "stored_in_range"))
    row = cur.fetchone()
    if row is not None and not row[0]:
        cur.execute("SAVEPOINT ingest_merge_fresh")
        try:
            cur.execute(sql(FILE, "merge_fresh"), params)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT ingest_merge_fresh")
        else:
            inserted = cur.rowcount
            cur.execute(sql(FILE, "log_fresh"), params)
            cur.execute("RELEASE SAVEPOINT ingest_merge_fresh")
            return inserted
    cur.execute(sql(FILE, "merge"), params)
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


def _apply(acct: Accounting, rows: int, result: ChunkResult) -> None:
    for line, meter_id in result.unknown:
        acct.reject(line, "meter_id",
                    f"unknown meter '{meter_id}'; load it with 'gridwatch load meters' first")
    acct.accepted += result.inserted
    acct.duplicates += result.known - result.inserted
    assert result.known + len(result.unknown) == rows


def ingest_meter_events(*, conn: psycopg.Connection, batch_id: int, rows: Iterator[Event],
                        acct: Accounting,
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
                pending = (n, pool.submit(_merge_chunk, conn, batch_id, n))
            if pending is not None:
                _apply(acct, pending[0], pending[1].result())
                pending = None
        finally:
            if pending is not None:
                pending[1].exception()
