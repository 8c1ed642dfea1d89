"""The working-day calendar (core/workdays.py, SPEC section 16, docs/connections.md).

The 2026 schedule is the State Council's, as the chinesecalendar package ships it: Spring
Festival 2026-02-15 (Sun) to 02-23 (Mon) off, Saturdays 02-14 and 02-28 worked; National Day
10-01 (Thu) to 10-07 (Wed) off with Mid-Autumn 09-25 to 09-27, Sunday 09-20 and Saturday 10-10
worked; New Year 01-01 to 01-03 off, Sunday 01-04 worked.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.workdays import (
    CalendarError,
    HolidaysFileError,
    UnknownYear,
    build,
    calendar,
    ensure_table,
    parse_holidays,
)

CAL = calendar()


def test_the_package_knows_2026_with_its_adjusted_working_weekends() -> None:
    assert (CAL.first_year, CAL.last_year) == (2004, 2026)
    assert CAL.is_workday(date(2026, 2, 14))          # Saturday, worked before the Spring Festival
    assert not CAL.is_workday(date(2026, 2, 16))      # Monday in the Spring Festival
    assert CAL.is_workday(date(2026, 2, 28))          # Saturday, worked after it
    assert CAL.is_workday(date(2026, 10, 10))         # Saturday, worked after National Day
    assert not CAL.is_workday(date(2026, 10, 11))     # an ordinary Sunday
    assert not CAL.is_workday(date(2026, 10, 7))      # Wednesday, National Day


def test_working_days_across_the_spring_festival() -> None:
    # (Thu 02-12, Thu 02-26]: Fri 13 (1), Sat 14 worked (2), Sun 15 .. Mon 23 off,
    # Tue 24 (3), Wed 25 (4), Thu 26 (5). Fri 27 would be the 6th.
    assert CAL.count(date(2026, 2, 12), date(2026, 2, 26)) == 5
    assert CAL.count(date(2026, 2, 12), date(2026, 2, 27)) == 6


def test_working_days_across_national_day() -> None:
    # (Mon 09-28, Mon 10-12]: Tue 29 (1), Wed 30 (2), 10-01 .. 10-07 off, Thu 8 (3), Fri 9 (4),
    # Sat 10 worked (5), Sun 11 off, Mon 12 (6).
    assert CAL.count(date(2026, 9, 28), date(2026, 10, 12)) == 6
    # (Fri 09-18, Mon 09-21]: Sat 19 off, Sun 20 worked (1), Mon 21 (2).
    assert CAL.count(date(2026, 9, 18), date(2026, 9, 21)) == 2


def test_the_booking_day_does_not_count_and_the_same_day_is_zero() -> None:
    assert CAL.count(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert CAL.count(date(2026, 3, 2), date(2026, 3, 3)) == 1      # Mon -> Tue


def test_the_fifth_working_day_of_a_month_that_starts_with_a_holiday() -> None:
    # October 2026: 1-7 off; Thu 8 (1), Fri 9 (2), Sat 10 worked (3), Mon 12 (4), Tue 13 (5).
    assert CAL.nth(2026, 10, 5) == date(2026, 10, 13)
    # January 2026: 1-3 off; Sun 4 worked (1), Mon 5 (2), Tue 6 (3), Wed 7 (4), Thu 8 (5).
    assert CAL.nth(2026, 1, 5) == date(2026, 1, 8)
    # February 2026 starts on a Sunday: Mon 2 .. Fri 6.
    assert CAL.nth(2026, 2, 5) == date(2026, 2, 6)


def test_a_year_outside_the_calendar_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownYear) as err:
        CAL.is_workday(date(2027, 1, 4))
    assert err.value.year == 2027 and "no year 2027" in err.value.detail
    assert "GRIDWATCH_HOLIDAYS_FILE" in err.value.detail
    assert (err.value.http_status, err.value.exit_code) == (422, 1)
    with pytest.raises(UnknownYear, match="no year 2003"):
        CAL.count(date(2003, 12, 30), date(2004, 1, 5))


HOLIDAYS_2027 = """\ufeffdate,kind,name
# A made-up 2027 for the tests: New Year's Day, and a Saturday worked.
2027-01-01,holiday,元旦
2027-01-09,workday,调休

