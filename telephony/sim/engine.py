"""The simulated PBX core: channels, Local channel pairs, bridges, the clock and event output.

Every party is a Local channel pair, as in the recorded reference PBX: the ``;1`` half (outer)
faces whoever dialled it, the ``;2`` half (inner) runs the dialplan of the called extension.
Hang-ups follow the three shapes the recordings show (see :meth:`LocalPair.inner_hangup`,
:meth:`LocalPair.outer_own_end` and :meth:`LocalPair.outer_killed`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telephony.protocol import AmiMessage

__all__ = ["Bridge", "Chan", "LocalPair", "Pbx", "Progress"]

logger = logging.getLogger(__name__)

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
UNKNOWN = "<unknown>"

Listener = Callable[[AmiMessage, str], None]


@dataclass
class Progress:
    """What happened on the called side of a Local pair, for whoever dialled it."""

    kind: str  # ringing / answer / busy / congestion / hangup
    cause: int = 0


@dataclass(eq=False)
class Chan:
    """One channel."""

    pbx: Pbx
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    cid_num: str = UNKNOWN
    cid_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    priority: int = 1
    account: str = ""
    pair: LocalPair | None = None
    bridge: Bridge | None = None
    cause: int | None = None
    gone: bool = False
    dialed: bool = False  # driven by a Dial/Queue in another channel (no dialplan of its own)
    own_pbx: bool = False  # an outer half that runs dialplan of its own
    variables: dict[str, str] = field(default_factory=dict)
    app: str = ""
    app_data: str = ""
    started: float = field(default_factory=time.monotonic)
    on_killed: Callable[[], None] | None = None
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    recording: bool = False  # a MixMonitor runs on this channel
    on_gone: list[Callable[[], None]] = field(default_factory=list)
    xfer: AttendedXfer | None = None  # an attended transfer this channel started (Atxfer)

    def block(self, prefix: str = "") -> list[tuple[str, str]]:
        """Return the standard channel headers, optionally prefixed (``Dest``)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", _STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.cid_num),
            (f"{prefix}CallerIDName", self.cid_name),
            (f"{prefix}ConnectedLineNum", self.conn_num),
            (f"{prefix}ConnectedLineName", self.conn_name),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", self.account),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def emit(self, event: str, *extra: tuple[str, str], privilege: str = "call,all") -> None:
        """Emit an event about this channel."""
        self.pbx.emit(event, [*self.block(), *extra], privilege)

    def set_state(self, state: int) -> None:
        """Change the channel state and emit Newstate."""
        if self.state != state and not self.gone:
            self.state = state
            self.emit("Newstate")

    def set_var(self, name: str, value: str) -> None:
        """Set a channel variable and emit VarSet."""
        self.variables[name] = value
        self.emit("VarSet", ("Variable", name), ("Value", value), privilege="dialplan,all")

    def hangup_event(self, cause: int) -> None:
        """Emit the final Hangup and forget the channel."""
        if self.gone:
            return
        if self.bridge is not None:
            self.bridge.leave(self)
        self.emit("Hangup", ("Cause", str(cause)), ("Cause-txt", cause_text(cause)))
        self.gone = True
        self.pbx.channels.pop(self.name, None)
        for callback in self.on_gone:
            callback()


_CAUSES = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
}


def cause_text(cause: int) -> str:
    """Return Asterisk's text for a Q.850 cause."""
    return _CAUSES.get(cause, "Unknown")


@dataclass(eq=False)
class AttendedXfer:
    """An attended transfer in progress: the transferer consults the target in ``consult``."""

    transferer: Chan
    transferee: Chan
    original: Bridge
    target: Chan | None = None
    consult: Bridge | None = None


