"""The one place where errors become HTTP responses.

API clients always get ``{"error": CODE, "detail": TEXT}`` in English; a browser navigating to a
page (GET/HEAD accepting text/html) gets an HTML error page in its language instead
(``api.pages.error_page``), with the same status and headers.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.pages import error_page, wants_page
from core.errors import GridwatchError

log = logging.getLogger(__name__)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "database_unavailable",
}


class UnsupportedMediaType(GridwatchError):
    """The body's Content-Type is not one the route reads."""

    code = "unsupported_media_type"
    http_status = 415


class TooManyRequests(GridwatchError):
    """Too many failed attempts from one client."""

    code = "too_many_requests"
    http_status = 429


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, not an error shown to users
    """A browser asked for a page without a session: send it to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every error uses."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _answer(request: Request, status: int, code: str, detail: str,
            headers: dict[str, str] | None = None, *, show_detail: bool = True) -> Response:
    """The JSON error, or the HTML error page for a browser navigating to a page."""
    if wants_page(request):
        return error_page(request, status, detail=detail if show_detail else None, headers=headers)
    return error_response(status, code, detail, headers=headers)


def unreachable(exc: BaseException) -> str:
    """The one-line 503 detail for a database that cannot be reached."""
    reason = (str(exc).strip().splitlines() or ["connection failed"])[0]
    return f"cannot reach the database ({reason}); start it with 'gridwatch db start'"


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register every exception handler on ``app``."""

    @app.exception_handler(GridwatchError)
    async def _domain(request: Request, exc: GridwatchError) -> Response:
        return _answer(request, exc.http_status, exc.code, exc.detail)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _answer(request, 422, "invalid_request", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        generic = exc.status_code == 404 and detail == "Not Found"
        if generic:
            detail = f"no such route: {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return _answer(request, exc.status_code, code, detail, headers=dict(exc.headers or {}),
                       show_detail=not generic)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc.orig)
        return _answer(request, 503, "database_unavailable", "the database is not reachable; try again later")

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> Response:
        log.exception("database error on %s %s", request.method, request.url.path)
        return _answer(request, 500, "internal_error", "internal server error (database); see the server log")

    @app.exception_handler(psycopg.OperationalError)
    async def _pg_down(request: Request, exc: psycopg.OperationalError) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return _answer(request, 503, "database_unavailable", "the database is not reachable; try again later")

    @app.exception_handler(psycopg.Error)
    async def _pg_error(request: Request, exc: psycopg.Error) -> Response:
        log.exception("database error on %s %s", request.method, request.url.path)
        return _answer(request, 500, "internal_error", "internal server error (database); see the server log")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _answer(request, 500, "internal_error", "internal server error; see the server log")
