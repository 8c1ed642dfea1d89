"""Issue 12 items 6, 7 and 11: replacing loads, reject amplification, database faults in ingest.

Each test performs the attack or the fault against the real database (and, for the database
stopping mid-ingest, against a throwaway cluster of its own) and checks that it is handled.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.routers.ingest import _array_items
from core.settings import Settings
from tests.builders import add_area, add_feeder, add_meters
from tests.test_api_support import Api, make_api

REPO = Path(__file__).resolve().parent.parent
CSV = {"content-type": "text/csv"}
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}


def query(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    eng = create_engine(url, poolclass=pool.NullPool)
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params or {})]
    finally:
        eng.dispose()


def seed(url: str, meters: int = 2) -> None:
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        add_meters(s, "A1", meters)
        s.commit()
    eng.dispose()


# --- item 6: a replacing load never deletes what it rejected --------------------------------

def _box(x: float, y: float, size: float = 0.01) -> list[list[list[float]]]:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


BROKEN = [[[106.7, 26.5], [106.7, 26.5], [106.7, 26.5], [106.7, 26.5]]]  # no area: unrepairable


def _collection(*features: tuple[dict[str, Any], Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props,
         "geometry": {"type": "Polygon", "coordinates": coords}}
        for props, coords in features]}, ensure_ascii=False)


V1 = _collection(
    ({"id": "z1", "name": "贵阳核心区"}, _box(106.70, 26.50)),
    ({"id": "z2", "name": "遵义核心区"}, _box(106.72, 26.50)),
    ({"id": "z3", "name": "安顺核心区"}, _box(106.74, 26.50)),
    ({"name": "无编号核心区"}, _box(106.76, 26.50)),            # stored as core_zone-4
)
# z1's name is empty, z2's geometry is broken, z3 is gone, z4 is new, and the feature without
# an id (still the 4th, so still core_zone-4) has lost its name.
V2 = _collection(
    ({"id": "z1", "name": ""}, _box(106.70, 26.50, 0.02)),
    ({"id": "z2", "name": "遵义核心区（新）"}, BROKEN),
    ({"id": "z4", "name": "毕节核心区"}, _box(106.78, 26.50)),
    ({"name": " "}, _box(106.76, 26.50, 0.03)),
)
OVERLAY_ROWS = ("SELECT feature_id, name, ST_AsEWKB(geom), updated_at FROM overlay_feature "
                "WHERE layer = 'core_zone' ORDER BY feature_id")


def _state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a load may change, to compare before and after a dry run."""
    return {
        "overlay": query(url, "SELECT layer, feature_id, name, ST_AsEWKB(geom), updated_at "
                              "FROM overlay_feature ORDER BY layer, feature_id"),
        "feeder": query(url, "SELECT feeder_id, name, substation, voltage_kv, ST_AsEWKB(geom), "
                             "updated_at FROM feeder ORDER BY feeder_id"),
        "area": query(url, "SELECT area_id, customers, ST_AsEWKB(geom), updated_at FROM area "
                           "ORDER BY area_id"),
        "meter": query(url, "SELECT meter_id, area_id FROM meter ORDER BY meter_id"),
        "tags": query(url, "SELECT asset_type, asset_id, layer, share FROM asset_tag "
                           "ORDER BY 1, 2, 3"),
        "sources": query(url, "SELECT source, fingerprint FROM spatial_source_state ORDER BY 1"),
    }


