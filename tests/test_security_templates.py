"""Server-side template injection through the maps (SPEC section 17: every input is hostile).

folium and branca build a page from Jinja templates, and branca 0.8 compiles the rendered output
of every element again as a template. Before ``maps.elements.Raw`` an area named ``{{ range(4)|list }}``
was shown as ``[0, 1, 2, 3]`` and one named ``{{ this.__class__.__mro__ }}`` printed server internals:
arbitrary Python expressions from a geometry file ran on the server. These tests load Jinja
syntax as ids and names the way a user's data arrives, then fetch every page that shows them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from core.settings import Settings
from tests.test_api_support import Api, make_api

EXPR = "{{ range(4)|list }}"  # would render as [0, 1, 2, 3]
LOOP = "{% for i in range(3) %}LOOP{% endfor %}"  # would render as LOOPLOOPLOOP
COMMENT = "{# hidden #}"  # would vanish
INTERNALS = "{{ this.__class__.__mro__ }}"  # would print branca's class names
BROKEN = "{% if"  # would be a TemplateSyntaxError, a 500
PAYLOADS = (EXPR, LOOP, COMMENT, INTERNALS, BROKEN)
EVALUATED = ("[0, 1, 2, 3]", "LOOPLOOP", "branca.element", "<class '")

AREAS = {EXPR: LOOP, "A-" + COMMENT: INTERNALS, "A-plain": BROKEN}
FREQUENT = EXPR


def _box(x: float, y: float, d: float) -> list[list[list[float]]]:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def _geojson(path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": g} for p, g in features]}, ensure_ascii=False),
        encoding="utf-8")
    return str(path)


@pytest.fixture
def loaded(cli: Any, tmp_path: Path) -> Path:
    admin = _geojson(tmp_path / "admin.geojson", [
        ({"adcode": "520000", "name": "贵州省"}, {"type": "Polygon", "coordinates": _box(106.0, 26.0, 1.0)}),
        ({"adcode": "520100", "name": LOOP}, {"type": "Polygon", "coordinates": _box(106.5, 26.4, 0.4)}),
        ({"adcode": "520102", "name": EXPR}, {"type": "Polygon", "coordinates": _box(106.6, 26.45, 0.2)}),
    ])
    feeders = _geojson(tmp_path / "feeders.geojson", [
        ({"feeder_id": INTERNALS, "name": COMMENT},
         {"type": "LineString", "coordinates": [[106.61, 26.52], [106.74, 26.52]]})])
    areas = _geojson(tmp_path / "areas.geojson", [
        ({"area_id": aid, "feeder_id": INTERNALS, "customers": 40, "name": name},
         {"type": "Polygon", "coordinates": _box(106.61 + 0.025 * i, 26.50, 0.02)})
        for i, (aid, name) in enumerate(AREAS.items())])
    zone = _geojson(tmp_path / "zone.geojson", [
        ({"id": BROKEN, "name": EXPR}, {"type": "Polygon", "coordinates": _box(106.605, 26.495, 0.05)})])
    for args in (("admin", admin), ("feeders", feeders), ("areas", areas), ("overlay", "core_zone", zone),
                 ("overlay", "old_compound", zone)):
        result = cli("load", *args)
        assert result.exit_code == 0, (args, result.output)
    rows = [{"outage_id": f"{LOOP}{j}", "asset_type": "area", "asset_id": FREQUENT,
             "start_time": f"2026-{j + 3:02d}-10T08:00:00+08:00",
             "end_time": f"2026-{j + 3:02d}-10T10:00:00+08:00", "cause": "fault", "work_id": EXPR}
            for j in range(6)]
    (tmp_path / "outages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert cli("ingest", "outages", str(tmp_path / "outages.jsonl")).exit_code == 0
    assert cli("monitor", "run", "--as-of", "2026-09-01T00:00:00+08:00").exit_code == 0
    return tmp_path


def _assert_literal(page: str, *, must_show: tuple[str, ...]) -> None:
    for word in EVALUATED:
        assert word not in page, f"template syntax from the data was evaluated: {word!r} in the page"
    for payload in must_show:
        assert payload in page, f"{payload!r} is not shown as it was loaded"


@pytest.fixture
def api(loaded: Path, cli: Any) -> Any:
    yield from make_api(Settings(database_url=cli.url, data_dir=loaded / "gw"))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_overview_shows_template_syntax_as_text(api: Api, lang: str) -> None:
    r = api.get(f"/maps/?period=2026&lang={lang}", "planner")
    assert r.status_code == 200, r.text[:500]
    # Area, feeder and overlay ids and names go into the inline layers as JSON: literal there.
    _assert_literal(r.text, must_show=(EXPR, LOOP, COMMENT, INTERNALS, BROKEN))
    r = api.get("/maps/?county=520102&period=2026", "planner")  # the county's name in the title box
    assert r.status_code == 200, r.text[:500]
    _assert_literal(r.text, must_show=(EXPR,))


def test_area_page_shows_template_syntax_as_text(api: Api) -> None:
    for aid, name in AREAS.items():
        r = api.get(f"/maps/areas/{quote(aid, safe='')}?lang=en", "planner")
        assert r.status_code == 200, (aid, r.text[:500])
        # Its id (in the title and panel), name, feeder and, for the frequent one, its records.
        shown = (name, INTERNALS, COMMENT) + ((LOOP + "0",) if aid == FREQUENT else ())
        _assert_literal(html.unescape(r.text), must_show=shown)


def test_static_export_shows_template_syntax_as_text(loaded: Path, cli: Any) -> None:
    out = loaded / "share"
    result = cli("map", "export", "--out", str(out), "--areas", "all", "--period", "2026", "--lang", "en")
    assert result.exit_code == 0, result.output
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 1 + len(AREAS), pages
    _assert_literal(html.unescape((out / "index.html").read_text(encoding="utf-8")),
                    must_show=(EXPR, LOOP, INTERNALS, BROKEN))
    for page in pages:
        _assert_literal(html.unescape(page.read_text(encoding="utf-8")), must_show=(INTERNALS,))
