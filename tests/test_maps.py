"""Map pages as HTML: status styling data, overlays, alerts, offline assets, basemaps, vector tiles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import Lang
from core.settings import Settings
from maps.area import area_html
from maps.overview import overview_html
from tests.test_maps_seed import seed

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


def _settings(**kw: object) -> Settings:
    return Settings(**kw)  # type: ignore[arg-type]


@pytest.fixture
def seeded(db_session: Session) -> Session:
    seed(db_session)
    return db_session


def test_overview_inline_has_layers_and_no_external_hosts(seeded: Session) -> None:
    page = overview_html(session=seeded, settings=_settings(), period="2026", metric="saifi")
    assert not EXTERNAL.search(page)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in page
    # The layer names, in the default language (zh-CN; tests/test_i18n_maps.py has English).
    for label in ("台区频繁停电状态", "馈线频繁停电状态", "县（区）边界", "告警中（2）", "供电薄弱村",
                  "核心区", "县（区）户均停电次数 (SAIFI)（2026年）"):
        assert json.dumps(label)[1:-1] in page, label
    assert "vectorGrid" not in page
    # The status of each area travels with its feature.
    assert '"id":"A000"' in page and '"status":"frequent"' in page and '"count_365":6' in page
    assert "贵阳核心区" in page and "沙冲村" in page


def test_basemaps_and_review_number(seeded: Session) -> None:
    osm = overview_html(session=seeded, settings=_settings(basemap="osm", map_review_number="GS(2024)1234号"))
    assert "tile.openstreetmap.org" in osm and "GS(2024)1234号" in osm
    tdt = overview_html(session=seeded, settings=_settings(basemap="tianditu", tianditu_key="k123"))
    assert "tianditu.gov.cn/vec_w/wmts" in tdt and "tianditu.gov.cn/cva_w/wmts" in tdt and "tk=k123" in tdt
    assert "openstreetmap" not in tdt


def test_overview_switches_to_vector_tiles_above_threshold(seeded: Session) -> None:
    page = overview_html(session=seeded, settings=_settings(map_inline_features=5))
    assert "/tiles/areas/{z}/{x}/{y}.pbf" in page and "/tiles/feeders/{z}/{x}/{y}.pbf" in page
    assert "/static/vendor/leaflet.vectorgrid-1.3.0/Leaflet.VectorGrid.bundled.min.js" in page
    assert '"id":"A000"' not in page
    assert not EXTERNAL.search(page)


def test_area_page_history_and_case(seeded: Session) -> None:
    page = area_html(session=seeded, settings=_settings(), area_id="A000", lang=Lang("en"))
    assert "<svg" in page and "gw-timeline" in page
    assert page.count('class="gw-int"') == 9  # 7 own records, 1 feeder record, 1 inferred interval
    assert "meters 7/10 off" in page and "feeder record OUT-F" in page
    assert "更换配变并新增联络线" in page and "in progress" in page
    assert "Weak-supply villages" in page and '<html lang="en">' in page
    assert not EXTERNAL.search(page)
    # The default language (GRIDWATCH_LANGUAGE, zh-CN): the same page in Chinese.
    zh = area_html(session=seeded, settings=_settings(), area_id="A000")
    assert '<html lang="zh-CN">' in zh and "电表 7/10 停电" in zh and "整治中" in zh and "供电薄弱村" in zh


def test_area_page_unknown_area(seeded: Session) -> None:
    with pytest.raises(NotFound):
        area_html(session=seeded, settings=_settings(), area_id="nope")


def test_bad_metric_is_usage_error(seeded: Session) -> None:
    from core.errors import UsageError

    with pytest.raises(UsageError):
        overview_html(session=seeded, settings=_settings(), metric="caidi")


def test_static_export(seeded: Session, tmp_path: Path) -> None:
    from maps.export import area_filename, export

    result = export(session=seeded, settings=_settings(), out=tmp_path / "out", county="520102")
    out = tmp_path / "out"
    assert result.area_pages == 24
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'src="vendor/leaflet-1.9.4/leaflet.js"' in index and '"href":"areas/A000.html"' in index
    assert '"id":"A100"' not in index  # the other county is not in this export
    area = (out / "areas" / "A000.html").read_text(encoding="utf-8")
    assert 'src="../vendor/leaflet-1.9.4/leaflet.js"' in area and 'href="../index.html"' in area
    for page in (index, area):
        assert not EXTERNAL.search(page) and "/static/" not in page
    assert (out / "vendor/leaflet-1.9.4/leaflet.js").stat().st_size > 100_000
    assert (out / "vendor/leaflet-1.9.4/LICENSE").exists() and (out / "gridwatch/map.js").exists()
    flagged = export(session=seeded, settings=_settings(), out=tmp_path / "f", areas="flagged")
    assert flagged.area_pages == 18
    assert area_filename("A/1 台区") != area_filename("A_1 台区") and area_filename("A-1") == "A-1.html"


def test_map_export_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    engine = create_engine(cli.url)
    with Session(engine) as s:
        seed(s)
        s.commit()
    engine.dispose()
    result = cli("map", "export", "--out", str(tmp_path / "x"), "--county", "520103", "--areas", "flagged")
    assert result.exit_code == 0, result.output
    assert "9 area pages" in result.output
    assert (tmp_path / "x" / "index.html").exists()
    bad = cli("map", "export", "--out", str(tmp_path / "y"), "--county", "999999")
    assert bad.exit_code == 1 and "999999" in bad.output
