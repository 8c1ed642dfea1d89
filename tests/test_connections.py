"""Connection times and the monthly upgrade filing (SPEC section 16, docs/connections.md).

Working days come from the 2026 schedule (tests/test_workdays.py lists it). Every count below is
worked out by hand beside the assertion.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.errors import Conflict
from core.settings import Settings
from core.workdays import UnknownYear
from monitoring.alerts import features
from monitoring.alerts.evaluate import evaluate_alerts
from monitoring.connections import filing, times
from monitoring.connections.alerts import RULES
from monitoring.reports import connection_times, upgrade_filing
from tests.builders import add_area, add_feeder

SETTINGS = Settings()
AS_OF = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)        # 12:00 Beijing, Saturday 2026-11-28


def bj(text_: str) -> datetime:
    """A Beijing wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text_).replace(tzinfo=LOCAL_TZ)


def app(s: Session, app_id: str, cls: str, booked: str, energized: str | None = None, *,
        external: bool = False, upgrade: bool = False, estimate: int | None = None,
        county: str | None = None, area: str | None = None) -> None:
    s.execute(text(
        "INSERT INTO application (app_id, area_id, county, customer_class, external_works, "
        "booked_at, energized_at, needs_upgrade, upgrade_estimated_days) "
        "VALUES (:a, :area, :c, :cls, :x, :b, :e, :u, :est)"),
        {"a": app_id, "area": area, "c": county, "cls": cls, "x": external, "b": bj(booked),
         "e": bj(energized) if energized else None, "u": upgrade, "est": estimate})


def month(s: Session, label: str, as_of: datetime = AS_OF) -> dict[str, tuple[Any, ...]]:
    rep = connection_times.build(session=s, settings=SETTINGS, month=label, as_of=as_of)
    assert rep.columns == ["app_id", "customer_class", "limit_days", "elapsed_days", "status"]
    return {r["app_id"]: (r["limit_days"], r["elapsed_days"], r["status"]) for r in rep.rows}


def test_elapsed_at_the_limit_is_ok_and_one_more_day_is_over(db_session: Session) -> None:
    s = db_session
    # Spring Festival, lv_resident (limit 5): (Thu 02-12, Thu 02-26] = Fri 13, Sat 14 (worked),
    # [15..23 off], Tue 24, Wed 25, Thu 26 = 5; to Fri 02-27 = 6.
    app(s, "SF-OK", "lv_resident", "2026-02-12 10:00", "2026-02-26 16:00")
    app(s, "SF-OVER", "lv_resident", "2026-02-12 10:00", "2026-02-27 09:00")
    # Booked at 01:00 Beijing on Fri 02-13 (still 02-12 in UTC): (Fri 13, Thu 26] = Sat 14,
    # Tue 24, Wed 25, Thu 26 = 4. The local date counts.
    app(s, "SF-LOCAL", "lv_resident", "2026-02-13 01:00", "2026-02-26 16:00")
    # Same day: 0 working days.
    app(s, "SAME", "hv_dual", "2026-02-27 09:00", "2026-02-27 17:30")
    assert month(s, "2026-02") == {
        "SF-OK": (5, 5, "ok"), "SF-OVER": (5, 6, "over_limit"), "SF-LOCAL": (5, 4, "ok"),
        "SAME": (32, 0, "ok")}


def test_across_national_day_with_the_adjusted_saturday(db_session: Session) -> None:
    s = db_session
    # lv_other (limit 6): (Mon 09-28, Mon 10-12] = Tue 29, Wed 30, [10-01..07 off], Thu 8,
    # Fri 9, Sat 10 (worked), Mon 12 = 6 (ok); to Tue 10-13 = 7 (over).
    app(s, "ND-OK", "lv_other", "2026-09-28 09:00", "2026-10-12 15:00")
    app(s, "ND-OVER", "lv_other", "2026-09-28 09:00", "2026-10-13 15:00")
    # lv_three_zero with external works: limit 15. (Fri 09-18, Fri 10-16] = Sun 20 (worked),
    # Mon 21 .. Thu 24 (4), [25..27 off], Mon 28 .. Wed 30 (3), [10-01..07 off], Thu 8, Fri 9,
    # Sat 10 (3), Mon 12 .. Fri 16 (5) = 1 + 4 + 3 + 3 + 5 = 16: over.
    app(s, "TZ-EXT", "lv_three_zero", "2026-09-18 09:00", "2026-10-16 15:00", external=True)
    # hv_single: 22.
    app(s, "HV", "hv_single", "2026-10-09 09:00", "2026-10-12 09:00")
    assert month(s, "2026-10") == {
        "ND-OK": (6, 6, "ok"), "ND-OVER": (6, 7, "over_limit"), "TZ-EXT": (15, 16, "over_limit"),
        "HV": (22, 2, "ok")}
    # September: booked in it (ND-*, TZ-EXT); HV was booked in October and is not listed.
    assert set(month(s, "2026-09")) == {"ND-OK", "ND-OVER", "TZ-EXT"}


