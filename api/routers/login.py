"""Browser sign-in: exchange an API key for a session cookie (HttpOnly, SameSite=Strict).

The form and its messages are in the page's language (``api.i18n``); API clients that post
JSON get the English JSON errors with their codes.
"""

from __future__ import annotations

import html
import json
import logging
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import COOKIE, LoginLimiter
from api.deps import Database, SessionDep
from api.errors import TooManyRequests, error_response
from api.i18n import PageLang, request_lang
from api.keys import SESSION_HOURS, close_session, open_session, principal_for_key_async
from api.pages import page
from core.errors import UsageError
from core.i18n import Lang

log = logging.getLogger(__name__)

router = APIRouter(tags=["login"])

DEFAULT_NEXT = "/maps/"


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in (never another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_NEXT
    if value.startswith("/login"):
        return DEFAULT_NEXT
    return value


def _form(request: Request, lang: Lang, next_url: str, error: str = "", status: int = 200) -> HTMLResponse:
    """The sign-in page in ``lang``; ``error`` (translated text) above the form."""
    _ = lang.gettext
    err = f'<p class="err" role="alert">{html.escape(error)}</p>' if error else ""
    # The page's address keeps ``next``, so the language switch of a failed attempt keeps it too.
    action = "/login" if next_url == DEFAULT_NEXT else f"/login?{urlencode({'next': next_url})}"
    help_text = _("Sign in with your API key (ask an administrator for one).")
    label, button = _("API key"), _("Sign in")
    body = (
        f"<h1>gridwatch</h1><p>{html.escape(help_text)}</p>"
        f'{err}<form method="post" action="{html.escape(action)}">'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
        f'<label for="key">{html.escape(label)}</label>'
        '<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>'
        f'<button type="submit">{html.escape(button)}</button></form>'
    )
    return page(request, lang, title=_("gridwatch · sign in"), body=body, status=status)


@router.get("/login", response_class=HTMLResponse, summary="Sign-in form")
def login_form(request: Request, lang: PageLang,
               next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name is `next`
    """The sign-in form, in the page's language."""
    return _form(request, lang, safe_next(next))


async def _read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise UsageError("the body must be a JSON object with a 'key' field")
            return {k: str(v) for k, v in data.items() if isinstance(v, (str, int))}
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (ValueError, UnicodeDecodeError):
        raise UsageError("cannot read the sign-in form") from None
    return {k: v[0] for k, v in parsed.items() if v}


def _open_session(db: Database, key_id: int) -> str:
    """Start a browser session and commit it (blocking: runs in the thread pool)."""
    with db.session() as session:
        token = open_session(session=session, key_id=key_id)
        session.commit()
    return token


@router.post(
    "/login",
    summary="Exchange an API key for a session cookie",
    status_code=303,
    responses={
        303: {"description": "Signed in; redirected"},
        401: {"description": "Unknown key"},
        429: {"description": "Too many failed sign-ins from this address with this key prefix"},
    },
)
async def login(request: Request) -> Response:
    """Check the key (form field or JSON ``key``); set the session cookie and redirect.

    The client address and scheme are those ``api.security.ProxyHeaders`` settled on, so
    behind a trusted proxy they are the browser's, and the cookie is ``Secure`` over https.
    """
    limiter: LoginLimiter = request.app.state.login_limiter
    db: Database = request.app.state.db
    client = request.client.host if request.client else "unknown"
    browser = "text/html" in request.headers.get("accept", "")
    try:
        form = await _read_form(request)
    except UsageError:
        if not browser:
            raise
        lang = request_lang(request)
        return _form(request, lang, DEFAULT_NEXT, lang.gettext("The sign-in form could not be read."),
                     status=400)
    next_url = safe_next(form.get("next") or request.query_params.get("next"))
    key = (form.get("key") or "").strip()
    try:
        limiter.check(client, key)
    except TooManyRequests:
        if not browser:
            raise
        lang = request_lang(request)
        return _form(request, lang, next_url, lang.gettext(
            "Too many failed sign-ins from this address. Please wait a minute and try again."), status=429)
    principal = await principal_for_key_async(pool=db.aio, key=key) if key else None
    if principal is None:
        limiter.failed(client, key)
        log.warning("failed sign-in from %s", client)
        if browser:
            lang = request_lang(request)
            _ = lang.gettext
            return _form(request, lang, next_url,
                         _("Unknown or revoked API key.") if key else _("Enter your API key."), status=401)
        detail = "unknown or revoked API key" if key else "give your API key in the 'key' field"
        return error_response(401, "unauthorized", detail)
    token = await run_in_threadpool(_open_session, db, principal.key_id)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="Strict",  # type: ignore[arg-type]  # the SPEC spells it Strict
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", summary="End the browser session", status_code=303)
def logout(request: Request, session: SessionDep) -> Response:
    """Forget the session and go back to the sign-in form."""
    token = request.cookies.get(COOKIE)
    if token:
        close_session(session=session, token=token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")  # type: ignore[arg-type]
    return response
