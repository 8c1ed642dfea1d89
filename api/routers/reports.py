"""Reports of SPEC section 9 over HTTP: the command line's options as query parameters."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import REPORT_READERS, require_role
from api.deps import ReadSessionDep, SettingsDep
from api.keys import Principal
from core.clock import parse_as_of, parse_day_start, utcnow
from core.errors import UsageError
from monitoring.reports import arrears_prereport as arrears_prereport_report
from monitoring.reports import frequent_outages as frequent_outages_report
from monitoring.reports import merge_candidates as merge_candidates_report
from monitoring.reports import reliability as reliability_report
from monitoring.reports import remediation as remediation_report
from monitoring.reports import repeat_planned as repeat_planned_report
from monitoring.reports import tags as tags_report
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
