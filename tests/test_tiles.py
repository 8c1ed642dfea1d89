"""Vector tiles: ST_AsMVT tiles that decode, with area attributes, and ETag / 304 behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from core.settings import Settings
from tests.builders import add_area, add_feeder
from tests.test_api_support import Api, make_api


@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def _seed(http: Api) -> None:
    def seed(s):  # type: ignore[no-untyped-def]
        add_feeder(s, "F1", 106.70, 26.50)
        add_area(s, "A1", "F1", lon=106.70, lat=26.50, size=0.01)
        add_area(s, "A2", "F1", lon=106.72, lat=26.50, size=0.01)
        s.execute(text("INSERT INTO asset_status VALUES ('area', 'A1', now(), 6, 4, 'frequent')"))
        s.execute(
            text(
                "INSERT INTO asset_tag (asset_type, asset_id, layer, share) VALUES "
                "('area', 'A1', 'core_zone', 1.0), ('area', 'A1', 'weak_supply_village', 0.6)"
            )
        )

    http.sql(seed)


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_area_tile_decodes_with_status_count_and_tags(http: Api) -> None:
    _seed(http)
    x, y = _tile_xy(106.705, 26.505, 12)
    r = http.get(f"/tiles/areas/12/{x}/{y}.pbf", "planner")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(r.content)
    feats = {f["properties"]["area_id"]: f for f in tile["areas"]["features"]}
    assert set(feats) == {"A1", "A2"}
    a1 = feats["A1"]["properties"]
    assert (a1["status"], a1["count_365"], a1["max_60"]) == ("frequent", 6, 4)
    assert a1["tags"] == "core_zone,weak_supply_village"
    assert feats["A1"]["geometry"]["type"] == "Polygon"
    feeders = mapbox_vector_tile.decode(http.get(f"/tiles/feeders/12/{x}/{y}.pbf", "planner").content)
    assert feeders["feeders"]["features"][0]["properties"]["feeder_id"] == "F1"


def test_etag_304_and_change_when_the_data_changes(http: Api) -> None:
    _seed(http)
    x, y = _tile_xy(106.705, 26.505, 10)
    path = f"/tiles/areas/10/{x}/{y}.pbf"
    first = http.get(path, "planner")
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = http.get(path, "planner", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    http.sql(
        lambda s: s.execute(
            text(
                "UPDATE asset_status SET as_of = now() + interval '1 hour', "
                "status = 'ok' WHERE asset_id = 'A1'"
            )
        )
    )
    changed = http.get(path, "planner", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    props = {
        f["properties"]["area_id"]: f["properties"]
        for f in mapbox_vector_tile.decode(changed.content)["areas"]["features"]
    }
    assert props["A1"]["status"] == "ok"


def test_empty_tile_unknown_layer_and_bad_coordinates(http: Api) -> None:
    _seed(http)
    r = http.get("/tiles/areas/12/0/0.pbf", "planner")
    assert r.status_code == 200 and r.content == b""
    assert http.get("/tiles/core_zone/3/6/3.pbf", "planner").status_code == 200
    assert http.get("/tiles/nope/1/0/0.pbf", "planner").status_code == 404
    assert http.get("/tiles/areas/2/9/0.pbf", "planner").status_code == 404
    assert http.get("/tiles/areas/40/0/0.pbf", "planner").status_code == 422
    assert http.get("/tiles/areas/1/0/0.pbf", "regulator").status_code == 403


def test_expensive_tiles_are_shared_through_the_table_and_never_stale(
    http: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routers import tiles
    from api.tilecache import TileLRU

    _seed(http)
    monkeypatch.setattr(tiles, "SHARED_MS", 0.0)  # every tile counts as expensive
    x, y = _tile_xy(106.705, 26.505, 9)
    path = f"/tiles/areas/9/{x}/{y}.pbf"
    first = http.get(path, "planner")
    etag = first.headers["etag"]
    stored = http.sql(
        lambda s: s.execute(text("SELECT etag, data FROM tile_cache WHERE layer = 'areas' AND z = 9")).one()
    )
    assert f'"{stored[0]}"' == etag and bytes(stored[1]) == first.content
    # another worker (an empty LRU) answers from the table, not by rendering again
    http.sql(lambda s: s.execute(text("UPDATE tile_cache SET data = '\\x1a00'::bytea WHERE z = 9")))
    http.client.app.state.tiles = TileLRU()  # type: ignore[attr-defined]
    assert http.get(path, "planner").content == b"\x1a\x00"
    # new statuses: a new ETag, so neither cache is used and the tile shows the change
    newer = "UPDATE asset_status SET as_of = now() + interval '1 hour', status = 'ok'"
    http.sql(lambda s: s.execute(text(newer)))
    changed = http.get(path, "planner")
    assert changed.headers["etag"] != etag
    feats = mapbox_vector_tile.decode(changed.content)["areas"]["features"]
    assert {f["properties"]["area_id"]: f["properties"]["status"] for f in feats}["A1"] == "ok"


def test_many_distinct_empty_tiles_keep_the_cache_at_its_bound(http: Api) -> None:
    """Issue 12: empty tiles (zero bytes) used to cost nothing, so a client walking distinct
    empty tiles grew each worker's cache without bound. Entries and bytes are both capped."""
    from api.tilecache import ENTRY_OVERHEAD, TileLRU

    _seed(http)
    lru = TileLRU(max_entries=40)
    http.client.app.state.tiles = lru  # type: ignore[attr-defined]
    for x in range(90):  # far from the seeded areas: every tile is empty and distinct
        r = http.get(f"/tiles/areas/12/{x}/0.pbf", "planner")
        assert r.status_code == 200 and r.content == b""
    assert len(lru) == 40
    assert lru.size_bytes == 40 * ENTRY_OVERHEAD
    # the most recent tiles are the ones kept
    tag = http.get("/tiles/areas/12/89/0.pbf", "planner").headers["etag"].strip('"')
    assert lru.get(("areas", 12, 89, 0), tag) == b""
    assert lru.etag(("areas", 12, 0, 0)) is None

    # the byte budget counts empty tiles too
    small = TileLRU(max_bytes=10 * ENTRY_OVERHEAD, max_entries=1000)
    for x in range(50):
        small.put(("areas", 12, x, 0), "e", b"")
    assert len(small) == 10 and small.size_bytes == 10 * ENTRY_OVERHEAD
