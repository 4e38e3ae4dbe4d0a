"""Simulated AMI actions about queues and channel listings (QueueAdd ... CoreShowChannels)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from telephony.protocol import AmiMessage
from telephony.sim.engine import Chan, Pbx
from telephony.sim.queue_model import Member, SimQueue
from telephony.sim.queues import QueueSet
from telephony.sim.replies import TRUE, Send, complete, list_event, response

__all__ = ["ListingActions"]


class ListingActions:
    """Queue membership actions, queue and channel listings."""

    def __init__(self, pbx: Pbx, queues: QueueSet) -> None:
        self.pbx = pbx
        self.queues = queues

    def handlers(self) -> dict[str, Callable[[AmiMessage, Send], Awaitable[None]]]:
        """Return the action handlers by lower-case action name."""
        return {
            "queueadd": self.queue_add,
            "queueremove": self.queue_remove,
            "queuepause": self.queue_pause,
            "queuepenalty": self.queue_penalty,
            "queuestatus": self.queue_status,
            "queuesummary": self.queue_summary,
            "queuelog": self.queue_log,
            "queuememberringinuse": self.queue_ringinuse,
            "queuerule": self.queue_rule,
            "status": self.status,
            "coreshowchannels": self.core_show_channels,
        }

    # -- queues ---------------------------------------------------------------------------------

    def _queue(self, action: AmiMessage) -> SimQueue | None:
        return self.queues.queues.get(action.get("Queue") or "")

    async def queue_add(self, action: AmiMessage, send: Send) -> None:
        """QueueAdd."""
        queue = self._queue(action)
        interface = action.get("Interface") or ""
        if queue is None:
            message = "Unable to add interface to queue: No such queue"
            send(response("Error", action.action_id, Message=message))
            return
        if queue.member(interface) is not None:
            send(
                response(
                    "Error", action.action_id, Message="Unable to add interface: Already there"
                )
            )
            return
        penalty = action.get("Penalty") or "0"
        member = Member(
            interface,
            action.get("MemberName") or interface,
            penalty=int(penalty) if penalty.isdigit() else 0,
            paused=(action.get("Paused") or "").lower() in TRUE,
            dynamic=True,
        )
        queue.members.append(member)
        send(response("Success", action.action_id, Message="Added interface to queue"))
        self.queues.member_event("QueueMemberAdded", queue, member)

    async def queue_remove(self, action: AmiMessage, send: Send) -> None:
        """QueueRemove."""
        queue = self._queue(action)
        if queue is None:
            message = "Unable to remove interface from queue: No such queue"
            send(response("Error", action.action_id, Message=message))
            return
        member = queue.member(action.get("Interface") or "")
        if member is None:
            send(
                response("Error", action.action_id, Message="Unable to remove interface: Not there")
            )
            return
        queue.members.remove(member)
        send(response("Success", action.action_id, Message="Removed interface from queue"))
        self.queues.member_event("QueueMemberRemoved", queue, member)

    async def queue_pause(self, action: AmiMessage, send: Send) -> None:
        """QueuePause (one queue, or every queue the interface is in)."""
        interface = action.get("Interface") or ""
        paused = (action.get("Paused") or "true").lower() in TRUE
        name = action.get("Queue")
        targets = [
            (q, m)
            for q in self.queues.queues.values()
            if (name is None or q.name == name) and (m := q.member(interface)) is not None
        ]
        if not targets:
            send(response("Error", action.action_id, Message="Interface not found"))
            return
        word = "paused" if paused else "unpaused"
        send(response("Success", action.action_id, Message=f"Interface {word} successfully"))
        for queue, member in targets:
            member.paused = paused
            member.reason = (action.get("Reason") or "") if paused else ""
            member.last_pause = int(time.time())
            self.queues.member_event("QueueMemberPause", queue, member)

    async def queue_penalty(self, action: AmiMessage, send: Send) -> None:
        """QueuePenalty."""
        interface = action.get("Interface") or ""
        penalty = action.get("Penalty") or ""
        name = action.get("Queue")
        targets = [
            (q, m)
            for q in self.queues.queues.values()
            if (name is None or q.name == name) and (m := q.member(interface)) is not None
        ]
        if not targets or not penalty.isdigit():
            send(
                response(
                    "Error", action.action_id, Message="Invalid interface, queuename or penalty"
                )
            )
            return
        send(response("Success", action.action_id, Message="Interface penalty set successfully"))
        for queue, member in targets:
            member.penalty = int(penalty)
            self.queues.member_event("QueueMemberPenalty", queue, member)

    async def queue_ringinuse(self, action: AmiMessage, send: Send) -> None:
        """QueueMemberRingInUse."""
        interface = action.get("Interface") or ""
        name = action.get("Queue")
        targets = [
            (q, m)
            for q in self.queues.queues.values()
            if (name is None or q.name == name) and (m := q.member(interface)) is not None
        ]
        if not targets:
            send(response("Error", action.action_id, Message="Invalid interface or queuename"))
            return
        send(response("Success", action.action_id, Message="Interface ringinuse set successfully"))
        for queue, member in targets:
            member.ringinuse = (action.get("RingInUse") or "").lower() in TRUE
            self.queues.member_event("QueueMemberRinginuse", queue, member)

    async def queue_rule(self, action: AmiMessage, send: Send) -> None:
        """QueueRule (no rules are configured)."""
        send(response("Success", action.action_id))

    async def queue_log(self, action: AmiMessage, send: Send) -> None:
        """QueueLog."""
        send(response("Success", action.action_id, Message="Event added successfully"))

    async def queue_status(self, action: AmiMessage, send: Send) -> None:
        """QueueStatus: QueueParams, QueueMember and QueueEntry per queue."""
        aid = action.action_id
        name = action.get("Queue")
        send(response("Success", aid, EventList="start", Message="Queue status will follow"))
        items = 0
        now = asyncio.get_running_loop().time()
        for queue in self.queues.queues.values():
            if name and queue.name != name:
                continue
            send(
                list_event(
                    "QueueParams", aid,
                    ("Queue", queue.name), ("Max", "0"), ("Strategy", queue.strategy),
                    ("Calls", str(len(queue.callers))), ("Holdtime", "0"),
                    ("TalkTime", str(int(queue.talk_total))),
                    ("Completed", str(queue.completed)), ("Abandoned", str(queue.abandoned)),
                    ("ServiceLevel", "0"), ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"), ("Weight", "0"),
                )
            )  # fmt: skip
            items += 1
            member_filter = action.get("Member")
            for member in queue.members:
                if member_filter and member.interface.lower() != member_filter.lower():
                    continue
                headers = member.headers(queue.name)
                renamed = [
                    ("Name" if k == "MemberName" else "Location" if k == "Interface" else k, v)
                    for k, v in headers
                    if k != "Ringinuse"
                ]
                send(list_event("QueueMember", aid, *renamed))
                items += 1
            for position, chan in enumerate(queue.callers, 1):
                send(
                    list_event(
                        "QueueEntry", aid,
                        ("Queue", queue.name), ("Position", str(position)),
                        ("Channel", chan.name), ("Uniqueid", chan.uniqueid),
                        ("CallerIDNum", chan.cid_num), ("CallerIDName", chan.cid_name),
                        ("ConnectedLineNum", chan.conn_num),
                        ("ConnectedLineName", chan.conn_name),
                        ("Wait", str(int((now - chan.started) * self.pbx.speed))),
                        ("Priority", "0"),
                    )
                )  # fmt: skip
                items += 1
        send(complete("QueueStatusComplete", aid, items))

    async def queue_summary(self, action: AmiMessage, send: Send) -> None:
        """QueueSummary."""
        aid = action.action_id
        name = action.get("Queue")
        send(response("Success", aid, EventList="start", Message="Queue summary will follow"))
        items = 0
        for queue in self.queues.queues.values():
            if name and queue.name != name:
                continue
            available = [m for m in queue.members if not m.paused and not m.in_call]
            send(
                list_event(
                    "QueueSummary", aid,
                    ("Queue", queue.name), ("LoggedIn", str(len(queue.members))),
                    ("Available", str(len(available))), ("Callers", str(len(queue.callers))),
                    ("HoldTime", "0"), ("TalkTime", str(int(queue.talk_total))),
                    ("LongestHoldTime", "0"),
                )
            )  # fmt: skip
            items += 1
        send(complete("QueueSummaryComplete", aid, items))

    # -- channel listings -----------------------------------------------------------------------

    def _listed(self, action: AmiMessage) -> list[Chan] | None:
        name = action.get("Channel")
        if name is None:
            return list(self.pbx.channels.values())
        chan = self.pbx.channels.get(name)
        return [chan] if chan is not None else None

    async def status(self, action: AmiMessage, send: Send) -> None:
        """Status of every channel (or one)."""
        aid = action.action_id
        chans = self._listed(action)
        if chans is None:
            send(response("Error", aid, Message="No such channel"))
            return
        send(response("Success", aid, EventList="start", Message="Channel status will follow"))
        now = time.monotonic()
        for chan in chans:
            send(
                AmiMessage(
                    (
                        ("Event", "Status"), ("Privilege", "Call"), *chan.block(),
                        ("Type", "Local"), ("DNID", ""),
                        ("EffectiveConnectedLineNum", chan.conn_num),
                        ("EffectiveConnectedLineName", chan.conn_name),
                        ("TimeToHangup", "0"),
                        ("BridgeID", chan.bridge.id if chan.bridge else ""),
                        ("Application", chan.app), ("Data", chan.app_data),
                        ("Seconds", str(int((now - chan.started) * self.pbx.speed))),
                        *([("ActionID", aid)] if aid is not None else []),
                    )
                )
            )  # fmt: skip
        done = complete("StatusComplete", aid, len(chans))
        send(AmiMessage((*done.headers, ("Items", str(len(chans))))))

    async def core_show_channels(self, action: AmiMessage, send: Send) -> None:
        """CoreShowChannels."""
        aid = action.action_id
        send(response("Success", aid, EventList="start", Message="Channels will follow"))
        now = time.monotonic()
        chans = list(self.pbx.channels.values())
        for chan in chans:
            seconds = int((now - chan.started) * self.pbx.speed)
            duration = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            send(
                AmiMessage(
                    (
                        ("Event", "CoreShowChannel"),
                        *([("ActionID", aid)] if aid is not None else []),
                        *chan.block(),
                        ("Application", chan.app), ("ApplicationData", chan.app_data),
                        ("Duration", duration),
                        ("BridgeId", chan.bridge.id if chan.bridge else ""),
                    )
                )
            )  # fmt: skip
        send(complete("CoreShowChannelsComplete", aid, len(chans)))
