"""Stream ingest over HTTP: CSV or JSON Lines bodies, answered with the accounting object."""

from __future__ import annotations

import codecs
import json
import logging
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import require_role
from api.deps import SessionDep, SettingsDep
from api.errors import UnsupportedMediaType
from api.keys import Principal
from core.accounting import RETURNED_REJECTS
from core.errors import DatabaseError, InputError, PayloadTooLarge
from core.settings import Settings
from ingest import service
from monitoring.follow import after_ingest

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

KINDS: dict[str, str] = {"meter-events": "meter-events", "outages": "outages", "works": "works",
                        "disconnections": "disconnections", "area-loads": "area-loads", "pv": "pv",
                        "applications": "applications"}

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
READ_BYTES = 64 * 1024

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
                        "rejects_truncated": {
                            "type": "boolean",
                            "description": f"Present (true) when more than {RETURNED_REJECTS} "
                            "rows were rejected: only the first are listed; all of them are "
                            "in 'gridwatch ingest rejects BATCH_ID'.",
                        },
                        "batch_id": {
                            "type": "integer",
                            "description": "The batch, given when the rejects are truncated.",
                        },
                        "warnings": {"type": "array", "items": {"type": "string"}},
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
    503: {"description": "The database is not reachable, or stopped during the ingest (the "
                         "detail says whether anything was stored)"},
    422: {
        "description": "Body cannot be read at all (e.g. missing columns), or more rows were "
        "rejected than a batch may keep (too_many_rejects): then nothing of it is stored"
    },
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


def _array_items(body: IO[bytes]) -> Iterator[Any]:
    """The elements of a JSON array body, decoded one at a time.

    Only the element being decoded and the unread rest of the last read are held in memory,
    never the whole document. A read that ends inside an element is followed by a larger one,
    so a big element costs linear time.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    buf, pos, eof = "", 0, False

    def fill() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        block = body.read(max(READ_BYTES, len(buf) - pos))
        eof = not block
        try:
            text = utf8.decode(block, final=eof)
        except UnicodeDecodeError as exc:
            raise InputError(f"the body is not UTF-8 ({exc.reason})") from None
        buf, pos = buf[pos:] + text, 0
        return True

    def skip_blank() -> str:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or not fill():
                return buf[pos : pos + 1]

    def invalid(why: str) -> InputError:
        return InputError(f"the body is not valid JSON: {why}")

    if skip_blank() != "[":
        raise InputError("a JSON body must be an array of objects, or JSON Lines")
    pos += 1
    if skip_blank() == "]":
        pos += 1
    else:
        while True:
            skip_blank()
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if fill():
                        continue
                    raise invalid(exc.msg) from None
                except RecursionError:
                    raise invalid("it is nested too deeply") from None
                if end == len(buf) and fill():  # a number or word may go on in the next read
                    continue
                break
            pos = end
            yield item
            sep = skip_blank()
            pos += 1
            if sep == "]":
                break
            if sep != ",":
                raise invalid("expected ',' or ']' after an element of the array")
    if skip_blank():
        raise invalid("extra data after the array")


def _json_array_to_lines(body: IO[bytes]) -> IO[bytes]:
    """A JSON array of objects rewritten as JSON Lines (one element per line, in order).

    Streamed: runs in a worker thread, with bounded memory (see ``_array_items``).
    """
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    try:
        for item in _array_items(body):
            out.write(json.dumps(item, ensure_ascii=False).encode() + b"\n")
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out  # type: ignore[return-value]


def _forget(session: Session) -> None:
    """Roll back a session whose connection is gone (nothing to undo; do not fail on it)."""
    try:
        session.rollback()
    except Exception:  # the broken connection is discarded by the pool either way
        log.debug("rollback after a lost connection failed", exc_info=True)


def _ingest(
    session: Session, settings: Settings, kind: str, body: IO[bytes], fmt: str, array: bool
) -> dict[str, Any]:
    if array:
        lines = _json_array_to_lines(body)
        body.close()
        body = lines
    committing = False
    try:
        result = service.ingest(session=session, kind=KINDS[kind], source=body, name="body",
                                fmt=fmt, max_rejects=settings.max_rejects_per_batch,
                                settings=settings)
        committing = True
        session.commit()
    except Exception as exc:
        if not service.database_lost(exc):
            raise
        _forget(session)
        if committing:
            raise DatabaseError(
                "the database stopped while the batch was being committed; it may or may not "
                "have been stored; send the same body again once the database is back (rows "
                "already stored count as duplicates)") from None
        raise DatabaseError(
            "the database stopped during the ingest; nothing from this body was stored; "
            "send the same body again once the database is back") from None
    finally:
        body.close()
    # A failure is logged and reported as a warning; the batch stays committed and its
    # changes pending for the next refresh.
    warning = after_ingest(
        engine=session.get_bind().engine, settings=settings, kind=KINDS[kind])
    if warning:
        result.accounting.warnings.append(warning)
    accounting: dict[str, Any] = result.accounting.as_dict(RETURNED_REJECTS)
    if accounting.get("rejects_truncated"):
        accounting["batch_id"] = result.batch_id
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
        array = fmt == "jsonl" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["
    except BaseException:
        body.close()
        raise
    # Parsing, validation and the database work run in a worker thread (which closes the body).
    accounting = await run_in_threadpool(_ingest, session, settings, kind, body, fmt, array)
    counts = {k: v for k, v in accounting.items() if k not in ("rejects", "warnings")}
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


@router.post(
    "/disconnections",
    summary="Ingest planned customer disconnections (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_disconnections(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store planned disconnections (SPEC section 14); a stored disconnection_id is replaced."""
    return await _ingest_request("disconnections", request, session, settings, principal)


@router.post(
    "/area-loads",
    summary="Ingest areas' typical noon loads (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_area_loads(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store areas' typical loads (SPEC section 15); a stored area_id's load is replaced."""
    return await _ingest_request("area-loads", request, session, settings, principal)


@router.post(
    "/pv",
    summary="Ingest distributed-PV installations (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_pv(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store distributed-PV installations (SPEC section 15); a stored pv_id is replaced."""
    return await _ingest_request("pv", request, session, settings, principal)


@router.post(
    "/applications",
    summary="Ingest connection applications (CSV or JSON Lines)",
    openapi_extra={"requestBody": BODY_DOC},
    responses=ACCOUNTING_DOC,
)
async def ingest_applications(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Ingester
) -> JSONResponse:
    """Store connection applications (SPEC section 16); a stored app_id is replaced."""
    return await _ingest_request("applications", request, session, settings, principal)
