"""An in-process AMI gateway: the simulated PBX without TCP, for tests and the embedded demo.

It implements the same contract as :class:`telephony.adapters.ami.PanoramiskGateway` (one
contract test suite runs against both), answers actions through the simulator's action handlers
and records every action it was asked to send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime

from crm_core.bus.events import utcnow
from telephony.errors import AmiActionFailed, ChannelNotFound, PbxUnavailable
from telephony.ports import (
    ActionResult,
    GatewayHealth,
    GatewayStatus,
    OriginateSpec,
    ReceivedEvent,
)
from telephony.protocol import AmiMessage
from telephony.sim.server import PbxSimulator

__all__ = ["InProcessGateway"]

logger = logging.getLogger(__name__)

_NO_CHANNEL = ("No such channel", "Channel does not exist")


class InProcessGateway:
    """An :class:`~telephony.ports.AmiGateway` talking to an in-process simulated PBX."""

    def __init__(
        self,
        pbx: str = "main",
        *,
        speed: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.pbx = pbx
        self._speed = speed
        self._clock = clock
        self.simulator: PbxSimulator | None = None
        self.sent: list[AmiMessage] = []
        self._queue: asyncio.Queue[ReceivedEvent] = asyncio.Queue()
        self._status = GatewayStatus.DOWN
        self._since: datetime | None = clock()
        self._sessions = 0
        self._changed = asyncio.Event()
        self._seq = 0

    async def start(self) -> None:
        """Start the simulated PBX and 'connect' to it."""
        if self.simulator is None:
            self.simulator = PbxSimulator(speed=self._speed)
            self.simulator.pbx.listeners.append(self._on_event)
            self._sessions += 1
            self._set(GatewayStatus.CONNECTED)

    async def stop(self) -> None:
        """Stop the simulated PBX."""
        simulator, self.simulator = self.simulator, None
        if simulator is not None:
            await simulator.close()
        self._set(GatewayStatus.DOWN)

    async def __aenter__(self) -> InProcessGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _set(self, status: GatewayStatus) -> None:
        self._status, self._since = status, self._clock()
        self._changed.set()

    def health(self) -> GatewayHealth:
        """Return the connection status."""
        detail = "in-process simulator" if self.simulator else "stopped"
        return GatewayHealth(
            pbx=self.pbx,
            status=self._status,
            detail=detail,
            since=self._since,
            sessions=self._sessions,
        )

    async def wait_status(self, *statuses: GatewayStatus) -> GatewayHealth:
        """Wait until the gateway reaches one of ``statuses``."""
        while self._status not in statuses:
            self._changed.clear()
            await self._changed.wait()
        return self.health()

    async def next_change(self) -> GatewayHealth:
        """Wait for the next change of status."""
        self._changed.clear()
        await self._changed.wait()
        return self.health()

    def _on_event(self, message: AmiMessage, _event_class: str) -> None:
        event = ReceivedEvent(
            pbx=self.pbx, message=message, received_at=self._clock(), session=self._sessions
        )
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[ReceivedEvent]:
        """Yield every event of the simulated PBX, in order."""
        while True:
            yield await self._queue.get()

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Answer an action through the simulator's handlers."""
        simulator = self.simulator
        if simulator is None:
            raise PbxUnavailable(f"PBX {self.pbx!r} is {self._status}")
        self._seq += 1
        pairs: list[tuple[str, str]] = [("Action", action), ("ActionID", f"inproc-{self._seq}")]
        for key, value in (headers or {}).items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((key, v) for v in values)
        request = AmiMessage(tuple(pairs))
        self.sent.append(request)
        answers: list[AmiMessage] = []
        async with asyncio.timeout(timeout or 10.0):
            known = await simulator.actions.handle(action.lower(), request, answers.append)
        if not known:
            message = (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
            raise AmiActionFailed(action, message)
        response = answers[0]
        if response.get("Response") not in ("Success", "Follows", "Goodbye"):
            text = response.get("Message") or "action failed"
            if text.startswith(_NO_CHANNEL):
                raise ChannelNotFound(action, text)
            raise AmiActionFailed(action, text)
        items = tuple(m for m in answers[1:] if not (m.event or "").endswith("Complete"))
        return ActionResult(action=action, response=response, items=items if listing else ())

    async def originate(self, spec: OriginateSpec) -> ActionResult:
        """Queue an asynchronous Originate."""
        headers: dict[str, str | list[str]] = {
            "Channel": spec.channel,
            "Timeout": str(int(spec.timeout_s * 1000)),
            "Async": "true",
        }
        if spec.application:
            headers.update(Application=spec.application, Data=spec.data or "")
        else:
            headers.update(
                Context=spec.context or "", Exten=spec.exten or "", Priority=str(spec.priority)
            )
        if spec.caller_id:
            headers["CallerID"] = spec.caller_id
        if spec.variables:
            headers["Variable"] = [f"{k}={v}" for k, v in spec.variables.items()]
        return await self.send_action("Originate", headers)

    async def hangup(self, channel: str, cause: int = 16) -> ActionResult:
        """Hang up a channel."""
        return await self.send_action("Hangup", {"Channel": channel, "Cause": str(cause)})

    async def redirect(
        self, channel: str, context: str, exten: str, priority: int = 1
    ) -> ActionResult:
        """Send a channel to another dialplan location."""
        headers = {"Channel": channel, "Context": context, "Exten": exten}
        return await self.send_action("Redirect", {**headers, "Priority": str(priority)})

    async def queue_add(
        self, queue: str, interface: str, *, member_name: str | None = None, penalty: int = 0
    ) -> ActionResult:
        """Add a member to a queue."""
        headers = {"Queue": queue, "Interface": interface, "Penalty": str(penalty)}
        if member_name:
            headers["MemberName"] = member_name
        return await self.send_action("QueueAdd", headers)

    async def queue_remove(self, queue: str, interface: str) -> ActionResult:
        """Remove a member from a queue."""
        return await self.send_action("QueueRemove", {"Queue": queue, "Interface": interface})

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> ActionResult:
        """Pause or unpause a queue member."""
        headers = {"Interface": interface, "Paused": "true" if paused else "false"}
        if queue:
            headers["Queue"] = queue
        if reason:
            headers["Reason"] = reason
        return await self.send_action("QueuePause", headers)

    async def queue_status(self, queue: str | None = None) -> tuple[AmiMessage, ...]:
        """Return QueueParams/QueueMember/QueueEntry events."""
        headers = {"Queue": queue} if queue else {}
        return (await self.send_action("QueueStatus", headers, listing=True)).items

    async def status(self) -> tuple[AmiMessage, ...]:
        """Return one CoreShowChannel event per live channel."""
        return (await self.send_action("CoreShowChannels", listing=True)).items

    async def ping(self) -> ActionResult:
        """Ping the simulated PBX."""
        return await self.send_action("Ping")