def test_replacing_overlay_load_keeps_rejected_features_and_reports_removed(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.geojson", tmp_path / "v2.geojson"
    v1.write_text(V1, encoding="utf-8")
    v2.write_text(V2, encoding="utf-8")
    first = cli("load", "overlay", "core_zone", str(v1), "--format", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["accepted"] == 4
    stored = {r[0]: r for r in query(cli.url, OVERLAY_ROWS)}
    assert set(stored) == {"z1", "z2", "z3", "core_zone-4"}
    before = _state(cli.url)

    # --dry-run: the same accounting as the real run, and nothing changes.
    dry = cli("load", "overlay", "core_zone", str(v2), "--dry-run", "--format", "json")
    assert dry.exit_code == 3, dry.output
    dry_obj = json.loads(dry.output)
    assert dry_obj["dry_run"] is True and dry_obj["removed_ids"] == ["z3"]
    assert _state(cli.url) == before
    dry_text = cli("load", "overlay", "core_zone", str(v2), "--dry-run")
    assert dry_text.exit_code == 3
    assert "dry run: nothing was changed" in dry_text.output and "would be removed" in dry_text.output
    assert "z3" in dry_text.output and "1 removed" in dry_text.output
    assert _state(cli.url) == before

    real = cli("load", "overlay", "core_zone", str(v2), "--format", "json")
    assert real.exit_code == 3, real.output
    obj = json.loads(real.output)
    assert {k: v for k, v in obj.items() if k != "dry_run"} == {
        k: v for k, v in dry_obj.items() if k not in ("dry_run", "warnings")} | {
        "warnings": obj["warnings"]}
    assert (obj["accepted"], obj["rejected"], obj["removed"], obj["removed_ids"]) == (1, 3, 1, ["z3"])
    assert {r["line"] for r in obj["rejects"]} == {1, 2, 4}
    assert any("were removed" in w for w in obj["warnings"])
    after = {r[0]: r for r in query(cli.url, OVERLAY_ROWS)}
    # The rejected features keep their stored version, byte for byte and with their timestamp.
    for fid in ("z1", "z2", "core_zone-4"):
        assert after[fid] == stored[fid]
    assert "z3" not in after and after["z4"][1] == "毕节核心区"

    # The text output names what was removed.
    assert cli("load", "overlay", "core_zone", str(v1)).exit_code == 0   # z3 back
    again = cli("load", "overlay", "core_zone", str(v2))
    assert again.exit_code == 3
    assert "1 removed" in again.output and "z3" in again.output and "were removed" in again.output
    assert {r[0] for r in query(cli.url, OVERLAY_ROWS)} == {"z1", "z2", "core_zone-4", "z4"}


def test_dry_run_of_every_load_changes_nothing_and_counts_like_a_real_run(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    feeders = tmp_path / "feeders.geojson"
    feeders.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"feeder_id": f"F{i}", "name": f"线{i}"},
         "geometry": {"type": "LineString",
                      "coordinates": [[106.7 + i / 100, 26.5], [106.71 + i / 100, 26.51]]}}
        for i in range(3)]}), encoding="utf-8")
    areas = tmp_path / "areas.geojson"
    areas.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"area_id": f"A{i}", "feeder_id": "F0", "customers": 10},
         "geometry": {"type": "Polygon", "coordinates": _box(106.7 + i / 100, 26.5)}}
        for i in range(3)]}), encoding="utf-8")
    meters = tmp_path / "meters.csv"
    meters.write_text("meter_id,area_id\nm1,A0\nm2,A1\nm3,NOPE\n", encoding="utf-8")
    zone = tmp_path / "zone.geojson"
    zone.write_text(V1, encoding="utf-8")
    admin = tmp_path / "admin.geojson"
    admin.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": "520000", "name": "贵州省"},
         "geometry": {"type": "Polygon", "coordinates": _box(106.0, 26.0, 2.0)}}]}), encoding="utf-8")
    loads = [("feeders", str(feeders)), ("areas", str(areas)), ("meters", str(meters)),
             ("overlay", "core_zone", str(zone)), ("admin", str(admin))]
    for args in loads:
        before = _state(cli.url)
        dry = cli("load", *args, "--dry-run", "--format", "json")
        assert dry.exit_code in (0, 3), dry.output
        assert _state(cli.url) == before, args
        real = cli("load", *args, "--format", "json")
        assert real.exit_code == dry.exit_code, real.output
        strip = ("dry_run", "warnings")
        assert {k: v for k, v in json.loads(real.output).items() if k not in strip} == {
            k: v for k, v in json.loads(dry.output).items() if k not in strip}, args
        assert json.loads(dry.output)["dry_run"] is True
        assert json.loads(real.output)["dry_run"] is False
    assert query(cli.url, "SELECT count(*) FROM meter") == [(2,)]


