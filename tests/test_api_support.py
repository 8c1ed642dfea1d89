"""Shared fixtures for the HTTP API tests: an app on a fresh database and one key per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, pool
from sqlalchemy.orm import Session

from api.app import create_app
from api.keys import ROLES, create_key
from core.settings import Settings


@dataclass
class Api:
    """A running app (TestClient), its settings and engine, and a key per role."""

    client: TestClient
    settings: Settings
    engine: Engine
    keys: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def get(self, path: str, role: str | None = None, **kw: Any) -> Any:
        headers = {**(self.headers(role) if role else {}), **kw.pop("headers", {})}
        return self.client.get(path, headers=headers, **kw)

    def request(self, method: str, path: str, role: str | None = None, **kw: Any) -> Any:
        headers = {**(self.headers(role) if role else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def sql(self, fn: Callable[[Session], Any]) -> Any:
        with Session(self.engine) as s:
            out = fn(s)
            s.commit()
            return out


def make_api(fresh_settings: Settings) -> Iterator[Api]:
    """The app on a fresh database, with keys for every role (use from a fixture)."""
    engine = create_engine(fresh_settings.sqlalchemy_url(), poolclass=pool.NullPool)
    keys: dict[str, str] = {}
    with Session(engine) as s:
        for role in ROLES:
            keys[role] = create_key(session=s, role=role, name=f"{role}-user")[1]
        s.commit()
    app = create_app(fresh_settings)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield Api(client=client, settings=fresh_settings, engine=engine, keys=keys)
    engine.dispose()
