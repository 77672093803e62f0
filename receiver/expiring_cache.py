"""A small cache whose entries expire: what one receiver reuses of a row others may change."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")


class ExpiringCache(Generic[KeyT, ValueT]):
    """Entries live ``seconds`` (0: nothing is kept); past ``limit`` entries it starts over,
    which a deployment never reaches but a flood of made-up keys could."""

    def __init__(self, seconds: float, *, limit: int = 10_000) -> None:
        self._seconds = seconds
        self._limit = limit
        # key → (value, monotonic expiry)
        self._entries: dict[KeyT, tuple[ValueT, float]] = {}

    def get(self, key: KeyT) -> ValueT | None:
        """The value kept for ``key`` if it has not expired."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def put(self, key: KeyT, value: ValueT) -> None:
        """Keep ``value`` for ``seconds``."""
        if self._seconds <= 0:
            return
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + self._seconds)

    def forget(self, key: KeyT) -> None:
        """Drop what is kept for ``key``."""
        self._entries.pop(key, None)

    async def get_or_load(
        self, key: KeyT, load: Callable[[], Awaitable[ValueT | None]]
    ) -> ValueT | None:
        """The value kept for ``key``, else what ``load`` finds, kept if it found one (an
        absence is never kept: it would be an entry per made-up key)."""
        kept = self.get(key)
        if kept is not None:
            return kept
        value = await load()
        if value is None:
            self.forget(key)
        else:
            self.put(key, value)
        return value
