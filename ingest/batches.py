"""Ingest batches and their rejected rows: recorded for ``gridwatch ingest history|rejects``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.accounting import Accounting
from core.errors import NotFound


def open_batch(*, session: Session, source: str, kind: str) -> int:
    """Start a batch and return its id."""
    return int(
        session.execute(
            text("INSERT INTO ingest_batch (source, kind) VALUES (:s, :k) RETURNING batch_id"),
            {"s": source, "k": kind},
        ).scalar_one()
    )


def close_batch(*, session: Session, batch_id: int, acct: Accounting) -> None:
    """Store the batch's counts and every rejected row."""
    session.execute(
        text(
            "UPDATE ingest_batch SET finished_at = clock_timestamp(), accepted = :a, "
            "duplicates = :d, updated = :u, rejected = :r WHERE batch_id = :b"
        ),
        {"a": acct.accepted, "d": acct.duplicates, "u": acct.updated, "r": acct.rejected,
         "b": batch_id},
    )
    if not acct.rejects:
        return
    conn = session.connection().connection.driver_connection
    assert conn is not None
    with conn.cursor() as cur, cur.copy(
        "COPY ingest_reject (batch_id, line, field, reason, topic, message, item) FROM STDIN"
    ) as copy:
        for r in acct.rejects:
            copy.write_row((batch_id, r.line, r.field, r.reason, r.topic, r.message, r.item))


def list_batches(*, session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent batches, newest first."""
    rows = session.execute(
        text(
            "SELECT batch_id, kind, source, started_at, finished_at, accepted, duplicates, "
            "updated, rejected FROM ingest_batch ORDER BY batch_id DESC LIMIT :n"
        ),
        {"n": limit},
    ).mappings()
    return [dict(r) for r in rows]


def batch_rejects(*, session: Session, batch_id: int) -> list[dict[str, Any]]:
    """The rejected rows of one batch, by line; ``NotFound`` if there is no such batch.

    Rows of a streamed batch (source ``mqtt``) also say their topic, message and item.
    """
    found = session.execute(
        text("SELECT 1 FROM ingest_batch WHERE batch_id = :b"), {"b": batch_id}
    ).first()
    if found is None:
        raise NotFound(f"no ingest batch {batch_id}; see 'gridwatch ingest history'")
    rows = session.execute(
        text(
            "SELECT line, field, reason, topic, message, item FROM ingest_reject "
            "WHERE batch_id = :b ORDER BY line, field"
        ),
        {"b": batch_id},
    ).mappings()
    out = [dict(r) for r in rows]
    if all(r["topic"] is None for r in out):
        for r in out:
            del r["topic"], r["message"], r["item"]
    return out
