"""The customers' phone page at /public/ (SPEC section 13, task 53): 停电查询, no key, no cookie.

The page is in the request's language (zh-CN by default; English on ``?lang=en``, the remembered
switch or ``Accept-Language``). Its HTML is fixed text with no data in it: not even the query,
so the language switch links carry only ``lang`` and the script adds the meter to them. The
script (``/static/public/phone.js``) reads the catalog the page embeds (a JSON data block),
the meter number from the URL or the form, asks ``/public/lookup`` and ``/public/outages.json``,
and writes every answer into the page through ``textContent``.
"""

from __future__ import annotations

import html
import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.i18n import PageLang, language_switch
from core.i18n import Lang
from maps.elements import script_json

router = APIRouter(prefix="/public", tags=["public"])

ASSETS = "/static/public"


PAGE = """<!doctype html>
<html lang="{html_lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/phone.css">
<script id="gw-words" type="application/json">{words}</script>
<script src="{assets}/phone.js" defer></script>
</head>
<body>
<header class="top">{switch}<h1>{title}</h1><p>{intro}</p></header>
<main>
<form id="ask" class="card" action="/public/" method="get" novalidate>
  <label for="meter">{meter}</label>
  <div class="row">
    <input id="meter" name="meter" type="text" inputmode="text" autocomplete="off"
      spellcheck="false" maxlength="64" required placeholder="{placeholder}">
    <button type="submit">{look_up}</button>
  </div>
  <p class="hint">{hint}</p>
</form>
<section id="message" class="card message" role="alert" hidden></section>
<section id="answer" aria-live="polite" hidden>
  <div id="status" class="card status">
    <p class="status-label">{out_now}</p>
    <p id="status-text" class="status-text"></p>
    <dl id="outage" class="facts" hidden>
      <dt>{since}</dt><dd id="since"></dd>
      <dt>{cause}</dt><dd id="cause"></dd>
      <dt>{eta}</dt><dd id="eta"></dd>
    </dl>
  </div>
  <div id="progress-card" class="card" hidden>
    <h2>{progress}</h2>
    <ol id="steps" class="steps"></ol>
    <p id="progress-note" class="note" hidden>{no_progress}</p>
  </div>
  <div class="card">
    <h2>{recent}</h2>
    <ol id="recent" class="list"></ol>
    <p id="recent-none" class="note" hidden>{no_recent}</p>
  </div>
  <div class="card">
    <h2>{works}</h2>
    <ol id="works" class="list"></ol>
    <p id="works-none" class="note" hidden>{no_works}</p>
  </div>
</section>
<section id="province" class="card province" aria-live="polite">
  <h2>{province}</h2>
  <p id="province-total" class="note">{loading}</p>
  <ol id="province-counties" class="counties"></ol>
</section>
</main>
<footer class="foot">{foot}</footer>
</body>
</html>
"""
"""The page: every ``{name}`` is a translated text (escaped), but ``switch`` and ``words``."""


def render(lang: Lang, switch: str) -> str:
    """The page in ``lang``, with the language switch's markup ``switch``."""
    _ = lang.gettext
    text = {
        "title": _("Power outage lookup"),
        "intro": _("Enter your meter number to see whether your home has power and when it will be back."),
        "meter": _("Meter number"),
        "placeholder": _("The meter number on your bill"),
        "look_up": _("Look up"),
        "hint": _("The meter number is printed on your electricity bill and on the meter's nameplate."),
        "out_now": _("Is the power out now?"),
        "since": _("Out since"),
        "cause": _("Cause of the outage"),
        "eta": _("Estimated restoration"),
        "progress": _("Repair progress"),
        "no_progress": _("No repair progress yet: our staff are checking."),
        "recent": _("Last five outages"),
        "no_recent": _("No outages recorded."),
        "works": _("Planned works in the next 7 days"),
        "no_works": _("No planned works in the next 7 days."),
        "province": _("Outages in the province now"),
        "loading": _("Loading…"),
        "foot": _("All times are Beijing time. For help, call the power supply service hotline 95598."),
    }
    words = script_json(json.dumps({"lang": lang.html, "messages": lang.messages("pages")},
                                   ensure_ascii=False, sort_keys=True))
    return PAGE.format(html_lang=lang.html, assets=ASSETS, switch=switch, words=words,
                       **{k: html.escape(v) for k, v in text.items()})


@router.get("", include_in_schema=False)
def page_redirect(request: Request) -> RedirectResponse:
    """``/public`` goes to ``/public/``, keeping the query string (an SMS link's ``?meter=``)."""
    query = request.url.query
    return RedirectResponse("/public/" + (f"?{query}" if query else ""), status_code=307)


@router.get("/", response_class=HTMLResponse, summary="停电查询: the customers' phone page (no key)")
def page(request: Request, lang: PageLang) -> HTMLResponse:
    """The mobile page in the request's language; ``/public/?meter=ID`` opens with that meter's answer."""
    # The switch is built as if the query were empty: the page never writes the query into its
    # HTML (the script adds the meter to the links).
    bare = Request({**request.scope, "query_string": b""})
    return HTMLResponse(render(lang, language_switch(lang, bare)), headers={
        "Cache-Control": "no-cache", "Content-Language": lang.html, "Vary": "Accept-Language, Cookie"})
