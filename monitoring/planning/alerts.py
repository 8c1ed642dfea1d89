"""The planning rules' alert conditions (SPEC sections 7 and 14), evaluated at an as-of time.

- ``repeat_planned_outage`` (warning): an outage work that has not started yet is part of a
  repeat_planned finding; it names the other interruption, so planners can merge the jobs.
- ``arrears_prereport_due`` (warning): an arrears disconnection that needs a pre-report is not
  reported yet, and the deadline is less than ``arrears_alert_hours`` away.
- ``arrears_prereport_missing`` (critical): the deadline has passed with no report and the
  disconnection has not begun: report it now (it will be ``late``) or postpone it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ
from core.settings import Settings
from monitoring.alerts.conditions import Condition
from monitoring.planning import arrears, repeat_planned

RULES = ("repeat_planned_outage", "arrears_prereport_due", "arrears_prereport_missing")
SHOWN_OTHERS = 3


def _local(when: datetime) -> str:
    return when.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _other_words(other: dict[str, Any], work_start: datetime) -> str:
    what = "outage record" if other["kind"] == "outage" else "work"
    side = "before" if other["start"] <= work_start else "after"
    return (f"{what} {other['ref']} on area {other['area_id']} starting {_local(other['start'])}, "
            f"{other['days_apart']:g} days {side}")


def repeat_planned_outage(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """Outage works not yet started that would make a repeated planned outage."""
    out = []
    for w in repeat_planned.upcoming(session=session, settings=settings, as_of=as_of):
        others = w["others"]
        nearest = others[0]
        areas = sorted({o["area_id"] for o in others})
        more = len(others) - SHOWN_OTHERS
        summary = (
            f"work {w['work_id']} ({w['asset_type']} {w['asset_id']}, planned outage from "
            f"{_local(w['planned_start'])}) would interrupt {len(areas)} area(s) again within "
            f"{settings.repeat_planned_days:g} days of another planned interruption: "
            + "; ".join(_other_words(o, w["planned_start"]) for o in others[:SHOWN_OTHERS])
            + (f"; and {more} more" if more > 0 else "")
            + ". Consider doing both jobs in one outage (一停多用)."
        )
        out.append(Condition(
            "repeat_planned_outage", "work", w["work_id"], summary,
            {"asset_type": w["asset_type"], "asset_id": w["asset_id"],
             "other_ref": nearest["ref"], "other_kind": nearest["kind"],
             "other_start": nearest["start"].isoformat(), "days_apart": f"{nearest['days_apart']:g}",
             "areas": str(len(areas))},
        ))
    return out


def _arrears_condition(rule: str, r: dict[str, Any]) -> Condition:
    who = f"{r['compound'] or 'no compound'}, {r['households_total']} households"
    if r["important_user"]:
        who += ", important user"
    if rule == "arrears_prereport_due":
        summary = (f"arrears disconnection {r['disconnection_id']} ({who}) planned "
                   f"{_local(r['planned_start'])}: report it to the local energy department by "
                   f"{_local(r['deadline'])} ({r['seconds_left'] / 3600:.1f} h left)")
    else:
        summary = (f"arrears disconnection {r['disconnection_id']} ({who}) planned "
                   f"{_local(r['planned_start'])} was not reported to the local energy department "
                   f"by its deadline {_local(r['deadline'])}; report it now or postpone it")
    return Condition(rule, "disconnection", r["disconnection_id"], summary, {
        "area_id": r["area_id"], "compound": r["compound"] or "",
        "households_total": str(r["households_total"]),
        "important_user": "true" if r["important_user"] else "false",
        "planned_start": r["planned_start"].isoformat(), "deadline": r["deadline"].isoformat(),
    })


def arrears_prereports(*, session: Session, settings: Settings, as_of: datetime) -> list[Condition]:
    """arrears_prereport_due and arrears_prereport_missing."""
    return [_arrears_condition("arrears_prereport_due" if r["status"] == "due"
                               else "arrears_prereport_missing", r)
            for r in arrears.pending(session=session, settings=settings, as_of=as_of)]
