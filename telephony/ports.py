"""Ports of the telephony package: what it needs from the outside world (the PBX over AMI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from telephony.protocol import AmiMessage

__all__ = [
    "ActionResult",
    "AmiGateway",
    "GatewayHealth",
    "GatewayStatus",
    "OriginateSpec",
    "ReceivedEvent",
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
    sessions: int = 0


@dataclass(frozen=True, kw_only=True)
class ReceivedEvent:
    """An AMI event with the time it arrived and the connection (session) it came on."""

    pbx: str
    message: AmiMessage
    received_at: datetime
    session: int


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
