"""Reports of SPEC section 9 over HTTP: the command line's options as query parameters."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import REPORT_READERS, require_role
from api.deps import ReadSessionDep, SessionDep, SettingsDep
from api.keys import Principal
from core.clock import parse_as_of, parse_day_start, utcnow
from core.errors import UsageError
from monitoring.connections import filing
from monitoring.reports import arrears_prereport as arrears_prereport_report
from monitoring.reports import connection_times as connection_times_report
from monitoring.reports import frequent_outages as frequent_outages_report
from monitoring.reports import hosting_capacity as hosting_capacity_report
from monitoring.reports import merge_candidates as merge_candidates_report
from monitoring.reports import reliability as reliability_report
from monitoring.reports import remediation as remediation_report
from monitoring.reports import repeat_planned as repeat_planned_report
from monitoring.reports import tags as tags_report
from monitoring.reports import upgrade_filing as upgrade_filing_report
from monitoring.reports import zero_perception as zero_perception_report

log = logging.getLogger(__name__)

MIN_YEAR, MAX_YEAR = 1970, 2200
QUARTER = r"^\s*(19[7-9]\d|2[01]\d\d)-?[Qq][1-4]\s*$"
PERIOD = r"^\s*(19[7-9]\d|2[01]\d\d)(-?[Qq][1-4]|-(0[1-9]|1[0-2]))?\s*$"
MONTH = r"^\s*(19[7-9]\d|2[01]\d\d)-(0[1-9]|1[0-2])\s*$"

Reader = Annotated[Principal, Depends(require_role(*REPORT_READERS))]
router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="json (default), csv (UTF-8 BOM) or xlsx")
]

DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: a JSON array of row objects, or a csv / xlsx download",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    },
    400: {"description": "Bad option value"},
}


_REPORTS = {
    "frequent_outages": frequent_outages_report,
    "zero_perception": zero_perception_report,
    "tags": tags_report,
    "remediation": remediation_report,
    "reliability": reliability_report,
    "repeat_planned": repeat_planned_report,
    "merge_candidates": merge_candidates_report,
    "arrears_prereport": arrears_prereport_report,
    "connection_times": connection_times_report,
    "upgrade_filing": upgrade_filing_report,
    "hosting_capacity": hosting_capacity_report,
}


def _module(name: str) -> Any:
    return _REPORTS[name]


def _respond(report: Any, fmt: str) -> Response:
    data = report.render(fmt)
    filename = report.filename(fmt)
    disposition = "inline" if fmt == "json" else "attachment"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    header = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename)}"
    return Response(content=data, media_type=report.media_type(fmt), headers={"Content-Disposition": header})


def _checked(value: datetime, text: str) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise UsageError(f"{text!r} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    return value


def as_of_time(text: str) -> datetime:
    """An as-of time as the command line reads it, within a sane range of years."""
    try:
        return _checked(parse_as_of(text), text)
    except (ValueError, OverflowError):
        raise UsageError(f"not a usable time: {text!r}") from None


def day_start(text: str) -> datetime:
    """A ``from`` value: a date is local midnight."""
    try:
        return _checked(parse_day_start(text), text)
    except (ValueError, OverflowError):
        raise UsageError(f"not a usable date or time: {text!r}") from None


def day_end(text: str) -> datetime:
    """The end of a ``to`` value: a date means the whole local day is included."""
    start = day_start(text)
    return start + timedelta(days=1) if re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text) else start


@router.get("/frequent-outages", summary="Frequent-outage report (SPEC 9)", responses=DOWNLOAD)
def frequent_outages(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    as_of: Annotated[str | None, Query(description="As-of time (ISO 8601 or a date); default now")] = None,
    all: Annotated[bool, Query(description="Every asset, not only frequent and at_risk")] = False,  # noqa: A002
    format: Format = "json",  # noqa: A002
) -> Response:
    """Assets that are frequent or at risk as of a time (every asset with all=true)."""
    when = as_of_time(as_of) if as_of else None
    report = _module("frequent_outages").build(session=session, settings=settings, as_of=when, all=all)
    return _respond(report, format)


@router.get("/zero-perception", summary="Zero-perception maintenance report (SPEC 9)", responses=DOWNLOAD)
def zero_perception(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    from_: Annotated[str, Query(alias="from", description="First day (local) or timestamp")],
    to: Annotated[str, Query(description="Last day (included) or timestamp")],
    by: Annotated[Literal["zone"] | None, Query(description="zone: the rate of each core zone")] = None,
    format: Format = "json",  # noqa: A002
) -> Response:
    """In-scope works whose planned window overlaps [from, to], with misses (or rates by zone)."""
    start, end = day_start(from_), day_end(to)
    report = _module("zero_perception").build(session=session, settings=settings, start=start, end=end, by=by)
    return _respond(report, format)


@router.get("/tags", summary="Tags report (SPEC 9)", responses=DOWNLOAD)
def tags(session: ReadSessionDep, settings: SettingsDep, _: Reader, format: Format = "json") -> Response:  # noqa: A002
    """Every tag an asset has, with its share and the overlay features' names."""
    return _respond(_module("tags").build(session=session, settings=settings), format)


