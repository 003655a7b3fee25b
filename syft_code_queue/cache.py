"""A bounded cache of recent things: remembering one saves work, forgetting it only costs
doing that work again (the caches of parsed documents and verified files use it)."""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``kept`` entries; the one put longest ago goes first. Safe across threads: the
    requester's calls may come from any of them."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> Optional[V]:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries.pop(key, None)  # newest last
            self._entries[key] = value
            if len(self._entries) > self._kept:
                del self._entries[next(iter(self._entries))]

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