def test_an_open_application_becomes_at_risk_then_over_and_alerts(db_session: Session) -> None:
    s = db_session
    add_feeder(s, "F1")
    add_area(s, "A1", "F1")
    # lv_resident booked Fri 11-20. At Fri 11-27: Mon 23 .. Fri 27 = 5 = the limit, open: at_risk.
    app(s, "OPEN", "lv_resident", "2026-11-20 10:00", area="A1")
    # Energized on Fri 11-27 after 5 working days: closed at the limit is ok, never at_risk.
    app(s, "CLOSED", "lv_resident", "2026-11-20 10:00", "2026-11-27 11:00")
    # Energized later than the as-of time: at 11-27 it was still open.
    app(s, "LATER", "lv_resident", "2026-11-20 10:00", "2026-11-27 18:00")
    fri = bj("2026-11-27 17:00")
    assert month(s, "2026-11", fri) == {"OPEN": (5, 5, "at_risk"), "CLOSED": (5, 5, "ok"),
                                        "LATER": (5, 5, "at_risk")}

    def firing() -> dict[str, str]:
        return dict(s.execute(text("SELECT subject_id, rule FROM alert WHERE state = 'firing' "
                                   "AND subject_type = 'application' ORDER BY 1")).all())

    evaluate_alerts(session=s, settings=SETTINGS, as_of=fri, only=RULES)
    assert firing() == {"LATER": "connection_at_risk", "OPEN": "connection_at_risk"}
    summary = s.execute(text("SELECT summary FROM alert WHERE subject_id = 'OPEN'")).scalar_one()
    assert "used 5 of its 5 working days" in summary and "area A1" in summary
    # On the map (OGC alerts) the alert stands at the application's area; LATER names none.
    _, feats = features.items(session=s, state="firing")
    placed = {f["properties"]["subject_id"]: f["geometry"] for f in feats}
    assert placed["OPEN"] is not None and placed["LATER"] is None
    # Saturday 11-28 is not a working day: still 5, still at risk. LATER is energized by then.
    evaluate_alerts(session=s, settings=SETTINGS, as_of=AS_OF, only=RULES)
    assert firing() == {"OPEN": "connection_at_risk"}
    # Monday 11-30: 6 > 5, over the limit: at_risk resolves, the critical over_limit fires.
    mon = bj("2026-11-30 09:00")
    evaluate_alerts(session=s, settings=SETTINGS, as_of=mon, only=RULES)
    assert firing() == {"OPEN": "connection_over_limit"}
    assert s.execute(text("SELECT severity FROM alert WHERE rule = 'connection_over_limit'")
                     ).scalar_one() == "critical"
    # Energized at last: the alert resolves.
    s.execute(text("UPDATE application SET energized_at = :e WHERE app_id = 'OPEN'"),
              {"e": bj("2026-11-30 15:00")})
    evaluate_alerts(session=s, settings=SETTINGS, as_of=bj("2026-11-30 16:00"), only=RULES)
    assert firing() == {}
    states = dict(s.execute(text("SELECT rule, state FROM alert WHERE subject_id = 'OPEN'")).all())
    assert states == {"connection_at_risk": "resolved", "connection_over_limit": "resolved"}


