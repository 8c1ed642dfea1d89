"""Remediation cases (SPEC section 8): open, update with an audit trail, and sign off."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, parse_timestamp
from core.errors import Conflict, NotFound, UsageError
from core.settings import Settings
from core.sqlfiles import read

log = logging.getLogger(__name__)

STATUSES = ("open", "in_progress", "completed", "closed")
STATUS_LABELS = {"open": "待整治", "in_progress": "整治中", "completed": "已完成", "closed": "已销号"}
# Planner moves; `closed` is reached only through sign_off. completed -> in_progress is rework
# after a failed verification.
TRANSITIONS = {("open", "in_progress"), ("in_progress", "completed"), ("completed", "in_progress")}
EDITABLE = ("status", "measures", "responsible_unit", "due_date", "completion_date",
            "verification_note", "internal_note")
SYSTEM_ACTOR = "system"

_CASE_COLUMNS = (
    "case_id, asset_type, asset_id, status, opened_at, opened_as_of, opened_count_365, "
    "opened_max_60, measures, responsible_unit, due_date, completion_date, verification_note, "
    "verified_by, verified_at, internal_note, signed_off_at, signed_off_by, sign_off_note, "
    "updated_at"
)


def load_sql(name: str) -> str:
    """The text of a ``.sql`` file of this package."""
    return read(__package__, name)


def _aware(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise UsageError("'at' must be a timestamp")
    return at.replace(tzinfo=LOCAL_TZ) if at.tzinfo is None else at


def local_day_start(day: date) -> datetime:
    """Local (Asia/Shanghai) midnight at the start of ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC)


def verification_start(completion: date) -> datetime:
    """When the verification period starts: the end of the completion day (local midnight)."""
    return local_day_start(completion + timedelta(days=1))


def _as_date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _aware(value).astimezone(LOCAL_TZ).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                return date.fromisoformat(value.strip())
            return parse_timestamp(value).astimezone(LOCAL_TZ).date()
        except ValueError:
            raise UsageError(f"{field} must be a date like 2026-09-30, not {value!r}") from None
    raise UsageError(f"{field} must be a date like 2026-09-30")


def _as_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{field} must be text")
    return value.strip() or None


def _audit_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _case_row(session: Session, case_id: int, *, lock: bool = False) -> dict[str, Any]:
    if not isinstance(case_id, int) or isinstance(case_id, bool):
        raise UsageError("case id must be an integer")
    sql = f"SELECT {_CASE_COLUMNS} FROM remediation_case WHERE case_id = :id"
    row = session.execute(text(sql + (" FOR UPDATE" if lock else "")), {"id": case_id})
    found = row.mappings().first()
    if found is None:
        raise NotFound(f"no remediation case {case_id}")
    return dict(found)


def _history(session: Session, case_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        text("SELECT history_id, at, actor, field, old_value, new_value "
             "FROM remediation_case_history WHERE case_id = :id ORDER BY at, history_id"),
        {"id": case_id},
    ).mappings().all()
    return [dict(r) for r in rows]


def _record(session: Session, case_id: int, at: datetime, actor: str,
            changes: list[tuple[str, Any, Any]]) -> None:
    if not changes:
        return
    session.execute(
        text("INSERT INTO remediation_case_history (case_id, at, actor, field, old_value, new_value) "
             "VALUES (:case_id, :at, :actor, :field, :old, :new)"),
        [{"case_id": case_id, "at": at, "actor": actor, "field": f, "old": _audit_text(o),
          "new": _audit_text(n)} for f, o, n in changes],
    )


