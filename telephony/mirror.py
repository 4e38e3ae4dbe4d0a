"""Live calls and agents rebuilt from the bus, for a process that does not own the AMI connection.

With several ``callboard serve`` processes only the elected leader connects to a PBX and runs
the call tracker (see :mod:`telephony.leader`); it publishes the tracker's domain events on the
shared (Redis) bus. Every other process keeps this mirror of them so that ``/api/calls/active``
and ``/api/agents`` answer the same everywhere. Pure: no I/O, no clock.

A follower that starts, sees a new leader or misses events (a bus gap) first loads the leader's
own :class:`~telephony.models.TrackerSnapshot` (:meth:`CallMirror.load`; the runtime asks for
it over the forwarding channel): calls in progress and agents as the leader's tracker has them,
so an idle agent or a quiet call shows without waiting for its next event. The follower listens
to the bus *before* it asks, keeps the events that arrive while the snapshot is on its way, and
gives them to :meth:`CallMirror.load`, which applies those the snapshot does not include.

Which ones is decided by the events' ``occurred_at``, not by a sequence number. The leader stamps
every event with the receive time of the AMI message that caused it, and the snapshot with the
receive time of the last message its tracker applied (``taken_at``); an event stamped before
``taken_at`` therefore comes from a message the snapshot includes, one stamped after from a later
message. A sequence would need a number on every event and a bus that keeps it: Redis pub/sub
carries none, and the leader publishes on two paths (at once, or once the call record is stored)
so a count kept there would not follow the order in which a follower receives the events; the
times are on every event already. Events stamped exactly ``taken_at`` come from the same AMI batch
as the snapshot's last message and may lie on either side of it: they are applied again, in the
order received. That is harmless: an event of a call or agent the snapshot includes sets what
the snapshot says, or an earlier state that the later events of the same call or agent — after
it in the same list, or still to come on the bus — set right again. The same holds for the
events the leader publishes late (behind the storing of a finished call): one that arrives after
the snapshot that includes it is applied like any event after it, and sets what the snapshot
says (the later events of its call or agent are held behind it). The cut relies on the
leader's receive times moving forward; the one exception is a resync of the leader (after it
(re)connects to the PBX), whose events carry the time it ran while AMI messages queued during it
carry earlier ones: such an event reaching a follower while its snapshot is on its way is taken
as included, and that call or agent is set right by its next event.

Limits: channel-level detail (legs) is not on the bus, so a mirrored call has no legs (a loaded
snapshot's calls are stripped of theirs: later events would not keep them right); a call seen
first through an event after the snapshot starts at that event's time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime

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
        self._last_at: datetime | None = None

    def clear(self) -> None:
        """Forget everything (this process became the leader: the tracker is authoritative)."""
        self._calls.clear()
        self._agents.clear()
        self._last_at = None

    def load(self, snapshot: TrackerSnapshot, received: Iterable[Event] = ()) -> int:
        """Start again from the leader's ``snapshot``, then apply the events ``received`` while
        it was on the way (in the order received) that it does not include: those of this PBX
        stamped at or after its ``taken_at`` (see the module docstring for why by time).

        Everything shown before is replaced: the snapshot is the leader's whole view. Returns how
        many of ``received`` were applied.
        """
        if snapshot.pbx != self.pbx:
            raise ValueError(
                f"a snapshot of PBX {snapshot.pbx!r} given to the mirror of {self.pbx!r}"
            )
        self._calls = {
            c.call_id: dataclasses.replace(c, legs=()) if c.legs else c for c in snapshot.calls
        }
        self._agents = {a.agent_id: a for a in snapshot.agents}
        self._last_at = snapshot.taken_at
        cut = snapshot.taken_at
        applied = 0
        for event in received:
            if not isinstance(event, TelephonyEvent) or event.pbx != self.pbx:
                continue
            if cut is not None and event.occurred_at < cut:
                continue  # from a message the snapshot includes
            self.apply(event)
            applied += 1
        return applied

    def apply(self, event: Event) -> None:
        """Apply one domain event of any PBX (others are ignored)."""
        if not isinstance(event, TelephonyEvent) or event.pbx != self.pbx:
            return
        self._last_at = event.occurred_at
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
            taken_at=self._last_at,
            calls=tuple(sorted(self._calls.values(), key=lambda c: c.started_at)),
            agents=tuple(self._agents[a] for a in sorted(self._agents)),
        )
