"""Row validation for stream inputs: required fields, enums, timestamps, end before start."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import LOCAL_TZ, parse_timestamp

KINDS = ("off", "on")
ASSET_TYPES = ("feeder", "area")
CAUSES = ("fault", "planned", "weather", "external", "customer", "unknown")
PROGRESS = ("reported", "dispatched", "on_site", "repairing", "restored")
"""Repair progress of an outage record (SPEC section 13), in the order a repair goes."""
METHODS = ("live_line", "load_transfer", "generator", "outage")
REASONS = ("arrears", "safety", "other")
"""Why a customer disconnection is planned (SPEC section 14)."""
TRUE_WORDS = ("true", "t", "1", "yes", "y", "是")
FALSE_WORDS = ("false", "f", "0", "no", "n", "否")
MAX_COUNT = 1_000_000
"""The largest count (households) a row may carry."""
PV_STATUSES = ("connected", "registered")
"""A distributed-PV installation's status (SPEC section 15): registered is approved, not connected."""
MAX_KW = 1_000_000.0
"""The largest power (kW) a row may carry: more is a unit mistake (W for kW)."""
CUSTOMER_CLASSES = ("lv_resident", "lv_three_zero", "lv_other", "hv_single", "hv_dual")
"""A connection application's customer class (SPEC section 16)."""
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
TIME_HINT = "use ISO 8601, e.g. 2026-05-01T08:30:00+08:00 or 2026-05-01 08:30:00 (Beijing time)"
FUTURE_SLACK = timedelta(minutes=10)
"""How far ahead of the clock an event time may be (clock skew); anything later is rejected."""


