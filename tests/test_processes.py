"""Several gridwatch processes on one database (issue 18): scheduler failover, caches and sessions.

Two real ``gridwatch serve`` processes run against the same fresh database. The scheduler
leader is found from the database (the backend holding the advisory lock, whose
``application_name`` carries the leader's process id), SIGKILLed, and the survivor must run
the jobs within 60 s. Tiles fetched through one process after data changed through the other
(HTTP ingest, a load, the rules job in a third process) must be the new ones, with a new ETag.
The change stamps behind the ETags are checked against the races that fool a max(updated_at).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from core.settings import Settings
from monitoring.scheduler import APP_PREFIX, LOCK_KEY, SchedulerHandle
from spatial import features
from tests.builders import add_area, add_feeder, free_port
from tests.test_tiles import _tile_xy

GRIDWATCH = str(Path(sys.executable).with_name("gridwatch"))
CSV = {"Content-Type": "text/csv"}


# --- serve processes --------------------------------------------------------------------------

@dataclass(eq=False)
class Served:
    """A ``gridwatch serve`` process, its base URL and its log file."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)

    def get(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **kw.pop("headers", {})}
        return self.client.get(path, headers=headers, **kw)

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _env(settings: Settings, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDWATCH_")}
    env.update(GRIDWATCH_DATABASE_URL=settings.sqlalchemy_url(), GRIDWATCH_DATA_DIR=str(tmp / "gw"))
    return env


def _until(check: Callable[[], Any], seconds: float, every: float = 0.2) -> Any:
    """The first truthy value of ``check()`` within ``seconds``, else None."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    return None


def _serve(settings: Settings, tmp: Path, name: str, *flags: str) -> Served:
    port = free_port()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([GRIDWATCH, "serve", "--port", str(port), "--no-stream",
                                 "--no-access-log", *flags],
                                env=_env(settings, tmp), stdout=out, stderr=subprocess.STDOUT)
    served = Served(proc, f"http://127.0.0.1:{port}", log)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve {name} exited: {served.logged()[-2000:]}")
        try:
            return served.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    assert _until(up, 60), served.logged()[-2000:]
    return served


@pytest.fixture
def two(fresh_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., tuple[Served, Served]]]:
    """Start two serve processes on the fresh database (flags for both); stopped afterwards."""
    started: list[Served] = []

    def start(*flags: str) -> tuple[Served, Served]:
        a = _serve(fresh_settings, tmp_path, "a", *flags)
        started.append(a)
        b = _serve(fresh_settings, tmp_path, "b", *flags)
        started.append(b)
        return a, b

    yield start
    for s in started:
        s.stop()


def _keys(settings: Settings) -> dict[str, str]:
    from api.keys import create_key

    engine = create_engine(settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            keys = {role: create_key(session=s, role=role, name=f"{role} test")[1]
                    for role in ("planner", "ingest")}
            s.commit()
    finally:
        engine.dispose()
    return keys


def _gridwatch(settings: Settings, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRIDWATCH, *args], env=_env(settings, tmp), capture_output=True, text=True,
                          timeout=300, check=False)


# --- the scheduler leader killed ----------------------------------------------------------------

def _lock_holders(url: str) -> list[str]:
    """``application_name`` of the backends holding the scheduler's advisory lock."""
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = %s AND l.objid = %s",
            ((LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF)).fetchall()]


def _leader_pid(url: str) -> int | None:
    holders = _lock_holders(url)
    assert len(holders) <= 1, holders
    if not holders:
        return None
    assert holders[0].startswith(APP_PREFIX + " "), holders
    return int(holders[0].rsplit(" ", 1)[1])


def _runs(url: str, after_id: int = 0) -> list[tuple[int, str, str, datetime]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
            "SELECT id, job, outcome, started_at FROM job_run WHERE id > %s ORDER BY id",
            (after_id,)).fetchall()]


