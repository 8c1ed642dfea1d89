"""Test fixtures: a real PostgreSQL + PostGIS + TimescaleDB, migrated with alembic."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import migrations
from core import embedded
from core.settings import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def _server_settings() -> Settings:
    url = os.environ.get("GRIDWATCH_DATABASE_URL")
    if url:
        return Settings(database_url=url)
    s = Settings(data_dir=Path(os.environ.get("GRIDWATCH_DATA_DIR", REPO / ".gridwatch")))
    embedded.start(s)
    return s


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _admin_conninfo(server: Settings) -> str:
    """A superuser's connection: the embedded cluster's admin, or the configured URL itself."""
    if server.embedded:
        return embedded.admin_url(server)
    return _libpq(_with_db(server.sqlalchemy_url(), "postgres"))


def _owner(server: Settings) -> str | None:
    """The role that owns test databases: the service role (not a superuser) when embedded."""
    return server.db_user if server.embedded else None


@pytest.fixture(scope="session")
def server() -> Settings:
    """Settings pointing at the test server (embedded unless GRIDWATCH_DATABASE_URL is set)."""
    return _server_settings()


@pytest.fixture(scope="session")
def template_db(server: Settings) -> Iterator[str]:
    """A database migrated with ``alembic upgrade heads`` by its owner; the template for every test DB."""
    name = f"gwt_{uuid.uuid4().hex[:10]}_tpl"
    embedded.provision(_admin_conninfo(server), name=name, owner=_owner(server))
    url = _with_db(server.sqlalchemy_url(), name)
    migrations.upgrade(url)
    yield url
    with psycopg.connect(_admin_conninfo(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _clone(template_url: str) -> str:
    server = _server_settings()
    tpl = make_url(template_url).database
    name = f"gwt_{uuid.uuid4().hex[:12]}"
    embedded.provision(_admin_conninfo(server), name=name, owner=_owner(server), template=tpl)
    return _with_db(template_url, name)


def _drop(url: str) -> None:
    from core.db import dispose_engines

    dispose_engines()
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(_server_settings()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def shared_db(template_db: str) -> Iterator[str]:
    """One database for the rolled-back tests of the session."""
    url = _clone(template_db)
    yield url
    _drop(url)


@pytest.fixture(scope="session")
def shared_engine(shared_db: str):  # type: ignore[no-untyped-def]
    eng = create_engine(shared_db, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(shared_engine) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    """A session inside a transaction that is rolled back after the test."""
    conn = shared_engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


@pytest.fixture
def fresh_db(template_db: str) -> Iterator[str]:
    """A new migrated database for tests that must commit (CLI, API, jobs); dropped after."""
    url = _clone(template_db)
    yield url
    _drop(url)


@pytest.fixture
def fresh_settings(fresh_db: str, tmp_path: Path) -> Settings:
    """Settings for a fresh database."""
    return Settings(database_url=fresh_db, data_dir=tmp_path / "gw")


@pytest.fixture
def cli(fresh_db: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``gridwatch`` commands in-process against a fresh database."""
    from gridwatch.cli import cli as root

    monkeypatch.setenv("GRIDWATCH_DATABASE_URL", fresh_db)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        get_settings.cache_clear()
        return runner.invoke(root, list(args), input=input, catch_exceptions=False)

    run.url = fresh_db  # type: ignore[attr-defined]
    yield run
    get_settings.cache_clear()


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory an unprivileged service user (mosquitto) can traverse; pytest's tmp is
    root-only. Removed after the test."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="gw-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    from tests.test_maps_browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
