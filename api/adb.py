"""A small asyncio connection pool (psycopg, autocommit) for the hot read paths: keys, alerts, tiles.

Connections are opened on demand (a database that is down fails at once, like the sync engine),
kept idle for reuse, and bound to the event loop that opened them. A query that fails on a reused
connection because the connection went away is retried once on a fresh one (a cheap pre-ping).
Statements run repeatedly on one connection are prepared by psycopg automatically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import make_url

from core.db import ReadTargets
from core.settings import Settings

log = logging.getLogger(__name__)

Params = dict[str, Any] | None


def libpq_url(settings: Settings) -> str:
    """The settings' database URL in the form libpq (psycopg) reads."""
    url = make_url(settings.sqlalchemy_url()).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class AsyncPool:
    """Up to ``max_size`` autocommit connections per event loop; ``await`` the query helpers."""

    def __init__(self, conninfo: str, max_size: int = 12, max_idle: int = 12) -> None:
        self.conninfo = conninfo
        self.max_size = max_size
        self.max_idle = max_idle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            # a new loop (tests without a lifespan): connections of the old loop cannot be used here
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.max_size)
        return self._slots

    async def _connect(self) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(self.conninfo, autocommit=True)

    def _usable(self, conn: AsyncConnection[Any]) -> bool:
        """Whether an idle connection may be reused (the read pool drops primary fallbacks)."""
        return True

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection for one short unit of work (autocommit)."""
        async with self._bind():
            conn: AsyncConnection[Any] | None = None
            while self._idle and conn is None:
                conn = self._idle.pop()
                if not self._usable(conn):
                    await conn.close()
                    conn = None
            if conn is None:
                conn = await self._connect()
            try:
                yield conn
            except BaseException:
                await conn.close()
                raise
            if (
                not conn.closed
                and conn.info.transaction_status == TransactionStatus.IDLE
                and len(self._idle) < self.max_idle
            ):
                self._idle.append(conn)
            else:
                await conn.close()

    async def _run(self, sql: str, params: Params, how: str) -> Any:
        for attempt in (1, 2):
            reused = bool(self._idle) and self._loop is asyncio.get_running_loop()
            try:
                async with self.connection() as conn:
                    cur = await conn.execute(sql, params)
                    return await (cur.fetchone() if how == "one" else cur.fetchall())
            except psycopg.OperationalError:
                if attempt == 2 or not reused:
                    raise
                log.info("a pooled connection was lost; retrying on a new one")
                # the server went away: the other idle connections to it are dead too
                await self._drop_idle()
        raise AssertionError("unreachable")

    async def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        """The first row of ``sql`` (or None)."""
        row: tuple[Any, ...] | None = await self._run(sql, params, "one")
        return row

    async def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql``."""
        rows: list[tuple[Any, ...]] = await self._run(sql, params, "all")
        return rows

    async def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement that returns nothing (autocommit)."""
        async with self.connection() as conn:
            await conn.execute(sql, params)

    async def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        """Close the idle connections (those in use are closed when given back)."""
        await self._drop_idle()
        self.max_idle = 0


class ReadPool(AsyncPool):
    """The async pool for reads: new connections go to a replica (round-robin), else the primary.

    A connection made to the primary because no replica answered is not reused once a replica
    may be back.
    """

    def __init__(self, targets: ReadTargets, max_size: int = 12, max_idle: int = 12) -> None:
        super().__init__(targets.primary, max_size=max_size, max_idle=max_idle)
        self.targets = targets

    async def _connect(self) -> AsyncConnection[Any]:
        return await self.targets.aconnect()

    def _usable(self, conn: AsyncConnection[Any]) -> bool:
        return not self.targets.stale(conn)
