"""The public hosting-capacity document (no key): which statements make it, and its empty form."""

from __future__ import annotations

from core.sqlfiles import statements

EMPTY = '{"quarter":null,"computed_at":null,"areas":[]}'
"""The document before any quarter was computed."""


def latest_sql() -> str:
    """One row (quarter, computed_at) of the latest computed quarter, or none."""
    return statements("monitoring.hosting", "public.sql")["latest"]


def document_sql() -> str:
    """One row, one column: the document of ``%(quarter)s`` as JSON text."""
    return statements("monitoring.hosting", "public.sql")["document"]
