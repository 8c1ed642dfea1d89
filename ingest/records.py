"""Outage records, works, disconnections, area loads and PV: validate, COPY, replace by key set-based."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import psycopg

from core import clock
from core.accounting import Accounting
from ingest.sqlfiles import sql
from ingest.validation import (
    APPLICATIONS,
    AREA_LOADS,
    DISCONNECTIONS,
    OUTAGES,
    PV,
    WORKS,
    RowError,
    StreamSpec,
    copy_text,
    validate,
)

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FILES = {"outages": "outages.sql", "works": "works.sql", "disconnections": "disconnections.sql",
         "area-loads": "area_loads.sql", "pv": "pv.sql", "applications": "applications.sql"}
SPECS = {"outages": OUTAGES, "works": WORKS, "disconnections": DISCONNECTIONS,
         "area-loads": AREA_LOADS, "pv": PV, "applications": APPLICATIONS}


def _cell(value: str | datetime | None) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return copy_text(value)


def _chunks(spec: StreamSpec, rows: Iterator[tuple[int, dict[str, str | None]]],
            acct: Accounting, chunk_rows: int, now: datetime) -> Iterator[str]:
    """Validate rows and yield COPY text buffers (line first, then the spec's fields)."""
    buf: list[str] = []
    for line, row in rows:
        try:
            values = validate(spec, row, now)
        except RowError as err:
            acct.reject(line, err.field, err.reason)
            continue
        buf.append("\t".join([str(line), *(_cell(values[f]) for f in spec.fields)]) + "\n")
        if len(buf) >= chunk_rows:
            yield "".join(buf)
            buf = []
    if buf:
        yield "".join(buf)


def _unknown_reason(asset_type: str, asset_id: str, field: str) -> str:
    what = "feeders" if asset_type == "feeder" else "areas"
    # Only inputs that name the asset's type (outages, works) can have it wrong.
    hint = ", or check asset_type" if field == "asset_id" else ""
    return f"unknown {asset_type} '{asset_id}'; load it with 'gridwatch load {what}' first{hint}"


def ingest_records(*, conn: psycopg.Connection, kind: str, batch_id: int,
                   rows: Iterator[tuple[int, dict[str, str | None]]], acct: Accounting,
                   chunk_rows: int = CHUNK_ROWS, now: datetime | None = None) -> None:
    """Ingest outage records, works or disconnections; a known key replaces the stored version.

    An outage record that starts more than ``FUTURE_SLACK`` after ``now`` (default: the clock)
    is rejected: a record is a fact, not a plan. Works are plans and may lie in the future; so
    may a disconnection's ``planned_start``, but not its ``reported_at``.
    """
    spec, file = SPECS[kind], FILES[kind]
    params = {"batch_id": batch_id}
    now = now or clock.utcnow()
    with conn.cursor() as cur:
        cur.execute(sql(file, "staging"))
        for data in _chunks(spec, rows, acct, chunk_rows, now):
            cur.execute(sql(file, "truncate"))
            with cur.copy(sql(file, "copy")) as copy:
                copy.write(data)
            cur.execute(sql(file, "unknown_assets"))
            for line, asset_type, asset_id in cur.fetchall():
                acct.reject(int(line), spec.asset_field,
                            _unknown_reason(asset_type, asset_id, spec.asset_field))
            cur.execute(sql(file, "classify"))
            for verdict, n in cur.fetchall():
                setattr(acct, verdict, getattr(acct, verdict) + int(n))
            cur.execute(sql(file, "drop_finals"))
            cur.execute(sql(file, "finals"))
            cur.execute(sql(file, "log_changes"), params)
            cur.execute(sql(file, "delete_old"))
            cur.execute(sql(file, "insert_new"), params)
            cur.execute(sql(file, "drop_finals"))
