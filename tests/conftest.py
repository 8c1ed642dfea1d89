"""Test fixtures: a real PostgreSQL + PostGIS + TimescaleDB, migrated with alembic."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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


def _server_settings() -> Settings:
    url = os.environ.get("GRIDWATCH_DATABASE_URL")
    if url:
        return Settings(database_url=url)
    s = Settings(data_dir=Path(os.environ.get("GRIDWATCH_DATA_DIR", REPO / ".gridwatch")))
    embedded.start(s)
    return s


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    libpq = _with_db(url, "postgres").replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(libpq, autocommit=True)


@pytest.fixture(scope="session")
def server() -> Settings:
    """Settings pointing at the test server (embedded unless GRIDWATCH_DATABASE_URL is set)."""
    return _server_settings()


@pytest.fixture(scope="session")
def template_db(server: Settings) -> Iterator[str]:
    """A database migrated with ``alembic upgrade heads``; the template for every test DB."""
    name = f"gwt_{uuid.uuid4().hex[:10]}_tpl"
    base = server.sqlalchemy_url()
    with _admin(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(base, name)
    migrations.upgrade(url)
    yield url
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _clone(template_url: str) -> str:
    tpl = make_url(template_url).database
    name = f"gwt_{uuid.uuid4().hex[:12]}"
    with _admin(template_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
    return _with_db(template_url, name)


def _drop(url: str) -> None:
    from core.db import dispose_engines

    dispose_engines()
    name = make_url(url).database
    with _admin(url) as conn:
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
