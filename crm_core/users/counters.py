"""Expiring counters (login failures), as a port with an in-process implementation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Counters", "MemoryCounters"]


class Counters(Protocol):
    """Fixed-window counters keyed by string; the Redis adapter shares them across processes."""

    async def get(self, key: str) -> tuple[int, int]:
        """(count, seconds until the window resets; 0 when the count is 0)."""

    async def incr(self, key: str, window: int) -> int:
        """Add one; the window starts at the first increment. Return the new count."""

    async def reset(self, key: str) -> None:
        """Forget ``key``."""


class MemoryCounters:
    """Counters of this process only (embedded mode, single-process deployments)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._data: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    def _live(self, key: str) -> tuple[int, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= self._clock():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> tuple[int, int]:
        """(count, seconds left)."""
        item = self._live(key)
        if item is None:
            return 0, 0
        return item[0], max(1, round(item[1] - self._clock()))

    async def incr(self, key: str, window: int) -> int:
        """Add one to ``key``."""
        item = self._live(key)
        if item is None:
            if len(self._data) >= self._max_keys:
                self._purge()
            item = (0, self._clock() + window)
        count = item[0] + 1
        self._data[key] = (count, item[1])
        return count

    async def reset(self, key: str) -> None:
        """Forget ``key``."""
        self._data.pop(key, None)

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]
        if len(self._data) >= self._max_keys:  # still full: drop the oldest windows
            for key, _ in sorted(self._data.items(), key=lambda kv: kv[1][1])[
                : self._max_keys // 10
            ]:
                del self._data[key]
