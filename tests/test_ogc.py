"""OGC API Features: landing, conformance, collections and items (Part 1 Core + GeoJSON);
typed numbers, schemas (Part 5) and queryables (Part 3), checked with GDAL's own client."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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


# --- item 12: numbers keep their SQL type; schemas (Part 5) and queryables (Part 3) -----------

QUERYABLES = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables"
SCHEMAS = "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


def _capacities(http: Api, n: int = 22) -> None:
    """n areas of 315.0 kVA (whole numbers first, as GDAL samples the first page), then 315.5."""
    def seed(s):  # type: ignore[no-untyped-def]
        add_feeder(s, "F1", 106.6, 26.5)
        s.execute(text("UPDATE feeder SET voltage_kv = 10.0"))
        for i in range(n):
            add_area(s, f"A{i:02d}", "F1", lon=106.0 + i * 0.02, lat=26.0)
        add_area(s, "A99", "F1", lon=106.0, lat=26.2)
        s.execute(text("UPDATE area SET capacity_kva = CASE WHEN area_id = 'A99' THEN 315.5 "
                       "ELSE 315.0 END"))

    http.sql(seed)


def test_double_precision_is_a_json_float(http: Api) -> None:
    _capacities(http)
    r = http.get("/ogc/collections/areas/items?limit=100", "planner")
    assert '"capacity_kva":315.0' in r.text.replace(" ", "")  # not 315: GDAL would type Integer
    props = {f["id"]: f["properties"] for f in r.json()["features"]}
    assert isinstance(props["A00"]["capacity_kva"], float) and props["A99"]["capacity_kva"] == 315.5
    assert isinstance(props["A00"]["customers"], int)  # integer columns stay integers
    one = http.get("/ogc/collections/areas/items/A00", "planner").json()
    assert isinstance(one["properties"]["capacity_kva"], float)
    feeder = http.get("/ogc/collections/feeders/items", "planner").json()["features"][0]
    assert isinstance(feeder["properties"]["voltage_kv"], float)


def test_schema_and_queryables_give_every_property_its_sql_type(http: Api) -> None:
    _seed(http)
    conf = http.get("/ogc/conformance", "planner").json()["conformsTo"]
    assert {QUERYABLES, SCHEMAS} <= set(conf)
    rels = _rels(http.get("/ogc/collections/areas", "planner").json())
    assert rels[REL_SCHEMA][0]["href"].endswith("/ogc/collections/areas/schema")
    assert rels[REL_QUERYABLES][0]["href"].endswith("/ogc/collections/areas/queryables")
    assert rels[REL_SCHEMA][0]["type"] == "application/schema+json"
    sql_type = {"double precision": "number", "integer": "integer", "bigint": "integer",
                "text": "string", "character varying": "string"}

    def columns(s):  # type: ignore[no-untyped-def]
        rows = s.execute(text("SELECT table_name, column_name, data_type FROM information_schema.columns "
                              "WHERE table_name IN ('area', 'feeder', 'overlay_feature')")).all()
        return {(t, c): d for t, c, d in rows}

    db = http.sql(columns)
    for cid, table in (("areas", "area"), ("feeders", "feeder"), ("core_zone", "overlay_feature")):
        for kind in ("schema", "queryables"):
            r = http.get(f"/ogc/collections/{cid}/{kind}", "planner")
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
            doc = r.json()
            assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            assert doc["$id"].endswith(f"/ogc/collections/{cid}/{kind}") and doc["type"] == "object"
            props = doc["properties"]
            assert [k for k, v in props.items() if v.get("x-ogc-role") == "id"] == [
                {"areas": "area_id", "feeders": "feeder_id"}.get(cid, "feature_id")]
            geom = props["geometry"]
            assert geom["x-ogc-role"] == "primary-geometry" and "type" not in geom
            assert geom["format"] == ("geometry-multilinestring" if cid == "feeders"
                                      else "geometry-multipolygon")
            for name, spec in props.items():
                if (table, name) in db:  # a stored column: the schema says its SQL type
                    assert spec["type"] == sql_type[db[(table, name)]], (cid, name, spec)
                elif name != "geometry":
                    assert spec["type"] in ("string", "integer", "number", "array"), (cid, name)
    areas = http.get("/ogc/collections/areas/schema", "planner").json()["properties"]
    assert areas["capacity_kva"]["type"] == "number" and areas["customers"]["type"] == "integer"
    assert areas["tags"] == {**areas["tags"], "type": "array", "items": {"type": "string"}}
    alerts = http.get("/ogc/collections/alerts/schema", "planner").json()["properties"]
    assert alerts["id"]["type"] == "integer" and alerts["starts_at"]["format"] == "date-time"
    assert http.get("/ogc/collections/areas/queryables", "planner").json()["additionalProperties"] is False
    assert http.get("/ogc/collections/areas/schema?f=html", "planner").headers["content-type"].startswith(
        "text/html")
    missing = http.get("/ogc/collections/nope/schema", "planner")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert http.get("/ogc/collections/areas/schema").status_code == 401


@pytest.mark.skipif(shutil.which("ogrinfo") is None or shutil.which("ogr2ogr") is None,
                    reason="gdal-bin not installed (bash scripts/install-tools.sh)")
def test_gdal_types_capacity_as_real_and_keeps_315_5(http: Api, tmp_path: Path) -> None:
    """GDAL's own OAPIF client: the field is Real, and an export keeps 315.5 (not 315)."""
    from tests.test_maps_browser import start_server

    _capacities(http)
    base, server, thread = start_server(http.settings)
    try:
        auth = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {http.keys['planner']}"]
        info = subprocess.run(["ogrinfo", "-ro", "-al", "-so", *auth, f"OAPIF:{base}/ogc", "areas"],
                              capture_output=True, text=True, timeout=120)
        assert info.returncode == 0, info.stderr
        assert "capacity_kva: Real" in info.stdout, info.stdout
        assert "customers: Integer" in info.stdout, info.stdout
        out = tmp_path / "areas.geojson"
        conv = subprocess.run(["ogr2ogr", "-f", "GeoJSON", *auth, str(out), f"OAPIF:{base}/ogc", "areas"],
                              capture_output=True, text=True, timeout=120)
        assert conv.returncode == 0, conv.stderr
        exported = {f["properties"]["area_id"]: f["properties"]["capacity_kva"]
                    for f in json.loads(out.read_text())["features"]}
        assert exported["A99"] == 315.5 and exported["A00"] == 315.0 and len(exported) == 23
    finally:
        server.should_exit = True
        thread.join(timeout=10)
