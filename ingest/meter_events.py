"""Meter events: validate while streaming; COPY fresh chunks straight in, merge the rest via staging."""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import psycopg

from core import clock
from core.accounting import Accounting
from core.clock import parse_timestamp
from core.errors import InputError
from core.records import csv_header, open_binary
from core.settings import Settings, get_settings
from ingest.retention import horizon
from ingest.sqlfiles import sql
from ingest.validation import (
    FUTURE_SLACK,
    KINDS,
    METER_EVENTS,
    TIME_HINT,
    bad_enum,
    copy_text,
    in_the_future,
    missing,
    older_than_retention,
)

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FIRST_CHUNK_ROWS = 10_000
AREA_CACHE_METERS = 200_000
"""Meter -> area pairs remembered across the chunks of one ingest (bounded, so memory stays flat)."""
FILE = "meter_events.sql"
# Extended ISO 8601 that PostgreSQL reads exactly as parse_timestamp does; anything else goes
# through parse_timestamp itself. Naive times before 1992 (when Shanghai had summer time)
# take the slow path too.
_PLAIN = re.compile(
    r"(\d{4})-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(Z|[+-](?:0\d|1[0-4]):[0-5]\d)?"
)


_CST = timezone(timedelta(hours=8))


def copy_time_and_instant(value: str) -> tuple[str, datetime | None]:
    """A timestamp as PostgreSQL timestamptz text, and its instant as naive UTC+08:00 wall time.

    The meaning is the one ``parse_timestamp`` gives it; the text is passed to COPY as written
    (with ``+08:00`` added when there is no offset), so PostgreSQL does the conversion. Naive
    instants of one fixed offset compare cheaply (aware ones with different ``tzinfo`` objects
    do not). The instant is None when Python cannot represent it in UTC+08:00.
    """
    # The two spellings a meter head-end writes, checked by position: with +08:00, and naive
    # (Asia/Shanghai, UTC+08:00 since 1992). fromisoformat checks the digits and the ranges.
    n = len(value)
    if ((n == 25 and value[19:] == "+08:00") or (n == 19 and value[:4] >= "1992")) \
            and value[10] in "T " and value[4] == "-" and value[7] == "-" \
            and value[13] == ":" and value[16] == ":":
        wall = datetime.fromisoformat(value[:19])
        return (value if n == 25 else value + "+08:00"), wall
    m = _PLAIN.fullmatch(value)
    if m is not None:
        offset = m.group(2)
        if offset is None:
            dt = datetime.fromisoformat(value)  # raises ValueError for impossible dates and times
            if int(m.group(1)) >= 1992:
                return value + "+08:00", dt
        elif offset == "+08:00":
            return value, datetime.fromisoformat(value[:-6])
        else:
            return value, _wall(datetime.fromisoformat(value))
    dt = parse_timestamp(value)
    return dt.isoformat(), _wall(dt)


def _wall(dt: datetime) -> datetime | None:
    """An aware instant as naive UTC+08:00 wall time (None if out of Python's range)."""
    try:
        return dt.astimezone(_CST).replace(tzinfo=None)
    except OverflowError:
        return None


def copy_time(value: str) -> str:
    """A timestamp as PostgreSQL timestamptz text, with the meaning ``parse_timestamp`` gives it."""
    return copy_time_and_instant(value)[0]


@dataclass(frozen=True)
class Window:
    """The event times an ingest accepts: from the retention horizon to shortly after now."""

    now: datetime
    horizon: datetime
    days: int
    oldest: datetime
    """``horizon`` as naive UTC+08:00 wall time (what the hot loop compares)."""
    newest: datetime
    """``now`` plus ``FUTURE_SLACK`` as naive UTC+08:00 wall time."""

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> Window:
        """The window of an ingest starting at ``now`` (aware) under ``settings``."""
        start = horizon(settings=settings, now=now)
        oldest, newest = _wall(start), _wall(now + FUTURE_SLACK)
        assert oldest is not None and newest is not None
        return cls(now, start, settings.meter_event_retention_days, oldest, newest)

    def reject(self, acct: Accounting, line: int, when: str, instant: datetime | None) -> None:
        """Reject an event outside the window (``instant`` None: beyond Python's range)."""
        old = _exotic_is_old(when) if instant is None else instant < self.oldest
        err = (older_than_retention("time", when, self.horizon, self.days) if old
               else in_the_future("time", when, self.now))
        acct.reject(line, err.field, err.reason)


def _exotic_is_old(when: str) -> bool:
    """Whether a time Python cannot show in UTC+08:00 lies at the start of its range."""
    try:
        return datetime.fromisoformat(when.strip().replace(" ", "T", 1)).year < 5000
    except ValueError:
        return True


