"""The real AMI gateway: one panoramisk connection per named PBX, with the 1.4 traps worked around.

panoramisk 1.4 traps handled here (see ``shared/ami-traces/README.md``):

* it retries a refused login forever and silently: we connect ourselves, await the Login
  answer, report ``login_failed`` with Asterisk's message, and stop;
* its own reconnect re-sends pending actions after a reconnect (duplicate Originates): we own
  reconnection (exponential back-off) and fail pending actions with :class:`PbxUnavailable`;
* the future of ``QueueAdd`` never resolves ("Added interface to queue" looks like "more to
  follow"): every single-answer action is sent with ``as_list=False``;
* ``save_stream`` raises on every chunk: never used;
* ``Event: Shutdown`` closes the connection: it is passed on and we reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import Any

from panoramisk.actions import Action

from crm_core.bus.events import utcnow
from telephony.actions import AmiActions
from telephony.adapters.panoramisk_compat import (
    FastAMIProtocol,
    QuietManager,
    Unread,
    store_to_message,
    to_ami_message,
)
from telephony.errors import (
    AmiActionFailed,
    AmiLoginFailed,
    AmiTimeout,
    ChannelNotFound,
    PbxUnavailable,
)
from telephony.ports import (
    ActionResult,
    GatewayHealth,
    GatewayStatus,
    ReceivedBatch,
    ReceivedEvent,
)

__all__ = ["AmiConfig", "PanoramiskGateway", "to_ami_message"]

logger = logging.getLogger(__name__)

_NO_CHANNEL = ("No such channel", "Channel does not exist")
_NO_HEADER = (None, None)
_BATCH_SPAN = 0.001  # seconds of arrivals that share one batch (and one timestamp)


IGNORED_EVENTS: frozenset[str] = frozenset(
    {
        "Newexten",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStateChange",
        "RTCPSent",
        "RTCPReceived",
        "NewConnectedLine",
        "LocalBridge",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "DialState",
        # BridgeEnter/BridgeLeave carry what the tracker reads; creation/destruction do not.
        "BridgeCreate",
        "BridgeDestroy",
        "Cdr",
        "CEL",
        "SuccessfulAuth",
        "ChallengeSent",
        "ContactStatus",
        "PeerStatus",
        "Registry",
    }
)


@dataclass(frozen=True, kw_only=True)
class AmiConfig:
    """How to reach one PBX over AMI."""

    pbx: str = "main"
    host: str = "127.0.0.1"
    port: int = 5038
    username: str
    secret: str
    events: str = "on"
    connect_timeout: float = 5.0
    action_timeout: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    ping_interval: float = 20.0
    queue_size: int = 10_000
    # Events the platform never reads: dropped right after parsing, before conversion. They are
    # more than half of a call's AMI traffic (Newexten, DeviceStateChange, ...).
    ignored_events: frozenset[str] = IGNORED_EVENTS
    # VarSet is ~30 messages a call; only these variables are read (the CRM call id, recordings).
    kept_variables: frozenset[str] = frozenset({"CRM_CALL_ID", "MIXMONITOR_FILENAME"})

    def __repr__(self) -> str:
        return f"AmiConfig(pbx={self.pbx!r}, host={self.host!r}, port={self.port})"


class PanoramiskGateway(AmiActions):
    """An :class:`~telephony.ports.AmiGateway` over panoramisk, for one named PBX."""

    def __init__(self, config: AmiConfig, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.pbx = config.pbx
        self._config = config
        self._clock = clock
        self._manager: QuietManager | None = None
        self._status = GatewayStatus.DOWN
        self._detail = "not started"
        self._since: datetime | None = clock()
        self._sessions = 0
        # Arrived events, batched; ``_open`` still takes events, ``_buffered`` counts them all.
        self._batches: deque[ReceivedBatch] = deque()
        self._open: ReceivedBatch | None = None
        self._open_at = 0.0
        self._buffered = 0
        self._ready = asyncio.Event()
        self._max_buffered = config.queue_size
        self._ignored_events = config.ignored_events
        self._kept_vars = config.kept_variables
        # What _on_event would drop, recognised by the reader before it is parsed.
        self._unread = Unread(config.ignored_events, config.kept_variables)
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._dropped = 0
        self._gap = False
        self._gaps = 0
        self._received = 0
        self._ignored = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (returns at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._close_manager()
        self._set(GatewayStatus.DOWN, "stopped")

    async def __aenter__(self) -> PanoramiskGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_status(self, *statuses: GatewayStatus) -> GatewayHealth:
        """Wait until the gateway reaches one of ``statuses``; return its health then."""
        while self._status not in statuses:
            self._changed.clear()
            await self._changed.wait()
        return self.health()

    async def next_change(self) -> GatewayHealth:
        """Wait for the next change of status or detail; return the health then."""
        self._changed.clear()
        await self._changed.wait()
        return self.health()

    def health(self) -> GatewayHealth:
        """Return the connection status with a human-readable detail."""
        return GatewayHealth(
            pbx=self.pbx,
            status=self._status,
            detail=self._detail,
            since=self._since,
            sessions=self._sessions,
            lost_events=self._dropped,
        )

    def _set(self, status: GatewayStatus, detail: str) -> None:
        if (status, detail) != (self._status, self._detail):
            self._status, self._detail, self._since = status, detail, self._clock()
            log = logger.error if status is GatewayStatus.LOGIN_FAILED else logger.info
            log("AMI %s: %s (%s)", self.pbx, status, detail)
        if status is GatewayStatus.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        self._changed.set()

    async def _run(self) -> None:
        delay = self._config.reconnect_min
        while True:
            self._set(GatewayStatus.CONNECTING, f"connecting to {self._config.host}")
            try:
                await self._connect()
            except AmiLoginFailed as err:
                self._close_manager()
                self._set(GatewayStatus.LOGIN_FAILED, err.message)
                return
            except (OSError, TimeoutError, PbxUnavailable) as err:
                self._close_manager()
                self._set(GatewayStatus.CONNECTING, f"connect failed: {err}; retry in {delay:g}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._config.reconnect_max)
                continue
            delay = self._config.reconnect_min
            await self._supervise()
            self._close_manager()
            self._fail_pending(PbxUnavailable(f"connection to PBX {self.pbx!r} lost"))
            # A restarting Asterisk refuses connections for a moment (12: ~0.5 s).
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        cfg = self._config
        loop = asyncio.get_running_loop()
        self._lost.clear()
        manager = QuietManager(
            self._on_lost,
            host=cfg.host,
            port=cfg.port,
            username=cfg.username,
            secret=cfg.secret,
            events=cfg.events,
            loop=loop,
            ping_delay=3600,
            ping_interval=3600,
            reconnect_timeout=3600,
            on_connect=lambda _m: None,
            on_login=lambda _m: None,
            on_disconnect=lambda _m, _e: None,
        )
        manager.register_event("*", self._on_event)
        self._manager = manager
        async with asyncio.timeout(cfg.connect_timeout):
            connected = loop.create_future()
            connected.set_result(
                await loop.create_connection(
                    lambda: FastAMIProtocol(self._unread), cfg.host, cfg.port
                )
            )
            manager.connection_made(connected)
            login = manager.authenticated_future
            if login is None:
                raise PbxUnavailable("panoramisk did not send Login")
            # panoramisk forgets a Login whose connection closes: wait for either.
            lost = loop.create_task(self._lost.wait())
            try:
                await asyncio.wait({login, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
            if not login.done():
                raise PbxUnavailable("connection closed during login")
            answer = login.result()
        if not answer.success:
            message = to_ami_message(answer).get("Message") or "Authentication failed"
            raise AmiLoginFailed(f"PBX {self.pbx!r} refused login as {cfg.username!r}: {message}")
        self._sessions += 1
        self._set(GatewayStatus.CONNECTED, f"logged in as {cfg.username}")

    async def _supervise(self) -> None:
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.ping_interval):
                    await self._lost.wait()
                return
            try:
                await self.send_action("Ping", timeout=self._config.action_timeout)
            except PbxUnavailable:
                logger.warning("AMI %s: ping failed; reconnecting", self.pbx)
                return

    def _on_lost(self, exc: object) -> None:
        self._lost.set()
        if self._status is GatewayStatus.CONNECTED:
            self._set(GatewayStatus.CONNECTING, f"connection lost: {exc!r}"[:200])

    def _close_manager(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.awaiting_actions.clear()
            manager.close()

    def _fail_pending(self, err: Exception) -> None:
        for future in list(self._pending):
            if not future.done():
                future.set_exception(err)

    # -- events ---------------------------------------------------------------------------------

    @property
    def received(self) -> int:
        """Events received since start, ignored ones included."""
        return self._received + self._unread.count

    @property
    def ignored(self) -> int:
        """Events dropped on arrival because the platform never reads them."""
        return self._ignored + self._unread.count

    def _on_event(self, _manager: object, message: Mapping[str, Any]) -> None:
        # Runs for every event: read panoramisk's lower-cased store (key -> (Key, value))
        # directly, drop what the platform never reads before converting anything.
        self._received += 1
        store = getattr(message, "_store", None)
        if isinstance(store, dict):
            name = store.get("event", _NO_HEADER)[1]
            if name in self._ignored_events or (
                name == "VarSet" and store.get("variable", _NO_HEADER)[1] not in self._kept_vars
            ):
                self._ignored += 1
                return
        if self._buffered >= self._max_buffered:
            # The consumer is too slow: the stream gets a hole. Consumers rebuild their state
            # (Status/QueueStatus) once they reach it, so nothing that matters is lost.
            self._dropped += 1
            if not self._gap:
                self._gap = True
                logger.error(
                    "AMI %s: event queue full (%d); dropping events until the consumer catches "
                    "up, then the state is rebuilt from the PBX",
                    self.pbx,
                    self._max_buffered,
                )
            return
        if self._gap:
            self._close_gap()
        now = monotonic()
        batch = self._open
        if batch is None or now - self._open_at > _BATCH_SPAN or batch.session != self._sessions:
            # One timestamp per millisecond of arrivals (a TCP read holds many events).
            batch = ReceivedBatch(
                pbx=self.pbx, session=self._sessions, received_at=self._clock(), messages=[]
            )
            self._batches.append(batch)
            self._open, self._open_at = batch, now
            self._ready.set()
        msg = store_to_message(store) if isinstance(store, dict) else to_ami_message(message)
        batch.messages.append(msg)
        self._buffered += 1
        if msg.event == "Shutdown":
            logger.warning("AMI %s: PBX is shutting down", self.pbx)

    def _close_gap(self) -> None:
        """Start a new sync epoch after lost events: what follows carries a higher session."""
        self._gap = False
        self._gaps += 1
        self._sessions += 1
        logger.warning(
            "AMI %s: %d events lost in %d gap(s); resynchronising from Status/QueueStatus",
            self.pbx,
            self._dropped,
            self._gaps,
        )
        self._changed.set()

    @property
    def lost_events(self) -> int:
        """Events dropped because the event queue was full (each gap triggers a resync)."""
        return self._dropped

    async def batches(self) -> AsyncIterator[ReceivedBatch]:
        """Yield the events as they arrived, a batch at a time, in order, across reconnects.

        After events were lost (queue full), the first batch behind the hole has a higher
        ``session`` (as after a reconnect); if none comes, ``health().sessions`` rises once the
        buffer is drained, so that the consumer resynchronises either way.
        """
        pending = self._batches
        while True:
            if not pending:
                if self._gap:
                    self._close_gap()
                while not pending:
                    self._ready.clear()
                    await self._ready.wait()
            batch = pending.popleft()
            if batch is self._open:
                self._open = None
            self._buffered -= len(batch.messages)
            yield batch

    async def events(self) -> AsyncIterator[ReceivedEvent]:
        """Yield every event received, in order, across reconnects."""
        async for batch in self.batches():
            for message in batch.messages:
                yield ReceivedEvent(
                    pbx=batch.pbx,
                    message=message,
                    received_at=batch.received_at,
                    session=batch.session,
                )

    # -- actions --------------------------------------------------------------------------------

    async def send_action(
        self,
        action: str,
        headers: Mapping[str, str | list[str]] | None = None,
        *,
        timeout: float | None = None,
        listing: bool = False,
    ) -> ActionResult:
        """Send any action; raise an error carrying Asterisk's message if it fails."""
        manager = self._manager
        if manager is None or not self._connected.is_set() or manager.protocol is None:
            raise PbxUnavailable(f"PBX {self.pbx!r} is {self._status}: {self._detail}")
        body: dict[str, Any] = {"Action": action, **(headers or {})}
        # as_list is always explicit: panoramisk guesses from the reply text otherwise, and
        # guesses wrong for QueueAdd (the future never resolves).
        request = Action(body, as_list=listing)
        future = manager.send_action(request, as_list=listing)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.add(waiter)

        def relay(done: asyncio.Future[Any]) -> None:
            if waiter.done():
                return
            if done.cancelled():
                waiter.set_exception(PbxUnavailable("action cancelled by the AMI client"))
            elif done.exception() is not None:
                waiter.set_exception(PbxUnavailable(str(done.exception())))
            else:
                waiter.set_result(done.result())

        future.add_done_callback(relay)
        try:
            async with asyncio.timeout(timeout or self._config.action_timeout):
                answer = await waiter
        except TimeoutError:
            if manager.protocol is not None:
                manager.protocol.responses.pop(request.id, None)
            raise AmiTimeout(f"no answer to {action} from PBX {self.pbx!r} in time") from None
        finally:
            self._pending.discard(waiter)
        return self._result(action, answer, listing)

    def _result(self, action: str, answer: Any, listing: bool) -> ActionResult:
        messages = [to_ami_message(m) for m in (answer if isinstance(answer, list) else [answer])]
        response = messages[0]
        if response.get("Response") not in ("Success", "Follows", "Goodbye"):
            text = response.get("Message") or "action failed"
            if text.startswith(_NO_CHANNEL):
                raise ChannelNotFound(action, text)
            raise AmiActionFailed(action, text)
        items = tuple(m for m in messages[1:] if not (m.event or "").endswith("Complete"))
        return ActionResult(action=action, response=response, items=items if listing else ())
