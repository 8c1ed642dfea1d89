"""The server's own plain HTML pages (sign-in, errors): one shell in the request's language.

Every page has ``<html lang>``, a title, the language switch and a style that fits a phone.
Text is passed in already translated; anything from the request or the database is escaped
here or by the caller (``body`` is markup).
"""

from __future__ import annotations

import html
import logging

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.i18n import language_switch, request_lang
from core.i18n import Lang
from core.i18n import _ as N_

log = logging.getLogger(__name__)

STYLE = (
    "*,*::before,*::after{box-sizing:border-box}"
    "body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei','Noto Sans',system-ui,sans-serif;"
    "max-width:30rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1c2530;overflow-wrap:anywhere}"
    ".gw-lang{text-align:right;font-size:.9rem;margin-bottom:2rem}"
    ".gw-lang a{color:#0b5394}.gw-lang a[aria-current]{font-weight:bold;color:#1c2530;text-decoration:none}"
    "h1{font-size:1.6rem;margin:0 0 .5rem}"
    "label{display:block;font-weight:bold;margin-top:1rem}"
    "input{width:100%;padding:.6rem;margin:.4rem 0 1rem;font-size:1rem;border:1px solid #8a97a6;"
    "border-radius:6px}"
    "button{padding:.6rem 1.6rem;font-size:1rem;border:0;border-radius:6px;background:#0b5394;color:#fff;"
    "cursor:pointer}"
    ".err{color:#b3261e;border-left:4px solid #b3261e;background:#fdecea;padding:.5rem .75rem}"
    ".status{color:#5a6776;font-size:.9rem;margin:0}"
    "details{margin-top:1.5rem;color:#5a6776;font-size:.9rem}"
    "pre{overflow:auto;overflow-wrap:normal;font-size:.8rem;background:#f4f6f8;padding:.5rem}"
    "a{color:#0b5394}"
)

ERROR_TEXT: dict[int, tuple[str, str]] = {
    400: (N_("Bad request"), N_("The address or the form could not be read.")),
    401: (N_("Sign-in required"), N_("Sign in to see this page.")),
    403: (N_("No access"), N_("Your API key's role cannot open this page.")),
    404: (N_("Not found"), N_("There is no page at this address.")),
    405: (N_("Not allowed"), N_("This page cannot be opened this way.")),
    413: (N_("Too large"), N_("What was sent is too large.")),
    415: (N_("Not understood"), N_("What was sent is in a form this page does not read.")),
    422: (N_("Invalid request"), N_("Some of the page's parameters are not valid.")),
    429: (N_("Too many attempts"),
          N_("Too many attempts from this address. Please wait a minute and try again.")),
    500: (N_("Something went wrong"),
          N_("The server could not show this page. The error is in the server log.")),
    503: (N_("Database unavailable"), N_("The database cannot be reached. Please try again later.")),
}
"""Each status's heading and explanation (English msgids, translated where shown)."""


def wants_page(request: Request) -> bool:
    """True for a browser navigating to a page (GET/HEAD that accepts text/html)."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def lang_of(request: Request) -> Lang:
    """The request's language; the default language should the request not say (never raises)."""
    try:
        return request_lang(request)
    except Exception:  # an error page must not fail for want of a language
        log.debug("no language for %s; the default", request.url.path, exc_info=True)
        return Lang()


def page(request: Request, lang: Lang, *, title: str, body: str, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """A whole page: ``title`` is text (escaped here), ``body`` is markup (escaped by the caller)."""
    doc = (
        f'<!doctype html>\n<html lang="{lang.html}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
        f"<style>{STYLE}</style></head><body>{language_switch(lang, request)}{body}</body></html>\n"
    )
    response = HTMLResponse(doc, status_code=status, headers=headers)
    response.headers["Content-Language"] = lang.html
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: Request, status: int, *, message: str | None = None, detail: str | None = None,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """An error page for a browser in the request's language.

    ``message`` (already translated, escaped here) replaces the status's own explanation;
    ``detail`` is the English text API clients get, shown in English pages and folded away
    (marked as English) in others.
    """
    lang = lang_of(request)
    _ = lang.gettext
    heading, explanation = ERROR_TEXT.get(status, ("Something went wrong", ERROR_TEXT[500][1]))
    code = _("Error code {code}").format(code=int(status))
    parts = [f"<h1>{html.escape(_(heading))}</h1>", f'<p class="status">{html.escape(code)}</p>',
             f"<p>{html.escape(message or _(explanation))}</p>"]
    if detail and not message:
        if lang.code == "en":
            parts.append(f"<p>{html.escape(detail)}</p>")
        else:
            summary = _("Technical details (in English)")
            parts.append(f"<details><summary>{html.escape(summary)}</summary>"
                         f'<p lang="en">{html.escape(detail)}</p></details>')
    if request.url.path.startswith("/public"):   # the customers' pages: back to their own page
        href, back = "/public/", _("Go to the power outage lookup")
    else:
        href, back = "/maps/", _("Go to the overview map")
    parts.append(f'<p><a href="{href}">{html.escape(back)}</a></p>')
    return page(request, lang, title=f"gridwatch · {_(heading)}", body="".join(parts), status=status,
                headers=headers)
