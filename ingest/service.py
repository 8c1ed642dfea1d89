"""Ingest meter events, outages, works, disconnections, area loads or PV: the one path behind CLI and HTTP."""

from __future__ import annotations

import logging
import pathlib
import time
import typing
from dataclasses import dataclass

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core import metrics
from core.accounting import Accounting, Origin
from core.errors import GridwatchError, InputError, UsageError
from core.records import detect_format, open_rows
from core.settings import Settings
from ingest import batches
from ingest.meter_events import AreaCache, Event, csv_events, from_rows, ingest_meter_events
from ingest.records import ingest_records
from ingest.validation import SPECS

log = logging.getLogger(__name__)

KINDS = ("meter-events", "outages", "works", "disconnections", "area-loads", "pv", "applications")
FORMATS = ("csv", "jsonl")


@dataclass
class IngestResult:
    """The accounting of one ingested input and the batch it was recorded as."""

    accounting: Accounting
    batch_id: int
    kind: str = ""
    source: str = ""


def ingest(
    *,
    session: Session,
    kind: str,
    source: pathlib.Path | typing.IO[bytes],
    name: str | None = None,
    fmt: str | None = None,
    max_rejects: int | None = None,
    settings: Settings | None = None,
    channel: str | None = None,
) -> IngestResult:
    """Validate, account and merge one input; record the batch. Does not commit.

    ``channel`` (file or http) labels the rows in the metrics; by default an input named
    ``body`` (the HTTP routes' name) is http and anything else a file.

    ``settings`` (default ``get_settings()``) give the retention horizon that meter events
    are checked against.

    With ``max_rejects`` (``Settings.max_rejects_per_batch``), an input with more rejected
    rows than that raises ``TooManyRejects`` as soon as it has one more: the caller rolls
    back, so nothing of it is stored, not even the batch, and memory stays bounded.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown stream '{kind}'; use one of: {', '.join(KINDS)}")
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; use csv or jsonl")
    spec = SPECS[kind]
    label = name or (str(source) if isinstance(source, (str, pathlib.Path)) else "body")
    fmt = fmt or detect_format(label)
    records: typing.Iterator[tuple[int, dict[str, str | None]]] | None = None
    if kind == "meter-events" and fmt == "csv":
        events, unknown = csv_events(source, label)
    else:
        rows = open_rows(source, known=spec.fields, required=spec.required, fmt=fmt, name=label)
        records, unknown = rows.rows, rows.unknown_columns
        events = from_rows(records)
    if channel is None:
        channel = "http" if label == "body" else "file"
    return _run(session=session, kind=kind, label=label, source_name=label, events=events,
                rows=records, unknown=unknown, max_rejects=max_rejects, settings=settings,
                channel=channel)


def ingest_rows(
    *,
    session: Session,
    kind: str,
    rows: typing.Iterable[tuple[int, dict[str, str | None]]],
    source: str,
    unknown: list[str] | None = None,
    origins: typing.Sequence[Origin] | None = None,
    settings: Settings | None = None,
    areas: AreaCache | None = None,
    count: bool = True,
) -> IngestResult:
    """Like ``ingest`` for rows already parsed (the MQTT consumer's micro-batches).

    ``rows`` are (line, {field: text}) pairs as ``core.records`` yields them; a row with an
    ``__error__`` field is rejected with that reason. ``origins[line - 1]`` says where each
    line came from (topic, message, item), and is recorded with its reject. Does not commit.
    ``source`` is also the metrics' source label; ``count=False`` (a trial that is rolled
    back) leaves the metrics alone.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown stream '{kind}'; use one of: {', '.join(KINDS)}")
    it = iter(rows)
    return _run(session=session, kind=kind, label=source, source_name=source,
                events=from_rows(it) if kind == "meter-events" else iter(()),
                rows=it if kind != "meter-events" else None, unknown=unknown or [],
                max_rejects=None, settings=settings, origins=origins, areas=areas,
                channel=source if count else None)


def _run(
    *,
    session: Session,
    kind: str,
    label: str,
    source_name: str,
    events: typing.Iterator[Event],
    rows: typing.Iterator[tuple[int, dict[str, str | None]]] | None,
    unknown: list[str],
    max_rejects: int | None,
    settings: Settings | None,
    origins: typing.Sequence[Origin] | None = None,
    areas: AreaCache | None = None,
    channel: str | None = None,
) -> IngestResult:
    """Ingest one batch; ``channel`` None counts nothing in the metrics."""
    started = time.perf_counter()
    acct = Accounting(source=label, max_rejects=max_rejects)
    session.flush()
    batch_id = batches.open_batch(session=session, source=source_name, kind=kind)
    conn = session.connection().connection.driver_connection
    assert conn is not None
    try:
        if kind == "meter-events":
            ingest_meter_events(conn=conn, batch_id=batch_id, rows=events, acct=acct,
                                settings=settings, areas=areas)
        else:
            assert rows is not None
            ingest_records(conn=conn, kind=kind, batch_id=batch_id, rows=rows, acct=acct)
    except UnicodeDecodeError as exc:
        if channel is not None:
            metrics.ingest_received(kind=kind, source=channel, rows=acct.total)
        raise InputError(f"{label} is not UTF-8 ({exc.reason})") from None
    except BaseException:
        if channel is not None:  # refused whole (too many rejects) or failed: read, not stored
            metrics.ingest_received(kind=kind, source=channel, rows=acct.total)
        raise
    if unknown:
        acct.warnings.append(f"ignoring unknown field(s): {', '.join(unknown)}")
    acct.rejects.sort(key=lambda r: r.line)
    if origins is not None:
        acct.rejects = [r.located(*origins[r.line - 1]) if 0 < r.line <= len(origins) else r
                        for r in acct.rejects]
    batches.close_batch(session=session, batch_id=batch_id, acct=acct)
    if channel is not None:
        metrics.ingest_accounted(session=session, kind=kind, source=channel, acct=acct,
                                 seconds=time.perf_counter() - started)
    log.info("%s %s: %d accepted, %d duplicates, %d updated, %d rejected", kind, label,
             acct.accepted, acct.duplicates, acct.updated, acct.rejected)
    return IngestResult(accounting=acct, batch_id=batch_id, kind=kind, source=label)


def database_lost(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says the database connection was lost.

    That is psycopg's client-side "connection lost/closed" (no SQLSTATE), a connection
    exception (class 08) or an operator intervention such as a shutdown (57P..), raw or
    wrapped by SQLAlchemy. Ingest and loads use it to say whether anything was stored.
    """
    if isinstance(exc, GridwatchError):
        return False
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        err: BaseException = seen
        if isinstance(err, DBAPIError):
            if err.connection_invalidated:
                return True
            err = err.orig if err.orig is not None else err
        if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
            state = err.sqlstate
            if state is None or state.startswith(("08", "57P")):
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def list_batches(*, session: Session, limit: int = 50) -> list[dict[str, typing.Any]]:
    """The most recent ingest batches, newest first."""
    return batches.list_batches(session=session, limit=limit)


def batch_rejects(*, session: Session, batch_id: int) -> list[dict[str, typing.Any]]:
    """The rejected rows of one batch (``NotFound`` if there is no such batch)."""
    return batches.batch_rejects(session=session, batch_id=batch_id)
