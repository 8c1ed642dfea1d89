"""Clock and calendar: UTC storage, Asia/Shanghai calendar logic, ISO 8601 parsing, periods."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.errors import UsageError

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse ISO 8601; an offset (``+08:00``, ``Z``) means what it says, none means Shanghai.

    Raises ``ValueError`` with a readable message when the text is not a timestamp.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_TZ)
    return parsed.astimezone(UTC)


def parse_as_of(text: str | None) -> datetime:
    """Parse a command-line as-of time (a date means the end of that local day); None is now."""
    if text is None:
        return utcnow()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        day = date.fromisoformat(text.strip())
        return datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL_TZ).astimezone(
            UTC
        ) - timedelta(microseconds=1)
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_day_start(text: str) -> datetime:
    """A date (local midnight) or a full timestamp, as UTC."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), LOCAL_TZ).astimezone(
            UTC
        )
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class Period:
    """A half-open calendar period [start, end) in UTC, labelled as the user wrote it."""

    label: str
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        """Length of the period in hours."""
        return (self.end - self.start).total_seconds() / 3600.0


def _local(y: int, m: int, d: int = 1) -> datetime:
    if not 1970 <= y <= 2200:
        raise UsageError(f"year {y} is out of range (1970-2200)")
    return datetime(y, m, d, tzinfo=LOCAL_TZ).astimezone(UTC)


def parse_period(text: str) -> Period:
    """Parse ``2026``, ``2026Q2`` or ``2026-05`` into a local-calendar period."""
    value = text.strip().upper()
    if m := re.fullmatch(r"(\d{4})", value):
        y = int(m[1])
        return Period(value, _local(y, 1), _local(y + 1, 1))
    if m := re.fullmatch(r"(\d{4})-?Q([1-4])", value):
        y, q = int(m[1]), int(m[2])
        start_month = 3 * (q - 1) + 1
        end = _local(y + 1, 1) if q == 4 else _local(y, start_month + 3)
        return Period(f"{y}Q{q}", _local(y, start_month), end)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", value):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise UsageError(f"not a month: {text!r}")
        end = _local(y + 1, 1) if mo == 12 else _local(y, mo + 1)
        return Period(f"{y}-{mo:02d}", _local(y, mo), end)
    raise UsageError(f"period must look like 2026, 2026Q2 or 2026-05, not {text!r}")


def parse_quarter(text: str) -> Period:
    """Parse ``2026Q2`` only."""
    period = parse_period(text)
    if "Q" not in period.label:
        raise UsageError(f"quarter must look like 2026Q2, not {text!r}")
    return period
