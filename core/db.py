"""Database engine and sessions."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError, OperationalError
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


DOWN_SECONDS = 5.0
"""How long a replica that failed a connect is skipped."""
CONNECT_TIMEOUT = 5
"""libpq connect_timeout for replicas and the read fallback, unless their URL sets one."""


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["connection failed"])[0]


class ReadTargets:
    """Where reads go: the replicas round-robin among those not marked down, else the primary.

    Shared by the read engine (its ``creator``) and the async read pool (``aconnect``). A replica
    whose connect fails is marked down for ``down_seconds``; when every replica is down (or
    fails), the connection is made to the primary. Connections made to the primary this way are
    remembered, so that the pools can drop them once a replica may be back. URLs hold
    passwords: logs name replicas by number only.
    """

    def __init__(self, primary: str, replicas: list[str], down_seconds: float = DOWN_SECONDS) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.down_seconds = down_seconds
        self._down_until = [0.0] * len(self.replicas)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._fallbacks: weakref.WeakSet[Any] = weakref.WeakSet()

    @staticmethod
    def _options(url: str) -> dict[str, Any]:
        return {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT}

    def name(self, index: int | None) -> str:
        """A name for logs and /healthz that holds no host or password: "replica 1", "primary"."""
        return "primary" if index is None else f"replica {index + 1}"

    def order(self) -> list[tuple[int | None, str]]:
        """The replicas to try, healthy ones only, starting at the next turn; then the primary."""
        now = time.monotonic()
        count = len(self.replicas)
        with self._lock:
            start = next(self._turn) % count if count else 0
            up = [i for i in (*range(start, count), *range(start)) if self._down_until[i] <= now]
        return [*((i, self.replicas[i]) for i in up), (None, self.primary)]

    def is_down(self, index: int) -> bool:
        """True while replica ``index`` is skipped."""
        return self._down_until[index] > time.monotonic()

    def any_up(self) -> bool:
        """True when at least one replica is not marked down."""
        now = time.monotonic()
        return any(until <= now for until in self._down_until)

    def mark_down(self, index: int, exc: BaseException) -> None:
        """Skip replica ``index`` for ``down_seconds``."""
        with self._lock:
            was_up = self._down_until[index] <= time.monotonic()
            self._down_until[index] = time.monotonic() + self.down_seconds
        if was_up:
            log.warning("%s is unreachable, reads skip it for %.0f s: %s",
                        self.name(index), self.down_seconds, _reason(exc))

    def _made(self, index: int | None, conn: Any) -> Any:
        if index is None and self.replicas:
            self._fallbacks.add(conn)
        return conn

    def is_fallback(self, conn: Any) -> bool:
        """True for a connection made to the primary because no replica answered."""
        return conn in self._fallbacks

    def stale(self, conn: Any) -> bool:
        """True for a fallback connection while a replica may be back (drop it, reconnect)."""
        return self.is_fallback(conn) and self.any_up()

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection for reads (the read engine's ``creator``)."""
        last: BaseException | None = None
        for index, url in self.order():
            try:
                return self._made(index, psycopg.connect(url, **self._options(url)))
            except psycopg.OperationalError as exc:
                last = exc
                if index is not None:
                    self.mark_down(index, exc)
        assert last is not None
        raise last

    async def aconnect(self) -> psycopg.AsyncConnection[Any]:
        """A new autocommit connection for reads (the async read pool's)."""
        last: BaseException | None = None
        for index, url in self.order():
            try:
                conn = await psycopg.AsyncConnection.connect(url, autocommit=True, **self._options(url))
                return self._made(index, conn)
            except psycopg.OperationalError as exc:
                last = exc
                if index is not None:
                    self.mark_down(index, exc)
        assert last is not None
        raise last


def make_read_engine(settings: Settings, targets: ReadTargets) -> Engine:
    """An engine whose connections go to the replicas (round-robin), else to the primary."""
    engine = make_engine(settings, creator=targets.connect)

    @event.listens_for(engine, "checkout")
    def _drop_fallback(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if targets.stale(dbapi_conn):
            raise DisconnectionError("a replica may be back: reconnect")  # the pool retries

    return engine


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
