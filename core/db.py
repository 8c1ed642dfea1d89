"""Database engine and sessions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DatabaseError
from core.settings import Settings

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}


def make_engine(settings: Settings, **kwargs: object) -> Engine:
    """A new engine for the configured database (one per URL is cached by ``get_engine``)."""
    options: dict[str, object] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    options.update(kwargs)
    return create_engine(settings.sqlalchemy_url(), **options)  # type: ignore[arg-type]


def get_engine(settings: Settings) -> Engine:
    """The shared engine for this settings' URL."""
    url = settings.sqlalchemy_url()
    if url not in _engines:
        _engines[url] = make_engine(settings)
    return _engines[url]


def dispose_engines() -> None:
    """Close every cached engine's pool."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def check_database(engine: Engine) -> None:
    """Raise ``DatabaseError`` with a one-line reason when the database is unreachable."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot reach the database ({reason}); start it with 'gridwatch db start'"
        ) from None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for CLI commands and jobs)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
