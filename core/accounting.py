"""Accounting of input rows: every row is exactly one of accepted, duplicate, updated, rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import TooManyRejects

RETURNED_REJECTS = 1000  # rejects listed in an answer; the batch keeps all of them (up to its cap)


Origin = tuple[str, int, int]
"""Where a streamed row came from: (MQTT topic, message position in its batch, item in it)."""


@dataclass(frozen=True)
class Reject:
    """One rejected row: where it was, which field, and why (in words a user can act on).

    A streamed row also records its topic, the message's position in its batch (1-based) and
    the item's position in that message's JSON array (1-based; 0 for the whole message).
    """

    line: int
    field: str
    reason: str
    topic: str | None = None
    message: int | None = None
    item: int | None = None

    def located(self, topic: str, message: int, item: int) -> Reject:
        """This reject, with where in the stream its row came from."""
        return Reject(self.line, self.field, self.reason, topic, message, item)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of SPEC section 10 (with topic, message and item for streams)."""
        out: dict[str, Any] = {"line": self.line, "field": self.field, "reason": self.reason}
        if self.topic is not None:
            out.update(topic=self.topic, message=self.message, item=self.item)
        return out


@dataclass
class Accounting:
    """Counts for one input file or body.

    ``max_rejects`` bounds the rejects one input may have: the one past it raises
    ``TooManyRejects``, which refuses the whole input (nothing of it is committed).
    ``removed`` is None for loads that never remove anything, else the ids a replacing load
    removed (or would remove, in a dry run) because the file no longer holds them.
    """

    source: str = ""
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    max_rejects: int | None = None
    removed: list[str] | None = None

    def reject(self, line: int, field_name: str, reason: str) -> None:
        """Record one rejected row; ``TooManyRejects`` once there are more than ``max_rejects``."""
        if self.max_rejects is not None and self.rejected >= self.max_rejects:
            first = "; ".join(f"line {r.line}: {r.field or '(row)'}: {r.reason}"
                              for r in self.rejects[:3])
            raise TooManyRejects(
                f"{self.source}: more than {self.max_rejects} rows were rejected (the limit per "
                f"batch, GRIDWATCH_MAX_REJECTS_PER_BATCH), so the whole batch was refused and "
                f"nothing from it was stored; is it the right file and kind? First rejects: {first}"
            )
        self.rejected += 1
        self.rejects.append(Reject(line, field_name, reason))

    @property
    def total(self) -> int:
        """Rows seen."""
        return self.accepted + self.duplicates + self.updated + self.rejected

    def as_dict(self, max_rejects: int | None = RETURNED_REJECTS) -> dict[str, Any]:
        """The accounting object of SPEC section 10.

        At most ``max_rejects`` rejects are listed; when there are more, ``rejects_truncated``
        is true (``rejected`` still counts them all). ``warnings`` and ``removed`` appear when
        there are any / when the load replaces.
        """
        shown = self.rejects if max_rejects is None else self.rejects[:max_rejects]
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "rejected": self.rejected,
            "rejects": [r.as_dict() for r in shown],
        }
        if len(shown) < self.rejected:
            out["rejects_truncated"] = True
        if self.removed is not None:
            out["removed"] = len(self.removed)
            out["removed_ids"] = list(self.removed)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