class Bridge:
    """A basic two-party bridge."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.id = str(uuid.UUID(int=pbx.rng_bits()))
        self.members: list[Chan] = []
        self.on_leave: list[Callable[[Chan], None]] = []
        self._headers = [
            ("BridgeUniqueid", self.id),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", UNKNOWN),
            ("BridgeName", UNKNOWN),
        ]
        pbx.bridges[self.id] = self
        pbx.emit("BridgeCreate", self._block(), "call,all")

    def block(self, prefix: str = "") -> list[tuple[str, str]]:
        """Return the bridge headers, optionally prefixed (``OrigBridge``...)."""
        return [(prefix + k.removeprefix("Bridge"), v) for k, v in self._block()]

    def _block(self) -> list[tuple[str, str]]:
        return [
            *self._headers,
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]

    def enter(self, chan: Chan) -> None:
        """Put a channel in the bridge."""
        self.members.append(chan)
        chan.bridge = self
        self.pbx.emit("BridgeEnter", [*self._block(), *chan.block()], "call,all")

    def leave(self, chan: Chan) -> None:
        """Take a channel out of the bridge; the others are told."""
        if chan not in self.members:
            return
        self.members.remove(chan)
        chan.bridge = None
        self.pbx.emit("BridgeLeave", [*self._block(), *chan.block()], "call,all")
        for callback in list(self.on_leave):
            callback(chan)
        if not self.members:
            self.pbx.bridges.pop(self.id, None)
            self.pbx.emit("BridgeDestroy", self._block(), "call,all")

    def peer_of(self, chan: Chan) -> Chan | None:
        """Return the other member."""
        others = [c for c in self.members if c is not chan]
        return others[0] if others else None


class LocalPair:
    """Both halves of a Local channel: ``outer`` (;1) and ``inner`` (;2)."""

    def __init__(self, outer: Chan, inner: Chan) -> None:
        self.outer = outer
        self.inner = inner
        self.pbx = outer.pbx
        outer.pair = inner.pair = self
        self.progress: asyncio.Queue[Progress] = asyncio.Queue()
        self.answered = False
        self.inner_ended_itself = False

    @property
    def base(self) -> str:
        """Return the name without the ;1/;2 suffix."""
        return self.outer.name[:-2]

    def ringing(self) -> None:
        """The called side rings: the outer half shows Ringing."""
        self.outer.set_state(5)
        self.progress.put_nowait(Progress("ringing"))

    def answer(self) -> None:
        """The called side answers: both halves go Up."""
        if self.answered:
            return
        self.answered = True
        self.inner.set_state(6)
        self.outer.set_state(6)
        self.progress.put_nowait(Progress("answer"))

    def refuse(self, kind: str, cause: int) -> None:
        """The called side is busy or congested."""
        self.inner.cause = cause
        self.inner.set_state(7)
        self.progress.put_nowait(Progress(kind, cause))

    def inner_hangup(self, cause: int) -> None:
        """The inner half's dialplan hangs up (shape a)."""
        inner, outer = self.inner, self.outer
        if inner.gone:
            return
        self.inner_ended_itself = True
        if inner.bridge is not None:
            inner.bridge.leave(inner)
        inner.emit("SoftHangupRequest", ("Cause", "16"))
        if not outer.gone:
            outer.emit("HangupRequest", ("Cause", str(cause)))
        inner.hangup_event(cause)
        self.progress.put_nowait(Progress("hangup", cause))
        # A Local channel's halves live and die together.
        if not outer.gone and outer.own_pbx:
            outer.emit("SoftHangupRequest", ("Cause", "16"))
        outer.hangup_event(cause)
        self.pbx.cancel_tasks(self)

    def outer_own_end(self, cause: int = 16) -> None:
        """The outer half's own dialplan ends (shape b)."""
        inner, outer = self.inner, self.outer
        if outer.gone:
            return
        if outer.bridge is not None:
            outer.bridge.leave(outer)
        outer.emit("SoftHangupRequest", ("Cause", "16"))
        if not inner.gone:
            inner.emit("HangupRequest", ("Cause", str(cause)))
        outer.hangup_event(cause)
        if not inner.gone:
            inner.emit("SoftHangupRequest", ("Cause", "16"))
            inner.hangup_event(cause)
        self.pbx.cancel_tasks(self)

    def outer_killed(self, cause: int) -> None:
        """The outer half is hung up from outside (shape c): by Dial, Queue, AMI or a timeout."""
        inner, outer = self.inner, self.outer
        if outer.gone:
            return
        outer.hangup_event(cause)
        if inner.gone:
            return
        inner.emit("HangupRequest", ("Cause", str(cause)))
        bridged = inner.bridge is not None
        if inner.bridge is not None:
            inner.bridge.leave(inner)
        if inner.on_killed is not None:
            inner.on_killed()
        inner.emit("SoftHangupRequest", ("Cause", "16"))
        final = inner.cause if inner.cause is not None else (16 if bridged else cause)
        inner.hangup_event(final)
        self.pbx.cancel_tasks(self)


