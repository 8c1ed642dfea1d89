"""Named SQL statements of ``ingest/sql/*.sql``."""

from __future__ import annotations

from core.sqlfiles import statements


def sql(filename: str, name: str) -> str:
    """One named statement of ``ingest/sql/<filename>``."""
    return statements("ingest.sql", filename)[name]
