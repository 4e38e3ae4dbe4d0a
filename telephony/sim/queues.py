"""Simulated app_queue: queues, members, the Queue() application and its AMI events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telephony.sim.dialplan import Dialplan, Leg
from telephony.sim.engine import Chan, LocalPair, Pbx, Progress
from telephony.sim.queue_model import Member, SimQueue, default_queues

__all__ = ["Member", "QueueSet", "SimQueue"]

logger = logging.getLogger(__name__)


class QueueSet:
    """All queues and the Queue() application."""

    def __init__(self, pbx: Pbx, dialplan: Dialplan) -> None:
        self.pbx = pbx
        self.dialplan = dialplan
        self.queues = default_queues()
        dialplan.queue_app = self.run

    def member_event(self, event: str, queue: SimQueue, member: Member) -> None:
        """Emit a QueueMember* event."""
        self.pbx.emit(event, member.headers(queue.name), "agent,all")

    async def run(self, leg: Leg, name: str, timeout_s: float) -> None:
        """Run Queue(name) on a channel until the caller leaves the queue or the call ends."""
        queue = self.queues.get(name)
        chan = leg.chan
        if queue is None:
            return
        queue.callers.append(chan)
        position = len(queue.callers)
        joined = asyncio.get_running_loop().time()
        chan.emit(
            "QueueCallerJoin",
            ("Queue", name),
            ("Position", str(position)),
            ("Count", str(len(queue.callers))),
        )
        chan.emit("MusicOnHoldStart", ("Class", "default"))

        def waited() -> int:
            return int((asyncio.get_running_loop().time() - joined) * self.pbx.speed)

        def abandon() -> None:
            pos = queue.callers.index(chan) + 1 if chan in queue.callers else 1
            chan.emit(
                "QueueCallerAbandon",
                ("Queue", name),
                ("Position", str(pos)),
                ("OriginalPosition", str(position)),
                ("HoldTime", str(waited())),
            )
            self._leave(queue, chan, pos)
            queue.abandoned += 1

        chan.on_killed = abandon
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s / self.pbx.speed
        try:
            while loop.time() < deadline and not chan.gone:
                members = queue.pick()
                if not members:
                    await self.pbx.sleep(1)
                    continue
                connected = await self._ring(leg, queue, members, waited, deadline)
                if connected:
                    return
                await self.pbx.sleep(queue.retry)
            if not chan.gone:
                chan.emit("MusicOnHoldStop", ("Class", "default"))
                self._leave(queue, chan, queue.callers.index(chan) + 1)
        finally:
            chan.on_killed = None
            if chan in queue.callers:
                queue.callers.remove(chan)

    def _leave(self, queue: SimQueue, chan: Chan, position: int) -> None:
        if chan in queue.callers:
            queue.callers.remove(chan)
        chan.emit(
            "QueueCallerLeave",
            ("Queue", queue.name),
            ("Position", str(position)),
            ("Count", str(len(queue.callers))),
        )

    async def _ring(
        self,
        leg: Leg,
        queue: SimQueue,
        members: list[Member],
        waited: object,
        deadline: float,
    ) -> bool:
        chan = leg.chan
        rung: dict[LocalPair, Member] = {}
        for member in members:
            exten, _, context = member.interface.partition("/")[2].partition("@")
            pair = self.pbx.new_local(exten, context, linkedid=chan.linkedid)
            outer, inner = pair.outer, pair.inner
            outer.dialed = True
            # As Asterisk does: the ;1 half shows the caller's connected line as its caller id.
            outer.cid_num, outer.cid_name = chan.conn_num, chan.conn_name
            outer.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
            inner.cid_num, inner.cid_name = chan.cid_num, chan.cid_name
            inner.conn_num, inner.conn_name = chan.conn_num, chan.conn_name
            inner.emit("NewCallerid", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
            member_info = [
                ("Queue", queue.name),
                ("Interface", member.interface),
                ("MemberName", member.name),
            ]
            dest_before = outer.block("Dest")
            outer.conn_num, outer.conn_name = chan.cid_num, chan.cid_name
            outer.exten = chan.exten
            self.pbx.emit(
                "AgentCalled", [*chan.block(), *outer.block("Dest"), *member_info], "agent,all"
            )
            self.pbx.emit(
                "DialBegin",
                [*chan.block(), *dest_before, ("DialString", f"{exten}@{context}")],
                "call,all",
            )
            member.ringing = True
            rung[pair] = member
            self.dialplan.start_inner(pair)
        loop = asyncio.get_running_loop()
        ring_deadline = min(deadline, loop.time() + queue.timeout / self.pbx.speed)
        started = loop.time()
        winner: LocalPair | None = None
        try:
            winner = await self._first_answer(chan, rung, ring_deadline)
        finally:
            for pair, member in rung.items():
                member.ringing = False
                if pair is winner:
                    continue
                if not pair.outer.gone:
                    if winner is not None:
                        for _ in range(2):  # Asterisk reports the cancelled leg twice (04e)
                            self._dial_end(chan, pair, "CANCEL")
                        pair.outer_killed(26)
                    else:
                        self.pbx.emit(
                            "AgentRingNoAnswer",
                            [
                                *chan.block(),
                                *pair.outer.block("Dest"),
                                ("Queue", queue.name),
                                ("Interface", member.interface),
                                ("MemberName", member.name),
                                ("RingTime", str(int((loop.time() - started) * self.pbx.speed))),
                            ],
                            "agent,all",
                        )
                        self._dial_end(chan, pair, "NOANSWER")
                        pair.outer_killed(0)
        if winner is None:
            return False
        member = rung[winner]
        await self._connect(leg, queue, winner, member, started)
        return True

    async def _first_answer(
        self, chan: Chan, rung: dict[LocalPair, Member], deadline: float
    ) -> LocalPair | None:
        loop = asyncio.get_running_loop()
        waiting = dict(rung)
        getters: dict[asyncio.Task[Progress], LocalPair] = {}
        try:
            while waiting and not chan.gone:
                for pair in waiting:
                    if pair not in getters.values():
                        getters[asyncio.ensure_future(pair.progress.get())] = pair
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                done, _ = await asyncio.wait(
                    getters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    return None
                for task in done:
                    pair = getters.pop(task)
                    progress = task.result()
                    if progress.kind == "ringing":
                        self.pbx.emit(
                            "DialState",
                            [*chan.block(), *pair.outer.block("Dest"), ("DialStatus", "RINGING")],
                            "call,all",
                        )
                    elif progress.kind == "answer":
                        self._dial_end(chan, pair, "ANSWER")
                        return pair
                    else:
                        self._dial_end(chan, pair, "BUSY")
                        waiting.pop(pair, None)
                        rung[pair].ringing = False
                        pair.outer_killed(0)
            return None
        finally:
            for task in getters:
                task.cancel()

    def _dial_end(self, chan: Chan, pair: LocalPair, status: str) -> None:
        self.pbx.emit(
            "DialEnd",
            [*chan.block(), *pair.outer.block("Dest"), ("DialStatus", status)],
            "call,all",
        )

    async def _connect(
        self, leg: Leg, queue: SimQueue, pair: LocalPair, member: Member, started: float
    ) -> None:
        chan = leg.chan
        agent = pair.outer
        loop = asyncio.get_running_loop()
        hold = int((loop.time() - started) * self.pbx.speed)
        chan.emit("MusicOnHoldStop", ("Class", "default"))
        position = queue.callers.index(chan) + 1 if chan in queue.callers else 1
        self._leave(queue, chan, position)
        chan.on_killed = None
        info = [("Queue", queue.name), ("Interface", member.interface), ("MemberName", member.name)]
        self.pbx.emit(
            "AgentConnect",
            [*chan.block(), *agent.block("Dest"), *info, ("HoldTime", str(hold)),
             ("RingTime", "0")],
            "agent,all",
        )  # fmt: skip
        member.in_call = True
        connected_at = loop.time()

        def talk() -> str:
            return str(int((loop.time() - connected_at) * self.pbx.speed))

        try:
            await self.dialplan.bridge_until_split(chan, agent, on_split=self._agent_first(
                chan, agent, pair, info, hold, talk))  # fmt: skip
        finally:
            member.in_call = False
            member.calls_taken += 1
            member.last_call = int(time.time())
            queue.completed += 1
            if not agent.gone:
                # The caller went away: the queue hangs up the agent's leg.
                if agent.bridge is not None:
                    agent.bridge.leave(agent)
                self._complete_without_channel(agent, info, hold, talk())
                pair.outer_killed(16)
        if not pair.inner_ended_itself:
            # The agent's leg was hung up from outside: Asterisk then reports the caller as the
            # one who completed the call, after the caller's channel is gone and without any
            # channel fields at all (04c).
            leg.hangup(16)
            self._complete_without_channel(None, info, hold, talk())

    def _agent_first(
        self,
        chan: Chan,
        agent: Chan,
        pair: LocalPair,
        info: list[tuple[str, str]],
        hold: int,
        talk: Callable[[], str],
    ) -> Callable[[Chan], None]:
        def on_split(left: Chan) -> None:
            if left is agent and pair.inner_ended_itself:
                self.pbx.emit(
                    "AgentComplete",
                    [*chan.block(), *agent.block("Dest"), *info, ("HoldTime", str(hold)),
                     ("TalkTime", talk()), ("Reason", "agent")],
                    "agent,all",
                )  # fmt: skip

        return on_split

    def _complete_without_channel(
        self, agent: Chan | None, info: list[tuple[str, str]], hold: int, talk: str
    ) -> None:
        dest = agent.block("Dest") if agent is not None else []
        self.pbx.emit(
            "AgentComplete",
            [*dest, *info, ("HoldTime", str(hold)), ("TalkTime", talk),
             ("Reason", "caller")],
            "agent,all",
        )  # fmt: skip