@dataclass
class Chunk:
    """Valid rows of one chunk, ready for COPY, with what the merge needs to skip staging."""

    data: str = ""
    """COPY text, one line per row: meter_id, time, kind, event_id, batch_id."""
    count: int = 0
    """Rows in ``data``."""
    lines: list[int] = field(default_factory=list)
    spans: dict[str, list[datetime]] = field(default_factory=dict)
    """meter_id -> [earliest, latest] instant in the chunk (naive UTC+08:00 wall time)."""
    dups: list[tuple[int, str]] = field(default_factory=list)
    """(line, meter_id) of exact repeats of an earlier row of the chunk (not in ``data``)."""

    @property
    def size(self) -> int:
        """Valid rows, repeats included."""
        return self.count + len(self.dups)


@dataclass
class ChunkResult:
    """What the database said about one chunk."""

    known: int = 0
    inserted: int = 0
    unknown: list[tuple[int, str]] = field(default_factory=list)
    spans: dict[str, tuple[datetime, datetime]] | None = None
    """area_id -> (earliest, latest) event of the chunk; None when it must take staging."""


Event = tuple[int, str | None, str | None, str | None, str | None, str | None]
"""(line, meter_id, time, kind, event_id, error) of one input row."""


def from_rows(rows: Iterator[tuple[int, dict[str, str | None]]]) -> Iterator[Event]:
    """Events from ``core.records`` rows (JSON Lines)."""
    for line, r in rows:
        yield line, r.get("meter_id"), r.get("time"), r.get("kind"), r.get("event_id"), r.get("__error__")


def csv_events(path_or_stream: Path | IO[bytes], label: str) -> tuple[Iterator[Event], list[str]]:
    """A lean CSV reader for the hot path, with the checks and messages of ``open_rows``."""
    binary = open_binary(path_or_stream)
    reader = csv.reader(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
    header = csv_header(reader, label, METER_EVENTS.required)
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


def _chunks(events: Iterator[Event], acct: Accounting, chunk_rows: int, batch_id: int,
            window: Window) -> Iterator[Chunk]:
    """Validate rows and yield chunks of up to ``chunk_rows`` valid rows.

    The first chunk is small and each next one twice as large (up to ``chunk_rows``), so
    that the database starts merging early and is rarely left waiting while Python parses on.
    An event before the retention horizon or more than ``FUTURE_SLACK`` after now is
    rejected (SPEC section 17).
    """
    oldest, newest = window.oldest, window.newest
    chunk, seen, rows = Chunk(), set(), []
    lines, spans, size = chunk.lines, chunk.spans, 0
    limit = min(chunk_rows, FIRST_CHUNK_ROWS)
    tail = f"\t{batch_id}\n"
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
            ts, instant = copy_time_and_instant(when)
        except (ValueError, OverflowError):
            acct.reject(line, "time", f"cannot read time '{when}' as a time; {TIME_HINT}")
            continue
        if instant is None or instant < oldest or instant > newest:
            window.reject(acct, line, when, instant)
            continue
        if "\x00" in meter_id or (event_id is not None and "\x00" in event_id):
            acct.reject(line, "meter_id", "the row contains a NUL character")
            continue
        size += 1
        key = f"{copy_text(meter_id)}\t{ts}\t{kind}"
        if key in seen:
            chunk.dups.append((line, meter_id))
        else:
            seen.add(key)
            rows.append(f"{key}\t{copy_text(event_id)}{tail}")
            lines.append(line)
            span = spans.get(meter_id)   # every accepted time is inside the window, so in range
            if not span:
                spans[meter_id] = [instant, instant]
            elif instant > span[1]:
                span[1] = instant
            elif instant < span[0]:
                span[0] = instant
        if size >= limit:
            chunk.data, chunk.count = "".join(rows), len(rows)
            yield chunk
            chunk, seen, rows, limit = Chunk(), set(), [], min(chunk_rows, 2 * limit)
            lines, spans, size = chunk.lines, chunk.spans, 0
    if size:
        chunk.data, chunk.count = "".join(rows), len(rows)
        yield chunk


def _drop_unknown(chunk: Chunk, gone: set[str]) -> list[tuple[int, str]]:
    """Remove the rows of the unregistered meters ``gone`` from ``chunk``; their (line, meter_id)."""
    escaped = {copy_text(m): m for m in gone}
    keep: list[int] = []
    unknown: list[tuple[int, str]] = []
    rows = chunk.data.split("\n")[:-1]
    for i, (ln, row) in enumerate(zip(chunk.lines, rows, strict=True)):
        meter_id = escaped.get(row.split("\t", 1)[0])
        if meter_id is None:
            keep.append(i)
        else:
            unknown.append((ln, meter_id))
    unknown += [(ln, m) for ln, m in chunk.dups if m in gone]
    chunk.data = "".join(rows[i] + "\n" for i in keep)
    chunk.count = len(keep)
    chunk.lines = [chunk.lines[i] for i in keep]
    chunk.dups = [(ln, m) for ln, m in chunk.dups if m not in gone]
    chunk.spans = {m: s for m, s in chunk.spans.items() if m not in gone}
    return unknown


class AreaCache:
    """Meter → area lookups kept across ingests while the meter registry has not changed.

    ``meter_registry.version`` is bumped by every statement that changes ``meter`` (a
    trigger), so a reload of the registry, however it is done, empties the cache.
    """

    def __init__(self) -> None:
        self.version: int | None = None
        self.areas: dict[str, str | None] = {}

    def current(self, conn: psycopg.Connection) -> dict[str, str | None]:
        """The cache, emptied first if the registry changed since it was filled."""
        row = conn.execute("SELECT version FROM meter_registry").fetchone()
        version = int(row[0]) if row else None
        if version is None or version != self.version:
            self.areas = {}
            self.version = version
        return self.areas


def _missing(meters: dict[str, list[datetime]], cache: dict[str, str | None]) -> list[str]:
    """The chunk's meters this ingest has not looked up yet."""
    return [m for m in meters if m not in cache]


def _read_areas(conn: psycopg.Connection, missing: list[str], cache: dict[str, str | None]) -> None:
    """Look up the areas of ``missing`` meters into ``cache`` (None for an unregistered meter).

    ``cache`` holds what this ingest has read already; it is emptied when it would grow past
    ``AREA_CACHE_METERS``. A stream usually repeats the same meters chunk after chunk, so after
    the first chunks a chunk needs no lookup at all.
    """
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "meter_areas"), (missing,))
        found: dict[str, str | None] = dict(cur.fetchall())
    if len(cache) + len(missing) > AREA_CACHE_METERS:
        cache.clear()
    cache.update((m, found.get(m)) for m in missing)


