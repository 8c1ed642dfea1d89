"""Remediation cases: read them, let planners update them, and sign them off (409 when refused)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import REPORT_READERS, require_role
from api.deps import DEFAULT_PAGE, TOTAL_HEADER, Limit, Offset, ReadSessionDep, SessionDep, SettingsDep
from api.keys import Principal
from api.responses import FastJSON
from core.clock import utcnow
from monitoring.cases import service as cases_service

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/remediation/cases", tags=["remediation"])
Reader = Annotated[Principal, Depends(require_role(*REPORT_READERS))]
Editor = Annotated[Principal, Depends(require_role("planner"))]


class SignOff(BaseModel):
    """An optional verification note given with the sign-off."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=10_000)


def service() -> Any:
    """The cases service module."""
    return cases_service


def public_only(principal: Principal) -> bool:
    """True when the caller gets the public view of cases (regulators: SPEC section 17)."""
    return principal.role == "regulator"


@router.get(
    "",
    summary="List remediation cases (paginated; the total is in X-Total-Count)",
    responses={200: {"description": "A JSON array of cases; X-Total-Count gives the total"}},
)
def list_cases(
    session: ReadSessionDep,
    principal: Reader,
    status: Annotated[
        str | None, Query(description="open, in_progress, completed or closed", pattern=r"^[a-z_]{1,32}$")
    ] = None,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> FastJSON:
    """Cases, newest first, optionally only those with one status; regulators get the public view."""
    rows = service().list_cases(
        session=session, status=status, limit=limit, offset=offset, public=public_only(principal)
    )
    total = service().count_cases(session=session, status=status)
    return FastJSON(rows, headers={TOTAL_HEADER: str(total)})


@router.get("/{case_id}", summary="One remediation case with its audit trail")
def get_case(
    case_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: ReadSessionDep, principal: Reader
) -> FastJSON:
    """One case (the public view for regulators: no internal notes, no names)."""
    return FastJSON(service().get_case(session=session, case_id=case_id, public=public_only(principal)))


@router.patch("/{case_id}", summary="Update a case (measures, responsible unit, dates, status, note)")
def update_case(
    case_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    principal: Editor,
    changes: Annotated[dict[str, Any], Body(description="Fields to change, e.g. measures, status")],
) -> FastJSON:
    """Apply the changes; every change is kept in the audit trail with who and when."""
    result = service().update_case(
        session=session, case_id=case_id, changes=changes, actor=principal.name, at=utcnow()
    )
    session.commit()
    return FastJSON(result)


@router.post(
    "/{case_id}/sign-off",
    summary="Sign off a completed case (闭环销号)",
    responses={409: {"description": "Refused; the detail says which condition failed"}},
)
def sign_off(
    case_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    settings: SettingsDep,
    principal: Editor,
    body: Annotated[SignOff | None, Body()] = None,
) -> FastJSON:
    """Close the case when the verification conditions hold; 409 with the reason otherwise."""
    result = service().sign_off(
        session=session,
        settings=settings,
        case_id=case_id,
        actor=principal.name,
        at=utcnow(),
        note=body.note if body else None,
    )
    session.commit()
    return FastJSON(result)
