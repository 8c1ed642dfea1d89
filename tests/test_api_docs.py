"""The API's /docs page works offline: Swagger UI is served by gridwatch, not a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests.test_api_support import Api, make_api


@pytest.fixture
def http(fresh_settings: Settings) -> Iterator[Api]:
    yield from make_api(fresh_settings)


def test_docs_page_loads_only_local_assets(http: Api) -> None:
    page = http.request("GET", "/docs", "regulator")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    assert all(a.startswith("/") for a in assets), assets  # nothing from another host
    for asset in assets:
        r = http.client.get(asset)
        assert r.status_code == 200, asset
    assert "validatorUrl" in page.text  # no call to the public validator