@router.get("/remediation", summary="Quarterly remediation list (SPEC 9)", responses=DOWNLOAD)
def remediation(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Reader,
    quarter: Annotated[str, Query(description="e.g. 2026Q2", pattern=QUARTER)],
    public: Annotated[bool, Query(description="Leave out internal notes and names")] = False,
    format: Format = "json",  # noqa: A002
) -> Response:
    """The list regulators check: every asset frequent in the quarter or with a case open.

    Regulators always get the public edition (no internal notes, no names: SPEC section 17).
    """
    public = public or principal.role == "regulator"
    report = _module("remediation").build(
        session=session, settings=settings, quarter=quarter.strip(), public=public
    )
    return _respond(report, format)


@router.get("/reliability", summary="Reliability indices by region (SPEC 9)", responses=DOWNLOAD)
def reliability(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    period: Annotated[str, Query(description="2026, 2026Q2 or 2026-05", pattern=PERIOD)],
    by: Annotated[Literal["county", "prefecture", "zone", "province"], Query(description="Region type")],
    basis: Annotated[Literal["customer", "area"], Query(description="N: customers, or areas")] = "customer",
    rank: Annotated[bool, Query(description="Rank the regions")] = False,
    exclude_med: Annotated[bool, Query(description="Exclude major event days")] = False,
    format: Format = "json",  # noqa: A002
) -> Response:
    """SAIFI, SAIDI, CAIDI and ASAI per region and variant."""
    report = _module("reliability").build(
        session=session,
        settings=settings,
        period=period.strip(),
        by=by,
        basis=basis,
        rank=rank,
        exclude_med=exclude_med,
    )
    return _respond(report, format)


@router.get("/repeat-planned", summary="Repeated planned outages (SPEC 14)", responses=DOWNLOAD)
def repeat_planned(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    from_: Annotated[str, Query(alias="from", description="First day (local) or timestamp")],
    to: Annotated[str, Query(description="Last day (included) or timestamp")],
    format: Format = "json",  # noqa: A002
) -> Response:
    """Areas planned out twice within the window (default 90 days), second start in [from, to]."""
    report = _module("repeat_planned").build(session=session, settings=settings,
                                             start=day_start(from_), end=day_end(to))
    return _respond(report, format)


@router.get("/merge-candidates", summary="Merge candidates (SPEC 14)", responses=DOWNLOAD)
def merge_candidates(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    from_: Annotated[str | None, Query(alias="from", description="First day (local) or timestamp")] = None,
    to: Annotated[str | None, Query(description="Last day (included) or timestamp")] = None,
    format: Format = "json",  # noqa: A002
) -> Response:
    """Pairs of outage works on one feeder starting within the window (default 14 days)."""
    report = _module("merge_candidates").build(
        session=session, settings=settings, start=day_start(from_) if from_ else None,
        end=day_end(to) if to else None)
    return _respond(report, format)


@router.get("/arrears-prereport", summary="Arrears disconnection pre-reports (SPEC 14)",
            responses=DOWNLOAD)
