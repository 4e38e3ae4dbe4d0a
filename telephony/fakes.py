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
from telephony.actions import AmiActions
from telephony.errors import AmiActionFailed, ChannelNotFound, PbxUnavailable
from telephony.ports import (
    ActionResult,
    GatewayHealth,
    GatewayStatus,
    ReceivedBatch,
    ReceivedEvent,
)
from telephony.protocol import AmiMessage
from telephony.sim.server import PbxSimulator

__all__ = ["InProcessGateway"]

logger = logging.getLogger(__name__)

_NO_CHANNEL = ("No such channel", "Channel does not exist")


class InProcessGateway(AmiActions):
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

    async def batches(self) -> AsyncIterator[ReceivedBatch]:
        """Yield the events waiting, a batch at a time (each event keeps its own time)."""
        while True:
            first = await self._queue.get()
            yield ReceivedBatch(
                pbx=self.pbx,
                session=first.session,
                received_at=first.received_at,
                messages=[first.message],
            )

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
