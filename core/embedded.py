"""The embedded database: a local PostgreSQL cluster with PostGIS and TimescaleDB under the data dir."""

from __future__ import annotations

import grp
import hashlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.errors import DatabaseError
from core.settings import Settings

log = logging.getLogger(__name__)

CONF_MARK = "# --- gridwatch embedded settings ---"
RELOCATED_ROOT = Path("/var/lib/gridwatch")


@dataclass(frozen=True)
class Cluster:
    """Paths and identity of the embedded cluster."""

    bin_dir: Path
    data_dir: Path
    pgdata: Path
    socket_dir: Path
    logfile: Path
    port: int
    os_user: str | None  # None: run as the current user


def find_bin_dir(settings: Settings) -> Path:
    """The newest PostgreSQL bin directory that has TimescaleDB and PostGIS installed."""
    if settings.pg_bin:
        return settings.pg_bin
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    )
    for ver in versions:
        ext = Path("/usr/share/postgresql") / ver.name / "extension"
        if (ext / "timescaledb.control").exists() and (ext / "postgis.control").exists():
            return ver / "bin"
    raise DatabaseError(
        "PostgreSQL with PostGIS and TimescaleDB is not installed; run scripts/install-db.sh "
        "(or 'make install')"
    )


def _os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise DatabaseError("running as root, but there is no 'postgres' user to run the database")


def _traversable(path: Path, user: str) -> bool:
    """Whether ``user`` can reach ``path`` (every existing ancestor searchable by it)."""
    pw = pwd.getpwnam(user)
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {pw.pw_gid}
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue  # created later by gridwatch, world-searchable
        if st.st_uid == pw.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def cluster(settings: Settings) -> Cluster:
    """Describe the embedded cluster for these settings.

    As root the cluster runs as an unprivileged user. When that user cannot reach the data
    directory (a checkout under /root, say), the cluster's files live under
    /var/lib/gridwatch/<digest of the data directory> instead, and the data directory holds a
    note saying where.
    """
    data_dir = settings.data_dir.resolve()
    os_user = _os_user()
    home = data_dir
    if os_user and not _traversable(data_dir, os_user):
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        home = RELOCATED_ROOT / digest
    return Cluster(
        bin_dir=find_bin_dir(settings),
        data_dir=home,
        pgdata=home / "pgdata",
        socket_dir=home / "run",
        logfile=home / "postgres.log",
        port=settings.db_port,
        os_user=os_user,
    )


def _run(c: Cluster, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    env = dict(os.environ)
    if c.os_user:
        pw = pwd.getpwnam(c.os_user)
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        env["HOME"] = pw.pw_dir
    env.pop("PGDATA", None)
    proc = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd="/", check=False, **kwargs  # type: ignore[call-overload]
    )
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise DatabaseError(f"{Path(args[0]).name} failed: {message[-1] if message else 'unknown'}")
    return proc


def _chown(c: Cluster, path: Path) -> None:
    if c.os_user:
        pw = pwd.getpwnam(c.os_user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _check_reachable(c: Cluster) -> None:
    """The unprivileged user must be able to reach the data directory."""
    if not c.os_user:
        return
    probe = _run(c, ["/usr/bin/test", "-x", str(c.data_dir)], check=False)
    if probe.returncode != 0:
        raise DatabaseError(
            f"the database user '{c.os_user}' cannot reach {c.data_dir}; "
            "set GRIDWATCH_DATA_DIR to a directory it can traverse"
        )


def init(settings: Settings) -> Cluster:
    """Create the cluster if it does not exist yet."""
    c = cluster(settings)
    c.data_dir.mkdir(parents=True, exist_ok=True)
    c.data_dir.chmod(0o755)
    wanted = settings.data_dir.resolve()
    if c.data_dir != wanted:
        RELOCATED_ROOT.chmod(0o755)
        wanted.mkdir(parents=True, exist_ok=True)
        (wanted / "CLUSTER_LOCATION").write_text(
            f"The embedded database of this directory lives in {c.data_dir}: the database user "
            f"'{c.os_user}' cannot reach {wanted}.\n", encoding="utf-8")
    if (c.pgdata / "PG_VERSION").exists():
        return c
    _check_reachable(c)
    for d in (c.pgdata, c.socket_dir):
        d.mkdir(parents=True, exist_ok=True)
        _chown(c, d)
    c.pgdata.chmod(0o700)
    log.info("initialising the embedded cluster in %s", c.pgdata)
    _run(
        c,
        [
            str(c.bin_dir / "initdb"),
            "-D",
            str(c.pgdata),
            "-U",
            settings.db_user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
    )
    conf = c.pgdata / "postgresql.conf"
    extra = f"""
{CONF_MARK}
listen_addresses = '127.0.0.1'
port = {c.port}
unix_socket_directories = '{c.socket_dir}'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
timescaledb.max_background_workers = 0
max_connections = 200
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
checkpoint_timeout = 15min
jit = off
timezone = 'UTC'
log_timezone = 'UTC'
"""
    with conf.open("a", encoding="utf-8") as fh:
        fh.write(extra)
    return c


def is_running(c: Cluster) -> bool:
    """True when the cluster's postmaster answers."""
    if not (c.pgdata / "PG_VERSION").exists():
        return False
    proc = _run(c, [str(c.bin_dir / "pg_ctl"), "status", "-D", str(c.pgdata)], check=False)
    return proc.returncode == 0


def start(settings: Settings) -> Cluster:
    """Initialise (once) and start the cluster, then make sure the gridwatch database exists."""
    c = init(settings)
    if not is_running(c):
        if not c.logfile.exists():
            c.logfile.touch()
        _chown(c, c.logfile)
        log.info("starting the embedded cluster on port %s", c.port)
        proc = _run(
            c,
            [
                str(c.bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(c.pgdata),
                "-l",
                str(c.logfile),
            ],
            check=False,
        )
        if proc.returncode != 0:
            tail = c.logfile.read_text(errors="replace").strip().splitlines()[-3:]
            raise DatabaseError(
                "the embedded database did not start: " + (" | ".join(tail) or proc.stderr.strip())
            )
    ensure_database(settings)
    return c


def ensure_database(settings: Settings) -> None:
    """Create the application database if it is missing."""
    admin = f"postgresql://{settings.db_user}@127.0.0.1:{settings.db_port}/postgres"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (settings.db_name,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{settings.db_name}"')
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise DatabaseError(f"cannot connect to the embedded database: {exc}") from None
            time.sleep(0.5)


def stop(settings: Settings) -> bool:
    """Stop the cluster; False when it was not running."""
    c = cluster(settings)
    if not is_running(c):
        return False
    _run(c, [str(c.bin_dir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(c.pgdata)])
    return True


def destroy(settings: Settings) -> None:
    """Stop and delete the cluster (used by tests and ``make clean-db``)."""
    stop(settings)
    shutil.rmtree(cluster(settings).pgdata, ignore_errors=True)
