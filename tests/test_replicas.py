"""Read replicas (issue 18): a real streaming replica of a throwaway primary, never the shared cluster.

The primary is an embedded cluster on its own port; the replica is ``pg_basebackup -R -X stream``
of it, started as a second postmaster on another port. The app is built with
GRIDWATCH_READ_DATABASE_URL pointing at the replica and driven in-process.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

import migrations
from api.app import create_app
from api.deps import Database
from api.keys import create_key
from core import embedded
from core.settings import Settings
from monitoring.live import refresh_live
from tests.builders import add_area, add_feeder, add_outage, free_port

SHARED_PORT = 54329
REPLICATOR = "gw_test_replicator"


@dataclass
class Pair:
    primary: Settings
    replica_port: int
    replica_dir: Path
    read_url: str

    def replica_ctl(self, *args: str) -> None:
        c = embedded.cluster(self.primary)
        embedded._run(c, [str(c.bin_dir / "pg_ctl"), *args, "-D", str(self.replica_dir / "pgdata")])

    def start_replica(self) -> None:
        self.replica_ctl("start", "-w", "-t", "60", "-l", str(self.replica_dir / "postgres.log"),
                         "-o", f"-p {self.replica_port} -k {self.replica_dir}")

    def stop_replica(self) -> None:
        self.replica_ctl("stop", "-m", "fast", "-w")

    def stop_primary(self) -> None:
        assert self.primary.db_port != SHARED_PORT
        assert embedded.stop(self.primary)

    def start_primary(self) -> None:
        embedded.start(self.primary)


def _port() -> int:
    port = free_port()
    while port == SHARED_PORT:
        port = free_port()
    return port


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A migrated throwaway primary and a streaming replica of it."""
    settings = Settings(database_url=None, data_dir=tmp_path_factory.mktemp("replicadb") / "gw",
                        db_port=_port())
    assert settings.embedded and settings.db_port != SHARED_PORT
    c = embedded.start(settings)
    replica_dir = c.data_dir / "replica"
    try:
        migrations.upgrade(settings.sqlalchemy_url())
        password = secrets.token_urlsafe(16)
        with psycopg.connect(embedded.admin_url(settings), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {REPLICATOR} LOGIN REPLICATION PASSWORD '{password}'")
        with (c.pgdata / "pg_hba.conf").open("a", encoding="utf-8") as fh:
            fh.write(f"host replication {REPLICATOR} 127.0.0.1/32 scram-sha-256\n")
        embedded._run(c, [str(c.bin_dir / "pg_ctl"), "reload", "-D", str(c.pgdata)])
        replica_dir.mkdir(mode=0o700)
        embedded._chown(c, replica_dir)
        source = f"host=127.0.0.1 port={settings.db_port} user={REPLICATOR} password={password}"
        embedded._run(c, [str(c.bin_dir / "pg_basebackup"), "-d", source, "-D",
                          str(replica_dir / "pgdata"), "-R", "-X", "stream", "-c", "fast"])
        service = settings.secret_file(settings.db_user).read_text(encoding="ascii").strip()
        replica_port = _port()
        read_url = f"postgresql://{settings.db_user}:{service}@127.0.0.1:{replica_port}/{settings.db_name}"
        made = Pair(settings, replica_port, replica_dir, read_url)
        made.start_replica()
        yield made
    finally:
        if (replica_dir / "pgdata" / "postmaster.pid").exists():
            embedded._run(c, [str(c.bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D",
                              str(replica_dir / "pgdata")], check=False)
        home = embedded.cluster(settings).data_dir
        embedded.destroy(settings)
        shutil.rmtree(home, ignore_errors=True)


def _until(check: Callable[[], bool], seconds: float) -> float | None:
    """Seconds until ``check()`` holds, or None after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if check():
                return time.monotonic() - started
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    return None


def _in_recovery_sync(db: Database) -> bool:
    with db.session() as s:
        return bool(s.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def _in_recovery_async(db: Database) -> bool:
    async def ask() -> bool:
        row = await db.aio.fetchone("SELECT pg_is_in_recovery()")
        assert row is not None
        return bool(row[0])

    return asyncio.run(ask())


def _no_traceback(body: str) -> None:
    assert "Traceback" not in body and "psycopg" not in body and "password" not in body


def test_reads_use_the_replica_survive_the_primary_and_fall_back(pair: Pair) -> None:
    """Reads come from the replica, see the primary's writes within seconds, keep answering
    (keys included) with the primary stopped while writes get a JSON 503, and everything is
    back once the primary returns; with the replica stopped, reads fall back to the primary."""
    primary_url = pair.primary.sqlalchemy_url()
    writer = create_engine(primary_url, poolclass=pool.NullPool)
    now = datetime.now(UTC)
    with Session(writer) as s:
        key = create_key(session=s, role="admin", name="replica-test")[1]
        add_feeder(s, "F1")
        add_area(s, "A1", "F1")
        s.commit()
    settings = pair.primary.model_copy(update={"read_database_url": pair.read_url})
    settings = Settings.model_validate(settings.model_dump())  # through the validators
    app = create_app(settings)
    db: Database = app.state.db
    auth = {"Authorization": f"Bearer {key}"}

    def live_ids(client: TestClient) -> set[str]:
        answer = client.get("/api/v1/outages/live", headers=auth)
        assert answer.status_code == 200, answer.text
        return {row["area_id"] for row in answer.json()}

    with TestClient(app, raise_server_exceptions=False) as client:
        # the read session and the read pool are on the replica; the write side is not
        assert db.reader is not db
        assert _in_recovery_sync(db.reader) and _in_recovery_async(db.reader)
        assert not _in_recovery_sync(db)
        # the key was made on the primary: it reaches the replica, and the key check reads there
        assert _until(lambda: client.get("/api/v1/outages/live", headers=auth).status_code == 200, 10)
        assert live_ids(client) == set()

        # a write on the primary is visible through the read routes within seconds
        with Session(writer) as s:
            add_outage(s, "O1", "area", "A1", now - timedelta(hours=1), None, cause="fault")
            refresh_live(session=s, now=now)
            s.commit()
        took = _until(lambda: live_ids(client) == {"A1"}, 10)
        assert took is not None, "the replica did not show the primary's write within 10 s"

        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["database"] == "reachable"
        [replica] = health["replicas"]
        assert replica["name"] == "replica 1" and replica["reachable"] and replica["in_recovery"]
        assert replica["lag_bytes"] is not None and replica["lag_bytes"] >= 0
        assert replica["lag_seconds"] is not None and replica["lag_seconds"] < 60
        assert "127.0.0.1" not in client.get("/healthz").text  # no host, no password

        # the primary stops: reads still answer from the replica, writes answer 503 (JSON)
        pair.stop_primary()
        try:
            assert live_ids(client) == {"A1"}
            for path in ("/api/v1/outages/summary", "/api/v1/alerts", "/api/v1/remediation/cases",
                         "/tiles/areas/0/0/0.pbf", "/public/outages.json", "/ogc/collections",
                         "/api/v1/reports/tags"):
                answer = client.get(path, headers=auth)
                assert answer.status_code == 200, (path, answer.text)
            health_down = client.get("/healthz")
            assert health_down.status_code == 200
            assert health_down.json()["database"] == "unreachable"
            assert health_down.json()["status"] == "degraded"
            assert health_down.json()["writes"] == "unavailable"
            write = client.post("/api/v1/alerts/1/ack", headers=auth)
            assert write.status_code == 503, write.text
            assert write.json()["error"] == "database_unavailable"
            _no_traceback(write.text)
        finally:
            pair.start_primary()

        # the primary is back: writes work again by themselves (404: no such alert, not 503)
        took = _until(lambda: client.post("/api/v1/alerts/1/ack", headers=auth).status_code == 404, 15)
        assert took is not None, "writes did not recover within 15 s of the primary's return"
        assert _until(lambda: client.get("/healthz").json()["status"] == "ok", 15) is not None

        # the replica stops: reads fall back to the primary (still 200), /healthz says degraded
        pair.stop_replica()
        try:
            assert live_ids(client) == {"A1"}
            assert client.get("/api/v1/alerts", headers=auth).status_code == 200
            assert client.get("/api/v1/reports/tags", headers=auth).status_code == 200
            assert not _in_recovery_sync(db.reader) and not _in_recovery_async(db.reader)
            health_r = client.get("/healthz")
            assert health_r.status_code == 200
            assert health_r.json()["status"] == "degraded"
            assert health_r.json()["replicas"][0]["reachable"] is False
        finally:
            pair.start_replica()
        # once the replica is back (after its few seconds marked down), reads return to it
        assert db.reader.targets is not None
        wait = db.reader.targets.down_seconds + 15
        assert _until(lambda: _in_recovery_sync(db.reader) and _in_recovery_async(db.reader), wait)
        assert live_ids(client) == {"A1"}
    writer.dispose()


def test_read_url_setting_is_validated() -> None:
    """Several URLs, comma-separated, forced to psycopg; a non-PostgreSQL one is refused."""
    s = Settings(read_database_url=" postgres://u:pw@h1/db , postgresql://u:pw@h2:5433/db ,")
    assert s.read_urls() == ["postgresql://u:pw@h1/db", "postgresql://u:pw@h2:5433/db"]
    assert Settings(read_database_url="").read_urls() == []
    with pytest.raises(ValueError, match="GRIDWATCH_READ_DATABASE_URL") as raised:
        Settings(read_database_url="mysql://u:sekrit@h/db")
    assert "must be postgresql" in str(raised.value)


def test_without_replicas_reads_share_the_primary_pools(fresh_settings: Settings) -> None:
    """No read URL: the reader is the primary Database itself (no second pool), /healthz as before."""
    app = create_app(fresh_settings)
    db: Database = app.state.db
    assert db.reader is db and db.targets is None
    with TestClient(app) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "reachable"}

