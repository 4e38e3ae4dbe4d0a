"""Typed domain events emitted by the call tracker; they round-trip through the bus codec."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from crm_core.bus.events import Event
from telephony.models import AgentState, CallDirection, CallOutcome, HangupParty

__all__ = [
    "AgentStateChanged",
    "CallAnswered",
    "CallBridged",
    "CallEnded",
    "CallRinging",
    "CallStarted",
    "CallTransferred",
    "QueueCallerAbandoned",
    "QueueCallerJoined",
    "QueueCallerLeft",
    "QueueMemberChanged",
    "TelephonyEvent",
]


@dataclass(frozen=True, kw_only=True)
class TelephonyEvent(Event):
    """Base of every telephony event: names the PBX it comes from."""

    pbx: str


@dataclass(frozen=True, kw_only=True)
class CallStarted(TelephonyEvent):
    """The first channel of a call appeared."""

    event_name: ClassVar[str] = "telephony.call_started"
    call_id: str
    direction: CallDirection
    crm_call_id: str | None = None
    caller_id: str | None = None
    called_number: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallRinging(TelephonyEvent):
    """A party of the call is ringing; with an agent id this is the screen-pop trigger."""

    event_name: ClassVar[str] = "telephony.call_ringing"
    call_id: str
    direction: CallDirection
    agent_id: str | None = None
    caller_id: str | None = None
    called_number: str | None = None
    queue: str | None = None
    crm_call_id: str | None = None
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallAnswered(TelephonyEvent):
    """The far party answered (the customer, or the agent of a queue call)."""

    event_name: ClassVar[str] = "telephony.call_answered"
    call_id: str
    direction: CallDirection
    agent_id: str | None = None
    crm_call_id: str | None = None
    ring_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class CallBridged(TelephonyEvent):
    """Two or more channels of the call were joined in a bridge."""

    event_name: ClassVar[str] = "telephony.call_bridged"
    call_id: str
    bridge_id: str
    agent_id: str | None = None
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CallTransferred(TelephonyEvent):
    """An answered call was sent elsewhere (blind transfer, Redirect into a queue, ...)."""

    event_name: ClassVar[str] = "telephony.call_transferred"
    call_id: str
    kind: str
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    to_queue: str | None = None
    to_extension: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallEnded(TelephonyEvent):
    """The last channel of the call hung up (or the call vanished while disconnected)."""

    event_name: ClassVar[str] = "telephony.call_ended"
    call_id: str
    direction: CallDirection
    outcome: CallOutcome
    started_at: datetime
    ended_at: datetime
    answered_at: datetime | None = None
    agent_id: str | None = None
    caller_id: str | None = None
    called_number: str | None = None
    queue: str | None = None
    crm_call_id: str | None = None
    ring_s: float = 0.0
    wait_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    total_s: float = 0.0
    hangup_cause: int = 0
    hangup_cause_text: str = ""
    hangup_by: HangupParty = HangupParty.UNKNOWN
    dial_status: str | None = None
    recording_file: str | None = None
    transferred: bool = False
    vanished: bool = False


@dataclass(frozen=True, kw_only=True)
class AgentStateChanged(TelephonyEvent):
    """An agent's state changed."""

    event_name: ClassVar[str] = "telephony.agent_state_changed"
    agent_id: str
    state: AgentState
    previous: AgentState
    reason: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueueCallerJoined(TelephonyEvent):
    """A caller entered a queue."""

    event_name: ClassVar[str] = "telephony.queue_caller_joined"
    call_id: str
    queue: str
    caller_id: str | None = None
    position: int = 0
    count: int = 0


@dataclass(frozen=True, kw_only=True)
class QueueCallerLeft(TelephonyEvent):
    """A caller left a queue (connected to an agent, abandoned, timed out)."""

    event_name: ClassVar[str] = "telephony.queue_caller_left"
    call_id: str
    queue: str
    count: int = 0
    wait_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class QueueCallerAbandoned(TelephonyEvent):
    """A caller hung up while waiting in a queue."""

    event_name: ClassVar[str] = "telephony.queue_caller_abandoned"
    call_id: str
    queue: str
    caller_id: str | None = None
    position: int = 0
    original_position: int = 0
    hold_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class QueueMemberChanged(TelephonyEvent):
    """A queue member was added, removed, paused, unpaused or had its penalty changed."""

    event_name: ClassVar[str] = "telephony.queue_member_changed"
    queue: str
    interface: str
    change: str
    agent_id: str | None = None
    member_name: str | None = None
    paused: bool = False
    reason: str | None = None
    penalty: int = 0