def test_the_summary_by_class_and_by_county(db_session: Session) -> None:
    s = db_session
    s.execute(text("INSERT INTO admin_division (adcode, name, level, geom) VALUES "
                   "('520111', '花溪区', 'county', ST_GeomFromEWKT(:g))"),
              {"g": "SRID=4326;MULTIPOLYGON(((106 26,107 26,107 27,106 27,106 26)))"})
    add_feeder(s, "F1")
    add_area(s, "A1", "F1")
    s.execute(text("INSERT INTO asset_region (asset_type, asset_id, county_adcode) "
                   "VALUES ('area', 'A1', '520111')"))
    # lv_resident, all booked Mon 11-02: energized after 1, 2, 3 and 10 working days
    # (Tue 3, Wed 4, Thu 5, Mon 16: 3-6, 9-13, 16), one still open (by Fri 11-20: 3-6, 9-13,
    # 16-20 = 14 working days, over the limit).
    for n, day in enumerate(["03", "04", "05", "16"], start=1):
        app(s, f"R{n}", "lv_resident", "2026-11-02 09:00", f"2026-11-{day} 15:00", county="520111")
    app(s, "R-OPEN", "lv_resident", "2026-11-02 09:00", area="A1")       # county from its area
    app(s, "O1", "lv_other", "2026-11-02 09:00", "2026-11-04 10:00", county="观山湖区")
    rep = connection_times.build(session=s, settings=SETTINGS, month="2026-11",
                                 as_of=bj("2026-11-20 12:00"), by_county=True, summary=True)
    got = {(r["county"], r["customer_class"]): r for r in rep.rows}
    r = got[("花溪区", "lv_resident")]
    # Energized: 1, 2, 3, 10. Median (2 + 3) / 2 = 2.5; p90 at position 0.9 × 3 = 2.7:
    # 3 + 0.7 × (10 − 3) = 7.9. The open one (14 days by 11-20) is counted, not in the median.
    assert (r["applications"], r["energized"], r["open"], r["ok"], r["over_limit"]) == (5, 4, 1, 3, 2)
    assert (r["median_days"], r["p90_days"]) == (2.5, 7.9)
    assert got[("观山湖区", "lv_other")]["median_days"] == 2.0             # Tue 3, Wed 4
    assert got[("花溪区", "all")]["applications"] == 5
    assert got[("all", "all")]["applications"] == 6
    assert list(got)[-1] == ("all", "all")
    plain = connection_times.build(session=s, settings=SETTINGS, month="2026-11",
                                   as_of=bj("2026-11-20 12:00"))
    assert [x["customer_class"] for x in plain.meta["summary"]] == ["lv_resident", "lv_other", "all"]
    assert sorted(x["app_id"] for x in plain.meta["over_limit"]) == ["R-OPEN", "R4"]


def test_a_year_missing_from_the_calendar_is_an_error_naming_it(db_session: Session) -> None:
    s = db_session
    app(s, "OLD", "lv_resident", "2003-12-29 09:00")
    with pytest.raises(UnknownYear, match="no year 2027"):
        times.applications(session=s, settings=SETTINGS, start=bj("2026-12-01 00:00"),
                           end=bj("2027-01-01 00:00"), as_of=bj("2027-01-04 09:00"))
    with pytest.raises(UnknownYear, match="no year 2003"):         # open since 2003
        connection_times.build(session=s, settings=SETTINGS, month="2026-11", as_of=AS_OF)
    with pytest.raises(UnknownYear, match="no year 2027"):         # the 2027-01 deadline
        filing.ledger(session=s, settings=SETTINGS, month="2027-01", as_of=AS_OF)


def _ledger(s: Session, label: str, as_of: datetime) -> list[tuple[Any, ...]]:
    rep = upgrade_filing.build(session=s, settings=SETTINGS, month=label, as_of=as_of)
    assert rep.columns == ["app_id", "customer_class", "external_works", "booked_at", "limit_days",
                           "upgrade_estimated_days", "upgrade_due", "carried_over", "deadline"]
    return [(r["app_id"], r["limit_days"], r["upgrade_estimated_days"], r["carried_over"],
             r["deadline"]) for r in rep.rows]


