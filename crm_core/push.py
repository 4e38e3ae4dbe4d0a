"""Pushing messages to users' open browser sockets, from any package and any process.

A package that wants to tell a user something (a screen pop, a wallboard update) publishes a
:class:`PushToUsers` event on the bus; the WebSocket hub of every ``serve`` process delivers it to
the sockets of those users that are connected to it. The message is serialised once, here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from crm_core.bus.events import Event
from crm_core.bus.ports import EventBus

__all__ = ["PushToUsers", "push_to_users"]


@dataclass(frozen=True, kw_only=True)
class PushToUsers(Event):
    """Deliver ``message`` (a JSON object, already serialised) to these users' sockets."""

    event_name: ClassVar[str] = "push.to_users"
    user_ids: tuple[int, ...]
    message: str


async def push_to_users(bus: EventBus, user_ids: tuple[int, ...], message: dict[str, Any]) -> bool:
    """Publish ``message`` (it must have a ``type``) for ``user_ids``."""
    if "type" not in message:
        raise ValueError("a pushed message needs a 'type'")
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
    return await bus.publish(PushToUsers(user_ids=user_ids, message=body))
