"""Property-based API test: schemathesis drives every operation of /openapi.json; no 5xx allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from api.app import create_app
from api.keys import create_key
from core.settings import Settings
from tests.conftest import _clone, _drop

ADMIN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The schema of an app on its own database, fetched with an admin key (it needs one)."""
    url = _clone(template_db)
    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as s:
        ADMIN["key"] = create_key(session=s, role="admin", name="schemathesis")[1]
        s.commit()
    engine.dispose()
    app = create_app(Settings(database_url=url, data_dir=tmp_path_factory.mktemp("st")))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers={"X-API-Key": ADMIN["key"]})
    app.state.db.dispose()
    _drop(url)


def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, a few generated cases each (bounded: well under a minute)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers={"X-API-Key": ADMIN["key"]})
            where = (
                case.method,
                case.formatted_path,
                case.query,
                response.status_code,
                response.content[:300],
            )
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert set(response.json()) == {"error", "detail"}, where

        run()
