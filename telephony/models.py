"""Telephony domain types: enums and frozen dataclasses for calls, legs and agents (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "WRAP_UP_REASON",
    "AgentDirectory",
    "AgentInfo",
    "AgentState",
    "CallDirection",
    "CallInfo",
    "CallOutcome",
    "CallState",
    "DialplanLocations",
    "HangupParty",
    "Leg",
    "LegRole",
    "TrackerSnapshot",
    "interface_of",
]


class CallDirection(StrEnum):
    """Who started the call and how."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"  # agent-first click-to-dial
    DIALER = "dialer"  # customer-first (preview/progressive/predictive dialer)
    INTERNAL = "internal"


class CallState(StrEnum):
    """Where a call is in its life."""

    DIALING = "dialing"
    RINGING = "ringing"
    UP = "up"
    BRIDGED = "bridged"
    HELD = "held"
    TRANSFERRED = "transferred"
    ENDED = "ended"


class CallOutcome(StrEnum):
    """How a call ended, as a call-center reports it."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    UNALLOCATED = "unallocated"
    ABANDONED = "abandoned"
    FAILED = "failed"


class HangupParty(StrEnum):
    """Which side ended the call first."""

    AGENT = "agent"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"


class LegRole(StrEnum):
    """What a leg of the call is."""

    AGENT = "agent"
    CUSTOMER = "customer"


class AgentState(StrEnum):
    """An agent's availability as the PBX shows it."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;[12])?$")


def interface_of(channel: str) -> str:
    """Return the device interface of a channel: ``Local/1001@agents-00000002;1`` → ``Local/1001@agents``."""  # noqa: E501
    return _CHANNEL_SUFFIX.sub("", channel)


def leg_key(channel: str) -> str:
    """Return the leg a channel belongs to: both halves of a Local channel are one leg."""
    if channel.endswith((";1", ";2")):
        return channel[:-2]
    return channel


class AgentDirectory:
    """Maps phone interfaces (``Local/1001@agents``, ``PJSIP/1001``) to agent ids."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._by_interface = {k.lower(): v for k, v in (mapping or {}).items()}

    def agent_for_interface(self, interface: str) -> str | None:
        """Return the agent id of an interface, if it is an agent's phone."""
        return self._by_interface.get(interface.lower())

    def agent_for_channel(self, channel: str) -> str | None:
        """Return the agent id whose phone a channel belongs to."""
        return self.agent_for_interface(interface_of(channel))

    def interfaces(self) -> dict[str, str]:
        """Return a copy of the interface → agent id mapping."""
        return dict(self._by_interface)


@dataclass(frozen=True, kw_only=True)
class DialplanLocations:
    """Where the platform sends calls on one PBX (transfers, click-to-dial)."""

    number_context: str = "customers"
    agent_context: str = "agents"
    transfer_queue_context: str = "transfer-queue"
    transfer_agent_context: str = "transfer-agent"


WRAP_UP_REASON = "wrap-up"


@dataclass(frozen=True, kw_only=True)
class Leg:
    """One party of a call: a channel, or both halves of a Local channel."""

    key: str
    interface: str
    role: LegRole
    agent_id: str | None = None
    channels: tuple[str, ...] = ()
    answered: bool = False
    ended: bool = False
    cancelled: bool = False


@dataclass(frozen=True, kw_only=True)
class CallInfo:
    """A snapshot of one call in progress."""

    pbx: str
    call_id: str
    direction: CallDirection
    state: CallState
    started_at: datetime
    answered_at: datetime | None = None
    agent_id: str | None = None
    caller_id: str | None = None
    called_number: str | None = None
    queue: str | None = None
    crm_call_id: str | None = None
    recording_file: str | None = None
    legs: tuple[Leg, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AgentInfo:
    """A snapshot of one agent."""

    pbx: str
    agent_id: str
    state: AgentState
    reason: str | None = None
    call_id: str | None = None
    queues: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TrackerSnapshot:
    """Everything a reconnecting client needs before it follows the live stream."""

    pbx: str
    taken_at: datetime | None
    calls: tuple[CallInfo, ...] = ()
    agents: tuple[AgentInfo, ...] = ()
