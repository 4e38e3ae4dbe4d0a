"""Delivery of screen pops: ringing → pop to the agent's consoles; answered/ended → updates.

The dispatcher keeps the pops of calls in progress per agent, so a console that (re)connects gets
them as its snapshot before the live stream (``snapshot_for``). It also tells an agent's consoles
of the agent's own state changes (``agent_state_changed``).

Every ``serve`` process runs a dispatcher following the same bus events and sends only to the
sockets connected to it (``send``), so a console gets each pop once however many processes run,
and any process can give a reconnecting console its snapshot. A contact chosen for a call is a
bus event too (:class:`PopContactLinked`), so that every process rebuilds its pops.

Pops of different calls are built concurrently (at most ``concurrency`` events in hand at once),
so that one slow pop does not delay the others; the events of one call (and the state changes of
one agent) are handled one after the other, in bus order, so a call's update never overtakes its
pop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from crm_core.bus.events import Event
from crm_core.bus.fanout import SubscriptionClosed, SubscriptionGap
from crm_core.bus.ports import EventBus
from crm_core.errors import NotFound
from crm_core.users.permissions import Principal
from screenpop.events import PopContactLinked
from screenpop.service import PopBuilder
from telephony.events import AgentStateChanged, CallAnswered, CallEnded, CallRinging
from telephony.store import agent_user_id

__all__ = ["PopDispatcher"]

log = logging.getLogger(__name__)
PrincipalLoader = Callable[[int], Awaitable[Principal | None]]
# Sends a message to the consoles of these users that are connected to this process.
Sender = Callable[[tuple[int, ...], dict[str, Any]], Awaitable[object]]
# Events in hand at once (being handled, or waiting behind an earlier event of the same call):
# beyond that the dispatcher stops reading, and the bus subscription's own bound applies.
CONCURRENCY = 16


class PopDispatcher:
    """Turns call events into pops and updates for the agents concerned."""

    def __init__(
        self,
        bus: EventBus,
        builder: PopBuilder,
        principals: PrincipalLoader,
        send: Sender,
        *,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._bus = bus
        self._builder = builder
        self._principals = principals
        self._send = send
        # user id -> call id -> the pop last sent
        self._active: dict[int, dict[str, dict[str, Any]]] = {}
        # the calls with a pop in ``_active`` (for any user)
        self._open_calls: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, concurrency))
        # "call:<id>" / "agent:<pbx>:<id>" -> the task handling its latest event (the next waits)
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # events taken in hand, and events passed over because they concern no pop or console
        self.handled = 0
        self.skipped = 0

    async def snapshot_for(self, principal: Principal) -> list[dict[str, Any]]:
        """The pops of the user's calls in progress (a reconnecting console's snapshot)."""
        return list(self._active.get(principal.user_id, {}).values())

    def holders(self, call_id: str) -> dict[int, dict[str, Any]]:
        """The open pops of ``call_id`` by user id (empty once the call ended)."""
        return {uid: calls[call_id] for uid, calls in self._active.items() if call_id in calls}

    async def link_contact(self, call_id: str, contact: dict[str, Any]) -> tuple[int, ...]:
        """Show the contact an agent chose for the call (``{kind, id, name}``) in its open pops,
        in every process; the users whose pops change (every dispatcher knows the same calls)."""
        await self._bus.publish(
            PopContactLinked(
                call_id=call_id,
                kind=str(contact["kind"]),
                contact_id=int(contact["id"]),
                name=str(contact.get("name") or ""),
            )
        )
        return tuple(self.holders(call_id))

    async def _linked(self, event: PopContactLinked) -> None:
        """Rebuild each holder's pop for the chosen record, with that user's masking."""
        contact = {"kind": event.kind, "id": event.contact_id, "name": event.name}
        chosen = (event.kind, event.contact_id, event.name)
        for uid, old in self.holders(event.call_id).items():
            principal = await self._principals(uid)
            if principal is None:
                continue
            call = {k: v for k, v in old["call"].items() if k != "customer_number"}
            try:
                pop = await self._builder.build(principal, call, chosen=chosen)
            except NotFound:
                # This holder may not see the chosen record: they keep their pop, and are told.
                pop = {**old}
            pop["linked_contact"] = contact
            if event.call_id in self._active.get(uid, {}):  # the call may have ended meanwhile
                self._active[uid][event.call_id] = pop
            await self._send((uid,), pop)

    async def run(self) -> None:
        """Follow the bus forever (a supervised task)."""
        try:
            async with self._bus.subscribe(
                CallRinging, CallAnswered, CallEnded, PopContactLinked, AgentStateChanged
            ) as sub:
                while True:
                    try:
                        event = await sub.get()
                    except SubscriptionGap:
                        log.warning("screen pop missed call events; consoles will resync")
                        continue
                    except SubscriptionClosed:
                        break
                    if not self._concerns_anyone(event):
                        self.skipped += 1  # most calls of a busy PBX: no pop, no task, no slot
                        continue
                    self.handled += 1
                    await self._slots.acquire()
                    self._spawn(event)
            # The bus closed: let the events in hand finish.
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _concerns_anyone(self, event: Event) -> bool:
        """False for an event that can change no pop and tell no console anything: the ringing
        or state change of a phone that is no user's, the answer or end of a call that nobody
        has a pop of (none open, none being built)."""
        if isinstance(event, CallRinging | AgentStateChanged):
            return agent_user_id(event.agent_id) is not None
        if isinstance(event, CallAnswered | CallEnded):
            return event.call_id in self._open_calls or f"call:{event.call_id}" in self._tails
        return True

    def _spawn(self, event: Event) -> None:
        """Handle ``event`` in a task of its own, after the earlier events it must follow."""
        keys = _order_keys(event)
        before = [self._tails[k] for k in keys if k in self._tails]
        task = asyncio.create_task(self._handle_after(before, event))
        self._tasks.add(task)
        for key in keys:
            self._tails[key] = task
        task.add_done_callback(lambda t: self._done(keys, t))

    def _done(self, keys: tuple[str, ...], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        for key in keys:
            if self._tails.get(key) is task:
                del self._tails[key]

    async def _handle_after(self, before: list[asyncio.Task[None]], event: Event) -> None:
        if before:
            # Their outcome does not matter (failures are logged there); only that they are over.
            await asyncio.wait(before)
        try:
            await self.handle(event)
        except Exception:
            log.exception("screen pop failed for %r", event)

    async def handle(self, event: Event) -> None:
        """React to one call event."""
        if isinstance(event, CallRinging):
            await self._ringing(event)
        elif isinstance(event, PopContactLinked):
            await self._linked(event)
        elif isinstance(event, AgentStateChanged):
            uid = agent_user_id(event.agent_id)
            if uid is not None:
                message = {
                    "type": "agent_state_changed",
                    "pbx": event.pbx,
                    "state": event.state.value,
                    "previous": event.previous.value,
                    "reason": event.reason,
                    "call_id": event.call_id,
                }
                await self._send((uid,), message)
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
            self._open_calls.discard(event.call_id)

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
        self._open_calls.add(event.call_id)
        await self._send((uid,), pop)
        log.debug("screen pop of call %s to user %s", event.call_id, uid)

    async def _update(self, call_id: str, state: str, extra: dict[str, Any]) -> None:
        users = tuple(uid for uid, calls in self._active.items() if call_id in calls)
        if not users:
            return
        for uid in users:
            self._active[uid][call_id]["call"]["state"] = state
        update = {"type": "call_update", "call_id": call_id, "state": state}
        await self._send(users, {**update, **extra})


def _order_keys(event: Event) -> tuple[str, ...]:
    """What an event must stay in order with: its call, and for a state change its agent too."""
    keys: list[str] = []
    call_id = getattr(event, "call_id", None)
    if call_id:
        keys.append(f"call:{call_id}")
    if isinstance(event, AgentStateChanged):
        keys.append(f"agent:{event.pbx}:{event.agent_id}")
    return tuple(keys)
