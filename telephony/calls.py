"""The call tracker's mutable record of one call, and how a finished call is summarised (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from telephony.events import CallEnded
from telephony.models import (
    CallDirection,
    CallInfo,
    CallOutcome,
    CallState,
    HangupParty,
    Leg,
    LegRole,
)

__all__ = ["CallRecord", "ChannelRecord", "LegRecord"]

# Q.850 causes that say why a call failed; 0 (unknown) and 16 (normal) say nothing.
_CAUSE_OUTCOME = {
    1: CallOutcome.UNALLOCATED,
    3: CallOutcome.UNALLOCATED,
    28: CallOutcome.UNALLOCATED,
    17: CallOutcome.BUSY,
    18: CallOutcome.NO_ANSWER,
    19: CallOutcome.NO_ANSWER,
    34: CallOutcome.CONGESTION,
    38: CallOutcome.CONGESTION,
    42: CallOutcome.CONGESTION,
}
_DIALSTATUS_OUTCOME = {
    "BUSY": CallOutcome.BUSY,
    "NOANSWER": CallOutcome.NO_ANSWER,
    "CONGESTION": CallOutcome.CONGESTION,
}
_UNINFORMATIVE_CAUSES = frozenset({0, 16})
_ANSWERED_ELSEWHERE = 26


@dataclass
class ChannelRecord:
    """One channel of a call."""

    name: str
    uniqueid: str
    leg: str
    hung_up: bool = False


@dataclass
class LegRecord:
    """One party: a channel or both halves of a Local channel."""

    key: str
    interface: str
    role: LegRole
    agent_id: str | None
    channels: list[str] = field(default_factory=list)
    answered: bool = False
    ended: bool = False
    cancelled: bool = False
    announced: bool = False
    late: bool = False  # joined after the call was answered (a transfer target, a consult leg)

    def freeze(self) -> Leg:
        """Return the immutable view of this leg."""
        return Leg(
            key=self.key,
            interface=self.interface,
            role=self.role,
            agent_id=self.agent_id,
            channels=tuple(self.channels),
            answered=self.answered,
            ended=self.ended,
            cancelled=self.cancelled,
        )


@dataclass
class CallRecord:
    """Everything the tracker knows about one call (all channels sharing a Linkedid)."""

    call_id: str
    direction: CallDirection
    started_at: datetime
    state: CallState = CallState.DIALING
    answered_at: datetime | None = None
    agent_id: str | None = None
    caller_id: str | None = None
    called_number: str | None = None
    queue: str | None = None
    crm_call_id: str | None = None
    recording_file: str | None = None
    channels: dict[str, ChannelRecord] = field(default_factory=dict)
    legs: dict[str, LegRecord] = field(default_factory=dict)
    queue_joined_at: datetime | None = None
    wait_s: float = 0.0
    abandoned: bool = False
    hold_since: dict[str, datetime] = field(default_factory=dict)
    hold_s: float = 0.0
    state_before_hold: CallState = CallState.UP
    dial_status: str | None = None
    hangup_by: HangupParty | None = None
    causes: list[tuple[int, str]] = field(default_factory=list)
    transferred: bool = False
    bridges: set[str] = field(default_factory=set)

    def leg_of(self, channel: str) -> LegRecord | None:
        """Return the leg a channel of this call belongs to."""
        rec = self.channels.get(channel)
        return self.legs.get(rec.leg) if rec else None

    def live(self) -> bool:
        """Return True while any channel of the call is up."""
        return any(not c.hung_up for c in self.channels.values())

    def connected(self) -> None:
        """Forget earlier hang-ups: a (re)connection starts the part of the call that counts."""
        self.hangup_by = None
        self.causes.clear()

    def info(self, pbx: str) -> CallInfo:
        """Return a snapshot of the call."""
        return CallInfo(
            pbx=pbx,
            call_id=self.call_id,
            direction=self.direction,
            state=self.state,
            started_at=self.started_at,
            answered_at=self.answered_at,
            agent_id=self.agent_id,
            caller_id=self.caller_id,
            called_number=self.called_number,
            queue=self.queue,
            crm_call_id=self.crm_call_id,
            recording_file=self.recording_file,
            legs=tuple(leg.freeze() for leg in self.legs.values()),
        )

    def cause(self) -> tuple[int, str]:
        """Return the hang-up cause that explains the call best."""
        for cause, text in self.causes:
            if cause not in _UNINFORMATIVE_CAUSES:
                return cause, text
        for cause, text in reversed(self.causes):
            if cause == 16:
                return cause, text
        return self.causes[0] if self.causes else (0, "")

    def outcome(self, cause: int) -> CallOutcome:
        """Return how the call ended."""
        if self.answered_at is not None:
            return CallOutcome.ANSWERED
        if self.abandoned or self.queue is not None:
            return CallOutcome.ABANDONED
        # Cause before DialStatus: an unallocated number reports DialStatus NOANSWER (03g).
        if cause in _CAUSE_OUTCOME:
            return _CAUSE_OUTCOME[cause]
        return _DIALSTATUS_OUTCOME.get(self.dial_status or "", CallOutcome.FAILED)

    def finish(self, pbx: str, at: datetime, *, vanished: bool = False) -> CallEnded:
        """Close the call and summarise it."""
        for since in self.hold_since.values():
            self.hold_s += (at - since).total_seconds()
        self.hold_since.clear()
        if self.queue_joined_at is not None:
            self.wait_s += (at - self.queue_joined_at).total_seconds()
            self.queue_joined_at = None
        self.state = CallState.ENDED
        total = max((at - self.started_at).total_seconds(), 0.0)
        if self.answered_at is None:
            ring, hold, talk = total, 0.0, 0.0
        else:
            ring = min(max((self.answered_at - self.started_at).total_seconds(), 0.0), total)
            hold = min(self.hold_s, total - ring)
            talk = total - ring - hold
        cause, text = self.cause()
        return CallEnded(
            occurred_at=at,
            pbx=pbx,
            call_id=self.call_id,
            direction=self.direction,
            outcome=self.outcome(cause),
            started_at=self.started_at,
            ended_at=at,
            answered_at=self.answered_at,
            agent_id=self.agent_id,
            caller_id=self.caller_id,
            called_number=self.called_number,
            queue=self.queue,
            crm_call_id=self.crm_call_id,
            ring_s=ring,
            wait_s=self.wait_s,
            talk_s=talk,
            hold_s=hold,
            total_s=total,
            hangup_cause=cause,
            hangup_cause_text=text,
            hangup_by=self.hangup_by or HangupParty.UNKNOWN,
            dial_status=self.dial_status,
            recording_file=self.recording_file,
            transferred=self.transferred,
            vanished=vanished,
        )


def informative(cause: int) -> bool:
    """Return False for the cause of a ringall leg that lost to another agent."""
    return cause != _ANSWERED_ELSEWHERE