def arrears_prereport(
    session: ReadSessionDep,
    settings: SettingsDep,
    _: Reader,
    month: Annotated[str, Query(description="e.g. 2026-11", pattern=MONTH)],
    as_of: Annotated[str | None, Query(description="As-of time (ISO 8601 or a date); default now")] = None,
    format: Format = "json",  # noqa: A002
) -> Response:
    """The month's arrears disconnections that need a pre-report, with ok/late/missing/due."""
    when = as_of_time(as_of) if as_of else utcnow()
    report = _module("arrears_prereport").build(session=session, settings=settings,
                                                month=month.strip(), as_of=when)
    return _respond(report, format)


@router.get("/hosting-capacity", summary="Distributed-PV hosting capacity (SPEC 15)", responses=DOWNLOAD)
def hosting_capacity(
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    quarter: Annotated[str, Query(description="e.g. 2026Q4", pattern=QUARTER)],
    format: Format = "json",  # noqa: A002
) -> Response:
    """Each area's S_d, C1, C2 and grade, then each feeder's grade (an ended quarter is as stored).

    The current quarter is recomputed (on the primary) when its inputs or parameters changed;
    an ended quarter is served as stored.
    """
    report = _module("hosting_capacity").build(session=session, settings=settings,
                                               quarter=quarter.strip(), now=utcnow())
    session.commit()
    return _respond(report, format)


@router.get("/connection-times", summary="Connection times in working days (SPEC 16)",
            responses=DOWNLOAD)
def connection_times(
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    month: Annotated[str, Query(description="e.g. 2026-11", pattern=MONTH)],
    by: Annotated[Literal["class", "county"],
                  Query(description="Summary by class, or by county and class")] = "class",
    summary: Annotated[bool, Query(description="Rows are the summary, not one per application")] = False,
    as_of: Annotated[str | None, Query(description="As-of time (ISO 8601 or a date); default now")] = None,
    format: Format = "json",  # noqa: A002
) -> Response:
    """Applications booked in the month or open during it: limit, elapsed working days, status.

    Read on the primary, which keeps the working-day calendar table current (docs/connections.md).
    """
    when = as_of_time(as_of) if as_of else utcnow()
    report = _module("connection_times").build(session=session, settings=settings, month=month.strip(),
                                               as_of=when, by_county=by == "county", summary=summary)
    session.commit()
    return _respond(report, format)


@router.get("/upgrade-filing", summary="Monthly ledger of upgrades beyond the limits (SPEC 16)",
            responses=DOWNLOAD)
def upgrade_filing(
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    month: Annotated[str, Query(description="e.g. 2026-12", pattern=MONTH)],
    as_of: Annotated[str | None, Query(description="As-of time (ISO 8601 or a date); default now")] = None,
    format: Format = "json",  # noqa: A002
) -> Response:
    """业扩接入需改造不满足接电时限台账: what the month's filing lists, with its deadline."""
    when = as_of_time(as_of) if as_of else utcnow()
    report = _module("upgrade_filing").build(session=session, settings=settings, month=month.strip(),
                                             as_of=when)
    session.commit()
    return _respond(report, format)


class FilingMark(BaseModel):
    """The month whose ledger was filed with the regulator."""

    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=MONTH, description="e.g. 2026-12")


Filer = Annotated[Principal, Depends(require_role("planner"))]


@router.post("/upgrade-filing/filings", summary="Mark the month's upgrade ledger filed (SPEC 16)",
             status_code=201,
             responses={200: {"description": "Nothing new to file: the month was filed already"},
                        409: {"description": "The month has not begun"}})
def mark_upgrade_filing(session: SessionDep, settings: SettingsDep, principal: Filer,
                        body: Annotated[FilingMark, Body()]) -> JSONResponse:
    """Record the filing now, by the key's name; its applications are not listed again later."""
    done = filing.mark_filed(session=session, settings=settings, month=body.month.strip(),
                             filed_by=principal.name)
    session.commit()
    status = 201 if done["filing_id"] is not None else 200
    return JSONResponse(jsonable_encoder(done), status_code=status)
