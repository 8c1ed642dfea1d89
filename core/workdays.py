"""China's working-day calendar (SPEC section 16): weekends, statutory holidays and 调休 working weekends.

The years come from the ``chinesecalendar`` package (2004 to the last year it ships) and from
``GRIDWATCH_HOLIDAYS_FILE``, a small CSV a person edits each November when the State Council
publishes the next year's schedule. A year in the file replaces the package's year entirely.
A date in a year neither knows is an error that names the year (``UnknownYear``): never a guess.

The file, UTF-8 (a BOM is accepted), a header row, then one row per day that differs from the
plain rule "Monday to Friday work, Saturday and Sunday rest"::

    date,kind,name
    2027-02-06,holiday,春节
    2027-02-14,workday,春节调休

``kind`` is ``holiday`` (a day off; a weekend day inside a holiday may be listed too) or
``workday`` (a Saturday or Sunday that is worked). ``name`` and any other column are for the
reader. Blank lines and lines starting with ``#`` are skipped. The known years must follow one
another: a year after a missing one is refused, since no count could cross the gap.

SQL counts working days through the table ``workday_calendar`` (migration 0101), one row per
day of the known years with ``ordinal``, the number of working days from the first known day up
to and including that day. So the working days in (a, b] are ``ordinal(b) - ordinal(a)``, one
join per date, set-based. ``ensure_table`` fills it from this module's calendar when what is
stored differs (a digest says), so the one function here is the one SQL uses.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property, lru_cache
from pathlib import Path

import chinese_calendar
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import GridwatchError

log = logging.getLogger(__name__)

SETTING = "GRIDWATCH_HOLIDAYS_FILE"
PACKAGE = f"chinesecalendar {chinese_calendar.__version__}"
KINDS = ("holiday", "workday")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MIN_YEAR, MAX_YEAR = 1949, 2200
LOCK = "SELECT pg_advisory_xact_lock(hashtext('gridwatch.workdays'))"


class CalendarError(GridwatchError):
    """The working-day calendar cannot answer (a bad holidays file, a read-only stale table)."""

    code = "calendar_unavailable"
    http_status = 500
    exit_code = 1


class UnknownYear(CalendarError):
    """A date in a year the calendar does not know: the year is named, nothing is guessed."""

    code = "calendar_year_unknown"
    http_status = 422

    def __init__(self, year: int, first: int, last: int, what: str = "") -> None:
        self.year = year
        about = f" ({what})" if what else ""
        super().__init__(
            f"the working-day calendar has no year {year}{about}: it knows {first}-{last} "
            f"({PACKAGE} and {SETTING}); add {year}'s holidays and adjusted working days to "
            f"the file named by {SETTING} (docs/connections.md)")


class HolidaysFileError(CalendarError):
    """``GRIDWATCH_HOLIDAYS_FILE`` cannot be read or has a bad line."""

    code = "holidays_file_invalid"


@dataclass(frozen=True)
class Calendar:
    """Known years [first_year, last_year], days off on weekdays and weekend days worked."""

    first_year: int
    last_year: int
    off: frozenset[date]
    on: frozenset[date]
    sources: dict[int, str] = field(default_factory=dict, compare=False)

    @property
    def first_day(self) -> date:
        """1 January of the first known year."""
        return date(self.first_year, 1, 1)

    @property
    def last_day(self) -> date:
        """31 December of the last known year."""
        return date(self.last_year, 12, 31)

    def require(self, day: date, what: str = "") -> None:
        """Raise ``UnknownYear`` unless ``day`` lies in a known year."""
        if not self.first_year <= day.year <= self.last_year:
            raise UnknownYear(day.year, self.first_year, self.last_year, what)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day in China (``UnknownYear`` outside the known years)."""
        self.require(day)
        if day in self.on:
            return True
        return day.weekday() < 5 and day not in self.off

    def count(self, after: date, until: date) -> int:
        """Working days in (after, until]: ``after`` does not count, ``until`` does (0 if until <= after)."""
        self.require(after)
        self.require(until)
        n, day = 0, after + timedelta(days=1)
        while day <= until:
            n += self.is_workday(day)
            day += timedelta(days=1)
        return n

    def nth(self, year: int, month: int, n: int) -> date:
        """The ``n``-th working day of a month (the filing deadline is the 5th)."""
        day = date(year, month, 1)
        self.require(day)
        seen = 0
        while day.month == month:
            if self.is_workday(day):
                seen += 1
                if seen == n:
                    return day
            day += timedelta(days=1)
        raise CalendarError(f"{year}-{month:02d} has fewer than {n} working days")

    def days(self) -> tuple[list[date], list[bool]]:
        """Every day of the known years and whether it is a working day."""
        days, flags = [], []
        day = self.first_day
        while day <= self.last_day:
            days.append(day)
            flags.append(self.is_workday(day))
            day += timedelta(days=1)
        return days, flags

    @cached_property
    def digest(self) -> str:
        """A fingerprint of what every day is; the stored table is current when it matches."""
        _, flags = self.days()
        raw = f"{self.first_year}:" + "".join("1" if f else "0" for f in flags)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _package_years() -> dict[int, tuple[set[date], set[date]]]:
    """Each year of the chinesecalendar package: (days off, weekend days worked)."""
    years: dict[int, tuple[set[date], set[date]]] = {}
    first = min(chinese_calendar.holidays).year
    last = max(chinese_calendar.holidays).year
    for y in range(first, last + 1):
        years[y] = (set(), set())
    for day in chinese_calendar.holidays:
        years[day.year][0].add(day)
    for day in chinese_calendar.workdays:
        years[day.year][1].add(day)
    return years


