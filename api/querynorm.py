"""Accept the command line's spellings of report options as query parameters.

``?as-of=…`` and ``?exclude-med`` mean ``as_of`` and ``exclude_med``, and a bare flag (``?all``,
``?public``, ``?rank``, ``?exclude_med``, ``?summary``) means true, as it does on the command line.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

FLAGS = {"all", "public", "rank", "exclude_med", "summary"}
PREFIX = "/api/v1/reports/"


class ReportQueryAliases:
    """ASGI middleware rewriting report query strings to their canonical names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the query string of report requests, pass everything else through."""
        if scope["type"] == "http" and scope.get("path", "").startswith(PREFIX):
            raw = scope.get("query_string", b"").decode("latin-1")
            if raw:
                pairs = []
                for key, value in parse_qsl(raw, keep_blank_values=True):
                    key = key.replace("-", "_") if key != "from" else key
                    if key in FLAGS and value == "":
                        value = "true"
                    pairs.append((key, value))
                scope = dict(scope, query_string=urlencode(pairs).encode("latin-1"))
        await self.app(scope, receive, send)
