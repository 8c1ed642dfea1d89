"""The interface's languages (issue 17): negotiation, formats, and a complete zh-CN catalog."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core.i18n import LOCALE_DIR, Lang, from_accept_language, negotiate

REPO = Path(__file__).resolve().parent.parent
PYBABEL = Path(sys.executable).with_name("pybabel")
EXTRACT_FROM = ["core", "api", "maps", "monitoring"]   # as the Makefile's `messages`


def _untranslated(dirs: list[str], catalog: Path, workdir: Path) -> list[str]:
    """The messages found in ``dirs`` (extracted as ``make messages`` does) that ``catalog``
    does not translate (missing, empty or fuzzy)."""
    pot = workdir / "check.pot"
    subprocess.run([str(PYBABEL), "extract", "-F", str(REPO / "babel.cfg"), "-k", "N_",
                    "-o", str(pot), *dirs], cwd=workdir, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = [m.id for m in read_po(f) if m.id]
    with catalog.open("rb") as f:
        po = read_po(f)
    missing = []
    for msgid in wanted:
        m = po.get(msgid) if isinstance(msgid, str) else po.get(msgid)
        if m is None or m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)):
            missing.append(msgid if isinstance(msgid, str) else msgid[0])
    return missing


def test_every_interface_message_has_a_zh_cn_translation(tmp_path: Path) -> None:
    for d in EXTRACT_FROM:
        (tmp_path / d).symlink_to(REPO / d)
    catalog = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "gridwatch.po"
    missing = _untranslated(EXTRACT_FROM, catalog, tmp_path)
    assert missing == [], ("messages with no zh-CN translation (run `make messages` and translate "
                           f"them in {catalog.relative_to(REPO)}): {missing}")


def test_the_completeness_check_catches_a_new_untranslated_message(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "new.py").write_text(
        "from core.i18n import Lang\n_ = Lang().gettext\nTITLE = _('A heading nobody translated')\n")
    catalog = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "gridwatch.po"
    assert _untranslated(["pages"], catalog, tmp_path) == ["A heading nobody translated"]


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
