"""Live calls and agents rebuilt from the bus, for a process that does not own the AMI connection.

With several ``callboard serve`` processes only the elected leader connects to a PBX and runs
the call tracker (see :mod:`telephony.leader`); it publishes the tracker's domain events on the
shared (Redis) bus. Every other process keeps this mirror of them so that ``/api/calls/active``
and ``/api/agents`` answer the same everywhere. Pure: no I/O, no clock.

Limits: a follower started after a call began learns of that call from its next event (answer,
bridge, transfer, ...), with that event's time as its start; channel-level detail (legs) is
not on the bus, so a mirrored call has no legs.
"""

from __future__ import annotations

import dataclasses
import logging

from crm_core.bus.events import Event
from telephony.events import (
    AgentStateChanged,
    CallAnswered,
    CallBridged,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    QueueCallerJoined,
    QueueMemberChanged,
    TelephonyEvent,
)
from telephony.models import AgentInfo, AgentState, CallInfo, CallState, TrackerSnapshot

__all__ = ["CallMirror"]

log = logging.getLogger(__name__)
_REMOVED = ("removed",)


class CallMirror:
    """Calls in progress and agent states of one PBX, from its domain events."""

    def __init__(self, pbx: str) -> None:
        self.pbx = pbx
        self._calls: dict[str, CallInfo] = {}
        self._agents: dict[str, AgentInfo] = {}
        self._last: TelephonyEvent | None = None

    def clear(self) -> None:
        """Forget everything (this process became the leader: the tracker is authoritative)."""
        self._calls.clear()
        self._agents.clear()

    def apply(self, event: Event) -> None:
        """Apply one domain event of any PBX (others are ignored)."""
        if not isinstance(event, TelephonyEvent) or event.pbx != self.pbx:
            return
        self._last = event
        if isinstance(event, AgentStateChanged):
            self._agent(event)
        elif isinstance(event, QueueMemberChanged):
            self._member(event)
        elif isinstance(event, CallEnded):
            self._calls.pop(event.call_id, None)
        else:
            self._call(event)

    def _call(self, event: TelephonyEvent) -> None:
        call_id = getattr(event, "call_id", None)
        if not isinstance(call_id, str):
            return
        call = self._calls.get(call_id)
        if call is None:
            direction = getattr(event, "direction", None)
            if direction is None:
                return  # not enough to show it; the next event with a direction will do
            call = CallInfo(
                pbx=self.pbx,
                call_id=call_id,
                direction=direction,
                state=CallState.DIALING,
                started_at=event.occurred_at,
            )
        changes: dict[str, object] = {}
        if isinstance(event, CallStarted):
            changes = {
                "crm_call_id": event.crm_call_id,
                "caller_id": event.caller_id,
                "called_number": event.called_number,
                "agent_id": event.agent_id,
            }
        elif isinstance(event, CallRinging):
            if call.answered_at is None:
                changes["state"] = CallState.RINGING
            for name in ("agent_id", "caller_id", "called_number", "queue", "crm_call_id"):
                value = getattr(event, name)
                if value is not None and getattr(call, name) is None:
                    changes[name] = value
        elif isinstance(event, CallAnswered):
            changes = {"state": CallState.UP, "answered_at": event.occurred_at}
            if event.agent_id:
                changes["agent_id"] = event.agent_id
        elif isinstance(event, CallBridged):
            changes = {"state": CallState.BRIDGED}
        elif isinstance(event, CallTransferred):
            changes = {"state": CallState.TRANSFERRED}
            if event.to_agent_id:
                changes["agent_id"] = event.to_agent_id
            if event.to_queue:
                changes["queue"] = event.to_queue
        elif isinstance(event, QueueCallerJoined):
            changes = {"queue": event.queue}
        self._calls[call_id] = dataclasses.replace(call, **changes)  # type: ignore[arg-type]

    def _agent(self, event: AgentStateChanged) -> None:
        known = self._agents.get(event.agent_id)
        self._agents[event.agent_id] = AgentInfo(
            pbx=self.pbx,
            agent_id=event.agent_id,
            state=event.state,
            reason=event.reason,
            call_id=event.call_id,
            queues=known.queues if known else (),
            since=event.occurred_at,
        )

    def _member(self, event: QueueMemberChanged) -> None:
        if event.agent_id is None:
            return
        known = self._agents.get(event.agent_id) or AgentInfo(
            pbx=self.pbx, agent_id=event.agent_id, state=AgentState.LOGGED_OUT
        )
        queues = set(known.queues)
        if event.change in _REMOVED:
            queues.discard(event.queue)
        else:
            queues.add(event.queue)
        self._agents[event.agent_id] = dataclasses.replace(known, queues=tuple(sorted(queues)))

    def snapshot(self) -> TrackerSnapshot:
        """The mirrored calls and agents, shaped like the tracker's snapshot."""
        return TrackerSnapshot(
            pbx=self.pbx,
            taken_at=self._last.occurred_at if self._last else None,
            calls=tuple(sorted(self._calls.values(), key=lambda c: c.started_at)),
            agents=tuple(self._agents[a] for a in sorted(self._agents)),
        )
