"""Request dependencies: settings, one database session per request (commit in the route), the async pool.

Read-only routes take ``ReadSessionDep`` / ``read_pool(request)``: with
``GRIDWATCH_READ_DATABASE_URL`` set they read from the replicas (the primary when none answers);
without it they are the primary's session and pool, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.adb import AsyncPool, ReadPool, libpq_url
from core.db import ReadTargets, make_engine, make_read_engine
from core.settings import Settings

log = logging.getLogger(__name__)


class Database:
    """The app's engine and session factory; opened by the lifespan (or lazily), closed by it.

    ``reader`` is where reads go: ``self`` without replicas, else a second Database whose sync
    engine and async pool connect through ``ReadTargets`` (replicas round-robin, else primary).
    """

    def __init__(self, settings: Settings, targets: ReadTargets | None = None) -> None:
        self.settings = settings
        self.targets = targets
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self.aio: AsyncPool = AsyncPool(libpq_url(settings)) if targets is None else ReadPool(targets)
        self.reader: Database = self
        replicas = settings.read_urls()
        if targets is None and replicas:
            self.reader = Database(settings, ReadTargets(libpq_url(settings), replicas))

    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        if self._engine is None:
            self._engine = (make_engine(self.settings) if self.targets is None
                            else make_read_engine(self.settings, self.targets))
            self._factory = sessionmaker(bind=self._engine, expire_on_commit=False)
        return self._engine

    def session(self) -> Session:
        """A new session."""
        _ = self.engine
        assert self._factory is not None
        return self._factory()

    async def aclose(self) -> None:
        """Close both pools (and the reader's)."""
        await self.aio.close()
        if self.reader is not self:
            await self.reader.aclose()
        self.dispose()

    def dispose(self) -> None:
        """Close the sync pool (and the reader's)."""
        if self.reader is not self:
            self.reader.dispose()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._factory = None


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request; routes that write commit it themselves.

    Making the Session object does no I/O (the connection is checked out on first use, in the
    route's worker thread), so this runs on the event loop and saves two thread hops.
    """
    db: Database = request.app.state.db
    session = db.session()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a read-only route: on a replica when replicas are configured."""
    db: Database = request.app.state.db
    session = db.reader.session()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_pool(request: Request) -> AsyncPool:
    """The async pool for reads (the replicas', or the primary's when there are none)."""
    db: Database = request.app.state.db
    return db.reader.aio


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# Lists are paginated (SPEC section 17): ?limit=&offset=, the total in a header so that the body
# stays the plain JSON array it always was.
DEFAULT_PAGE = 100
MAX_PAGE = 1000
TOTAL_HEADER = "X-Total-Count"
Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"Page size (default {DEFAULT_PAGE}, at most {MAX_PAGE})")
]
Offset = Annotated[int, Query(ge=0, le=2**62, description="How many rows to skip")]


REPLICA_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
"""
HEALTH_TIMEOUT = 3.0


async def replica_health(targets: ReadTargets, index: int) -> dict[str, object]:
    """One replica's reachability and lag, for /healthz (its own short connection).

    ``lag_seconds`` is 0 when everything received is replayed, else the age of the last replayed
    transaction; ``lag_bytes`` is WAL received but not replayed yet. The name holds no host.
    """
    name = targets.name(index)
    url = targets.replicas[index]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=3)
            try:
                row = await (await conn.execute(REPLICA_SQL)).fetchone()
            finally:
                await conn.close()
    except (psycopg.OperationalError, TimeoutError) as exc:
        targets.mark_down(index, exc)
        return {"name": name, "reachable": False, "in_recovery": None, "lag_seconds": None,
                "lag_bytes": None, "serving_reads": False}
    assert row is not None
    lag = None if row[1] is None else round(float(row[1]), 3)
    return {"name": name, "reachable": True, "in_recovery": bool(row[0]), "lag_seconds": lag,
            "lag_bytes": None if row[2] is None else int(row[2]),
            "serving_reads": not targets.is_down(index)}
