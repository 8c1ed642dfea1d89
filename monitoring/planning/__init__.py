"""Planning rules (SPEC section 14): repeated planned outages, merge candidates, arrears pre-reports."""

from __future__ import annotations

from core.sqlfiles import statements


def sql(filename: str, name: str) -> str:
    """One named statement of ``monitoring/planning/<filename>``."""
    return statements(__name__, filename)[name]
