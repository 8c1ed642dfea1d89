"""A JSON response that encodes dates, decimals and sets quickly (jsonable_encoder is slow)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class FastJSON(Response):
    """``application/json`` rendered with json.dumps and a small default()."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """The body bytes."""
        return json.dumps(content, default=_default, ensure_ascii=False, separators=(",", ":")).encode()
