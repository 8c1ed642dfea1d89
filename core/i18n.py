"""The interface's languages: zh-CN by default, English on request (gettext catalogs via Babel).

Messages are written in English in the code (``_("Firing alerts")``) and translated from the
catalogs ``core/locale/zh_CN/LC_MESSAGES/<domain>.po``, one per part of the interface
(``DOMAINS``: the overview map, and the other pages), each extracted from its own sources by
``make messages`` (``babel/<domain>.cfg``). ``make`` compiles them to ``.mo`` (``pybabel
compile``); should a ``.mo`` be missing or older than its ``.po`` (a checkout that skipped
``make``), the ``.po`` is compiled in memory instead, so a page is never shown untranslated
for want of a build step.

Which language a page is shown in: the page's switch (``?lang=en``, remembered in the
``gw_lang`` cookie), else the browser's ``Accept-Language``, else ``GRIDWATCH_LANGUAGE``
(default ``zh-CN``). The command line and the logs stay in English.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from core.clock import LOCAL_TZ

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAINS = ("maps", "pages")
"""The catalogs: ``maps`` (the overview map, its legend, layers and browser code) and ``pages``
(the login, area, timeline, error and public pages, and the API's words)."""
DEFAULT = "zh_CN"
LANGUAGES = ("zh_CN", "en")
"""The catalogs' language codes; ``en`` is the source language (no catalog needed)."""
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
COOKIE = "gw_lang"


def _(message: str) -> str:
    """Mark a message for extraction where it is defined; translate it where it is shown."""
    return message


def normalise(tag: str | None) -> str | None:
    """A supported language code for a tag like ``zh-CN``, ``zh-Hans-CN``, ``zh``, ``en-US``."""
    if not tag:
        return None
    t = tag.strip().replace("_", "-").lower()
    if t == "zh" or t.startswith("zh-"):
        return "zh_CN"
    if t == "en" or t.startswith("en-"):
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (q-values honoured), or None."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for i, part in enumerate(header.split(",")[:32]):
        piece = part.strip()
        if not piece:
            continue
        tag, _sep, params = piece.partition(";")
        q = 1.0
        for p in params.split(";"):
            key, _eq, value = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        code = normalise(tag)
        if code is None or q <= 0:
            continue
        if best is None or (q, -i) > (best[0], best[1]):
            best = (q, -i, code)
    return best[2] if best else None


def negotiate(*, switch: str | None = None, cookie: str | None = None,
              accept_language: str | None = None, default: str | None = None) -> str:
    """The page's language: the switch, the remembered choice, the browser, the setting."""
    for choice in (normalise(switch), normalise(cookie), from_accept_language(accept_language),
                   normalise(default)):
        if choice is not None:
            return choice
    return DEFAULT


def _po(code: str, domain: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=16)
def _catalog(code: str, domain: str, stamp: float) -> gettext.NullTranslations:
    po = _po(code, domain)
    mo = po.with_suffix(".mo")
    if not po.exists():
        return gettext.NullTranslations()
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=code)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _stamp(code: str, domain: str) -> float:
    po = _po(code, domain)
    return max((p.stat().st_mtime for p in (po, po.with_suffix(".mo")) if p.exists()), default=0.0)


def catalog(code: str, domain: str) -> gettext.NullTranslations:
    """One domain's catalog in one language (re-read when its files change)."""
    if code == "en":
        return gettext.NullTranslations()
    return _catalog(code, domain, _stamp(code, domain))


def translations(code: str) -> gettext.NullTranslations:
    """Every domain's catalog of a language, one falling back on the next."""
    if code == "en":
        return gettext.NullTranslations()
    chain = [catalog(code, d) for d in DOMAINS]
    return _chained(code, tuple(_stamp(code, d) for d in DOMAINS), tuple(chain))


@lru_cache(maxsize=8)
def _chained(code: str, stamps: tuple[float, ...],
             chain: tuple[gettext.NullTranslations, ...]) -> gettext.NullTranslations:
    head = gettext.NullTranslations()
    for part in chain:
        head.add_fallback(part)
    return head


@dataclass(frozen=True)
class Lang:
    """One language's gettext and formats, handed to whatever builds a page."""

    code: str = DEFAULT

    @property
    def html(self) -> str:
        """The value of ``<html lang>``."""
        return HTML_LANG[self.code]

    @property
    def zh(self) -> bool:
        """True for Chinese."""
        return self.code == "zh_CN"

    def gettext(self, message: str) -> str:
        """``message`` in this language."""
        return translations(self.code).gettext(message)

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural ``message`` in this language."""
        return translations(self.code).ngettext(singular, plural, n)

    def datetime(self, value: datetime | None) -> str:
        """Asia/Shanghai: ``2026年11月28日 14:59`` in Chinese, ``2026-11-28T14:59+08:00`` in English."""
        if value is None:
            return ""
        local = value.astimezone(LOCAL_TZ)
        if self.zh:
            return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
        return local.isoformat(timespec="minutes")

    def date(self, value: date | None) -> str:
        """``2026年11月28日`` in Chinese, ``2026-11-28`` in English."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(LOCAL_TZ).date()
        return f"{value.year}年{value.month}月{value.day}日" if self.zh else value.isoformat()

    def messages(self, domain: str) -> dict[str, str]:
        """A domain's translations, ``{msgid: msgstr}``, for browser code (a page embeds them;
        empty in English, where the browser shows the msgid itself)."""
        if self.code == "en":
            return {}
        cat = catalog(self.code, domain)
        table = getattr(cat, "_catalog", {})
        return {k: v for k, v in table.items() if isinstance(k, str) and k and v}