def _check(chunk: Chunk, cache: dict[str, str | None]) -> ChunkResult:
    """Reject the chunk's unknown meters and sum its time spans by area (no database work).

    ``cache`` must already hold the area of every registered meter of the chunk.
    """
    result = ChunkResult()
    areas = {m: a for m in chunk.spans if (a := cache.get(m)) is not None}
    size = chunk.size
    if len(areas) < len(chunk.spans):
        result.unknown = _drop_unknown(chunk, set(chunk.spans) - areas.keys())
    result.known = size - len(result.unknown)
    if not chunk.count:
        return result
    spans: dict[str, list[datetime]] = {}
    for meter_id, (first, last) in chunk.spans.items():
        span = spans.get(areas[meter_id])
        if span is None:
            spans[areas[meter_id]] = [first, last]
        else:
            span[0], span[1] = min(span[0], first), max(span[1], last)
    result.spans = {a: (s[0].replace(tzinfo=_CST), s[1].replace(tzinfo=_CST))
                    for a, s in spans.items()}
    return result


class Copied:
    """Time ranges this ingest copied fresh chunks into (used by the worker thread only).

    No other batch had an event there when they were checked, and one committed since can
    only collide through the unique index (which sends the chunk to staging), so a next chunk
    checks only its range outside them (``gaps``). A file roughly in time order (episode by
    episode) or in none (meter by meter) thus takes the fresh path too.
    """

    def __init__(self) -> None:
        self.ranges: list[tuple[datetime, datetime]] = []   # merged, sorted, closed

    def gaps(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
        """The closed parts of ``[lo, hi]`` outside the copied ranges (at most 64, else whole)."""
        out, at = [], lo
        for first, last in self.ranges:
            if first > hi:
                break
            if last < at:
                continue
            if first > at:
                out.append((at, first))
            if last >= hi:
                return out if len(out) <= 64 else [(lo, hi)]
            at = last
        out.append((at, hi))
        return out if len(out) <= 64 else [(lo, hi)]

    def add(self, lo: datetime, hi: datetime) -> None:
        """Remember ``[lo, hi]`` as copied (merged with the ranges it meets)."""
        meet = [(a, b) for a, b in self.ranges if not (b < lo or a > hi)]
        lo, hi = min([lo, *(a for a, _ in meet)]), max([hi, *(b for _, b in meet)])
        self.ranges = sorted([*(r for r in self.ranges if r not in meet), (lo, hi)])


def _write(conn: psycopg.Connection, batch_id: int, chunk: Chunk,
           spans: dict[str, tuple[datetime, datetime]] | None, copied: Copied) -> int:
    """Insert the chunk's events not stored yet; the number inserted.

    Runs in the worker thread, so that Python parses and checks the next chunk meanwhile.
    ``spans`` are the chunk's areas and time ranges (None for a chunk that must take staging).
    When no event of another batch falls in the chunk's time range (outside the ranges this
    ingest has ``copied`` into already), the chunk can only collide with this ingest's own
    events (a repeat spelled differently) or a concurrent ingest: it is copied straight into
    ``meter_event`` under a savepoint and its areas are logged from ``spans``. A unique
    violation rolls back to the savepoint and the chunk goes through staging and
    ``ON CONFLICT``, which keeps the first copy and logs the touched areas itself.
    """
    started = time.perf_counter()
    data = chunk.data
    with conn.cursor() as cur:
        fresh = False
        if spans:
            lo = min(first for first, _ in spans.values())
            hi = max(last for _, last in spans.values())
            fresh = True
            for gap_lo, gap_hi in copied.gaps(lo, hi):   # usually one, after the last chunk
                cur.execute(sql(FILE, "stored_in_range"),
                            {"lo": gap_lo, "hi": gap_hi, "batch_id": batch_id})
                row = cur.fetchone()
                if row is None or row[0]:
                    fresh = False
                    break
        if fresh and spans:
            cur.execute("SAVEPOINT ingest_merge_fresh")
            try:
                with cur.copy(sql(FILE, "copy_fresh")) as copy:
                    copy.write(data)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT ingest_merge_fresh")
            else:
                cur.execute("RELEASE SAVEPOINT ingest_merge_fresh")
                copied.add(lo, hi)
                with cur.copy(sql(FILE, "copy_change")) as copy:
                    for area_id, (first, last) in spans.items():
                        copy.write_row((batch_id, "meter-events", "area", area_id, first, last))
                log.debug("chunk of %d rows copied in %.2f s", chunk.count,
                          time.perf_counter() - started)
                return chunk.count
        cur.execute(sql(FILE, "truncate"))
        with cur.copy(sql(FILE, "copy")) as copy:
            copy.write(data)
        cur.execute(sql(FILE, "merge"), {"batch_id": batch_id})
        row = cur.fetchone()
    assert row is not None
    log.debug("chunk of %d rows merged in %.2f s", chunk.count, time.perf_counter() - started)
    return int(row[0])


def _finish(acct: Accounting, size: int, result: ChunkResult,
            written: Future[int]) -> None:
    """Wait for a chunk's write and count it."""
    result.inserted = written.result()
    _apply(acct, size, result)


def _apply(acct: Accounting, rows: int, result: ChunkResult) -> None:
    for line, meter_id in result.unknown:
        acct.reject(line, "meter_id",
                    f"unknown meter '{meter_id}'; load it with 'gridwatch load meters' first")
    acct.accepted += result.inserted
    acct.duplicates += result.known - result.inserted
    assert result.known + len(result.unknown) == rows


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0
SWITCH_INTERVAL = 0.0001


@contextmanager
def _short_switch_interval() -> Iterator[None]:
    """Let the writer thread take the interpreter lock sooner while the parser holds it.

    The writer needs the lock for each block of COPY data; with the default 5 ms switch
    interval PostgreSQL waits for data about a third of the time. Process-wide, so counted
    across concurrent ingests and restored by the last one.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def ingest_meter_events(*, conn: psycopg.Connection, batch_id: int, rows: Iterator[Event],
                        acct: Accounting, chunk_rows: int = CHUNK_ROWS,
                        settings: Settings | None = None, now: datetime | None = None,
                        areas: AreaCache | None = None) -> None:
    """Stream, validate and merge meter events (Python parses the next chunk while one is written).

    Events before the retention horizon of ``settings`` (default ``get_settings()``) or more
    than ``FUTURE_SLACK`` after ``now`` (default: the clock) are rejected. ``areas`` keeps
    meter → area lookups from one call to the next (the stream consumer's batches).
    """
    window = Window.of(settings or get_settings(), now or clock.utcnow())
    with conn.cursor() as cur:
        cur.execute(sql(FILE, "staging"))
    pending: tuple[int, ChunkResult, Future[int]] | None = None
    cache = areas.current(conn) if areas is not None else {}
    copied = Copied()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-copy") as pool, \
            _short_switch_interval():
        try:
            for chunk in _chunks(rows, acct, chunk_rows, batch_id, window):
                missing = _missing(chunk.spans, cache)
                if missing:
                    if pending is not None:       # the connection is the worker's until then
                        _finish(acct, *pending)
                        pending = None
                    _read_areas(conn, missing, cache)
                size, result = chunk.size, _check(chunk, cache)
                if pending is not None:
                    _finish(acct, *pending)
                    pending = None
                if chunk.count:
                    written = pool.submit(_write, conn, batch_id, chunk, result.spans, copied)
                    pending = (size, result, written)
                else:
                    _apply(acct, size, result)
            if pending is not None:
                _finish(acct, *pending)
                pending = None
        finally:
            if pending is not None:
                pending[2].exception()
