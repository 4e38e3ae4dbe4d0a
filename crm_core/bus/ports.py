"""The event bus port: publish typed events, subscribe to the kinds you want."""

from __future__ import annotations

from typing import Protocol

from crm_core.bus.events import Event
from crm_core.bus.fanout import Subscription

__all__ = ["EventBus"]


class EventBus(Protocol):
    """Live fan-out of domain events (at most once; durable state lives in the database)."""

    async def start(self) -> None:
        """Connect; raise ServiceUnavailable naming the part that cannot be reached."""

    async def close(self) -> None:
        """Stop delivering and release connections; open subscriptions end."""

    async def publish(self, event: Event) -> bool:
        """Send ``event`` to every subscriber; False when it could not be sent (logged)."""

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """A subscription to events of ``types`` (all events when none are given)."""

    def health(self) -> dict[str, str]:
        """``{"status": "ok"|"down", "detail": ...}`` for /readyz."""