def test_the_scheduler_leader_killed_the_other_serve_runs_the_jobs_within_60_s(
    fresh_settings: Settings, two: Callable[..., tuple[Served, Served]]
) -> None:
    """SPEC 17: "The scheduler leader killed. Another process takes over within 60 s."

    Two serve processes with their schedulers on; the one holding the lock runs the rules at
    once (they never ran). It is SIGKILLed; the other takes the lock and runs the deliveries at
    once, while the rules, run minutes ago, are not run twice (they are due 15 min after).
    """
    url = fresh_settings.libpq_url()
    a, b = two()
    by_pid = {a.proc.pid: a, b.proc.pid: b}
    leader_pid = _until(lambda: _leader_pid(url), 30)
    assert leader_pid in by_pid, (leader_pid, list(by_pid))
    leader = by_pid[leader_pid]
    survivor = b if leader is a else a
    assert _until(lambda: any(j == "alerts" and o == "success" for _, j, o, _ in _runs(url)), 120), \
        leader.logged()[-3000:]
    assert "this process is the leader" in leader.logged()
    assert "this process is the leader" not in survivor.logged()
    last = max(r[0] for r in _runs(url))

    leader.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.proc.wait(timeout=30)
    took = _until(lambda: _leader_pid(url) == survivor.proc.pid, 60, every=0.1)
    assert took, survivor.logged()[-3000:]
    took_s = time.monotonic() - killed
    ran = _until(lambda: [r for r in _runs(url, last) if r[1:3] == ("notify", "success")], 60, every=0.2)
    ran_s = time.monotonic() - killed
    assert ran, survivor.logged()[-3000:]
    assert ran_s < 60, f"the survivor ran the deliveries {ran_s:.1f}s after the kill"
    # Deliveries at once; the rules, run by the old leader minutes ago, are not run twice.
    assert {r[1] for r in _runs(url, last)} <= {"notify", "push"}
    assert "this process is the leader" in survivor.logged()
    assert survivor.get("/healthz").status_code == 200
    print(f"takeover {took_s:.1f}s, deliveries run by the survivor {ran_s:.1f}s after SIGKILL")


def test_a_leader_whose_lock_connection_dropped_runs_no_more_jobs(fresh_settings: Settings) -> None:
    """The leader's lock connection is terminated by the server (as an admin, a proxy or a
    network fault would) and another session takes the lock at once: the old leader's next
    job does not run, it steps down at once (not at its next periodic check), and it leads
    again only once the lock is free."""
    url = fresh_settings.libpq_url()
    runs: list[float] = []

    def schedule(scheduler: Any, settings: Settings) -> None:
        scheduler.add_job(lambda: runs.append(time.monotonic()), "interval", seconds=0.3, id="tick")

    # The periodic check is far away: only the check before each job can notice in time.
    a = SchedulerHandle(fresh_settings, retry_seconds=300, schedule=schedule).start()
    other = psycopg.connect(url, autocommit=True)
    try:
        assert _until(lambda: a.is_leader, 20)
        assert _until(lambda: len(runs) >= 2, 10)
        pid = other.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s "
            "AND datname = current_database()", (APP_PREFIX + " %",)).fetchone()
        assert pid is not None
        other.execute("SELECT pg_terminate_backend(%s)", (pid[0],))
        cut = time.monotonic()
        assert _until(lambda: other.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
                      == (True,), 5, every=0.01)
        took = time.monotonic()
        assert _until(lambda: not a.is_leader, 5, every=0.05), "the leader did not step down"
        stepped = time.monotonic()
        time.sleep(1.5)
        assert not a.is_leader
        assert not [t for t in runs if t > took + 0.05], "a job ran after another session took the lock"
        assert stepped - cut < 1.0
        other.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        a.retry_seconds = 0.2  # the loop is asleep for 300 s: wake it as a retry would
        a._wake.set()
        assert _until(lambda: a.is_leader, 10)
        assert _until(lambda: runs and runs[-1] > took + 1.5, 10)
    finally:
        a.stop()
        other.close()


