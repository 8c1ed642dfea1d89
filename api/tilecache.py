"""A per-worker LRU of rendered vector tiles, each kept with the ETag it was rendered for."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

TileKey = tuple[str, int, int, int]


ENTRY_OVERHEAD = 256
"""Bytes charged for each tile on top of its data (key, ETag, bookkeeping), so empty tiles count."""


class TileLRU:
    """Tiles by (layer, z, x, y) with their ETag; least recently used dropped beyond the bounds.

    Bounded both by ``max_entries`` and by ``max_bytes``, where every tile costs its data plus
    ``ENTRY_OVERHEAD``: an empty tile (zero bytes of data) still takes a place, so requests for
    many distinct empty tiles cannot grow the cache without bound.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, max_entries: int = 20_000) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._tiles: OrderedDict[TileKey, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The tiles held."""
        return len(self._tiles)

    @property
    def size_bytes(self) -> int:
        """The bytes charged for the tiles held (data plus the per-tile overhead)."""
        return self._bytes

    def etag(self, key: TileKey) -> str | None:
        """The ETag of the tile held for ``key``, if any."""
        with self._lock:
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
        cost = len(data) + ENTRY_OVERHEAD
        if cost > self.max_bytes // 4 or self.max_entries < 1:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1]) + ENTRY_OVERHEAD
            self._tiles[key] = (etag, data)
            self._bytes += cost
            while self._tiles and (self._bytes > self.max_bytes
                                   or len(self._tiles) > self.max_entries):
                _, (_, dropped) = self._tiles.popitem(last=False)
                self._bytes -= len(dropped) + ENTRY_OVERHEAD
