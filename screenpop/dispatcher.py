"""Delivery of screen pops: ringing → pop to the agent's consoles; answered/ended → updates.

The dispatcher keeps the pops of calls in progress per agent, so a console that (re)connects gets
them as its snapshot before the live stream (``snapshot_for``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from crm_core.bus.events import Event
from crm_core.bus.fanout import SubscriptionClosed, SubscriptionGap
from crm_core.bus.ports import EventBus
from crm_core.push import push_to_users
from crm_core.users.permissions import Principal
from screenpop.service import PopBuilder
from telephony.events import CallAnswered, CallEnded, CallRinging
from telephony.store import agent_user_id

__all__ = ["PopDispatcher"]

log = logging.getLogger(__name__)
PrincipalLoader = Callable[[int], Awaitable[Principal | None]]


class PopDispatcher:
    """Turns call events into pops and updates for the agents concerned."""

    def __init__(self, bus: EventBus, builder: PopBuilder, principals: PrincipalLoader) -> None:
        self._bus = bus
        self._builder = builder
        self._principals = principals
        # user id -> call id -> the pop last sent
        self._active: dict[int, dict[str, dict[str, Any]]] = {}

    async def snapshot_for(self, principal: Principal) -> list[dict[str, Any]]:
        """The pops of the user's calls in progress (a reconnecting console's snapshot)."""
        return list(self._active.get(principal.user_id, {}).values())

    async def run(self) -> None:
        """Follow the bus forever (a supervised task)."""
        async with self._bus.subscribe(CallRinging, CallAnswered, CallEnded) as sub:
            while True:
                try:
                    event = await sub.get()
                except SubscriptionGap:
                    log.warning("screen pop missed call events; consoles will resync")
                    continue
                except SubscriptionClosed:
                    return
                try:
                    await self.handle(event)
                except Exception:
                    log.exception("screen pop failed for %r", event)

    async def handle(self, event: Event) -> None:
        """React to one call event."""
        if isinstance(event, CallRinging):
            await self._ringing(event)
        elif isinstance(event, CallAnswered):
            await self._update(event.call_id, "answered", {"answered_at": None})
        elif isinstance(event, CallEnded):
            await self._update(
                event.call_id,
                "ended",
                {
                    "outcome": event.outcome.value,
                    "talk_s": event.talk_s,
                    "total_s": event.total_s,
                },
            )
            for calls in self._active.values():
                calls.pop(event.call_id, None)

    async def _ringing(self, event: CallRinging) -> None:
        uid = agent_user_id(event.agent_id)
        if uid is None:
            return
        if event.call_id in self._active.get(uid, {}):
            return  # a second ringing leg of the same call (ringall, retries)
        principal = await self._principals(uid)
        if principal is None:
            return
        call = {
            "id": event.call_id,
            "pbx": event.pbx,
            "direction": event.direction.value,
            "caller_id": event.caller_id,
            "called": event.called_number,
            "queue": event.queue,
            "crm_call_id": event.crm_call_id,
            "started_at": event.occurred_at.astimezone(UTC).isoformat(),
            "state": "ringing",
        }
        pop = await self._builder.build(principal, call)
        self._active.setdefault(uid, {})[event.call_id] = pop
        await push_to_users(self._bus, (uid,), pop)
        log.debug("screen pop of call %s to user %s", event.call_id, uid)

    async def _update(self, call_id: str, state: str, extra: dict[str, Any]) -> None:
        users = tuple(uid for uid, calls in self._active.items() if call_id in calls)
        if not users:
            return
        for uid in users:
            self._active[uid][call_id]["call"]["state"] = state
        await push_to_users(
            self._bus, users, {"type": "call_update", "call_id": call_id, "state": state, **extra}
        )
