"""Named SQL statements from ``.sql`` files beside the code (``-- name: x`` separates them)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def statements(package: str, filename: str) -> dict[str, str]:
    """The statements of one SQL file in ``package``, by name."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def sql(filename: str, name: str) -> str:
    """One named statement of ``ingest/sql/<filename>``."""
    return statements("ingest.sql", filename)[name]
