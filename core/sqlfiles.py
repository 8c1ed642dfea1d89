"""SQL kept in ``.sql`` files beside the code that runs it, loaded with importlib.resources.

A file may hold several statements, each introduced by a ``-- name: x`` line.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def strip_comments(sql: str) -> str:
    """Drop whole-line ``--`` comments (their ``:words`` would read as bind parameters)."""
    return "\n".join(
        line for line in sql.splitlines()
        if not line.lstrip().startswith("--") or _NAME.match(line)
    )


@cache
def read(package: str, filename: str, *, strip: bool = False) -> str:
    """The text of ``filename`` in ``package`` (without comment lines when ``strip``)."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return strip_comments(text) if strip else text


@cache
def statements(package: str, filename: str) -> dict[str, str]:
    """The named statements of one SQL file, by name, without comment lines."""
    parts = _NAME.split(read(package, filename, strip=True))
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
