"""A per-worker LRU of rendered vector tiles, each kept with the ETag it was rendered for."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

TileKey = tuple[str, int, int, int]


class TileLRU:
    """Tiles by (layer, z, x, y) with their ETag; least recently used dropped beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[TileKey, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def etag(self, key: TileKey) -> str | None:
        """The ETag of the tile held for ``key``, if any."""
        held = self._tiles.get(key)
        return held[0] if held else None

    def get(self, key: TileKey, etag: str) -> bytes | None:
        """The tile for ``key`` if it was rendered for ``etag`` (the current one), else None."""
        with self._lock:
            held = self._tiles.get(key)
            if held is None or held[0] != etag:
                return None
            self._tiles.move_to_end(key)
            return held[1]

    def put(self, key: TileKey, etag: str, data: bytes) -> None:
        """Keep ``data`` as the tile of ``key`` for ``etag`` (not when over a quarter of the budget)."""
        if len(data) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._tiles[key] = (etag, data)
            self._bytes += len(data)
            while self._bytes > self.max_bytes and self._tiles:
                _, (_, dropped) = self._tiles.popitem(last=False)
                self._bytes -= len(dropped)