def parse_holidays(data: str, name: str = SETTING) -> dict[int, tuple[set[date], set[date]]]:
    """The years of a holidays file's text: (days off, weekend days worked) per year.

    Raises ``HolidaysFileError`` naming the line and what is wrong with it.
    """
    def bad(line: int, why: str) -> HolidaysFileError:
        return HolidaysFileError(f"{name} line {line}: {why}")

    lines = [(n, s) for n, s in enumerate(data.lstrip("\ufeff").splitlines(), start=1)
             if s.strip() and not s.lstrip().startswith("#")]
    if not lines:
        return {}
    def cells(text_: str) -> list[str]:
        return [c.strip() for c in next(csv.reader([text_]), [])]

    header = [h.lower() for h in cells(lines[0][1])]
    if "date" not in header or "kind" not in header:
        raise bad(lines[0][0], "the header must name the columns date and kind "
                               "(e.g. 'date,kind,name')")
    at_date, at_kind = header.index("date"), header.index("kind")
    years: dict[int, tuple[set[date], set[date]]] = {}
    seen: dict[date, int] = {}
    for line, content in lines[1:]:
        row = cells(content)
        raw = row[at_date] if at_date < len(row) else ""
        kind = (row[at_kind] if at_kind < len(row) else "").lower()
        try:
            day = date.fromisoformat(raw)
            if len(raw) != 10:
                raise ValueError(raw)
        except ValueError:
            raise bad(line, f"date {raw!r} is not a date; write it as YYYY-MM-DD") from None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise bad(line, f"{raw} is outside the years {MIN_YEAR}-{MAX_YEAR}")
        if kind not in KINDS:
            raise bad(line, f"kind {kind!r} is not holiday or workday")
        if day in seen:
            raise bad(line, f"{raw} is already given on line {seen[day]}")
        if kind == "workday" and day.weekday() < 5:
            raise bad(line, f"{raw} is a {WEEKDAYS[day.weekday()]}, a working day already; a "
                            "workday row names a Saturday or Sunday that is worked (调休)")
        seen[day] = line
        off, on = years.setdefault(day.year, (set(), set()))
        (off if kind == "holiday" else on).add(day)
    return years


