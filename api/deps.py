"""Request dependencies: settings, one database session per request (commit in the route), the async pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.adb import AsyncPool, libpq_url
from core.db import make_engine
from core.settings import Settings

log = logging.getLogger(__name__)


class Database:
    """The app's engine and session factory; opened by the lifespan (or lazily), closed by it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self.aio = AsyncPool(libpq_url(settings))

    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        if self._engine is None:
            self._engine = make_engine(self.settings)
            self._factory = sessionmaker(bind=self._engine, expire_on_commit=False)
        return self._engine

    def session(self) -> Session:
        """A new session."""
        _ = self.engine
        assert self._factory is not None
        return self._factory()

    async def aclose(self) -> None:
        """Close both pools."""
        await self.aio.close()
        self.dispose()

    def dispose(self) -> None:
        """Close the sync pool."""
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


SessionDep = Annotated[Session, Depends(get_session)]
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
