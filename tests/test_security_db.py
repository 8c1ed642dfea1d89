"""The embedded database is not open to every local account (SPEC section 17, issue 12 item 4).

Each test performs the attack: another local account connecting without the password, the
service role trying to run a program through COPY, reading the secrets, an old trusting
cluster, a password printed by ``db status`` and an unconfirmed ``db downgrade base``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from core import embedded
from core.errors import DatabaseError
from core.settings import Settings

pytestmark = pytest.mark.usefixtures("server")

RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def _embedded_only(server: Settings) -> None:
    if not server.embedded:
        pytest.skip("GRIDWATCH_DATABASE_URL points at a managed server; its security is its own")


def _psql(server: Settings) -> str:
    return str(embedded.cluster(server).bin_dir / "psql")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another local account")
def test_another_local_account_cannot_connect_without_the_password(server: Settings) -> None:
    _embedded_only(server)
    c = embedded.cluster(server)
    env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}
    attempts = [
        ["-h", "127.0.0.1", "-U", server.db_user, "-d", server.db_name],
        ["-h", "127.0.0.1", "-U", embedded.ADMIN_ROLE, "-d", "postgres"],
        ["-h", str(c.socket_dir), "-U", embedded.ADMIN_ROLE, "-d", "postgres"],
    ]
    for args in attempts:
        proc = subprocess.run(
            [RUNUSER, "-u", "nobody", "--", _psql(server), "-w", "-p", str(c.port), *args,
             "-c", "SELECT 1"],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=30,
        )
        assert proc.returncode != 0, args
        assert ("password" in proc.stderr) or ("Permission denied" in proc.stderr), proc.stderr


def test_secrets_and_socket_directory_are_private(server: Settings) -> None:
    _embedded_only(server)
    for role in (server.db_user, embedded.ADMIN_ROLE):
        path = server.secret_file(role)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    c = embedded.cluster(server)
    assert stat.S_IMODE(c.socket_dir.stat().st_mode) == 0o700
    hba = (c.pgdata / "pg_hba.conf").read_text(encoding="utf-8")
    methods = {line.split()[-1] for line in hba.splitlines() if line and not line.startswith("#")}
    assert methods == {"scram-sha-256"}


def test_the_service_role_is_no_superuser_and_cannot_run_programs(
    server: Settings, fresh_db: str
) -> None:
    _embedded_only(server)
    libpq = fresh_db.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id > /tmp/gridwatch-pwned'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pg_read_file('/etc/passwd')")
        assert not Path("/tmp/gridwatch-pwned").exists()
        # ... yet it owns the schema and everything the migrations made in it.
        owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
        assert owner == (server.db_user,)
        others = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys' AND tableowner <> current_user"
        ).fetchall()
        assert others == []


def test_a_cluster_that_trusted_local_accounts_is_refused_with_a_way_out() -> None:
    base = Path(tempfile.mkdtemp(prefix="gw-old-", dir="/tmp"))
    try:
        base.chmod(0o755)
        settings = Settings(data_dir=base / ".gridwatch", db_port=54398)
        c = embedded.cluster(settings)
        c.pgdata.mkdir(parents=True)
        (c.pgdata / "PG_VERSION").write_text("15\n")
        (c.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        with pytest.raises(DatabaseError, match="trusted every local account"):
            embedded.init(settings)
    finally:
        shutil.rmtree(base)


def test_db_status_never_prints_the_password(cli, server: Settings) -> None:  # type: ignore[no-untyped-def]
    _embedded_only(server)
    password = server.secret_file(server.db_user).read_text().strip()
    result = cli("db", "status")
    assert result.exit_code == 0
    assert "***" in result.output
    assert password not in result.output


def test_db_downgrade_base_asks_first(cli, fresh_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from core.db import make_engine

    result = cli("db", "downgrade", "base")
    assert result.exit_code == 2
    assert "--yes" in result.output
    engine = make_engine(fresh_settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('public.meter_event')")).scalar()
    finally:
        engine.dispose()
    confirmed = cli("db", "downgrade", "base", "--yes")
    assert confirmed.exit_code == 0, confirmed.output
    engine = make_engine(fresh_settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('public.meter_event')")).scalar() is None
    finally:
        engine.dispose()
