"""The interface's languages (issue 17): negotiation, formats, and a complete zh-CN catalog."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi import Request

from api.i18n import PageLang, language_switch
from core.i18n import DOMAINS, LOCALE_DIR, Lang, from_accept_language, negotiate

REPO = Path(__file__).resolve().parent.parent
PYBABEL = Path(sys.executable).with_name("pybabel")


def _untranslated(cfg: Path, catalog: Path, root: Path, workdir: Path) -> list[str]:
    """The messages found under ``root`` by the mapping ``cfg`` (extracted as ``make messages``
    does) that ``catalog`` does not translate (missing, empty or fuzzy)."""
    pot = workdir / "check.pot"
    subprocess.run([str(PYBABEL), "extract", "-F", str(cfg), "-k", "N_", "-o", str(pot), "."],
                   cwd=root, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = [m.id for m in read_po(f) if m.id]
    with catalog.open("rb") as f:
        po = read_po(f)
    missing = []
    for msgid in wanted:
        m = po.get(msgid)
        text = m.string if m is not None else ""
        if m is None or m.fuzzy or not (all(text) if isinstance(text, tuple) else text):
            missing.append(msgid if isinstance(msgid, str) else msgid[0])
    return missing


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_interface_message_has_a_zh_cn_translation(domain: str, tmp_path: Path) -> None:
    catalog = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{domain}.po"
    missing = _untranslated(REPO / "babel" / f"{domain}.cfg", catalog, REPO, tmp_path)
    assert missing == [], ("messages with no zh-CN translation (run `make messages` and translate "
                           f"them in {catalog.relative_to(REPO)}): {missing}")


def test_the_completeness_check_catches_a_new_untranslated_message(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "api").mkdir(parents=True)
    (src / "api" / "new.py").write_text(
        "from core.i18n import Lang\n_ = Lang().gettext\nTITLE = _('A heading nobody translated')\n")
    (src / "maps" / "static" / "public").mkdir(parents=True)
    (src / "maps" / "static" / "public" / "new.js").write_text('var t = _("A button nobody translated");\n')
    catalog = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "pages.po"
    assert sorted(_untranslated(REPO / "babel" / "pages.cfg", catalog, src, tmp_path)) == [
        "A button nobody translated", "A heading nobody translated"]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "zh_CN"),                                                     # the default
    ({"default": "en"}, "en"),                                         # GRIDWATCH_LANGUAGE
    ({"accept_language": "en-US,en;q=0.9"}, "en"),
    ({"accept_language": "fr-FR, zh-CN;q=0.8, en;q=0.5"}, "zh_CN"),    # q-values decide
    ({"accept_language": "fr-FR"}, "zh_CN"),                           # nothing we speak
    ({"accept_language": "en;q=0"}, "zh_CN"),                          # q=0 means "not this"
    ({"cookie": "en", "accept_language": "zh-CN"}, "en"),             # the remembered switch
    ({"switch": "zh-CN", "cookie": "en", "default": "en"}, "zh_CN"),  # the switch itself
    ({"switch": "<script>", "accept_language": "en"}, "en"),          # junk is ignored
])
def test_language_negotiation(kwargs: dict[str, str], expected: str) -> None:
    assert negotiate(**kwargs) == expected


def test_accept_language_is_bounded_and_lenient() -> None:
    assert from_accept_language("x;q=abc, en") == "en"
    assert from_accept_language(",".join(["fr"] * 10_000) + ",en") is None   # first 32 only


def test_times_show_in_asia_shanghai_in_each_language() -> None:
    at = datetime(2026, 11, 28, 6, 59, 30, tzinfo=UTC)
    assert Lang("zh_CN").datetime(at) == "2026年11月28日 14:59"
    assert Lang("en").datetime(at) == "2026-11-28T14:59+08:00"
    assert Lang("zh_CN").date(date(2026, 1, 5)) == "2026年1月5日"
    assert Lang("zh_CN").date(datetime(2026, 1, 4, 17, 0, tzinfo=UTC)) == "2026年1月5日"  # 01:00 local
    assert Lang("en").html == "en" and Lang("zh_CN").html == "zh-CN"


def test_the_switch_is_remembered_and_the_request_language_follows_it(fresh_settings) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(fresh_settings)

    @app.get("/public/_lang_probe")     # under /public/: no key needed
    def probe(request: Request, lang: PageLang) -> dict[str, str]:
        return {"lang": lang.code, "switch": language_switch(lang, request)}

    with TestClient(app) as c:
        assert c.get("/public/_lang_probe").json()["lang"] == "zh_CN"                        # default
        assert c.get("/public/_lang_probe", headers={"Accept-Language": "en-GB,en"}).json()["lang"] == "en"
        chosen = c.get("/public/_lang_probe?lang=en&county=5201")
        assert chosen.json()["lang"] == "en"
        assert "gw_lang=en" in chosen.headers["set-cookie"] and "Max-Age" in chosen.headers["set-cookie"]
        # The cookie now wins over the browser's preference, until switched back.
        assert c.get("/public/_lang_probe", headers={"Accept-Language": "zh-CN"}).json()["lang"] == "en"
        assert c.get("/public/_lang_probe?lang=zh-CN").json()["lang"] == "zh_CN"
        assert c.get("/public/_lang_probe", headers={"Accept-Language": "en"}).json()["lang"] == "zh_CN"
        # A junk value sets nothing; the switch keeps the page's other parameters, escaped.
        assert "set-cookie" not in c.get("/public/_lang_probe?lang=%3Cscript%3E").headers
        switch = c.get("/public/_lang_probe?county=%22%3E%3Cb%3E&lang=en").json()["switch"]
        assert "<b>" not in switch and "county=%22%3E%3Cb%3E&amp;lang=zh-CN" in switch
        assert 'aria-current="true">English' in switch


def _calls_inside_fstrings(path: Path) -> list[str]:
    """``_("...")`` / ``gettext("...")`` calls written inside an f-string: Babel's extractor
    cannot see them on Python 3.11, so their text would never reach the catalog."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    fn = inner.func
                    name = (fn.id if isinstance(fn, ast.Name)
                            else fn.attr if isinstance(fn, ast.Attribute) else "")
                    if name in ("_", "gettext", "ngettext", "N_") and inner.args and \
                            isinstance(inner.args[0], ast.Constant):
                        found.append(f"{path.name}:{inner.lineno}: {inner.args[0].value!r}")
    return found


def test_no_translated_message_hides_inside_an_f_string(tmp_path: Path) -> None:
    sources = [p for d in ("api", "core", "maps", "monitoring") for p in (REPO / d).rglob("*.py")]
    hidden = [hit for p in sources for hit in _calls_inside_fstrings(p)]
    assert hidden == [], ("move these out of the f-string (e.g. _(\"… {x}\").format(x=…)): "
                          + "; ".join(hidden))
    # ... and the check sees one when there is one.
    bad = tmp_path / "bad.py"
    bad.write_text('def _(m):\n    return m\nX = 1\nY = f"{_(\'Status\')}: {X} {len(\'ab\')}"\n')
    assert _calls_inside_fstrings(bad) == ["bad.py:4: 'Status'"]
