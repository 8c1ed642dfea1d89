"""Accounting of input rows: every row is exactly one of accepted, duplicate, updated, rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reject:
    """One rejected row: where it was, which field, and why (in words a user can act on)."""

    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of SPEC section 10."""
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class Accounting:
    """Counts for one input file or body."""

    source: str = ""
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reject(self, line: int, field_name: str, reason: str) -> None:
        """Record one rejected row."""
        self.rejected += 1
        self.rejects.append(Reject(line, field_name, reason))

    @property
    def total(self) -> int:
        """Rows seen."""
        return self.accepted + self.duplicates + self.updated + self.rejected

    def as_dict(self) -> dict[str, Any]:
        """The accounting object of SPEC section 10."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "rejected": self.rejected,
            "rejects": [r.as_dict() for r in self.rejects],
        }
