"""One PBX at run time: AMI events → call tracker → bus and call store, resynced on reconnect.

The gateway owns the connection (reconnects, login failures); this runtime owns what the platform
derives from it. After every (re)connect it rebuilds the tracker's view from ``Status`` and
``QueueStatus`` and closes the calls that ended while the connection was down, so no call is lost
and none is recorded twice (the store is idempotent by Linkedid). A finished call that cannot be
stored (database down) is kept and retried until it is.

Finished calls are stored off the event path by a :class:`~telephony.call_writer.CallRecordWriter`
(``records``), which publishes each ``CallEnded`` once its call is stored; events of the same
call or agent that come after it wait in the same queue, the others are published at once. When
the event loop task (or the retry task) stops, the queue is drained first.

In a process that does not lead the PBX (a follower), :meth:`PbxRuntime.run_mirror` keeps the
bus mirror that the API answers from, and seeds it with the leader's snapshot when it starts,
when the leader changes and after the bus lost events (see :meth:`PbxRuntime.run_mirror`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from crm_core.bus.events import Event, utcnow
from crm_core.bus.fanout import SubscriptionGap
from crm_core.bus.ports import EventBus
from crm_core.errors import CallboardError
from telephony.call_writer import DRAIN_TIMEOUT_S, CallRecordWriter
from telephony.errors import AmiTimeout, TelephonyError
from telephony.events import AgentStateChanged, TelephonyEvent
from telephony.forwarding import LeaderLink
from telephony.leader import Leadership
from telephony.mirror import CallMirror
from telephony.models import (
    WRAP_UP_REASON,
    AgentDirectory,
    AgentState,
    DialplanLocations,
    TrackerSnapshot,
)
from telephony.ports import (
    ActionResult,
    AmiGateway,
    BridgeInfo,
    ChannelInfo,
    GatewayHealth,
    GatewayStatus,
    OriginateSpec,
    QueueSummaryInfo,
    SpyMode,
)
from telephony.protocol import AmiMessage
from telephony.store import CallStore
from telephony.tracker import CallTracker

__all__ = ["LiveAgentDirectory", "MirrorSeed", "PbxRuntime", "RuntimeGateway", "queue_summary"]

log = logging.getLogger(__name__)
RETRY_INTERVAL = 5.0
# A follower's mirror and the leader's snapshot: an ask that the leader refused (e.g. it has not
# read the PBX yet) is made again after SEED_RETRY_S, doubling up to SEED_RETRY_MAX_S; one that
# no process answered (the leader is gone: its lease expires, another takes over) when the
# leader changes, or after SEED_RETRY_MAX_S; at once after the bus lost events. The leader the
# election loop last saw is looked at every LEADER_POLL_S (no I/O: an attribute).
SEED_RETRY_S = 1.0
SEED_RETRY_MAX_S = 30.0
LEADER_POLL_S = 0.5
# The events kept while a snapshot is on its way (a few seconds at most, see
# forwarding.SNAPSHOT_RUN_S); past this many that snapshot is given up and asked again later.
SEED_BUFFER_MAX = 50_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class MirrorSeed:
    """Where a follower's mirror stands with the leader's snapshot (``/readyz``, tests).

    ``waiting``: not asked yet (no leader known, or this process leads); ``asking``: a request
    is on its way to ``leader``; ``seeded``: loaded from it; ``failed``: it could not answer
    (``detail`` says why), the mirror is kept as it was and the request is made again later.
    """

    state: Literal["waiting", "asking", "seeded", "failed"]
    leader: str | None = None
    detail: str = ""
    at: datetime | None = None


class RuntimeGateway(AmiGateway, Protocol):
    """What the runtime needs of a gateway beyond the port: status changes and QueueStatus."""

    async def wait_status(self, *statuses: GatewayStatus) -> GatewayHealth:
        """Wait until the gateway reaches one of ``statuses``."""
        ...

    async def next_change(self) -> GatewayHealth:
        """Wait for the next change of status."""
        ...

    async def queue_status(self, queue: str | None = None) -> tuple[AmiMessage, ...]:
        """QueueParams/QueueMember/QueueEntry events."""
        ...

    async def queue_add(
        self, queue: str, interface: str, *, member_name: str | None = None, penalty: int = 0
    ) -> ActionResult:
        """Add a member to a queue."""
        ...

    async def queue_remove(self, queue: str, interface: str) -> ActionResult:
        """Remove a member from a queue."""
        ...

    async def mixmonitor(self, channel: str, file: str, options: str = "b") -> ActionResult:
        """Start recording a channel."""
        ...

    async def stop_mixmonitor(self, channel: str) -> ActionResult:
        """Stop recording a channel."""
        ...

    async def mixmonitor_mute(
        self, channel: str, muted: bool, *, direction: str = "both"
    ) -> ActionResult:
        """Pause or resume a running recording."""
        ...

    async def atxfer(self, channel: str, context: str, exten: str) -> ActionResult:
        """Start an attended transfer."""
        ...

    async def setvar(self, channel: str, variable: str, value: str) -> ActionResult:
        """Set a channel variable."""
        ...

    async def play_dtmf(self, channel: str, digit: str, *, duration_ms: int = 0) -> ActionResult:
        """Play one DTMF digit on a channel."""
        ...

    async def user_event(self, name: str, headers: Mapping[str, str] | None = None) -> ActionResult:
        """Broadcast a UserEvent."""
        ...

    async def chanspy(
        self,
        supervisor_interface: str,
        spied_channel: str,
        mode: SpyMode,
        *,
        caller_id: str | None = None,
        timeout_s: float = 30.0,
        variables: Mapping[str, str] | None = None,
    ) -> ActionResult:
        """Ring the supervisor, then spy on a channel."""
        ...

    async def core_show_channels(self) -> tuple[ChannelInfo, ...]:
        """Every live channel, typed."""
        ...

    async def bridge_list(self, bridge_type: str | None = None) -> tuple[BridgeInfo, ...]:
        """Every bridge, typed."""
        ...

    async def queue_penalty(
        self, interface: str, penalty: int, *, queue: str | None = None
    ) -> ActionResult:
        """Change a member's penalty."""
        ...

    async def queue_summary(self, queue: str | None = None) -> tuple[QueueSummaryInfo, ...]:
        """Per-queue counters, typed."""
        ...

    async def start(self) -> None:
        """Start connecting in the background."""
        ...

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        ...


