"""The embedded database: a local PostgreSQL cluster with PostGIS and TimescaleDB under the data dir."""

from __future__ import annotations

import grp
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from core.errors import DatabaseError
from core.settings import Settings

log = logging.getLogger(__name__)

CONF_MARK = "# --- gridwatch embedded settings ---"
RELOCATED_ROOT = Path("/var/lib/gridwatch")
ADMIN_ROLE = "gridwatch_admin"
HBA_MARK = "# gridwatch: password authentication (scram-sha-256) only"


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


def _secret(settings: Settings, role: str, *, create: bool) -> str:
    """The password of ``role``, from its 0600 file; generated (once) when ``create``."""
    path = settings.secret_file(role)
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        value = ""
    except PermissionError:
        raise DatabaseError(
            f"cannot read the database password file {path}: it belongs to the account that "
            "created the embedded database; run gridwatch as that account"
        ) from None
    if value:
        return value
    if not create:
        raise DatabaseError(
            f"the database password file {path} is missing; the embedded database cannot be "
            "reached without it (stop the database and remove its data directory to start over)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    path.chmod(0o600)
    return value


def admin_url(settings: Settings, dbname: str = "postgres") -> str:
    """The libpq URL of the embedded cluster's superuser (for provisioning, never the service)."""
    if not settings.embedded:
        raise DatabaseError("there is no embedded database: GRIDWATCH_DATABASE_URL is set")
    password = _secret(settings, ADMIN_ROLE, create=False)
    return f"postgresql://{ADMIN_ROLE}:{password}@127.0.0.1:{settings.db_port}/{dbname}"


def _write_hba(c: Cluster) -> None:
    """Password authentication only: the private socket and loopback, nothing else."""
    hba = c.pgdata / "pg_hba.conf"
    hba.write_text(
        f"""{HBA_MARK}
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
""",
        encoding="utf-8",
    )
    _chown(c, hba)
    hba.chmod(0o600)


def init(settings: Settings) -> Cluster:
    """Create the cluster if it does not exist yet.

    The superuser ``gridwatch_admin`` (password in ``secrets/gridwatch_admin.password``) only
    provisions; the service connects as ``settings.db_user``, which is not a superuser.
    """
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
        _check_secured(c)
        return c
    _check_reachable(c)
    for d in (c.pgdata, c.socket_dir):
        d.mkdir(parents=True, exist_ok=True)
        _chown(c, d)
    c.pgdata.chmod(0o700)
    c.socket_dir.chmod(0o700)
    password = _secret(settings, ADMIN_ROLE, create=True)
    _secret(settings, settings.db_user, create=True)
    # initdb reads the superuser's password from a file the database user can read: a
    # private copy that lives only as long as initdb runs.
    pwfile = c.data_dir / f".initdb-{secrets.token_hex(8)}"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(password + "\n")
    _chown(c, pwfile)
    log.info("initialising the embedded cluster in %s", c.pgdata)
    try:
        _run(
            c,
            [
                str(c.bin_dir / "initdb"),
                "-D",
                str(c.pgdata),
                "-U",
                ADMIN_ROLE,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )
    finally:
        pwfile.unlink(missing_ok=True)
    _write_hba(c)
    conf = c.pgdata / "postgresql.conf"
    extra = f"""
{CONF_MARK}
listen_addresses = '127.0.0.1'
port = {c.port}
unix_socket_directories = '{c.socket_dir}'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
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


def _check_secured(c: Cluster) -> None:
    """Refuse a cluster made by an older gridwatch that trusted every local account."""
    try:
        hba = (c.pgdata / "pg_hba.conf").read_text(encoding="utf-8")
    except OSError:
        return
    if HBA_MARK not in hba:
        raise DatabaseError(
            f"the embedded database in {c.pgdata} was created by an older gridwatch that "
            "trusted every local account; it cannot be secured in place. Keep what you need, "
            "then 'gridwatch db stop', remove that directory and run 'gridwatch db start' "
            "(or 'make clean-db' and 'make run') to recreate it with password authentication"
        )


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


def _connect_admin(settings: Settings, dbname: str) -> psycopg.Connection:
    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg.connect(
                admin_url(settings, dbname), autocommit=True, connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline or "password authentication failed" in str(exc):
                raise DatabaseError(f"cannot connect to the embedded database: {exc}") from None
            time.sleep(0.5)


def provision(
    admin_conninfo: str, *, name: str, owner: str | None, template: str | None = None
) -> None:
    """Create database ``name`` owned by ``owner``, with PostGIS and TimescaleDB in it.

    ``admin_conninfo`` is a superuser's connection (extensions need one; the service role
    never is one). ``owner`` also owns the ``public`` schema, so the migrations, run by the
    owner, create everything else. With ``template`` the new database is a copy of it.
    """
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    if owner:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with psycopg.connect(make_conninfo(admin_conninfo, dbname="postgres"), autocommit=True) as conn:
        conn.execute(statement)
    if template:
        return
    with psycopg.connect(make_conninfo(admin_conninfo, dbname=name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        if owner:
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))


def ensure_database(settings: Settings) -> None:
    """Create the service role (not a superuser) and the application database if missing."""
    role = settings.db_user
    password = _secret(settings, role, create=False)
    with _connect_admin(settings, "postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(
                verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS PASSWORD {}"
            ).format(sql.Identifier(role), sql.Literal(password))
        )
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.db_name,)
        ).fetchone()
    if not exists:
        provision(admin_url(settings), name=settings.db_name, owner=role)


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
