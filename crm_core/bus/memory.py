"""The in-process event bus of the embedded mode and of single-process deployments."""

from __future__ import annotations

from crm_core.bus.events import Event, decode_event, encode_event
from crm_core.bus.fanout import FanOut, Subscription

__all__ = ["InProcessBus"]


class InProcessBus:
    """Delivers events to subscribers of this process only."""

    def __init__(self, *, check_wire_format: bool = True) -> None:
        self._fanout = FanOut()
        self._closed = False
        # Round-trip through JSON, as the Redis bus does, so that an event which would not survive
        # the wire fails here too and the two implementations cannot drift.
        self._check_wire_format = check_wire_format

    async def start(self) -> None:
        """Nothing to connect."""
        self._closed = False

    async def close(self) -> None:
        """End every subscription."""
        self._closed = True
        self._fanout.close()

    async def publish(self, event: Event) -> bool:
        """Deliver ``event`` to local subscribers."""
        if self._closed:
            return False
        if self._check_wire_format:
            event = decode_event(encode_event(event))
        self._fanout.deliver(event)
        return True

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """Subscribe to ``types`` (all events when none are given)."""
        return self._fanout.add(types, maxsize)

    def health(self) -> dict[str, str]:
        """Always up while open."""
        return {"status": "ok" if not self._closed else "down", "detail": "in-process"}