class LiveAgentDirectory(AgentDirectory):
    """An agent directory that an administrator's change updates without a restart."""

    def replace(self, mapping: dict[str, str]) -> None:
        """Use ``mapping`` (interface → agent id) from now on."""
        self._by_interface = {k.lower(): v for k, v in mapping.items()}


class PbxRuntime:
    """Runs one PBX's event stream through the tracker; publishes and stores the results."""

    def __init__(
        self,
        name: str,
        gateway: RuntimeGateway,
        tracker: CallTracker,
        bus: EventBus,
        store: CallStore,
        *,
        directory: LiveAgentDirectory | None = None,
        clock: Callable[[], datetime] = utcnow,
        locations: DialplanLocations | None = None,
        wrap_up_s: float = 0.0,
    ) -> None:
        self.directory = directory  # the one the tracker was built with, when it can change
        self.mirror = CallMirror(name)
        self._mirrored = asyncio.Event()
        # A follower's seeding of the mirror (see run_mirror): its state, the events received
        # while a snapshot is on its way (None: none is), and the bus subscription's state.
        self.mirror_seed = MirrorSeed(state="waiting")
        self._seed_changed = asyncio.Event()
        self._seed_buffer: list[Event] | None = None
        self._seed_error: str | None = None  # the last failure's, until a success
        self._subscribed = False
        self._resubscribed = asyncio.Event()
        self.leadership: Leadership | None = None  # set by the wiring when processes elect
        # The way to the leader when it is another process (None: embedded, or no Redis).
        self.leader_link: LeaderLink | None = None
        self.locations = locations or DialplanLocations()
        self.wrap_up_s = wrap_up_s
        self.name = name
        self.gateway = gateway
        self.tracker = tracker
        self._bus = bus
        self.store = store
        self._clock = clock
        self._synced_session = 0
        # Finished calls stored off the event path, then published (telephony.call_writer).
        self.records = CallRecordWriter(name, store, bus)
        # ActionID -> the caller waiting for that Originate's OriginateResponse
        self._originates: dict[str, asyncio.Future[AmiMessage]] = {}
        # wrap-up: agents to pause now, and when each agent's wrap-up ends (loop time)
        self._wrap_start: list[str] = []
        self._wrap_deadlines: dict[str, float] = {}
        self._wrap_wake = asyncio.Event()

    def health(self) -> GatewayHealth:
        """The gateway's health."""
        return self.gateway.health()

    @property
    def synced_session(self) -> int:
        """The gateway sync epoch (connection or post-gap) the tracker was last rebuilt for."""
        return self._synced_session

    @property
    def is_leader(self) -> bool:
        """True if this process owns the PBX connection (always, without leader election)."""
        return self.leadership is None or self.leadership.is_leader

    def snapshot(self) -> TrackerSnapshot:
        """Calls and agents now: the tracker's in the leader, the bus mirror's in a follower."""
        if self.is_leader:
            return self.tracker.snapshot()
        return self.mirror.snapshot()

    async def wait_mirrored(self, check: Callable[[TrackerSnapshot], bool]) -> TrackerSnapshot:
        """Wait until the bus mirror shows what ``check`` wants; return that snapshot."""
        while not check(snapshot := self.mirror.snapshot()):
            self._mirrored.clear()
            await self._mirrored.wait()
        return snapshot

    async def wait_mirror_seed(self, check: Callable[[MirrorSeed], bool]) -> MirrorSeed:
        """Wait until the mirror's seeding is as ``check`` wants; return that state."""
        while not check(seed := self.mirror_seed):
            self._seed_changed.clear()
            await self._seed_changed.wait()
        return seed

    async def run_mirror(self) -> None:
        """Follow the bus into the mirror that followers answer from (supervised task).

        With other processes (``leader_link`` and ``leadership`` set by the wiring), the mirror
        is also seeded with the leader's snapshot: when this process starts, whenever the leader
        changes and after the bus lost events (:class:`SubscriptionGap`); without that, a
        follower would show an idle agent as logged out, and miss a quiet call, until their next
        event. The bus is subscribed to first: the events that arrive while the snapshot is on
        its way are applied as usual (what is shown never waits for the leader) and kept, and
        the snapshot, once here, replaces the mirror's view followed by those of them it does
        not include (:meth:`CallMirror.load`). A leader that cannot answer (none elected, gone,
        not yet connected to the PBX) leaves the mirror as it is; the request is made again
        when the leader changes, or after a back-off (see ``SEED_RETRY_S``). Nothing here
        holds up a request to the API: it reads the mirror as it is.
        """
        link, leadership = self.leader_link, self.leadership
        if link is None or leadership is None:
            await self._follow_bus()
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._follow_bus(), name=f"pbx:{self.name}:mirror-bus")
            tasks.create_task(
                self._seed_mirror(link, leadership), name=f"pbx:{self.name}:mirror-seed"
            )

    async def _follow_bus(self) -> None:
        """Apply every event of the bus to the mirror; keep them while a snapshot is asked."""
        while True:
            try:
                async with self._bus.subscribe(TelephonyEvent, maxsize=10_000) as sub:
                    self._subscribed = True
                    self._resubscribed.set()
                    while True:
                        event = await sub.get()
                        self.mirror.apply(event)
                        kept = self._seed_buffer
                        if kept is not None:
                            if len(kept) < SEED_BUFFER_MAX:
                                kept.append(event)
                            else:
                                # Given up: the snapshot being asked is not loaded (see
                                # _seed_from), and asked again after the back-off.
                                log.warning(
                                    "PBX %s: %d events while the leader's snapshot was on its "
                                    "way; asking again later",
                                    self.name,
                                    len(kept),
                                )
                                self._seed_buffer = None
                        self._mirrored.set()
            except SubscriptionGap:
                # Events were lost: a snapshot on its way cannot be completed with those kept;
                # a new one is asked once subscribed again.
                self._seed_buffer = None
                log.warning(
                    "PBX %s: bus mirror missed events; asking the leader for its state", self.name
                )
            finally:
                self._subscribed = False

    async def _seed_mirror(self, link: LeaderLink, leadership: Leadership) -> None:
        """Ask the leader for its snapshot whenever the mirror needs one (see run_mirror)."""
        loop = asyncio.get_running_loop()
        seen: str | None = None  # the leader last seen
        needed = True  # the mirror needs a snapshot
        retry_at = 0.0  # loop time of the next ask, after a failed one
        delay = SEED_RETRY_S
        while True:
            leader = leadership.leader
            if leader != seen:
                seen, needed, retry_at, delay = leader, True, 0.0, SEED_RETRY_S
            if self._resubscribed.is_set():
                self._resubscribed.clear()
                needed, retry_at = True, 0.0
            now = loop.time()
            can_ask = self._subscribed and leader is not None and not self.is_leader
            if needed and can_ask and now >= retry_at:
                outcome = await self._seed_from(link, leader)
                if outcome == "seeded":
                    needed, delay = False, SEED_RETRY_S
                elif outcome == "no_answer":
                    retry_at = loop.time() + SEED_RETRY_MAX_S
                else:
                    retry_at = loop.time() + delay
                    delay = min(delay * 2, SEED_RETRY_MAX_S)
                continue
            seed = self.mirror_seed
            if needed and not can_ask and (seed.state, seed.leader) != ("waiting", leader):
                self._set_seed(MirrorSeed(state="waiting", leader=leader, at=self._clock()))
            wait_s = LEADER_POLL_S
            if needed and retry_at > now:
                wait_s = min(wait_s, retry_at - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._resubscribed.wait()

    async def _seed_from(
        self, link: LeaderLink, leader: str | None
    ) -> Literal["seeded", "no_answer", "failed"]:
        """Ask the leader for its snapshot and load it with the events received meanwhile."""
        kept: list[Event] = []
        self._seed_buffer = kept
        self._set_seed(MirrorSeed(state="asking", leader=leader, at=self._clock()))
        try:
            snapshot = await link.snapshot()
        except AmiTimeout as err:
            self._seed_failed(leader, f"{err.code}: {err.message}")
            return "no_answer"
        except CallboardError as err:
            self._seed_failed(leader, f"{err.code}: {err.message}")
            return "failed"
        finally:
            complete = self._seed_buffer is kept
            self._seed_buffer = None
        if not complete:
            self._seed_failed(leader, "events were lost while the snapshot was on its way")
            return "failed"
        applied = self.mirror.load(snapshot, kept)
        self._seed_error = None
        self._mirrored.set()
        detail = f"calls in progress: {len(snapshot.calls)}, agents: {len(snapshot.agents)}"
        self._set_seed(MirrorSeed(state="seeded", leader=leader, detail=detail, at=self._clock()))
        log.info(
            "PBX %s: mirror seeded from the leader %s: %s (then %d of %d events received "
            "meanwhile)",
            self.name,
            leader,
            detail,
            applied,
            len(kept),
        )
        return "seeded"

    def _seed_failed(self, leader: str | None, detail: str) -> None:
        # Said once per reason (the ask is repeated with back-off): the rest at debug level.
        again, self._seed_error = self._seed_error == detail, detail
        self._set_seed(MirrorSeed(state="failed", leader=leader, detail=detail, at=self._clock()))
        log.log(
            logging.DEBUG if again else logging.WARNING,
            "PBX %s: the leader's snapshot could not be had (%s); the live view stays as it is "
            "until it can",
            self.name,
            detail,
        )

    def _set_seed(self, seed: MirrorSeed) -> None:
        self.mirror_seed = seed
        self._seed_changed.set()

    async def _emit(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, AgentStateChanged):
                self._wrap_up_follow(event)
            if not self.records.take(event):
                await self._bus.publish(event)

    # -- call records ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until every call queued so far has been through one store attempt."""
        await self.records.flush()

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """On stop: store what is queued, retry what failed once more, then stop the writer."""
        await self.records.drain(timeout_s)

    # -- wrap-up ----------------------------------------------------------------------------

    def _wrap_up_follow(self, event: AgentStateChanged) -> None:
        """Start wrap-up when an agent's call ends; time it while the agent is in wrap-up."""
        agent = event.agent_id
        if event.state is AgentState.WRAP_UP:
            if self.wrap_up_s > 0 and agent not in self._wrap_deadlines:
                loop = asyncio.get_running_loop()
                self._wrap_deadlines[agent] = loop.time() + self.wrap_up_s
                self._wrap_wake.set()
            return
        self._wrap_deadlines.pop(agent, None)
        if (
            self.wrap_up_s > 0
            and event.previous is AgentState.ON_CALL
            and event.state is AgentState.READY
        ):
            self._wrap_start.append(agent)
            self._wrap_wake.set()

    async def run_wrap_up(self) -> None:
        """Pause agents for wrap-up after their calls and unpause them when it is over."""
        loop = asyncio.get_running_loop()
        while True:
            starting, self._wrap_start = self._wrap_start, []
            for agent in starting:
                await self._wrap_up_pause(agent, True)
            now = loop.time()
            for agent in [a for a, due in self._wrap_deadlines.items() if due <= now]:
                del self._wrap_deadlines[agent]
                await self._wrap_up_pause(agent, False)
            self._wrap_wake.clear()
            if self._wrap_start:
                continue
            delay = min(self._wrap_deadlines.values(), default=now + 3600) - loop.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0)):
                    await self._wrap_wake.wait()

    async def _wrap_up_pause(self, agent: str, paused: bool) -> None:
        """QueuePause the agent's phone on this PBX for wrap-up (or end it)."""
        try:
            phones = await self.store.agent_interfaces(self.name)
            for interface in (i for i, uid in phones.items() if uid == agent):
                reason = WRAP_UP_REASON if paused else ""
                await self.gateway.queue_pause(interface, paused, reason=reason)
                log.info("agent %s: wrap-up %s on %s", agent, "on" if paused else "off", self.name)
        except TelephonyError as err:
            # e.g. the agent logged out meanwhile (Interface not found): nothing to wrap up.
            log.info("agent %s: wrap-up %s not applied on %s: %s", agent, paused, self.name, err)
        except Exception:
            log.exception("agent %s: wrap-up on %s failed", agent, self.name)

    async def run_events(self) -> None:
        """Consume the gateway's events forever (supervised task); drain the records on stop."""
        apply = self.tracker.apply
        try:
            async for batch in self.gateway.batches():
                if batch.session > self._synced_session:
                    await self.resync()
                at = batch.received_at
                for message in batch.messages:
                    if message.event == "OriginateResponse":
                        self._answer_originate(message)
                    events = apply(message, at)
                    if events:  # most AMI events change nothing the platform shows
                        await self._emit(events)
        except asyncio.CancelledError:
            await self.drain()
            raise

    def _answer_originate(self, msg: AmiMessage) -> None:
        waiter = self._originates.get(msg.get("ActionID") or "")
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    async def originate_and_wait(
        self, spec: OriginateSpec, wait_s: float, *, forward: bool = True
    ) -> AmiMessage:
        """Originate and wait for its OriginateResponse (Success once the first party answered).

        In a follower the leader does both (the response arrives on its event stream);
        ``forward=False`` is the leader carrying out such a request: never passed on again.
        """
        if forward and not self.is_leader and self.leader_link is not None:
            return await self.leader_link.originate_and_wait(spec, wait_s)
        action_id = spec.action_id or f"cb-{secrets.token_hex(8)}"
        waiter: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._originates[action_id] = waiter
        try:
            await self.gateway.originate(dataclasses.replace(spec, action_id=action_id))
            async with asyncio.timeout(wait_s):
                return await waiter
        finally:
            self._originates.pop(action_id, None)

    async def run_resyncs(self) -> None:
        """Resynchronise after every (re)connect, even on an idle PBX (supervised task)."""
        while True:
            health = await self.gateway.wait_status(GatewayStatus.CONNECTED)
            if health.sessions > self._synced_session:
                await self.resync()
            await self.gateway.next_change()

    async def run_retries(self) -> None:
        """Store the call records that failed to store (supervised task); drain them on stop."""
        try:
            while True:
                await asyncio.sleep(RETRY_INTERVAL)
                await self.records.retry()
        except asyncio.CancelledError:
            # Stopped after the event loop task: anything a last resync queued is stored too.
            await self.drain()
            raise

    async def resync(self) -> None:
        """Rebuild the tracker from the PBX and close calls that ended while we were away."""
        session = self.gateway.health().sessions
        if session <= self._synced_session:
            return
        self._synced_session = session
        # Calls that start while Status is in flight are missing from its answer but are not
        # stale: only calls already open now can have ended while we were away.
        open_before = set(self.tracker.open_calls())
        try:
            channels = await self.gateway.status()
            members = await self.gateway.queue_status()
        except TelephonyError as err:
            log.warning("resync of %s failed (%s); retrying on the next connect", self.name, err)
            self._synced_session = session - 1
            return
        at = self._clock()
        events: list[Event] = []
        live: set[str] = set()
        for msg in (*channels, *members):
            linked = msg.get("Linkedid")
            if msg.event in ("CoreShowChannel", "Status") and linked:
                live.add(linked)
            events.extend(self.tracker.apply(msg, at))
        started_meanwhile = set(self.tracker.open_calls()) - open_before
        events.extend(self.tracker.close_stale(live | started_meanwhile, at))
        log.info("resynced %s: %d live calls, %d events", self.name, len(live), len(events))
        await self._emit(events)

    async def reload_agents(self) -> None:
        """Reload the agents' phone interfaces from the database."""
        if self.directory is not None:
            self.directory.replace(await self.store.agent_interfaces(self.name))

    async def queues(self) -> list[dict[str, Any]]:
        """Live queue state from QueueStatus (params, members, callers waiting)."""
        return queue_summary(await self.gateway.queue_status())


