"""Queue-caller, bridge, hold and transfer handlers of the call tracker (pure)."""

from __future__ import annotations

import logging
from datetime import datetime

from crm_core.bus.events import Event
from telephony.events import (
    CallBridged,
    CallTransferred,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
)
from telephony.models import (
    CallState,
)
from telephony.protocol import AmiMessage
from telephony.tracker_core import TrackerCore, _int, _num

__all__ = ["QueueBridgeHandlers"]

logger = logging.getLogger(__name__)


class QueueBridgeHandlers(TrackerCore):
    """Handlers for queue callers, bridges, hold and transfers."""

    def _on_agentcalled(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "DestChannel", "Interface", "Queue")
        call = self._call(msg)
        if h is None or call is None:
            return []
        leg = call.leg_of(h["DestChannel"]) or self._add_channel(
            call, h["DestChannel"], msg.get("DestUniqueid") or ""
        )
        agent_id = self._agents.agent_for_interface(h["Interface"])
        return self._ringing(
            call,
            leg,
            at,
            agent_id=agent_id,
            caller_id=_num(msg.get("CallerIDNum")),
            queue=h["Queue"],
            channel=h["DestChannel"],
        )

    def _on_agentconnect(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "DestChannel", "Interface")
        call = self._call(msg)
        if h is None or call is None:
            return []
        leg = call.leg_of(h["DestChannel"])
        agent_id = self._agents.agent_for_interface(h["Interface"])
        if agent_id:
            call.agent_id = agent_id
        out: list[Event] = []
        if leg is not None:
            out.extend(self._leg_up(call, leg, at))
        out.extend(self._answered(call, at))
        return out

    def _on_agentringnoanswer(self, msg: AmiMessage, at: datetime) -> list[Event]:
        call = self._call(msg)
        dest = msg.get("DestChannel")
        if call is None or dest is None:
            return []
        leg = call.leg_of(dest)
        if leg is None or leg.ended:
            return []
        leg.cancelled = leg.ended = True
        return self._leg_over(call, leg, at)

    def _on_queuejoin(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Queue")
        call = self._call(msg)
        if h is None or call is None:
            return []
        out: list[Event] = []
        if call.answered_at is not None:
            # An answered call that enters a queue was transferred (e.g. AMI Redirect, 10).
            call.transferred = True
            call.state = CallState.TRANSFERRED
            out.append(
                CallTransferred(
                    occurred_at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    kind="queue",
                    from_agent_id=call.agent_id,
                    to_queue=h["Queue"],
                )
            )
        call.queue = h["Queue"]
        call.queue_joined_at = at
        out.append(
            QueueCallerJoined(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=h["Queue"],
                caller_id=_num(msg.get("CallerIDNum")) or call.caller_id,
                position=_int(msg.get("Position")),
                count=_int(msg.get("Count")),
            )
        )
        return out

    def _on_queueleave(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Queue")
        call = self._call(msg)
        if h is None or call is None:
            return []
        waited = 0.0
        if call.queue_joined_at is not None:
            waited = (at - call.queue_joined_at).total_seconds()
            call.wait_s += waited
            call.queue_joined_at = None
        return [
            QueueCallerLeft(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=h["Queue"],
                count=_int(msg.get("Count")),
                wait_s=waited,
            )
        ]

    def _on_queueabandon(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Queue")
        call = self._call(msg)
        if h is None or call is None:
            return []
        call.abandoned = True
        return [
            QueueCallerAbandoned(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=h["Queue"],
                caller_id=_num(msg.get("CallerIDNum")) or call.caller_id,
                position=_int(msg.get("Position")),
                original_position=_int(msg.get("OriginalPosition")),
                hold_s=float(_int(msg.get("HoldTime"))),
            )
        ]

    # -- bridges, hold, transfer --------------------------------------------------------------

    def _on_bridgeenter(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel", "BridgeUniqueid")
        call = self._call(msg)
        if h is None or call is None:
            return []
        if _int(msg.get("BridgeNumChannels")) < 2 or h["BridgeUniqueid"] in call.bridges:
            return []
        call.bridges.add(h["BridgeUniqueid"])
        call.state = CallState.BRIDGED
        return [
            CallBridged(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                bridge_id=h["BridgeUniqueid"],
                agent_id=call.agent_id,
                channels=tuple(c for c in call.channels if not call.channels[c].hung_up),
            )
        ]

    def _on_bridgeleave(self, msg: AmiMessage, at: datetime) -> list[Event]:
        call = self._call(msg)
        bridge = msg.get("BridgeUniqueid")
        if call is not None and bridge is not None:
            call.bridges.discard(bridge)
            if call.state is CallState.BRIDGED and not call.bridges:
                call.state = CallState.UP
        return []

    def _on_hold(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel")
        call = self._call(msg)
        if h is None or call is None or h["Channel"] in call.hold_since:
            return []
        if not call.hold_since:
            call.state_before_hold = call.state
        call.hold_since[h["Channel"]] = at
        call.state = CallState.HELD
        return []

    def _on_unhold(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel")
        call = self._call(msg)
        if h is None or call is None:
            return []
        since = call.hold_since.pop(h["Channel"], None)
        if since is not None:
            call.hold_s += (at - since).total_seconds()
        if not call.hold_since and call.state is CallState.HELD:
            call.state = call.state_before_hold
        return []

    def _on_transfer(self, msg: AmiMessage, at: datetime) -> list[Event]:
        linked = msg.get("TransfererLinkedid") or msg.get("OrigTransfererLinkedid")
        call = self._calls.get(linked or "") or self._call(msg)
        if call is None:
            return []
        call.transferred = True
        call.state = CallState.TRANSFERRED
        kind = "blind" if msg.event == "BlindTransfer" else "attended"
        transferer = call.leg_of(
            msg.get("OrigTransfererChannel") or msg.get("TransfererChannel") or ""
        )
        from_agent = transferer.agent_id if transferer is not None else call.agent_id
        target = call.leg_of(msg.get("TransferTargetChannel") or "")
        if target is None or not target.agent_id:
            # The target channel may be a Local channel in front of the agent's seat: take the
            # agent leg that answered the consultation.
            target = next(
                (
                    leg
                    for leg in reversed(call.legs.values())
                    if leg.late and leg.agent_id and leg.answered and not leg.ended
                ),
                target,
            )
        if target is not None and target.agent_id:
            call.agent_id = target.agent_id
        return [
            CallTransferred(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                kind=kind,
                from_agent_id=from_agent,
                to_agent_id=target.agent_id if target is not None else None,
                to_extension=msg.get("Extension"),
            )
        ]
