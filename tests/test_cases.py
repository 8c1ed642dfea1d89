"""Remediation cases (SPEC section 8): opening, audit trail, sign-off conditions, recurrence."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.errors import Conflict, NotFound, UsageError
from core.settings import Settings
from monitoring.cases import service
from tests.builders import add_area, add_feeder, add_outage

SETTINGS = Settings(verification_days=60)


def t(*args: int) -> datetime:
    """A local (Asia/Shanghai) time."""
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[arg-type,misc]


def set_status(session: Session, asset_id: str, status: str, as_of: datetime,
               asset_type: str = "area") -> None:
    session.execute(
        text("INSERT INTO asset_status (asset_type, asset_id, as_of, count_365, max_60, status) "
             "VALUES (:t, :a, :o, 6, 3, :s) ON CONFLICT (asset_type, asset_id) DO UPDATE "
             "SET status = EXCLUDED.status, as_of = EXCLUDED.as_of"),
        {"t": asset_type, "a": asset_id, "o": as_of, "s": status},
    )


@pytest.fixture
def area(db_session: Session) -> str:
    add_feeder(db_session, "F1")
    add_area(db_session, "A1", "F1")
    add_area(db_session, "A2", "F1")
    return "A1"


def completed_case(session: Session, *, completion: str = "2026-05-01", note: str | None = "site visit ok"
                   ) -> int:
    set_status(session, "A1", "frequent", t(2026, 3, 1))
    (case,) = service.open_cases(session=session, settings=SETTINGS, at=t(2026, 3, 1))
    cid = case["case_id"]
    service.update_case(session=session, case_id=cid, actor="李工", at=t(2026, 3, 2),
                        changes={"status": "in_progress", "measures": "更换配变, 线路改造",
                                 "responsible_unit": "花溪供电局", "due_date": "2026-06-30"})
    changes = {"status": "completed", "completion_date": completion}
    if note:
        changes["verification_note"] = note
    service.update_case(session=session, case_id=cid, actor="李工", at=t(2026, 5, 1, 18), changes=changes)
    return cid


def test_frequent_asset_gets_one_open_case(db_session: Session, area: str) -> None:
    set_status(db_session, "A1", "frequent", t(2026, 3, 1))
    set_status(db_session, "A2", "at_risk", t(2026, 3, 1))
    opened = service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 3, 1, 8))
    assert [(c["asset_id"], c["status"]) for c in opened] == [("A1", "open")]
    assert opened[0]["history"][0]["field"] == "status"
    assert opened[0]["history"][0]["new_value"] == "open"
    # A second run does not open a second case for the same asset.
    assert service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 3, 2)) == []
    assert len(service.list_cases(session=db_session, status="open")) == 1


def test_audit_trail_records_every_field_change(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)
    case = service.get_case(session=db_session, case_id=cid)
    changes = {(h["actor"], h["field"], h["old_value"], h["new_value"]) for h in case["history"]}
    assert ("李工", "status", "open", "in_progress") in changes
    assert ("李工", "measures", None, "更换配变, 线路改造") in changes
    assert ("李工", "responsible_unit", None, "花溪供电局") in changes
    assert ("李工", "due_date", None, "2026-06-30") in changes
    assert ("李工", "status", "in_progress", "completed") in changes
    assert ("李工", "completion_date", None, "2026-05-01") in changes
    assert ("李工", "verification_note", None, "site visit ok") in changes
    when = {h["field"]: h["at"] for h in case["history"] if h["actor"] == "李工"}
    assert when["measures"] == t(2026, 3, 2)
    # An internal note change is audited too, with old and new values.
    service.update_case(session=db_session, case_id=cid, actor="王工", at=t(2026, 5, 2),
                        changes={"internal_note": "班组已复查"})
    service.update_case(session=db_session, case_id=cid, actor="赵工", at=t(2026, 5, 3),
                        changes={"internal_note": "复查完毕"})
    hist = service.get_case(session=db_session, case_id=cid)["history"]
    notes = [(h["actor"], h["old_value"], h["new_value"]) for h in hist if h["field"] == "internal_note"]
    assert notes == [("王工", None, "班组已复查"), ("赵工", "班组已复查", "复查完毕")]


def test_invalid_changes_are_refused(db_session: Session, area: str) -> None:
    set_status(db_session, "A1", "frequent", t(2026, 3, 1))
    (case,) = service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 3, 1))
    cid = case["case_id"]
    with pytest.raises(Conflict, match="open to completed"):
        service.update_case(session=db_session, case_id=cid, changes={"status": "completed"},
                            actor="x", at=t(2026, 3, 2))
    with pytest.raises(Conflict, match="sign-off"):
        service.update_case(session=db_session, case_id=cid, changes={"status": "closed"},
                            actor="x", at=t(2026, 3, 2))
    with pytest.raises(UsageError, match="asset_id"):
        service.update_case(session=db_session, case_id=cid, changes={"asset_id": "A2"},
                            actor="x", at=t(2026, 3, 2))
    with pytest.raises(UsageError, match="date"):
        service.update_case(session=db_session, case_id=cid, changes={"due_date": "soon"},
                            actor="x", at=t(2026, 3, 2))
    with pytest.raises(NotFound):
        service.get_case(session=db_session, case_id=999999)
    with pytest.raises(NotFound):
        service.sign_off(session=db_session, settings=SETTINGS, case_id=999999, actor="x",
                         at=t(2026, 3, 2))
    with pytest.raises(Conflict, match="only a completed case"):
        service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="x",
                         at=t(2026, 3, 2))
    assert [h["field"] for h in service.get_case(session=db_session, case_id=cid)["history"]] == ["status"]


def test_sign_off_refused_before_verification_period(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)  # completed 2026-05-01: 60 days run to 2026-07-01 00:00
    with pytest.raises(Conflict) as err:
        service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管",
                         at=t(2026, 6, 30, 23, 59))
    assert "verification period" in err.value.detail
    assert "interruption" not in err.value.detail and "note" not in err.value.detail
    done = service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管",
                            at=t(2026, 7, 1))
    assert done["status"] == "closed"
    assert done["signed_off_by"] == "监管"
    assert ("status", "completed", "closed") in {
        (h["field"], h["old_value"], h["new_value"]) for h in done["history"]}


def test_sign_off_refused_after_counted_interruption(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)
    # On the completion day itself (the remediation work): does not block.
    add_outage(db_session, "o-work", "area", "A1", t(2026, 5, 1, 9), t(2026, 5, 1, 15), "planned")
    # Weather, and a 2-minute fault, do not count either.
    add_outage(db_session, "o-wx", "area", "A1", t(2026, 5, 10), t(2026, 5, 10, 5), "weather")
    add_outage(db_session, "o-short", "area", "A1", t(2026, 5, 11), t(2026, 5, 11, 0, 2), "fault")
    assert service.sign_off_failures(
        session=db_session, settings=SETTINGS,
        case=service.get_case(session=db_session, case_id=cid), at=t(2026, 8, 1)) == []
    # A fault on the feeder interrupts the area after completion: refused, and says why.
    add_outage(db_session, "o-f", "feeder", "F1", t(2026, 6, 2, 10), t(2026, 6, 2, 11), "fault")
    with pytest.raises(Conflict) as err:
        service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管",
                         at=t(2026, 8, 1))
    assert "counted interruption since completion" in err.value.detail
    assert "verification period" not in err.value.detail and "note" not in err.value.detail
    assert service.get_case(session=db_session, case_id=cid)["status"] == "completed"


def test_sign_off_refused_without_verification_note(db_session: Session, area: str) -> None:
    cid = completed_case(db_session, note=None)
    with pytest.raises(Conflict) as err:
        service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管",
                         at=t(2026, 8, 1))
    assert "verification note" in err.value.detail
    assert "verification period" not in err.value.detail and "interruption" not in err.value.detail
    service.update_case(session=db_session, case_id=cid, actor="李工", at=t(2026, 8, 1),
                        changes={"verification_note": "客户回访: 无停电"})
    case = service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管",
                            at=t(2026, 8, 2), note="同意销号")
    assert case["status"] == "closed" and case["verified_by"] == "李工"
    with pytest.raises(Conflict, match="closed"):
        service.update_case(session=db_session, case_id=cid, actor="x", at=t(2026, 8, 3),
                            changes={"measures": "more"})


def test_rework_clears_completion_and_verification(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)
    case = service.update_case(session=db_session, case_id=cid, actor="李工", at=t(2026, 5, 5),
                               changes={"status": "in_progress"})
    assert case["completion_date"] is None and case["verification_note"] is None


def test_recurrence_opens_a_new_case_only_on_new_interruptions(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)
    service.sign_off(session=db_session, settings=SETTINGS, case_id=cid, actor="监管", at=t(2026, 7, 2))
    # Still `frequent` from the old interruptions: no new case.
    set_status(db_session, "A1", "frequent", t(2026, 7, 3))
    assert service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 7, 3)) == []
    # A new counted interruption, and still (again) frequent: a new case.
    add_outage(db_session, "o-new", "area", "A1", t(2026, 7, 10), t(2026, 7, 10, 2), "fault")
    set_status(db_session, "A1", "frequent", t(2026, 7, 10, 3))
    opened = service.open_cases(session=db_session, settings=SETTINGS, at=t(2026, 7, 10, 3))
    assert [c["asset_id"] for c in opened] == ["A1"]
    assert opened[0]["case_id"] != cid
    cases = service.list_cases(session=db_session)
    assert sorted(c["status"] for c in cases) == ["closed", "open"]


def test_sign_off_waits_the_configured_days(db_session: Session, area: str) -> None:
    cid = completed_case(db_session)
    short = Settings(verification_days=10)
    end = service.verification_start(datetime(2026, 5, 1).date()) + timedelta(days=10)
    assert end == t(2026, 5, 12)
    with pytest.raises(Conflict, match="verification period"):
        service.sign_off(session=db_session, settings=short, case_id=cid, actor="x",
                         at=end - timedelta(seconds=1))
    assert service.sign_off(session=db_session, settings=short, case_id=cid, actor="x",
                            at=end)["status"] == "closed"
