"""Ports of the telephony package: what it needs from the outside world (the PBX over AMI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from telephony.protocol import AmiMessage

__all__ = [
    "ActionResult",
    "AmiGateway",
    "BridgeInfo",
    "ChannelInfo",
    "ForwardedHandler",
    "GatewayHealth",
    "GatewayStatus",
    "LeaderChannel",
    "Lease",
    "OriginateSpec",
    "QueueSummaryInfo",
    "ReceivedBatch",
    "ReceivedEvent",
    "RecordingAction",
    "SpyMode",
    "TargetType",
    "TransferMode",
]


class GatewayStatus(StrEnum):
    """Connection state of an AMI gateway."""

    CONNECTED = "connected"
    CONNECTING = "connecting"
    LOGIN_FAILED = "login_failed"
    DOWN = "down"


@dataclass(frozen=True, kw_only=True)
class GatewayHealth:
    """What a health check reports about one PBX connection."""

    pbx: str
    status: GatewayStatus
    detail: str = ""
    since: datetime | None = None
    # Sync epochs: +1 on every (re)connect and after every gap of lost events; a consumer that
    # has synced an older epoch must rebuild its state (Status/QueueStatus).
    sessions: int = 0
    lost_events: int = 0


@dataclass(frozen=True, kw_only=True)
class ReceivedEvent:
    """An AMI event with the time it arrived and the connection (session) it came on."""

    pbx: str
    message: AmiMessage
    received_at: datetime
    session: int


@dataclass(frozen=True, kw_only=True)
class ReceivedBatch:
    """AMI events that arrived together (within a millisecond) on one connection, in order.

    The hot path reads batches: one timestamp and one hand-over per batch instead of per event.
    """

    pbx: str
    session: int
    received_at: datetime
    messages: list[AmiMessage]


@dataclass(frozen=True, kw_only=True)
class ActionResult:
    """The answer to an action: the response and, for list actions, the listed events."""

    action: str
    response: AmiMessage
    items: tuple[AmiMessage, ...] = ()

    @property
    def message(self) -> str:
        """Return Asterisk's ``Message`` header ('' if none)."""
        return self.response.get("Message") or ""


SpyMode = Literal["listen", "whisper", "barge"]
# What call control offers (telephony.call_control), named here for the leader's wire format too.
RecordingAction = Literal["start", "stop", "pause", "resume"]
TargetType = Literal["queue", "agent", "number"]
TransferMode = Literal["blind", "attended"]


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, kw_only=True)
class ChannelInfo:
    """One live channel as ``CoreShowChannels`` lists it."""

    channel: str
    uniqueid: str
    linkedid: str
    state: int
    context: str
    exten: str
    caller_id: str
    application: str
    duration: str
    bridge_id: str | None

    @classmethod
    def from_message(cls, msg: AmiMessage) -> ChannelInfo:
        """Read a ``CoreShowChannel`` event (Channel/Uniqueid/Linkedid are required)."""
        return cls(
            channel=msg.require("Channel"),
            uniqueid=msg.require("Uniqueid"),
            linkedid=msg.require("Linkedid"),
            state=_int(msg.get("ChannelState")),
            context=msg.get("Context") or "",
            exten=msg.get("Exten") or "",
            caller_id=msg.get("CallerIDNum") or "",
            application=msg.get("Application") or "",
            duration=msg.get("Duration") or "",
            bridge_id=msg.get("BridgeId") or None,
        )


@dataclass(frozen=True, kw_only=True)
class BridgeInfo:
    """One bridge as ``BridgeList`` lists it."""

    bridge_id: str
    bridge_type: str
    technology: str
    channels: int

    @classmethod
    def from_message(cls, msg: AmiMessage) -> BridgeInfo:
        """Read a ``BridgeListItem`` event (BridgeUniqueid is required)."""
        return cls(
            bridge_id=msg.require("BridgeUniqueid"),
            bridge_type=msg.get("BridgeType") or "",
            technology=msg.get("BridgeTechnology") or "",
            channels=_int(msg.get("BridgeNumChannels")),
        )


@dataclass(frozen=True, kw_only=True)
class QueueSummaryInfo:
    """One queue's counters as ``QueueSummary`` lists them."""

    queue: str
    logged_in: int
    available: int
    callers: int
    hold_time: int
    talk_time: int
    longest_hold_time: int

    @classmethod
    def from_message(cls, msg: AmiMessage) -> QueueSummaryInfo:
        """Read a ``QueueSummary`` event (Queue is required)."""
        return cls(
            queue=msg.require("Queue"),
            logged_in=_int(msg.get("LoggedIn")),
            available=_int(msg.get("Available")),
            callers=_int(msg.get("Callers")),
            hold_time=_int(msg.get("HoldTime")),
            talk_time=_int(msg.get("TalkTime")),
            longest_hold_time=_int(msg.get("LongestHoldTime")),
        )


@dataclass(frozen=True, kw_only=True)
class OriginateSpec:
    """An Originate: a channel to call first, then a dialplan location or an application."""

    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int = 1
    application: str | None = None
    data: str | None = None
    caller_id: str | None = None
    timeout_s: float = 30.0
    variables: Mapping[str, str] = field(default_factory=dict)
    account: str | None = None
    action_id: str | None = None


class AmiGateway(Protocol):
    """One AMI connection to one named PBX."""

    pbx: str

    def events(self) -> AsyncIterator[ReceivedEvent]:
        """Yield every event received, in order, across reconnects."""
        ...

    def batches(self) -> AsyncIterator[ReceivedBatch]:
        """Yield the same events as :meth:`events`, grouped as they arrived (the fast path)."""
        ...

    def health(self) -> GatewayHealth:
        """Return the connection status with a human-readable detail."""
        ...

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Send any action; raise an error carrying Asterisk's message if it fails."""
        ...

    async def originate(self, spec: OriginateSpec) -> ActionResult:
        """Queue an asynchronous Originate (its outcome arrives as OriginateResponse)."""
        ...

    async def hangup(self, channel: str, cause: int = 16) -> ActionResult:
        """Hang up a channel."""
        ...

    async def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Send a channel to another dialplan location (blind transfer)."""
        ...

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> ActionResult:
        """Pause or unpause a queue member (in one queue, or all)."""
        ...

    async def status(self) -> tuple[AmiMessage, ...]:
        """Return one CoreShowChannel event per live channel."""
        ...


class Lease(Protocol):
    """A lease on one named resource (a PBX connection) shared by several processes."""

    holder_id: str  # who this process is, e.g. "host:pid:random"

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True if this process holds it now."""
        ...

    async def renew(self) -> bool:
        """Extend the lease; False if this process does not hold it any more."""
        ...

    async def release(self) -> None:
        """Give the lease up (only if this process holds it)."""
        ...

    async def holder(self) -> str | None:
        """Who holds the lease now (None: nobody)."""
        ...


# The leader's handler of one forwarded request: (request id, body, seconds left) -> reply body.
ForwardedHandler = Callable[[str, str, float], Awaitable[str]]


class LeaderChannel(Protocol):
    """Requests from processes that do not hold a PBX's connection to the one that does.

    A request lives until its deadline: taken by the leader before it, it is carried out once;
    not taken by then, it is dropped unseen (no late Originate after a failover).
    """

    async def request(self, pbx: str, body: str, *, ttl_s: float) -> str:
        """Queue ``body`` for the PBX's leader and return its reply; ``AmiTimeout`` if none."""
        ...

    async def serve(self, pbx: str, handle: ForwardedHandler) -> None:
        """Carry out the PBX's queued requests with ``handle`` until cancelled (the leader)."""
        ...