def test_the_monthly_filing_is_marked_once_and_missed_ones_come_back(db_session: Session) -> None:
    s = db_session
    app(s, "S1", "lv_resident", "2026-08-20 09:00", upgrade=True, estimate=30)    # before Sep
    app(s, "S2", "lv_other", "2026-09-15 09:00", upgrade=True, estimate=7)        # 7 > 6
    app(s, "S3", "lv_three_zero", "2026-09-20 09:00", external=True, upgrade=True,
        estimate=15)                                                                # 15 = limit
    app(s, "S4", "hv_single", "2026-09-01 09:00", upgrade=True, estimate=60)      # not low voltage
    app(s, "S5", "lv_resident", "2026-09-01 09:00", upgrade=False, estimate=30)   # no upgrade
    app(s, "S6", "lv_resident", "2026-10-05 09:00", upgrade=True, estimate=20)    # booked in Oct
    # The October ledger on 10-09, before its deadline, the 5th working day: Thu 8, Fri 9,
    # Sat 10 (worked), Mon 12, Tue 13 → 2026-10-13. S1 was booked before September: carried over.
    oct_due = "2026-10-13"
    assert _ledger(s, "2026-10", bj("2026-10-09 10:00")) == [
        ("S1", 5, 30, True, oct_due), ("S2", 6, 7, False, oct_due)]
    done = filing.mark_filed(session=s, settings=SETTINGS, month="2026-10", filed_by="张工",
                             at=bj("2026-10-09 10:00"))
    assert (done["filed"], done["app_ids"], done["deadline"]) == (2, ["S1", "S2"], date(2026, 10, 13))
    again = filing.mark_filed(session=s, settings=SETTINGS, month="2026-10", filed_by="张工",
                              at=bj("2026-10-09 11:00"))
    assert (again["filing_id"], again["filed"]) == (None, 0)        # nothing filed twice
    assert s.execute(text("SELECT count(*) FROM upgrade_filing")).scalar_one() == 1
    assert s.execute(text("SELECT filed_by FROM upgrade_filing")).scalar_one() == "张工"
    # S7 (booked 09-03) reaches gridwatch only after the October filing: missed, so November
    # lists it as carried over (前期漏报). S6, booked in October, is new. S1 and S2 are not repeated.
    app(s, "S7", "lv_other", "2026-09-03 09:00", upgrade=True, estimate=10)
    nov_due = "2026-11-06"                                          # Mon 2 .. Fri 6
    assert _ledger(s, "2026-11", bj("2026-11-05 10:00")) == [
        ("S7", 6, 10, True, nov_due), ("S6", 5, 20, False, nov_due)]
    # The October ledger, produced again, shows what was filed, as it was filed, and what is
    # still owed for it. As of before the filing nothing is filed yet; the applications are
    # those stored now (S7 included: the as-of time reproduces the filings, not the arrivals).
    rows = _ledger(s, "2026-10", bj("2026-11-05 10:00"))
    assert [(r[0], r[3]) for r in rows] == [("S1", True), ("S7", False), ("S2", False)]
    before = upgrade_filing.build(session=s, settings=SETTINGS, month="2026-10",
                                  as_of=bj("2026-10-09 09:00"))
    assert (before.meta["filed"], before.meta["to_file"], before.meta["filings"]) == (0, 3, [])
    nov = filing.mark_filed(session=s, settings=SETTINGS, month="2026-11", filed_by="李工",
                            at=bj("2026-11-05 10:00"))
    assert nov["app_ids"] == ["S7", "S6"]
    stored = dict(s.execute(text("SELECT app_id, carried_over FROM upgrade_filing_item")).all())
    assert stored == {"S1": True, "S2": False, "S6": False, "S7": True}
    # Marked for a month that has not begun: refused.
    with pytest.raises(Conflict, match="from then on"):
        filing.mark_filed(session=s, settings=SETTINGS, month="2026-12", filed_by="x",
                          at=bj("2026-11-20 10:00"))


def test_a_month_with_nothing_to_file_is_still_recorded_once(db_session: Session) -> None:
    s = db_session
    first = filing.mark_filed(session=s, settings=SETTINGS, month="2026-07", filed_by="王工",
                              at=bj("2026-07-03 09:00"))
    assert (first["filed"], first["filing_id"] is not None) == (0, True)
    second = filing.mark_filed(session=s, settings=SETTINGS, month="2026-07", filed_by="王工",
                               at=bj("2026-07-03 10:00"))
    assert second["filing_id"] is None
    rep = upgrade_filing.build(session=s, settings=SETTINGS, month="2026-07", as_of=AS_OF)
    assert rep.rows == [] and rep.meta["filings"][0]["rows"] == 0
    assert rep.meta["deadline"] == "2026-07-07"                     # Wed 1 .. Tue 7
    # Within ten minutes of the clock is allowed; a filing in the future is not.
    with pytest.raises(Conflict, match="future"):
        filing.mark_filed(session=s, settings=SETTINGS, month="2026-08", filed_by="x",
                          at=datetime.now(UTC) + timedelta(days=1))


def test_every_class_has_its_limits_and_the_demo_agrees() -> None:
    from monitoring.connections import CLASSES, LIMITS, limit_days
    from spatial.demo.connections import LIMITS as DEMO

    assert {c for c, _ in LIMITS} == set(CLASSES) and len(LIMITS) == 10
    assert [limit_days(c, False) for c in CLASSES] == [5, 5, 6, 22, 32]
    assert [limit_days(c, True) for c in CLASSES] == [15, 15, 6, 22, 32]
    assert all(DEMO[c] == (limit_days(c, False), limit_days(c, True)) for c in CLASSES)

