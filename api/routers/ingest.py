"""Stream ingest over HTTP: CSV or JSON Lines bodies, answered with the accounting object."""

from __future__ import annotations

import json
import logging
import tempfile
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import require_role
from api.deps import SessionDep, SettingsDep
from api.errors import UnsupportedMediaType
from api.keys import Principal
from core.errors import InputError, PayloadTooLarge
from core.settings import Settings
from ingest import service
from monitoring import interruptions

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

KINDS: dict[str, str] = {"meter-events": "meter-events", "outages": "outages", "works": "works"}

CSV_TYPES = {"text/csv", "application/csv"}
JSONL_TYPES = {
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-lines",
    "application/ndjson",
}
SNIFF_TYPES = {"", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded"}
SPOOL_BYTES = 4 * 1024 * 1024

BODY_DOC: dict[str, Any] = {
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "application/jsonl": {"schema": {"type": "string"}},
    },
    "required": True,
}
ACCOUNTING_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The accounting of every row (rejected rows are listed; accepted rows are stored)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"},
                        "duplicates": {"type": "integer"},
                        "updated": {"type": "integer"},
                        "rejected": {"type": "integer"},
                        "rejects": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "line": {"type": "integer"},
                                    "field": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            }
        },
    },
    400: {"description": "Malformed request"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Unsupported Content-Type"},
    422: {"description": "Body cannot be read at all (e.g. missing columns)"},
}


def _format(content_type: str | None, head: bytes) -> str:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in CSV_TYPES:
        return "csv"
    if ctype in JSONL_TYPES or ctype == "application/json":
        return "jsonl"
    if ctype in SNIFF_TYPES:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        return "jsonl" if first in (b"{", b"[") else "csv"
    raise UnsupportedMediaType(
        f"Content-Type {ctype!r} is not read here; send text/csv or application/x-ndjson"
    )


async def read_body(request: Request, limit: int) -> IO[bytes]:
    """The request body spooled to memory or disk; 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; the limit is {limit} bytes")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            spool.close()
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _json_array_to_lines(body: IO[bytes]) -> IO[bytes]:
    """A JSON array of objects rewritten as JSON Lines (one object per line, in order)."""
    try:
        data = json.load(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise InputError("a JSON body must be an array of objects, or JSON Lines")
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    for item in data:
        out.write(json.dumps(item, ensure_ascii=False).encode() + b"\n")
    out.seek(0)
    return out  # type: ignore[return-value]


def _ingest(session: Session, settings: Settings, kind: str, body: IO[bytes], fmt: str) -> dict[str, Any]:
    result = service.ingest(session=session, kind=KINDS[kind], source=body, name="body", fmt=fmt)
    session.commit()
    # A failure is logged; the batch stays committed and its changes pending.
    interruptions.refresh_after_ingest(engine=session.get_bind().engine, settings=settings)
    accounting: dict[str, Any] = result.accounting.as_dict()
    return accounting


async def _ingest_request(
    kind: str, request: Request, session: Session, settings: Settings, principal: Principal
) -> JSONResponse:
    body = await read_body(request, settings.max_body_bytes)
    try:
        head = body.read(64)
        body.seek(0)
        if not head.strip():
            raise InputError("the body is empty")
        fmt = _format(request.headers.get("content-type"), head)
        if fmt == "jsonl" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            body = _json_array_to_lines(body)
        accounting = await run_in_threadpool(_ingest, session, settings, kind, body, fmt)
    finally:
        body.close()
    counts = {k: v for k, v in accounting.items() if k != "rejects"}
    log.info("ingest %s by %s: %s", kind, principal.name, counts)
    return JSONResponse(accounting)


Ingester = Annotated[Principal, Depends(require_role("ingest"))]


@router.post(
    "/meter-events",
    summary="Ingest meter events (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_meter_events(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store meter on/off events; 200 with the accounting even when some rows were rejected."""
    return await _ingest_request("meter-events", request, session, settings, principal)


@router.post(
    "/outages",
    summary="Ingest outage records (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_outages(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store outage records; a stored outage_id is replaced (that is how end times arrive)."""
    return await _ingest_request("outages", request, session, settings, principal)


@router.post(
    "/works",
    summary="Ingest maintenance works (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_works(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store planned maintenance works."""
    return await _ingest_request("works", request, session, settings, principal)
