"""Reports of SPEC section 9: each module has ``build(*, session, settings, ...) -> Report``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitoring.export import MEDIA_TYPES, render


@dataclass
class Report:
    """A report's rows and columns, plus an optional custom xlsx document."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    xlsx: Callable[[], bytes] | None = None

    def render(self, fmt: str) -> bytes:
        """Bytes in ``json``, ``csv`` (UTF-8 BOM) or ``xlsx``."""
        if fmt == "xlsx" and self.xlsx is not None:
            return self.xlsx()
        return render(self.rows, self.columns, fmt, title=self.title or self.name)

    @staticmethod
    def media_type(fmt: str) -> str:
        """The HTTP content type of a format."""
        return MEDIA_TYPES[fmt]

    def filename(self, fmt: str) -> str:
        """A download file name, e.g. ``remediation-2026Q2.xlsx``."""
        suffix = self.meta.get("label")
        base = f"{self.name}-{suffix}" if suffix else self.name
        return f"{base}.{fmt}"
