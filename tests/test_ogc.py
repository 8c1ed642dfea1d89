"""OGC API Features: landing, conformance, collections and items (Part 1 Core + GeoJSON)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from core.settings import Settings
from tests.builders import add_area, add_feeder
from tests.test_api_support import Api, make_api

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"


@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def _seed(http: Api) -> None:
    def seed(s):  # type: ignore[no-untyped-def]
        add_feeder(s, "F1", 106.6, 26.5)
        for i in range(25):
            add_area(s, f"A{i:02d}", "F1", customers=10 + i, lon=106.0 + i * 0.1, lat=26.0)
        s.execute(text("INSERT INTO asset_status VALUES ('area', 'A03', now(), 6, 2, 'frequent')"))
        s.execute(
            text(
                "INSERT INTO asset_tag (asset_type, asset_id, layer, share) VALUES "
                "('area', 'A03', 'core_zone', 0.9), ('area', 'A03', 'old_compound', 0.2)"
            )
        )
        s.execute(
            text(
                "INSERT INTO admin_division VALUES ('520102', '南明区', 'county', '520100', "
                "ST_Multi(ST_MakeEnvelope(105, 25, 108, 27, 4326)))"
            )
        )
        s.execute(text("INSERT INTO asset_region VALUES ('area', 'A03', '520102', '520100')"))
        s.execute(
            text(
                "INSERT INTO overlay_feature (layer, feature_id, name, geom) VALUES "
                "('core_zone', 'z1', '观山湖', ST_Multi(ST_MakeEnvelope(106.2, 25.9, 106.45, 26.1, 4326)))"
            )
        )

    http.sql(seed)


def _rels(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for link in doc["links"]:
        assert {"href", "rel", "type"} <= set(link)
        out.setdefault(link["rel"], []).append(link)
    return out


def test_landing_and_conformance(http: Api) -> None:
    r = http.get("/ogc", "planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    rels = _rels(r.json())
    assert {"self", "alternate", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["conformance"][0]["href"].endswith("/ogc/conformance?f=json")
    r = http.get("/ogc/conformance", "planner")
    assert {CORE, GEOJSON} <= set(r.json()["conformsTo"])
    html = http.get("/ogc?f=html", "planner")
    assert html.headers["content-type"].startswith("text/html") and "conformance" in html.text


def test_collections_list_every_required_collection(http: Api) -> None:
    _seed(http)
    doc = http.get("/ogc/collections", "admin").json()
    assert {"self", "alternate"} <= set(_rels(doc))
    ids = [c["id"] for c in doc["collections"]]
    assert {
        "feeders",
        "areas",
        "alerts",
        "weak_supply_village",
        "ethnic_minority_area",
        "old_compound",
        "core_zone",
    } <= set(ids)
    areas = next(c for c in doc["collections"] if c["id"] == "areas")
    assert areas["itemType"] == "feature"
    assert "http://www.opengis.net/def/crs/OGC/1.3/CRS84" in areas["crs"]
    bbox = areas["extent"]["spatial"]["bbox"][0]
    assert bbox[0] == pytest.approx(106.0) and bbox[2] == pytest.approx(108.41)
    rels = _rels(areas)
    assert rels["items"][0]["type"] == "application/geo+json"
    one = http.get("/ogc/collections/areas", "admin")
    assert one.status_code == 200 and one.json()["id"] == "areas"
    r = http.get("/ogc/collections/nope", "admin")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_items_page_with_limit_offset_and_next_links(http: Api) -> None:
    _seed(http)
    r = http.get("/ogc/collections/areas/items?limit=10&offset=0", "planner")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert (fc["numberMatched"], fc["numberReturned"]) == (25, 10)
    assert [f["id"] for f in fc["features"]][:2] == ["A00", "A01"]
    rels = _rels(fc)
    assert {"self", "alternate", "next"} <= set(rels)
    seen = [f["id"] for f in fc["features"]]
    nxt = rels["next"][0]["href"]
    while nxt:
        page = http.get(nxt.replace("http://testserver", ""), "planner").json()
        seen += [f["id"] for f in page["features"]]
        links = _rels(page)
        assert "prev" in links
        nxt = links["next"][0]["href"] if "next" in links else None
    assert seen == [f"A{i:02d}" for i in range(25)]
    last = http.get("/ogc/collections/areas/items?limit=10&offset=20", "planner").json()
    assert last["numberReturned"] == 5 and "next" not in _rels(last)
    # limits above the maximum are clamped, not refused
    assert http.get("/ogc/collections/areas/items?limit=999999", "planner").json()["numberReturned"] == 25
    assert http.get("/ogc/collections/areas/items?limit=0", "planner").status_code == 422


def test_items_bbox_filter_and_properties(http: Api) -> None:
    _seed(http)
    fc = http.get("/ogc/collections/areas/items?bbox=106.25,25.9,106.45,26.1", "planner").json()
    assert [f["id"] for f in fc["features"]] == ["A03", "A04"]  # A02 ends at 106.21
    assert fc["numberMatched"] == 2
    a03 = next(f for f in fc["features"] if f["id"] == "A03")
    p = a03["properties"]
    assert (p["status"], p["count_365"], p["max_60"]) == ("frequent", 6, 2)
    assert p["tags"] == ["core_zone"]  # old_compound's share is under the setting
    assert (p["county"], p["county_name"]) == ("520102", "南明区")
    geom = a03["geometry"]
    assert geom["type"] == "MultiPolygon"
    ring = geom["coordinates"][0][0]
    assert all(len(str(c).split(".")[-1]) <= 7 for pt in ring for c in pt)
    # RFC 7946: exterior ring counter-clockwise (positive shoelace area)
    area2 = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False))
    assert area2 > 0
    assert http.get("/ogc/collections/areas/items?bbox=1,2,3", "planner").status_code == 400
    assert http.get("/ogc/collections/areas/items?bbox=10,80,5,85", "planner").status_code == 400


def test_single_item_overlay_and_alerts_collections(http: Api) -> None:
    _seed(http)
    f = http.get("/ogc/collections/areas/items/A03", "planner")
    assert f.status_code == 200 and f.json()["type"] == "Feature" and f.json()["id"] == "A03"
    assert "collection" in _rels(f.json())
    assert http.get("/ogc/collections/areas/items/missing", "planner").status_code == 404
    zones = http.get("/ogc/collections/core_zone/items", "planner").json()
    assert zones["features"][0]["properties"]["name"] == "观山湖"
    feeders = http.get("/ogc/collections/feeders/items", "planner").json()
    assert feeders["features"][0]["geometry"]["type"] == "MultiLineString"

    def alert(s):  # type: ignore[no-untyped-def]
        s.execute(
            text(
                "INSERT INTO alert (fingerprint, rule, severity, subject_type, subject_id, state, starts_at, "
                "last_seen_at) VALUES ('fp', 'frequent_outage', 'critical', 'area', 'A03', 'firing', "
                "now(), now())"
            )
        )

    http.sql(alert)
    alerts = http.get("/ogc/collections/alerts/items", "planner").json()
    assert alerts["numberMatched"] == 1
    a = alerts["features"][0]
    assert a["properties"]["rule"] == "frequent_outage" and a["geometry"]["type"] == "MultiPolygon"
    assert http.get(f"/ogc/collections/alerts/items/{a['id']}", "planner").status_code == 200
    none = http.get("/ogc/collections/alerts/items?bbox=0,0,1,1", "planner").json()
    assert none["numberMatched"] == 0 and none["features"] == []