def _apply(session: Session, case_id: int, at: datetime, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    session.execute(text(f"UPDATE remediation_case SET {sets}, updated_at = :at_ WHERE case_id = :id_"),
                    {**values, "at_": at, "id_": case_id})


# What the public view of a case shows (SPEC sections 8, 9 and 17): the fields of the public
# remediation report. Internal notes, verification and sign-off notes, and people's names
# (verified_by, signed_off_by, the audit trail's actors) are left out.
PUBLIC_FIELDS = ("case_id", "asset_type", "asset_id", "status", "opened_at", "opened_as_of",
                 "opened_count_365", "opened_max_60", "measures", "responsible_unit", "due_date",
                 "completion_date", "signed_off_at", "updated_at")


def public_case(case: dict[str, Any]) -> dict[str, Any]:
    """The public view of a case: public fields only, and only their history, without actors."""
    view = {k: case[k] for k in PUBLIC_FIELDS if k in case}
    if "history" in case:
        view["history"] = [
            {k: h[k] for k in ("history_id", "at", "field", "old_value", "new_value")}
            for h in case["history"] if h["field"] in PUBLIC_FIELDS
        ]
    return view


def _status_filter(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")


def list_cases(
    *, session: Session, status: str | None = None, limit: int | None = None, offset: int = 0,
    public: bool = False,
) -> list[dict[str, Any]]:
    """Cases (newest first), optionally only those with ``status``; a page with ``limit``/``offset``."""
    _status_filter(status)
    if (limit is not None and limit < 0) or offset < 0:
        raise UsageError("limit and offset must not be negative")
    sql = (f"SELECT {_CASE_COLUMNS} FROM remediation_case "
           "WHERE CAST(:status AS text) IS NULL OR status = :status "
           "ORDER BY opened_at DESC, case_id DESC LIMIT :limit OFFSET :offset")
    params = {"status": status, "limit": limit, "offset": offset}
    rows = [dict(r) for r in session.execute(text(sql), params).mappings().all()]
    return [public_case(r) for r in rows] if public else rows


def count_cases(*, session: Session, status: str | None = None) -> int:
    """How many cases ``list_cases`` would give without a limit."""
    _status_filter(status)
    sql = ("SELECT count(*) FROM remediation_case "
           "WHERE CAST(:status AS text) IS NULL OR status = :status")
    return int(session.execute(text(sql), {"status": status}).scalar_one())


def get_case(*, session: Session, case_id: int, public: bool = False) -> dict[str, Any]:
    """One case with its full audit trail under ``history`` (oldest first); see ``public_case``."""
    case = _case_row(session, case_id)
    case["history"] = _history(session, case_id)
    return public_case(case) if public else case


def update_case(
    *, session: Session, case_id: int, changes: dict[str, Any], actor: str, at: datetime
) -> dict[str, Any]:
    """Apply planner changes; every changed field is written to the audit trail."""
    at = _aware(at)
    actor = (actor or "").strip()
    if not actor:
        raise UsageError("say who makes the change (actor)")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise UsageError(f"cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    case = _case_row(session, case_id, lock=True)
    if case["status"] == "closed":
        raise Conflict(f"case {case_id} is closed (signed off); it cannot be changed")

    new: dict[str, Any] = {}
    for field in ("measures", "responsible_unit", "verification_note", "internal_note"):
        if field in changes:
            new[field] = _as_text(changes[field], field)
    for field in ("due_date", "completion_date"):
        if field in changes:
            new[field] = _as_date(changes[field], field)

    status = case["status"]
    target = changes.get("status", status)
    if target not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {target!r}")
    if target != status:
        if target == "closed":
            raise Conflict("a case is closed only by sign-off (销号)")
        if (status, target) not in TRANSITIONS:
            raise Conflict(f"case {case_id} cannot move from {status} to {target}")
        new["status"] = target
        if target == "completed" and new.get("completion_date", case["completion_date"]) is None:
            new["completion_date"] = at.astimezone(LOCAL_TZ).date()
        if status == "completed" and target == "in_progress":
            # Rework: the old completion and its verification no longer stand.
            new.setdefault("completion_date", None)
            new.setdefault("verification_note", None)
    if new.get("completion_date") is not None and target != "completed":
        raise Conflict("a completion date is recorded only when the case is completed")
    completion = new.get("completion_date")
    if completion is not None and completion > at.astimezone(LOCAL_TZ).date():
        raise UsageError(f"completion date {completion} is in the future")
    if "verification_note" in new:
        verified = new["verification_note"] is not None
        new["verified_by"] = actor if verified else None
        new["verified_at"] = at if verified else None

    diff = [(k, case[k], v) for k, v in new.items() if case[k] != v]
    if diff:
        _apply(session, case_id, at, {k: v for k, _, v in diff})
        _record(session, case_id, at, actor, diff)
        log.info("case %s changed by %s: %s", case_id, actor, ", ".join(k for k, _, _ in diff))
    return get_case(session=session, case_id=case_id)


def counted_since(
    *, session: Session, settings: Settings, asset_type: str, asset_id: str,
    since: datetime, until: datetime,
) -> dict[str, Any] | None:
    """The first counted interruption (cause fault/planned/unknown, not short) in [since, until]."""
    view, key = ("area_interruption", "area_id") if asset_type == "area" else (
        "feeder_interruption", "feeder_id")
    row = session.execute(
        text(f"SELECT start_time, end_time, cause FROM {view} WHERE {key} = :id "
             "AND cause IN ('fault', 'planned', 'unknown') "
             "AND (end_time IS NULL OR end_time - start_time > make_interval(secs => :short)) "
             "AND start_time >= :since AND start_time <= :until ORDER BY start_time LIMIT 1"),
        {"id": asset_id, "short": settings.short_interruption_minutes * 60.0,
         "since": since, "until": until},
    ).mappings().first()
    return dict(row) if row else None


def sign_off_failures(
    *, session: Session, settings: Settings, case: dict[str, Any], at: datetime
) -> list[str]:
    """Which sign-off conditions fail (empty when the case may be signed off)."""
    at = _aware(at)
    completion: date = case["completion_date"]
    start = verification_start(completion)
    failures = []
    ready = start + timedelta(days=settings.verification_days)
    if at < ready:
        failures.append(
            f"verification period not over: {settings.verification_days} days after completion "
            f"on {completion.isoformat()} end on {ready.astimezone(LOCAL_TZ).date().isoformat()}")
    hit = counted_since(session=session, settings=settings, asset_type=case["asset_type"],
                        asset_id=case["asset_id"], since=start, until=at)
    if hit is not None:
        when = hit["start_time"].astimezone(LOCAL_TZ).isoformat(timespec="minutes")
        failures.append(f"the asset had a counted interruption since completion "
                        f"({hit['cause']}, starting {when})")
    if not case["verification_note"]:
        failures.append("no verification note (site visit or customer visit) recorded")
    return failures


def sign_off(
    *, session: Session, settings: Settings, case_id: int, actor: str, at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Close a completed case (销号) if every condition holds; else Conflict naming the failures."""
    at = _aware(at)
    actor = (actor or "").strip()
    if not actor:
        raise UsageError("say who signs off (actor)")
    case = _case_row(session, case_id, lock=True)
    if case["status"] != "completed":
        raise Conflict(f"sign-off refused: case {case_id} is {case['status']}; "
                       "only a completed case can be signed off")
    failures = sign_off_failures(session=session, settings=settings, case=case, at=at)
    if failures:
        raise Conflict("sign-off refused: " + "; ".join(failures))
    values = {"status": "closed", "signed_off_at": at, "signed_off_by": actor,
              "sign_off_note": _as_text(note, "note")}
    diff = [(k, case[k], v) for k, v in values.items() if case[k] != v]
    _apply(session, case_id, at, dict(values))
    _record(session, case_id, at, actor, diff)
    log.info("case %s signed off by %s", case_id, actor)
    return get_case(session=session, case_id=case_id)


def open_cases(*, session: Session, settings: Settings, at: datetime) -> list[dict[str, Any]]:
    """Open a case for every `frequent` asset without one (and for recurrences); the new cases."""
    at = _aware(at)
    ids = [r[0] for r in session.execute(
        text(load_sql("open_cases.sql")),
        {"at": at, "short_seconds": settings.short_interruption_minutes * 60.0},
    )]
    for case_id in ids:
        _record(session, case_id, at, SYSTEM_ACTOR, [("status", None, "open")])
    if ids:
        log.info("opened %d remediation case(s)", len(ids))
    return [get_case(session=session, case_id=i) for i in sorted(ids)]
