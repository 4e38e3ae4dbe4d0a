"""Delivery of events to local subscribers, shared by every bus implementation.

Each subscription has a bounded queue. A subscriber that falls behind, or that may have missed
events because the bus lost its connection, is told so by :class:`SubscriptionGap` on its next read,
so it can reload a snapshot and continue; one slow reader never blocks the publisher or the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType

from crm_core.bus.events import Event

__all__ = ["FanOut", "Subscription", "SubscriptionClosed", "SubscriptionGap"]

log = logging.getLogger(__name__)


class SubscriptionGap(Exception):
    """Events were lost for this subscriber (overflow or reconnect); resynchronise."""


class SubscriptionClosed(Exception):
    """The bus was closed."""


_CLOSED = object()


class Subscription:
    """An async iterator of events; use ``async with bus.subscribe(...) as sub``."""

    def __init__(self, fanout: FanOut, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._fanout = fanout
        self.types = types
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._gap = False
        self._closed = False

    def wants(self, event: Event) -> bool:
        """True when this subscription asked for events of this type."""
        return not self.types or isinstance(event, self.types)

    def _offer(self, event: Event) -> None:
        if self._gap or self._closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("subscriber fell behind (%d queued); it will resync", self._queue.qsize())
            self._mark_gap()

    def _mark_gap(self) -> None:
        self._gap = True
        self._drain()
        self._queue.put_nowait(_CLOSED if self._closed else None)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._drain()
            self._queue.put_nowait(_CLOSED)

    async def get(self) -> Event:
        """The next event; raises SubscriptionGap after lost events, SubscriptionClosed at end."""
        if self._closed and self._queue.empty():
            raise SubscriptionClosed
        item = await self._queue.get()
        if item is _CLOSED:
            self._closed = True
            raise SubscriptionClosed
        if item is None:
            self._gap = False
            raise SubscriptionGap
        assert isinstance(item, Event)
        return item

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unsubscribe()

    def unsubscribe(self) -> None:
        """Stop receiving events."""
        self._fanout.remove(self)
        self._close()


class FanOut:
    """The set of local subscriptions of one bus."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._closed = False

    def add(self, types: Iterable[type[Event]], maxsize: int) -> Subscription:
        """Register a new subscription."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        sub = Subscription(self, tuple(types), maxsize)
        if self._closed:
            sub._close()  # a closed bus delivers nothing: the subscription ends at once
            return sub
        self._subs.add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        """Forget a subscription."""
        self._subs.discard(sub)

    def deliver(self, event: Event) -> None:
        """Offer ``event`` to every subscription that wants it, without waiting."""
        for sub in tuple(self._subs):
            if sub.wants(event):
                sub._offer(event)

    def mark_gap(self) -> None:
        """Tell every subscriber that events may have been lost."""
        for sub in tuple(self._subs):
            sub._mark_gap()

    def close(self) -> None:
        """End every subscription."""
        self._closed = True
        for sub in tuple(self._subs):
            sub._close()
        self._subs.clear()

    def __len__(self) -> int:
        return len(self._subs)