def build(holidays_file: Path | None) -> Calendar:
    """The calendar: the package's years, with the file's years added or replacing them."""
    years = {y: (off, on, PACKAGE) for y, (off, on) in _package_years().items()}
    if holidays_file is not None:
        try:
            data = Path(holidays_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise HolidaysFileError(f"{SETTING} cannot be read: {reason}") from None
        for y, (off, on) in parse_holidays(data).items():
            years[y] = (off, on, SETTING)
    first, last = min(years), max(years)
    missing = [y for y in range(first, last + 1) if y not in years]
    if missing:
        later = min(y for y in years if y > missing[0])
        raise HolidaysFileError(
            f"{SETTING} gives {later} but not {missing[0]}; the known years must follow one "
            f"another, so add {missing[0]} too")
    return Calendar(
        first_year=first, last_year=last,
        off=frozenset(d for off, _, _ in years.values() for d in off),
        on=frozenset(d for _, on, _ in years.values() for d in on),
        sources={y: src for y, (_, _, src) in sorted(years.items())},
    )


@lru_cache(maxsize=8)
def _cached(path: str | None, stamp: tuple[int, int] | None) -> Calendar:
    return build(Path(path) if path else None)


def calendar(holidays_file: Path | None = None) -> Calendar:
    """The calendar for a holidays file (or none), rebuilt only when the file changes."""
    if holidays_file is None:
        return _cached(None, None)
    try:
        st = os.stat(holidays_file)
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    if stamp is None:
        return build(holidays_file)  # raises the readable error
    return _cached(str(holidays_file), stamp)


def ensure_table(*, session: Session, cal: Calendar) -> bool:
    """Bring ``workday_calendar`` in line with ``cal``; True when it was (re)filled.

    One small query when the stored digest already matches. Otherwise, under an advisory lock,
    every day of the known years is written again (some 8,000 rows, well under a second). Does
    not commit. On a read-only connection (a replica) a stale table is a ``CalendarError``.
    """
    stored = session.execute(text("SELECT digest FROM workday_calendar_meta WHERE id = 1")).scalar()
    if stored == cal.digest:
        return False
    if session.execute(text("SELECT current_setting('transaction_read_only')")).scalar() == "on":
        raise CalendarError(
            "the working-day calendar stored in the database is not the current one, and this "
            "connection is read-only (a replica); any report or monitoring run on the primary "
            "brings it up to date")
    session.execute(text(LOCK))
    stored = session.execute(text("SELECT digest FROM workday_calendar_meta WHERE id = 1")).scalar()
    if stored == cal.digest:
        return False
    days, flags = cal.days()
    session.execute(text("DELETE FROM workday_calendar"))
    session.execute(text(
        "INSERT INTO workday_calendar (day, workday, ordinal) "
        "SELECT d, w, sum(w::int) OVER (ORDER BY d) "
        "FROM unnest(CAST(:days AS date[]), CAST(:flags AS boolean[])) AS t(d, w)"),
        {"days": days, "flags": flags})
    session.execute(text(
        "INSERT INTO workday_calendar_meta (id, digest, first_year, last_year, filled_at) "
        "VALUES (1, :digest, :first, :last, clock_timestamp()) "
        "ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest, "
        "first_year = EXCLUDED.first_year, last_year = EXCLUDED.last_year, "
        "filled_at = EXCLUDED.filled_at"),
        {"digest": cal.digest, "first": cal.first_year, "last": cal.last_year})
    log.info("working-day calendar stored: %d-%d (%d days)", cal.first_year, cal.last_year, len(days))
    return True


def prepare(*, session: Session, holidays_file: Path | None) -> Calendar:
    """The calendar for the settings, with its table brought up to date in ``session``."""
    cal = calendar(holidays_file)
    ensure_table(session=session, cal=cal)
    return cal