class Pbx:
    """The simulated PBX: owns channels, the clock and the event listeners."""

    def __init__(self, *, speed: float = 1.0, epoch: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.channels: dict[str, Chan] = {}
        self.bridges: dict[str, Bridge] = {}
        self.listeners: list[Listener] = []
        self._local_seq = itertools.count(1)
        self._epoch = epoch if epoch is not None else int(time.time())
        self._uid_seq = itertools.count(0)
        self._tasks: dict[asyncio.Task[Any], object] = {}
        self._bits = itertools.count(0x1000)
        self.started = time.time()
        self.calls_processed = 0

    def rng_bits(self) -> int:
        """Return a fresh number for ids (deterministic, no randomness needed)."""
        return next(self._bits) * 0x9E3779B97F4A7C15 % (1 << 128)

    def emit(self, event: str, headers: list[tuple[str, str]], privilege: str) -> None:
        """Send an event to every listener (sessions filter by class)."""
        msg = AmiMessage((("Event", event), ("Privilege", privilege), *headers))
        for listener in list(self.listeners):
            listener(msg, privilege.split(",")[0])

    async def sleep(self, seconds: float) -> None:
        """Sleep simulated seconds."""
        await asyncio.sleep(seconds / self.speed)

    def spawn(self, coro: Coroutine[Any, Any, None], owner: object = None) -> asyncio.Task[None]:
        """Run a dialplan coroutine as a tracked task."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[task] = owner
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("simulated dialplan failed", exc_info=task.exception())

    def cancel_tasks(self, pair: LocalPair) -> None:
        """Cancel the dialplan tasks of both halves of a Local pair."""
        self._cancel({pair, pair.outer, pair.inner})

    def cancel_owned(self, chan: Chan) -> None:
        """Cancel the dialplan task of one channel (before a Redirect)."""
        self._cancel({chan})

    def _cancel(self, owners: set[object]) -> None:
        current = asyncio.current_task()
        for task, who in list(self._tasks.items()):
            if who in owners and task is not current:
                task.cancel()

    async def close(self) -> None:
        """Cancel every running dialplan and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def new_uniqueid(self) -> str:
        """Return a new Uniqueid in Asterisk's ``epoch.seq`` form."""
        return f"{self._epoch}.{next(self._uid_seq)}"

    def new_local(self, exten: str, context: str, linkedid: str | None = None) -> LocalPair:
        """Create a Local channel pair and emit its two Newchannel events."""
        base = f"Local/{exten}@{context}-{next(self._local_seq):08x}"
        uid1 = self.new_uniqueid()
        uid2 = self.new_uniqueid()
        link = linkedid or uid1
        outer = Chan(self, base + ";1", uid1, link, context, exten, state=0)
        inner = Chan(self, base + ";2", uid2, link, context, exten, state=4)
        self.channels[outer.name] = outer
        self.channels[inner.name] = inner
        pair = LocalPair(outer, inner)
        outer.emit("Newchannel")
        inner.emit("Newchannel")
        self.calls_processed += 1
        return pair