def test_reloading_feeders_with_a_broken_feature_keeps_its_stored_version(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    def line(fid: str, name: str, coords: list[list[float]]) -> dict[str, Any]:
        return {"type": "Feature", "properties": {"feeder_id": fid, "name": name},
                "geometry": {"type": "LineString", "coordinates": coords}}

    f = tmp_path / "feeders.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        line("F1", "one", [[106.7, 26.5], [106.8, 26.6]]),
        line("F2", "two", [[106.7, 26.6], [106.8, 26.7]])]}), encoding="utf-8")
    assert cli("load", "feeders", str(f)).exit_code == 0
    before = query(cli.url, "SELECT feeder_id, name, ST_AsEWKB(geom) FROM feeder ORDER BY 1")
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        line("F1", "one!", [[500.0, 26.5], [501.0, 26.6]])]}), encoding="utf-8")
    res = cli("load", "feeders", str(f), "--format", "json")
    assert res.exit_code == 3 and json.loads(res.output)["rejected"] == 1
    assert query(cli.url, "SELECT feeder_id, name, ST_AsEWKB(geom) FROM feeder ORDER BY 1") == before


# --- item 7: reject amplification -------------------------------------------------------------

@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def _junk_csv(size: int) -> bytes:
    """About ``size`` bytes of rows that are all rejected (unreadable times)."""
    row = b"x,y,z\n"
    return b"meter_id,time,kind\n" + row * (size // len(row))


def _counts(url: str) -> tuple[int, int, int]:
    return query(url, "SELECT (SELECT count(*) FROM ingest_reject), "
                      "(SELECT count(*) FROM ingest_batch), (SELECT count(*) FROM meter_event)")[0]


def test_five_megabytes_of_junk_over_http_is_refused_small_and_stores_nothing(http: Api) -> None:
    url = http.settings.sqlalchemy_url()
    body = _junk_csv(5 * 1024 * 1024)
    started = time.perf_counter()
    r = http.request("POST", "/api/v1/ingest/meter-events", "ingest", content=body, headers=CSV)
    elapsed = time.perf_counter() - started
    assert r.status_code == 422, r.text[:500]
    assert len(r.content) < 10_000
    err = r.json()
    assert err["error"] == "too_many_rejects"
    assert "10000" in err["detail"] and "GRIDWATCH_MAX_REJECTS_PER_BATCH" in err["detail"]
    assert "nothing from it was stored" in err["detail"]
    assert _counts(url) == (0, 0, 0)
    assert elapsed < 30

    # The same as a JSON array (parsed as it streams) and as JSON Lines.
    junk = json.dumps([{"meter_id": "x", "time": "y", "kind": "z"}] * 120_000).encode()
    assert len(junk) > 4 * 1024 * 1024
    for content, headers in ((junk, JSON),
                             (b'{"meter_id": "x", "time": "y", "kind": "z"}\n' * 120_000, NDJSON)):
        r = http.request("POST", "/api/v1/ingest/meter-events", "ingest",
                         content=content, headers=headers)
        assert r.status_code == 422 and r.json()["error"] == "too_many_rejects", r.text[:300]
        assert len(r.content) < 10_000
    assert _counts(url) == (0, 0, 0)


def test_many_rejects_are_answered_truncated_and_all_stay_queryable(  # type: ignore[no-untyped-def]
        http: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    url = http.settings.sqlalchemy_url()
    seed(url)
    body = (b"meter_id,time,kind\nA1-m0,2026-05-01T08:00:00+08:00,off\n"
            + b"A1-m1,not-a-time,off\n" * 2500)
    r = http.request("POST", "/api/v1/ingest/meter-events", "ingest", content=body, headers=CSV)
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) < 1024 * 1024
    acct = r.json()
    assert (acct["accepted"], acct["rejected"]) == (1, 2500)
    assert len(acct["rejects"]) == 1000 and acct["rejects_truncated"] is True
    assert acct["rejects"][0] == {"line": 3, "field": "time", "reason": acct["rejects"][0]["reason"]}
    batch = acct["batch_id"]
    assert query(url, "SELECT count(*) FROM ingest_reject WHERE batch_id = :b", {"b": batch}) == [(2500,)]

    from click.testing import CliRunner

    from core.settings import get_settings
    from gridwatch.cli import cli as root

    monkeypatch.setenv("GRIDWATCH_DATABASE_URL", url)
    get_settings.cache_clear()
    res = CliRunner().invoke(root, ["ingest", "rejects", str(batch), "--format", "json"])
    get_settings.cache_clear()
    assert res.exit_code == 0 and len(json.loads(res.output)) == 2500

    # A batch with a few rejects is answered as before: every reject, no truncation flag.
    few = b"meter_id,time,kind\nA1-m0,2026-05-02T08:00:00+08:00,off\nA1-m1,bad,off\n"
    r = http.request("POST", "/api/v1/ingest/meter-events", "ingest", content=few, headers=CSV)
    assert r.status_code == 200
    assert set(r.json()) == {"accepted", "duplicates", "updated", "rejected", "rejects"}
    assert r.json()["rejects"][0]["line"] == 3
    # A small JSON array still lands.
    arr = json.dumps([{"meter_id": "A1-m1", "time": "2026-05-03T08:00:00+08:00", "kind": "off"},
                      {"meter_id": "A1-m1", "time": "2026-05-03T09:00:00+08:00", "kind": "on"}])
    r = http.request("POST", "/api/v1/ingest/meter-events", "ingest", content=arr.encode(),
                     headers=JSON)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text


def test_reject_cap_is_a_setting_and_a_refused_file_stores_nothing_on_the_cli(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(cli.url)
    junk = tmp_path / "junk.csv"
    junk.write_bytes(_junk_csv(5 * 1024 * 1024))
    res = cli("ingest", "meter-events", str(junk), "--format", "json")
    assert res.exit_code == 1
    assert len(res.output) < 10_000 and "Traceback" not in res.output
    assert "more than 10000 rows were rejected" in res.output
    assert "nothing from it was stored" in res.output
    assert _counts(cli.url) == (0, 0, 0)

    monkeypatch.setenv("GRIDWATCH_MAX_REJECTS_PER_BATCH", "3")
    f = tmp_path / "few.csv"
    good = "A1-m0,2026-05-01T08:00:00+08:00,off\n"
    f.write_text("meter_id,time,kind\n" + good + "A1-m1,bad,off\n" * 3, encoding="utf-8")
    res = cli("ingest", "meter-events", str(f), "--format", "json")
    assert res.exit_code == 3 and json.loads(res.output)["rejected"] == 3
    f.write_text("meter_id,time,kind\n" + good + "A1-m1,bad,off\n" * 4, encoding="utf-8")
    res = cli("ingest", "meter-events", str(f))
    assert res.exit_code == 1 and "more than 3 rows were rejected" in res.output
    assert query(cli.url, "SELECT count(*) FROM ingest_batch") == [(1,)]  # the first one only
    assert query(cli.url, "SELECT count(*) FROM ingest_reject") == [(3,)]

    # The CLI lists the first 1000 rejects in JSON and says there are more.
    monkeypatch.delenv("GRIDWATCH_MAX_REJECTS_PER_BATCH")
    f.write_text("meter_id,time,kind\n" + "A1-m1,bad,off\n" * 1200, encoding="utf-8")
    res = cli("ingest", "meter-events", str(f), "--format", "json")
    assert res.exit_code == 3
    obj = json.loads(res.output)
    assert obj["rejected"] == 1200 and len(obj["rejects"]) == 1000 and obj["rejects_truncated"]
    assert len(json.loads(cli("ingest", "rejects", str(obj["batch_id"]), "--format", "json").output)) == 1200


def test_a_json_array_body_is_parsed_as_it_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(200_000):
            fh.write(("," if i else "") + json.dumps({"meter_id": f"m{i}", "time": "t", "kind": "off"}))
        fh.write("]")
    assert path.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        with path.open("rb") as body:
            n = sum(1 for _ in _array_items(body))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 200_000
    assert peak < 2 * 1024 * 1024  # json.load would hold the whole document (over 100 MB)
    for bad in (b"[1, 2", b"[1 2]", b"[1] x", b"[" * 100_000):
        from core.errors import InputError

        with pytest.raises(InputError):
            list(_array_items(io.BytesIO(bad)))


# --- item 11: the "not refreshed" warning in JSON ---------------------------------------------

def test_json_output_carries_the_not_refreshed_warning(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(cli.url)
    # Another session holds the refresh's lock of bucket 0; the command gives up waiting after
    # 300 ms: the batch is committed, the refresh fails.
    url = make_url(cli.url).update_query_dict({"options": "-c lock_timeout=300"})
    f = tmp_path / "e.csv"
    f.write_text("meter_id,time,kind\nA1-m0,2026-05-01T08:00:00+08:00,off\n"
                 "A1-m1,2026-05-01T08:01:00+08:00,off\n", encoding="utf-8")
    libpq = cli.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as holder:
        for bucket in range(8):
            holder.execute("SELECT pg_advisory_lock(hashtext('gridwatch.inferred_interruption'), %s)",
                           (bucket,))
        monkeypatch.setenv("GRIDWATCH_DATABASE_URL", url.render_as_string(hide_password=False))
        from core.settings import get_settings
        get_settings.cache_clear()
        from click.testing import CliRunner

        from gridwatch.cli import cli as root
        res = CliRunner().invoke(root, ["ingest", "meter-events", str(f), "--format", "json"])
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    obj = json.loads(res.output)
    assert obj["accepted"] == 2
    assert any("not refreshed" in w and "stored" in w for w in obj["warnings"]), obj
    assert query(cli.url, "SELECT count(*) FROM meter_event") == [(2,)]
    assert query(cli.url, "SELECT count(*) FROM inferred_interruption") == [(0,)]


# --- item 11: the database stopping mid-ingest and mid-load (a throwaway cluster) -------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert port != 54329  # never the shared cluster
    return port


@pytest.fixture
def throwaway() -> Iterator[Settings]:
    """A cluster of its own (own data directory and port), migrated; destroyed afterwards."""
    import migrations
    from core import embedded

    home = Path(tempfile.mkdtemp(prefix="gw-fault-", dir="/tmp"))
    home.chmod(0o755)  # the database's own account must reach it
    settings = Settings(data_dir=home / "db", db_port=_free_port())
    try:
        embedded.start(settings)
        migrations.upgrade(settings.sqlalchemy_url())
        yield settings
    finally:
        try:
            embedded.destroy(settings)
        finally:
            shutil.rmtree(home, ignore_errors=True)


def _crash(settings: Settings) -> None:
    """``pg_ctl stop -m immediate``: every backend dies at once, as in a crash."""
    from core import embedded

    c = embedded.cluster(settings)
    subprocess.run([str(c.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", str(c.pgdata)],
                   user=c.os_user, cwd="/", check=True, capture_output=True)


def _gridwatch(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    env["GRIDWATCH_DATABASE_URL"] = settings.sqlalchemy_url()
    return subprocess.Popen([str(REPO / ".venv" / "bin" / "gridwatch"), *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _copying(settings: Settings, pattern: str) -> bool:
    """Whether another session is running a COPY into ``pattern``."""
    with psycopg.connect(settings.libpq_url(), autocommit=True) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE %s",
            (f"COPY {pattern}%",)).fetchone()
    return bool(busy and busy[0])


def _crash_when_copying(settings: Settings, proc: subprocess.Popen[str], pattern: str) -> None:
    """Stop the cluster as soon as the command's COPY into ``pattern`` is running."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the command finished before the database could be stopped"
        if _copying(settings, pattern):
            _crash(settings)
            return
        time.sleep(0.02)
    raise AssertionError("the command never started copying")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out + err


def test_database_stopped_mid_load_and_mid_ingest_says_so_and_resending_stores_once(
        throwaway: Settings, tmp_path: Path) -> None:
    from core import embedded

    url = throwaway.sqlalchemy_url()
    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    eng.dispose()

    # gridwatch load meters, stopped mid-way.
    n_meters = 400_000
    meters = tmp_path / "meters.csv"
    with meters.open("w", encoding="utf-8") as fh:
        fh.write("meter_id,area_id\n")
        fh.writelines(f"M{i},A1\n" for i in range(n_meters))
    proc = _gridwatch(throwaway, "load", "meters", str(meters))
    _crash_when_copying(throwaway, proc, "_meter_stage")
    code, output = _finish(proc)
    assert code == 1, output
    assert ("gridwatch: the database stopped during the load; nothing from this file was stored; "
            "run the same command again") in output
    assert "Traceback" not in output and "OperationalError" not in output
    embedded.start(throwaway)
    assert query(url, "SELECT count(*) FROM meter") == [(0,)]
    code, output = _finish(_gridwatch(throwaway, "load", "meters", str(meters)))
    assert code == 0, output
    assert query(url, "SELECT count(*), count(DISTINCT meter_id) FROM meter") == [(n_meters, n_meters)]

    # gridwatch ingest meter-events, stopped mid-way.
    n_events = 600_000
    events = tmp_path / "events.csv"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with events.open("w", encoding="utf-8") as fh:
        fh.write("meter_id,time,kind\n")
        for minute in range(n_events // 1000):  # every meter goes off and on, minute by minute
            when = (base + timedelta(minutes=minute)).isoformat()
            kind = "off" if minute % 2 == 0 else "on"
            fh.writelines(f"M{m},{when},{kind}\n" for m in range(1000))
    proc = _gridwatch(throwaway, "ingest", "meter-events", str(events))
    _crash_when_copying(throwaway, proc, "")
    code, output = _finish(proc)
    assert code == 1, output
    assert ("gridwatch: the database stopped during the ingest; nothing from this batch was "
            "stored; run the same command again") in output
    assert "Traceback" not in output and "OperationalError" not in output
    embedded.start(throwaway)
    assert query(url, "SELECT count(*) FROM meter_event") == [(0,)]
    assert query(url, "SELECT count(*) FROM ingest_batch") == [(0,)]
    code, output = _finish(_gridwatch(throwaway, "ingest", "meter-events", str(events)))
    assert code == 0, output
    assert query(url, "SELECT count(*) FROM meter_event") == [(n_events,)]
    assert query(url, "SELECT count(*) FROM ingest_batch") == [(1,)]
    code, output = _finish(_gridwatch(throwaway, "ingest", "meter-events", str(events)))
    assert code == 0 and f"0 accepted, {n_events} duplicates" in output, output
    assert query(url, "SELECT count(*) FROM meter_event") == [(n_events,)]

    # POST /api/v1/ingest/meter-events, the database stopped mid-way: 503 saying nothing of
    # the body was stored; sent again once the database is back, it is stored once.
    import threading

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import create_key

    eng = create_engine(url, poolclass=pool.NullPool)
    with Session(eng) as s:
        key = create_key(session=s, role="ingest", name="feeder-system")[1]
        s.commit()
    eng.dispose()
    body = io.StringIO()
    body.write("meter_id,time,kind\n")
    for minute in range(300):
        when = (datetime(2026, 2, 1, tzinfo=UTC) + timedelta(minutes=minute)).isoformat()
        body.writelines(f"M{m},{when},{'off' if minute % 2 == 0 else 'on'}\n" for m in range(1000))
    data = body.getvalue().encode()
    app = create_app(Settings(database_url=url, scheduler=False))
    answers: list[Any] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        def post() -> None:
            answers.append(client.post("/api/v1/ingest/meter-events", content=data,
                                       headers={**CSV, "Authorization": f"Bearer {key}"}))

        worker = threading.Thread(target=post)
        worker.start()
        deadline = time.monotonic() + 120
        while not _copying(throwaway, ""):
            assert worker.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        _crash(throwaway)
        worker.join(300)
        r = answers[0]
        assert r.status_code == 503, r.text
        assert r.json() == {"error": "database_unavailable", "detail": (
            "the database stopped during the ingest; nothing from this body was stored; "
            "send the same body again once the database is back")}
        embedded.start(throwaway)
        assert query(url, "SELECT count(*) FROM meter_event") == [(n_events,)]
        r = client.post("/api/v1/ingest/meter-events", content=data,
                        headers={**CSV, "Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["accepted"] == 300_000, r.text[:300]
    assert query(url, "SELECT count(*) FROM meter_event") == [(n_events + 300_000,)]
