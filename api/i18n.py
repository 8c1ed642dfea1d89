"""The pages' language per request (core.i18n): the switch, the cookie, the browser, the setting.

``?lang=en`` (or ``zh-CN``) on any page chooses the language and is remembered in the
``gw_lang`` cookie by ``RememberLanguage``; pages take their ``Lang`` from ``PageLang`` and put
``language_switch`` on the page.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.i18n import COOKIE, HTML_LANG, Lang, negotiate, normalise

YEAR = 365 * 24 * 3600


def request_lang(request: Request) -> Lang:
    """The language this request's page is shown in."""
    settings = request.app.state.settings
    return Lang(negotiate(switch=request.query_params.get("lang"),
                          cookie=request.cookies.get(COOKIE),
                          accept_language=request.headers.get("accept-language"),
                          default=settings.language))


PageLang = Annotated[Lang, Depends(request_lang)]


def language_switch(lang: Lang, request: Request) -> str:
    """``中文 · English`` links to this page in each language (other query parameters kept)."""
    params = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "lang"]
    links = []
    for code, label in (("zh_CN", "中文"), ("en", "English")):
        href = "?" + urlencode([*params, ("lang", HTML_LANG[code])])
        current = ' aria-current="true"' if code == lang.code else ""
        links.append(f'<a href="{html.escape(href)}" lang="{HTML_LANG[code]}"'
                     f' hreflang="{HTML_LANG[code]}"{current}>{label}</a>')
    label = html.escape(lang.gettext("Language"))
    return f'<nav class="gw-lang" aria-label="{label}">{" · ".join(links)}</nav>'


class RememberLanguage:
    """Pure ASGI: a valid ``?lang=`` sets the ``gw_lang`` cookie on the response (a year)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the cookie to the response when the query chose a language."""
        if scope["type"] != "http" or b"lang=" not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return
        query = scope["query_string"].decode("latin-1")
        chosen = next((normalise(v) for k, v in parse_qsl(query) if k == "lang"), None)
        if chosen is None:
            await self.app(scope, receive, send)
            return
        cookie = (f"{COOKIE}={HTML_LANG[chosen]}; Path=/; Max-Age={YEAR}; SameSite=Lax"
                  + ("; Secure" if scope.get("scheme") == "https" else ""))

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode("latin-1"))]
            await send(message)

        await self.app(scope, receive, remember)