class RowError(Exception):
    """A row that cannot be accepted: the field and a reason a user can act on."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class StreamSpec:
    """Fields of one stream input (SPEC section 2)."""

    kind: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    enums: dict[str, tuple[str, ...]]
    times: tuple[str, ...]
    span: tuple[str, str] | None = None
    not_future: tuple[str, ...] = ()
    """Times that must not be more than ``FUTURE_SLACK`` after now (facts, not plans)."""
    counts: tuple[str, ...] = ()
    """Whole numbers from 0 to ``MAX_COUNT``, stored as their plain decimal text."""
    flags: tuple[str, ...] = ()
    """true/false fields (also 1/0, yes/no, 是/否); empty is false; stored as ``true``/``false``."""
    powers: tuple[str, ...] = ()
    """Powers in kW from 0 to ``MAX_KW`` (decimals allowed), stored as their float text."""
    asset_field: str = "asset_id"
    """The field named in the reject of a row whose area (or asset) is unknown."""
    dates: tuple[str, ...] = ()
    """Calendar dates (``2026-12-31``; a full timestamp gives its Beijing date), stored as ISO text."""


METER_EVENTS = StreamSpec(
    "meter-events", ("meter_id", "time", "kind", "event_id"), ("meter_id", "time", "kind"),
    {"kind": KINDS}, ("time",),
)
OUTAGES = StreamSpec(
    "outages",
    ("outage_id", "asset_type", "asset_id", "start_time", "end_time", "cause", "work_id",
     "estimated_end", "progress"),
    ("outage_id", "asset_type", "asset_id", "start_time", "cause"),
    {"asset_type": ASSET_TYPES, "cause": CAUSES, "progress": PROGRESS},
    ("start_time", "end_time", "estimated_end"),
    ("start_time", "end_time"), not_future=("start_time",),
)
WORKS = StreamSpec(
    "works",
    ("work_id", "asset_type", "asset_id", "planned_start", "planned_end", "method"),
    ("work_id", "asset_type", "asset_id", "planned_start", "planned_end"),
    {"asset_type": ASSET_TYPES, "method": METHODS}, ("planned_start", "planned_end"),
    ("planned_start", "planned_end"),
)
DISCONNECTIONS = StreamSpec(
    "disconnections",
    ("disconnection_id", "area_id", "compound", "households", "important_user", "reason",
     "planned_start", "reported_at"),
    ("disconnection_id", "area_id", "households", "reason", "planned_start"),
    {"reason": REASONS}, ("planned_start", "reported_at"),
    not_future=("reported_at",), counts=("households",), flags=("important_user",),
    asset_field="area_id",
)
AREA_LOADS = StreamSpec(
    "area-loads", ("area_id", "typical_load_kw"), ("area_id", "typical_load_kw"), {}, (),
    powers=("typical_load_kw",), asset_field="area_id",
)
PV = StreamSpec(
    "pv", ("pv_id", "area_id", "kw", "status"), ("pv_id", "area_id", "kw", "status"),
    {"status": PV_STATUSES}, (), powers=("kw",), asset_field="area_id",
)
APPLICATIONS = StreamSpec(
    "applications",
    ("app_id", "area_id", "county", "customer_class", "external_works", "booked_at",
     "energized_at", "needs_upgrade", "upgrade_estimated_days", "upgrade_due"),
    ("app_id", "customer_class", "booked_at"),
    {"customer_class": CUSTOMER_CLASSES}, ("booked_at", "energized_at"),
    ("booked_at", "energized_at"), not_future=("energized_at",),
    counts=("upgrade_estimated_days",), flags=("external_works", "needs_upgrade"),
    asset_field="area_id", dates=("upgrade_due",),
)
SPECS = {s.kind: s for s in (METER_EVENTS, OUTAGES, WORKS, DISCONNECTIONS, AREA_LOADS, PV,
                             APPLICATIONS)}


def missing(field: str) -> RowError:
    """The error for an empty required field."""
    return RowError(field, f"required field '{field}' is missing or empty")


def bad_enum(field: str, value: str, allowed: tuple[str, ...]) -> RowError:
    """The error for a value outside an enumeration."""
    return RowError(field, f"unknown {field} '{value}'; use one of: {', '.join(allowed)}")


def bad_time(field: str, value: str) -> RowError:
    """The error for a timestamp that cannot be parsed."""
    return RowError(field, f"cannot read {field} '{value}' as a time; {TIME_HINT}")


def in_the_future(field: str, value: str, now: datetime) -> RowError:
    """The error for a time more than ``FUTURE_SLACK`` after ``now`` (aware)."""
    return RowError(field, f"in the future: {field} {value} is more than "
                           f"{int(FUTURE_SLACK.total_seconds() // 60)} minutes after now "
                           f"({now:%Y-%m-%d %H:%M} UTC); check the sender's clock and time zone")


def older_than_retention(field: str, value: str, horizon: datetime, days: int) -> RowError:
    """The error for a meter event before the retention horizon (``horizon`` aware)."""
    return RowError(field, f"older than retention: {field} {value} is before the retention "
                           f"horizon {horizon:%Y-%m-%d %H:%M} UTC ({days} days, "
                           "GRIDWATCH_METER_EVENT_RETENTION_DAYS); events this old are no "
                           "longer kept, so they cannot change interruptions")


def parse_time(field: str, value: str) -> datetime:
    """Parse a timestamp (naive = Asia/Shanghai) to UTC, or raise ``RowError``."""
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        raise bad_time(field, value) from None


def validate(spec: StreamSpec, row: dict[str, str | None],
             now: datetime | None = None) -> dict[str, str | datetime | None]:
    """Check one row against ``spec``; return values with times parsed to UTC.

    With ``now`` (aware), the times of ``spec.not_future`` must not be more than
    ``FUTURE_SLACK`` after it.
    """
    error = row.get("__error__")
    if error is not None:
        raise RowError("", str(error))
    for f in spec.required:
        if row.get(f) is None:
            raise missing(f)
    out: dict[str, str | datetime | None] = {}
    for f in spec.fields:
        value = row.get(f)
        if value is not None and "\x00" in value:
            raise RowError(f, f"{f} contains a NUL character")
        if value is not None and f in spec.enums and value not in spec.enums[f]:
            raise bad_enum(f, value, spec.enums[f])
        out[f] = value
    for f in spec.times:
        value = row.get(f)
        out[f] = None if value is None else parse_time(f, value)
    for f in spec.counts:
        out[f] = None if row.get(f) is None else parse_count(f, str(row[f]))
    for f in spec.flags:
        out[f] = parse_flag(f, row.get(f))
    for f in spec.powers:
        out[f] = None if row.get(f) is None else parse_kw(f, str(row[f]))
    for f in spec.dates:
        out[f] = None if row.get(f) is None else parse_date(f, str(row[f]))
    if now is not None:
        for f in spec.not_future:
            when = out[f]
            if isinstance(when, datetime) and when > now + FUTURE_SLACK:
                raise in_the_future(f, str(row[f]), now)
    if spec.span:
        start_f, end_f = spec.span
        start, end = out[start_f], out[end_f]
        if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
            hint = ("correct the times, or leave end_time empty while the outage lasts"
                    if end_f == "end_time" else
                    "supply cannot come on before the booked service; correct the times"
                    if end_f == "energized_at" else "correct the planned window")
            raise RowError(end_f, f"{end_f} {row[end_f]} is before {start_f} {row[start_f]}; {hint}")
    return out




def parse_count(field: str, value: str) -> str:
    """A whole number from 0 to ``MAX_COUNT`` (``51`` or ``51.0``) as plain text, or ``RowError``."""
    text = value.strip().removeprefix("+")
    if text.startswith("-") and text[1:].replace(".", "", 1).isdigit():
        raise RowError(field, f"{field} {value} is negative; give a number 0 or more")
    whole, _, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or frac.strip("0"):
        raise RowError(field, f"{field} '{value}' is not a whole number; give a count such as 51")
    if int(whole) > MAX_COUNT:
        raise RowError(field, f"{field} {value} is more than {MAX_COUNT}; check the value")
    return str(int(whole))


def parse_date(field: str, value: str) -> str:
    """A date (``2026-12-31``, or a timestamp's Beijing date) as ISO text, or ``RowError``."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return parse_timestamp(text).astimezone(LOCAL_TZ).date().isoformat()
    except (ValueError, OverflowError):
        raise RowError(field, f"cannot read {field} '{value}' as a date; use YYYY-MM-DD, "
                              "e.g. 2026-12-31") from None


def parse_kw(field: str, value: str) -> str:
    """A power in kW from 0 to ``MAX_KW`` (``24``, ``24.5``, ``2.4e1``) as float text, or ``RowError``."""
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        raise RowError(field, f"{field} '{value}' is not a number; give kW as a plain decimal "
                              "number such as 24.5")
    kw = float(text)
    if not math.isfinite(kw) or kw > MAX_KW:
        raise RowError(field, f"{field} {value} is more than {MAX_KW:,.0f} kW; check the unit "
                              "(kW, not W)")
    if kw < 0:
        raise RowError(field, f"{field} {value} is negative; give kW as a number 0 or more")
    return repr(kw + 0.0)


def parse_flag(field: str, value: str | None) -> str:
    """``true`` or ``false`` from true/false, 1/0, yes/no or 是/否 (empty is false)."""
    if value is None:
        return "false"
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    raise RowError(field, f"{field} '{value}' is not true or false; use true or false")


def copy_text(value: str | None) -> str:
    r"""A value in PostgreSQL COPY text format (``\N`` for NULL)."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return value