def queue_summary(messages: tuple[AmiMessage, ...]) -> list[dict[str, Any]]:
    """Turn QueueParams/QueueMember/QueueEntry events into one object per queue."""
    queues: dict[str, dict[str, Any]] = {}

    def queue(name: str) -> dict[str, Any]:
        return queues.setdefault(
            name,
            {
                "name": name,
                "strategy": None,
                "calls_waiting": 0,
                "completed": 0,
                "abandoned": 0,
                "service_level": None,
                "members": [],
                "callers": [],
            },
        )

    for msg in messages:
        name = msg.get("Queue")
        if not name:
            continue
        q = queue(name)
        if msg.event == "QueueParams":
            q["strategy"] = msg.get("Strategy")
            q["calls_waiting"] = int(msg.get("Calls") or 0)
            q["completed"] = int(msg.get("Completed") or 0)
            q["abandoned"] = int(msg.get("Abandoned") or 0)
            q["service_level"] = msg.get("ServicelevelPerf")
        elif msg.event == "QueueMember":
            q["members"].append(
                {
                    "interface": msg.get("StateInterface") or msg.get("Location"),
                    "name": msg.get("Name"),
                    "paused": msg.get("Paused") == "1",
                    "paused_reason": msg.get("PausedReason") or None,
                    "in_call": msg.get("InCall") == "1",
                    "calls_taken": int(msg.get("CallsTaken") or 0),
                    "penalty": int(msg.get("Penalty") or 0),
                }
            )
        elif msg.event == "QueueEntry":
            q["callers"].append(
                {
                    "position": int(msg.get("Position") or 0),
                    "caller_id": msg.get("CallerIDNum"),
                    "wait_s": int(msg.get("Wait") or 0),
                    "call_id": msg.get("Linkedid") or msg.get("Uniqueid"),
                }
            )
    return sorted(queues.values(), key=lambda q: q["name"])
