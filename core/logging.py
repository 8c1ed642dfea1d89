"""Logging configuration, done once by the entry points."""

from __future__ import annotations

import logging


def configure(debug: bool = False) -> None:
    """Configure the root logger for a command or the server."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
