"""Request and response bodies of the telephony API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telephony.agent_control import AgentAction

__all__ = [
    "ActiveCallOut",
    "ActiveCallsOut",
    "AgentOut",
    "AgentStateIn",
    "AgentStateOut",
    "AgentStateResultOut",
    "AgentsOut",
    "CallActionOut",
    "CallOut",
    "PhoneIn",
    "PhoneOut",
    "QueueCallerOut",
    "QueueMemberOut",
    "QueueOut",
    "QueuesOut",
    "RecordingIn",
    "SpyIn",
    "SpyOut",
    "TransferIn",
    "TransferOut",
]


class RecordingIn(BaseModel):
    """Start or stop recording the call; pause/resume it (e.g. while taking a card payment)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["start", "stop", "pause", "resume"]


class TransferIn(BaseModel):
    """Where to send the caller: a queue (name), an agent (user id) or a phone number."""

    model_config = ConfigDict(extra="forbid")

    target_type: Literal["queue", "agent", "number"]
    target: str = Field(min_length=1, max_length=64)
    mode: Literal["blind", "attended"] = "blind"


class TransferOut(BaseModel):
    """The PBX accepted the transfer; a call_update/CallTransferred follows when it happens."""

    call_id: str
    status: Literal["transferring"]
    mode: str
    target_type: str
    target: str
    channel: str


class SpyIn(BaseModel):
    """Listen (silent), whisper (to the agent only) or barge in (both hear you)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["listen", "whisper", "barge"]


class SpyOut(BaseModel):
    """Your phone rings; answer it to start listening."""

    call_id: str
    status: Literal["spying"]
    mode: str
    phone: str
    spied_channel: str


class CallActionOut(BaseModel):
    """What was done, on which channel; the call's events follow on the bus."""

    call_id: str
    action: str
    channel: str


class CallOut(BaseModel):
    """A finished call."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pbx: str
    call_id: str
    crm_call_id: str | None
    direction: str
    outcome: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    agent_user_id: int | None
    caller_id: str | None
    called_number: str | None
    customer_e164: str | None
    person_id: int | None
    company_id: int | None
    queue: str | None
    ring_s: float
    wait_s: float
    talk_s: float
    hold_s: float
    total_s: float
    hangup_cause: int
    hangup_cause_text: str
    hangup_by: str
    dial_status: str | None
    recording_file: str | None
    transferred: bool
    vanished: bool
    disposition_code: str | None = None
    disposition_notes: str | None = None
    disposition_user_id: int | None = None
    disposition_at: datetime | None = None


class ActiveCallOut(BaseModel):
    """A call in progress."""

    pbx: str
    call_id: str
    direction: str
    state: str
    started_at: datetime
    answered_at: datetime | None
    agent_user_id: int | None
    caller_id: str | None
    called_number: str | None
    queue: str | None
    crm_call_id: str | None


class ActiveCallsOut(BaseModel):
    """Every call in progress the caller may see."""

    items: list[ActiveCallOut]


class AgentOut(BaseModel):
    """An agent's live state on one PBX."""

    pbx: str
    user_id: int | None
    username: str | None
    display_name: str | None
    state: str
    reason: str | None
    call_id: str | None
    queues: list[str]
    since: datetime | None


class AgentsOut(BaseModel):
    """Live agents."""

    items: list[AgentOut]


class QueueMemberOut(BaseModel):
    """A member of a queue."""

    interface: str | None
    name: str | None
    paused: bool
    paused_reason: str | None
    in_call: bool
    calls_taken: int
    penalty: int


class QueueCallerOut(BaseModel):
    """A caller waiting in a queue."""

    position: int
    caller_id: str | None
    wait_s: int
    call_id: str | None


class QueueOut(BaseModel):
    """A queue's live state."""

    pbx: str
    name: str
    strategy: str | None
    calls_waiting: int
    completed: int
    abandoned: int
    service_level: str | None
    members: list[QueueMemberOut]
    callers: list[QueueCallerOut]


class QueuesOut(BaseModel):
    """Live queues of every connected PBX; ``unavailable`` names the PBXes that did not answer."""

    items: list[QueueOut]
    unavailable: list[str]


class PhoneIn(BaseModel):
    """An agent's phone on one PBX."""

    model_config = ConfigDict(extra="forbid")

    pbx: str = Field(min_length=1, max_length=32)
    interface: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9]+/[^\s,;|]+$")
    queues: list[str] = Field(default_factory=list, max_length=50)


class PhoneOut(BaseModel):
    """An agent's phone on one PBX."""

    model_config = ConfigDict(from_attributes=True)

    user_id: int
    pbx: str
    interface: str
    queues: str


class AgentStateIn(BaseModel):
    """Log in to the queues, be ready, pause with a reason, or log out."""

    model_config = ConfigDict(extra="forbid")

    action: AgentAction
    reason: str = Field(default="", max_length=80)


class AgentStateResultOut(BaseModel):
    """What was done on one PBX."""

    pbx: str
    interface: str
    queues: list[str]
    action: str


class AgentStateOut(BaseModel):
    """What was done; the new state arrives as an agent_state_changed event."""

    results: list[AgentStateResultOut]