# --- caches and sessions across processes -------------------------------------------------------

def _square(fid: str, lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Feature", "properties": {"id": fid, "name": f"zone {fid}"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _overlay_file(tmp: Path, name: str, ids: list[str]) -> Path:
    feats = [_square(fid, 106.70 + 0.02 * i, 26.50) for i, fid in enumerate(ids)]
    path = tmp / f"{name}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def _decoded(resp: httpx.Response, layer: str) -> dict[str, dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    tile = mapbox_vector_tile.decode(resp.content)
    feats = tile.get(layer, {}).get("features", [])
    key = "area_id" if layer == "areas" else "feature_id"
    return {f["properties"][key]: f["properties"] for f in feats}


def test_tiles_and_sessions_are_fresh_on_one_process_after_changes_through_another(
    fresh_settings: Settings, two: Callable[..., tuple[Served, Served]], tmp_path: Path
) -> None:
    engine = create_engine(fresh_settings.sqlalchemy_url())
    try:
        with Session(engine) as s:
            add_feeder(s, "F1", 106.70, 26.50)
            add_area(s, "A1", "F1", lon=106.70, lat=26.50, size=0.01)
            add_area(s, "A2", "F1", lon=106.72, lat=26.50, size=0.01)
            s.commit()
    finally:
        engine.dispose()
    keys = _keys(fresh_settings)
    zones = _overlay_file(tmp_path, "zones", ["Z1", "Z2"])
    assert _gridwatch(fresh_settings, tmp_path, "load", "overlay", "core_zone", str(zones)).returncode == 0
    assert _gridwatch(fresh_settings, tmp_path, "monitor", "run").returncode == 0
    a, b = two("--no-scheduler")
    x, y = _tile_xy(106.705, 26.505, 10)
    areas, zone = f"/tiles/areas/10/{x}/{y}.pbf", f"/tiles/core_zone/10/{x}/{y}.pbf"

    # Both processes hold both tiles in their caches, with the same ETag.
    first = {p: {t: p.get(t, keys["planner"]) for t in (areas, zone)} for p in (a, b)}
    for t in (areas, zone):
        assert first[a][t].headers["etag"] == first[b][t].headers["etag"]
        assert a.get(t, keys["planner"], headers={"If-None-Match": first[a][t].headers["etag"]}
                     ).status_code == 304
    assert _decoded(first[a][areas], "areas")["A1"]["status"] == "ok"
    assert set(_decoded(first[a][zone], "core_zone")) == {"Z1", "Z2"}

    # Four outages in 60 days ingested through B, then the rules job (a third process).
    now = datetime.now(UTC).replace(microsecond=0)
    rows = "".join(
        f"P{i},area,A1,{(now - timedelta(days=10 * i + 1)).isoformat()},"
        f"{(now - timedelta(days=10 * i + 1) + timedelta(hours=2)).isoformat()},fault\n"
        for i in range(4))
    r = b.client.post("/api/v1/ingest/outages", headers={**CSV, "Authorization": f"Bearer {keys['ingest']}"},
                      content=("outage_id,asset_type,asset_id,start_time,end_time,cause\n" + rows).encode())
    assert r.status_code == 200 and r.json()["accepted"] == 4, r.text
    assert _gridwatch(fresh_settings, tmp_path, "monitor", "run").returncode == 0
    # A replacing load of the overlay layer without Z2 (Z1 unchanged: only a deletion).
    zones = _overlay_file(tmp_path, "zones", ["Z1"])
    done = _gridwatch(fresh_settings, tmp_path, "load", "overlay", "core_zone", str(zones))
    assert done.returncode == 0, done.stderr

    for t in (areas, zone):
        old = first[a][t].headers["etag"]
        fresh = a.get(t, keys["planner"], headers={"If-None-Match": old})
        assert fresh.status_code == 200, f"{t}: process A still says 304 for the old tile"
        assert fresh.headers["etag"] != old
        assert fresh.headers["etag"] == b.get(t, keys["planner"]).headers["etag"]
    assert _decoded(a.get(areas, keys["planner"]), "areas")["A1"]["status"] == "frequent"
    assert _decoded(a.get(areas, keys["planner"]), "areas")["A1"]["count_365"] == 4
    assert set(_decoded(a.get(zone, keys["planner"]), "core_zone")) == {"Z1"}
    # Loading the same file again changes nothing, so the caches stay valid: 304.
    kept = a.get(zone, keys["planner"]).headers["etag"]
    again = _gridwatch(fresh_settings, tmp_path, "load", "overlay", "core_zone", str(zones))
    assert again.returncode == 0, again.stderr
    assert a.get(zone, keys["planner"], headers={"If-None-Match": kept}).status_code == 304

    # A session opened on B works on A; signed out on A, it is refused by B.
    login = b.client.post("/login", data={"key": keys["planner"]})
    assert login.status_code == 303, login.text
    cookie = login.cookies.get("gridwatch_session")
    assert cookie
    jar = {"gridwatch_session": cookie}
    assert httpx.get(f"{a.base}{zone}", cookies=jar).status_code == 200
    assert httpx.post(f"{a.base}/logout", cookies=jar).status_code == 303
    assert httpx.get(f"{b.base}{zone}", cookies=jar).status_code == 401


# --- the change stamps behind the ETags ---------------------------------------------------------

def _etag(url: str, layer: str) -> str:
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            return features.tile_etag(session=s, layer=layer, tag_min_share=0.5)
    finally:
        engine.dispose()


def _versions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT name, version FROM change_stamp").fetchall())  # type: ignore[arg-type]


def _seed_overlay(url: str) -> None:
    with psycopg.connect(url) as conn:
        for i, fid in enumerate(["Z1", "Z2", "Z3"]):
            conn.execute(
                "INSERT INTO overlay_feature (layer, feature_id, name, geom) VALUES "
                "('core_zone', %s, %s, ST_Multi(ST_MakeEnvelope(%s, 26.5, %s, 26.51, 4326)))",
                (fid, fid, 106.7 + i * 0.02, 106.71 + i * 0.02))
        conn.execute("INSERT INTO feeder (feeder_id, geom) VALUES ('F1', "
                     "ST_GeomFromText('MULTILINESTRING((106.7 26.5,106.75 26.55))', 4326))")
        conn.execute("INSERT INTO area (area_id, feeder_id, customers, geom) VALUES "
                     "('A1', 'F1', 10, ST_Multi(ST_MakeEnvelope(106.7, 26.5, 106.71, 26.51, 4326)))")
        conn.execute("INSERT INTO asset_status VALUES ('area', 'A1', now(), 0, 0, 'ok')")


def test_a_transaction_that_started_first_and_committed_last_still_changes_the_etag(
    fresh_db: str
) -> None:
    """T1 (say a load in one process) starts, T2 (another process) changes the layer and
    commits, a tile is cached for that state, then T1 commits. max(updated_at) stays T2's (T1's
    now() is older): the old ETag would have kept the stale tile. The stamp moves at T1's commit."""
    url = fresh_db.replace("postgresql+psycopg://", "postgresql://", 1)
    _seed_overlay(url)
    t1, t2 = psycopg.connect(url), psycopg.connect(url)
    try:
        t1.execute("UPDATE overlay_feature SET name = 'renamed', updated_at = now() WHERE feature_id = 'Z1'")
        time.sleep(0.05)
        t2.execute("UPDATE overlay_feature SET name = 'Z2 too', updated_at = now() WHERE feature_id = 'Z2'")
        t2.commit()
        seen = _etag(fresh_db, "core_zone")
        with psycopg.connect(url) as c:
            newest = c.execute("SELECT max(updated_at) FROM overlay_feature").fetchone()
        t1.commit()
        with psycopg.connect(url) as c:
            assert c.execute("SELECT max(updated_at) FROM overlay_feature").fetchone() == newest
        assert _etag(fresh_db, "core_zone") != seen
    finally:
        t1.close()
        t2.close()


def test_stamps_move_only_with_committed_changes_that_tiles_show(fresh_db: str) -> None:
    url = fresh_db.replace("postgresql+psycopg://", "postgresql://", 1)
    _seed_overlay(url)
    before = _versions(url)
    etags = {layer: _etag(fresh_db, layer) for layer in ("areas", "core_zone", "old_compound")}
    with psycopg.connect(url) as conn:
        # rolled back, whole or to a savepoint: nothing
        conn.execute("DELETE FROM overlay_feature WHERE feature_id = 'Z3'")
        conn.rollback()
        with conn.transaction():
            conn.execute("UPDATE asset_status SET as_of = as_of")
            try:
                with conn.transaction():
                    conn.execute("DELETE FROM overlay_feature WHERE feature_id = 'Z3'")
                    raise RuntimeError("roll back to the savepoint")
            except RuntimeError:
                pass
        # a refresh that only moves as_of, an upsert that writes no row: nothing
        conn.execute("UPDATE asset_status SET as_of = now() + interval '1 hour'")
        conn.execute("INSERT INTO area (area_id, feeder_id, customers, geom) SELECT area_id, feeder_id, "
                     "customers, geom FROM area ON CONFLICT (area_id) DO NOTHING")
        conn.commit()
    assert _versions(url) == before
    assert {layer: _etag(fresh_db, layer) for layer in etags} == etags
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM overlay_feature WHERE feature_id = 'Z3'")   # a deletion only
        conn.execute("UPDATE asset_status SET status = 'at_risk', count_365 = 5")
        conn.execute("DELETE FROM overlay_feature WHERE feature_id = 'Z2'")  # twice in one commit
    after = _versions(url)
    assert after["overlay:core_zone"] == before["overlay:core_zone"] + 1
    assert after["status:area"] == before["status:area"] + 1
    assert after["area"] == before["area"] and "overlay:old_compound" not in after
    assert _etag(fresh_db, "core_zone") != etags["core_zone"]
    assert _etag(fresh_db, "areas") != etags["areas"]
    assert _etag(fresh_db, "old_compound") == etags["old_compound"]


def test_writers_of_several_stamped_tables_in_opposite_orders_do_not_deadlock(fresh_db: str) -> None:
    """T1 writes an area then the overlay, T2 the overlay then an area, interleaved, and both
    commit at once: stamps are taken only at commit, in name order, so neither waits for the
    other (a stamp bumped by each statement would deadlock here)."""
    url = fresh_db.replace("postgresql+psycopg://", "postgresql://", 1)
    _seed_overlay(url)
    before = _versions(url)
    t1, t2 = psycopg.connect(url), psycopg.connect(url)
    for c in (t1, t2):
        c.execute("SET lock_timeout = '5s'")
    try:
        t1.execute("UPDATE area SET name = 't1' WHERE area_id = 'A1'")
        t2.execute("UPDATE overlay_feature SET name = 't2' WHERE feature_id = 'Z2'")
        t1.execute("UPDATE overlay_feature SET name = 't1' WHERE feature_id = 'Z1'")
        t2.execute("UPDATE feeder SET name = 't2' WHERE feeder_id = 'F1'")
        errors: list[BaseException] = []

        def commit(c: psycopg.Connection) -> None:
            try:
                c.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=commit, args=(c,)) for c in (t1, t2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
    finally:
        t1.close()
        t2.close()
    after = _versions(url)
    assert after["overlay:core_zone"] == before["overlay:core_zone"] + 2
    assert after["area"] == before["area"] + 1 and after["feeder"] == before["feeder"] + 1