2027-02-08,holiday,春节
"""


def test_the_holidays_file_adds_a_year(tmp_path: Path) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text(HOLIDAYS_2027, encoding="utf-8")
    cal = calendar(path)
    assert (cal.first_year, cal.last_year) == (2004, 2027)
    assert cal.sources[2027] == "GRIDWATCH_HOLIDAYS_FILE" and cal.sources[2026].startswith("chinese")
    assert not cal.is_workday(date(2027, 1, 1))       # Friday, listed as a holiday
    assert cal.is_workday(date(2027, 1, 9))           # Saturday, listed as worked
    assert cal.is_workday(date(2027, 1, 4))           # an ordinary Monday
    # (Thu 2026-12-31, Mon 2027-01-11]: Fri 1 off, Mon 4 .. Fri 8 (5), Sat 9 (6), Mon 11 (7).
    assert cal.count(date(2026, 12, 31), date(2027, 1, 11)) == 7
    # January 2027: Mon 4, Tue 5, Wed 6, Thu 7, Fri 8: the 5th is the 8th.
    assert cal.nth(2027, 1, 5) == date(2027, 1, 8)


def test_a_year_in_the_file_replaces_the_package_year_entirely(tmp_path: Path) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text("date,kind\n2026-10-02,holiday\n", encoding="utf-8")
    cal = calendar(path)
    assert not cal.is_workday(date(2026, 10, 2))      # the file's one holiday
    assert cal.is_workday(date(2026, 10, 1))          # no longer a holiday: not in the file
    assert not cal.is_workday(date(2026, 10, 10))     # no longer worked: a plain Saturday
    assert cal.is_workday(date(2025, 10, 9))          # 2025 is still the package's
    assert cal.digest != CAL.digest


@pytest.mark.parametrize(("content", "message"), [
    ("day,kind\n2027-01-01,holiday\n", "line 1: the header must name the columns date and kind"),
    ("date,kind\n2027-01-01,holiday\n2027-13-01,holiday\n", "line 3: date '2027-13-01' is not a date"),
    ("date,kind\n2027-1-1,holiday\n", "line 2: date '2027-1-1' is not a date"),
    ("date,kind\n2027-01-01,vacation\n", "line 2: kind 'vacation' is not holiday or workday"),
    ("date,kind\n2027-01-01,holiday\n\n2027-01-01,holiday\n",
     "line 4: 2027-01-01 is already given on line 2"),
    ("date,kind\n2027-01-06,workday\n", "line 2: 2027-01-06 is a Wednesday, a working day already"),
])
def test_a_bad_holidays_file_says_which_line_and_why(content: str, message: str) -> None:
    with pytest.raises(HolidaysFileError) as err:
        parse_holidays(content)
    assert message in err.value.detail, err.value.detail


def test_known_years_must_follow_one_another(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("date,kind\n2028-01-03,holiday\n", encoding="utf-8")
    with pytest.raises(HolidaysFileError, match="gives 2028 but not 2027"):
        build(path)
    with pytest.raises(HolidaysFileError, match="cannot be read"):
        calendar(tmp_path / "missing.csv")


def test_the_table_gives_the_same_counts_and_is_filled_once(db_session: Session) -> None:
    s = db_session
    assert ensure_table(session=s, cal=CAL) is True
    assert ensure_table(session=s, cal=CAL) is False            # unchanged: nothing written

    def between(a: str, b: str) -> int:
        return int(s.execute(text(
            "SELECT e.ordinal - b.ordinal FROM workday_calendar b, workday_calendar e "
            "WHERE b.day = :a AND e.day = :b"), {"a": a, "b": b}).scalar_one())

    assert between("2026-02-12", "2026-02-26") == 5
    assert between("2026-09-28", "2026-10-12") == 6
    days = s.execute(text("SELECT count(*), min(day), max(day) FROM workday_calendar")).one()
    assert tuple(days) == (8401, date(2004, 1, 1), date(2026, 12, 31))   # 2004..2026: 23 years
    # A set-based check of the whole table against the one function: the same every day.
    flags = dict(s.execute(text("SELECT day, workday FROM workday_calendar "
                                "WHERE day >= '2026-01-01'")).all())
    assert all(CAL.is_workday(d) == w for d, w in flags.items())


def test_a_stale_table_on_a_read_only_connection_is_a_clear_error(db_session: Session) -> None:
    s = db_session
    s.execute(text("DELETE FROM workday_calendar_meta"))
    s.execute(text("SET LOCAL transaction_read_only = on"))
    with pytest.raises(CalendarError, match="read-only"):
        ensure_table(session=s, cal=CAL)
