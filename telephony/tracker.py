"""The call tracker: a pure state machine that turns AMI events into calls and agent states.

It groups channels into calls by ``Linkedid``, follows their legs (both halves of a Local channel
are one leg), and emits typed domain events. It does no I/O and reads no clock: the caller passes
the time each message arrived. See ``docs/telephony.md`` for how direction and agent are decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from crm_core.bus.events import Event
from telephony.calls import CallRecord, informative
from telephony.events import (
    CallStarted,
    CallTransferred,
)
from telephony.models import (
    AgentDirectory,
    CallDirection,
    CallState,
    LegRole,
    TrackerSnapshot,
)
from telephony.protocol import AmiMessage
from telephony.tracker_core import TrackerConfig, _duration, _int, _num
from telephony.tracker_queue import QueueBridgeHandlers

__all__ = ["CallTracker", "TrackerConfig"]

logger = logging.getLogger(__name__)


class CallTracker(QueueBridgeHandlers):
    """Pure AMI → domain-event state machine for one PBX."""

    def __init__(
        self,
        pbx: str = "main",
        agents: AgentDirectory | None = None,
        config: TrackerConfig | None = None,
    ) -> None:
        super().__init__(pbx, agents, config)
        self._handlers: dict[str, Callable[[AmiMessage, datetime], list[Event]]] = {
            "Newchannel": self._on_newchannel,
            "CoreShowChannel": self._on_newchannel,
            "Status": self._on_newchannel,
            "Newstate": self._on_newstate,
            "NewCallerid": self._on_newcallerid,
            "VarSet": self._on_varset,
            "DialBegin": self._on_dialbegin,
            "DialEnd": self._on_dialend,
            "AgentCalled": self._on_agentcalled,
            "AgentConnect": self._on_agentconnect,
            "AgentRingNoAnswer": self._on_agentringnoanswer,
            "QueueCallerJoin": self._on_queuejoin,
            "QueueCallerLeave": self._on_queueleave,
            "QueueCallerAbandon": self._on_queueabandon,
            "BridgeEnter": self._on_bridgeenter,
            "BridgeLeave": self._on_bridgeleave,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "BlindTransfer": self._on_transfer,
            "AttendedTransfer": self._on_transfer,
            "MixMonitorStart": self._on_mixmonitor,
            "Hangup": self._on_hangup,
            "HangupRequest": self._on_hangup_request,
            "SoftHangupRequest": self._on_hangup_request,
        }

    # -- public API -------------------------------------------------------------------------

    def apply(self, msg: AmiMessage, at: datetime) -> list[Event]:
        """Apply one AMI message received at ``at``; return the domain events it causes."""
        self._last_at = at
        name = msg.event
        if name is None:
            return []
        handler = self._handlers.get(name)
        if handler is not None:
            return handler(msg, at)
        return self._queues.apply(msg, at)

    def apply_all(self, messages: Iterable[tuple[AmiMessage, datetime]]) -> list[Event]:
        """Apply many messages in order; return all events."""
        out: list[Event] = []
        for msg, at in messages:
            out.extend(self.apply(msg, at))
        return out

    def snapshot(self) -> TrackerSnapshot:
        """Return the current calls and agents, for a client that (re)connects."""
        return TrackerSnapshot(
            pbx=self.pbx,
            taken_at=self._last_at,
            calls=tuple(c.info(self.pbx) for c in self._calls.values()),
            agents=self._agents.snapshot(),
        )

    def open_calls(self) -> tuple[str, ...]:
        """Return the ids of calls in progress."""
        return tuple(self._calls)

    def close_stale(self, live_linkedids: Iterable[str], at: datetime) -> list[Event]:
        """End every call not in ``live_linkedids`` (vanished while we were disconnected)."""
        live = set(live_linkedids)
        out: list[Event] = []
        for call_id in [c for c in self._calls if c not in live]:
            call = self._calls[call_id]
            for rec in call.channels.values():
                rec.hung_up = True
            logger.info("call %s vanished while disconnected; closing it", call_id)
            out.extend(self._end(call, at, vanished=True))
        return out

    def _on_newchannel(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel", "Uniqueid", "Linkedid", "Context", "Exten")
        if h is None:
            return []
        out: list[Event] = []
        call = self._calls.get(h["Linkedid"])
        if call is None:
            if msg.event != "Newchannel":
                # Rebuilding after a reconnect: the call started before we saw it.
                seconds = _int(msg.get("Seconds")) or _duration(msg.get("Duration"))
                started = at - timedelta(seconds=seconds)
            else:
                started = at
            direction = self._direction(h["Channel"], h["Context"])
            call = CallRecord(h["Linkedid"], direction, started)
            self._calls[call.call_id] = call
            if direction is not CallDirection.OUTBOUND:
                call.called_number = _num(h["Exten"])
            call.caller_id = _num(msg.get("CallerIDNum"))
            leg = self._add_channel(call, h["Channel"], h["Uniqueid"])
            if leg.agent_id and direction is CallDirection.OUTBOUND:
                call.agent_id = leg.agent_id
            logger.info("call %s started (%s) on %s", call.call_id, direction, h["Channel"])
            out.append(
                CallStarted(
                    occurred_at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    direction=direction,
                    crm_call_id=call.crm_call_id,
                    caller_id=call.caller_id,
                    called_number=call.called_number,
                    agent_id=call.agent_id,
                )
            )
        else:
            leg = self._add_channel(call, h["Channel"], h["Uniqueid"])
            if msg.event != "Newchannel" and h["Uniqueid"] == call.call_id:
                # Rebuilding: the channel that started the call decides its direction.
                call.direction = self._direction(h["Channel"], h["Context"])
                call.caller_id = _num(msg.get("CallerIDNum")) or call.caller_id
                if leg.agent_id and call.direction is CallDirection.OUTBOUND:
                    call.agent_id = leg.agent_id
        out.extend(self._crm_vars(call, msg))
        if msg.event != "Newchannel" and msg.get("ChannelState") == "6":
            out.extend(self._leg_up(call, leg, at))
            if msg.get("BridgeId") or msg.get("BridgeID"):
                out.extend(self._answered(call, at))
                call.state = CallState.BRIDGED
        return out

    def _crm_vars(self, call: CallRecord, msg: AmiMessage) -> list[Event]:
        crm = msg.variables().get(self._config.crm_call_id_variable)
        if crm and call.crm_call_id is None:
            call.crm_call_id = crm
        return []

    def _on_newstate(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel", "ChannelState")
        call = self._call(msg)
        if h is None or call is None:
            return []
        leg = call.leg_of(h["Channel"])
        if leg is None:
            return []
        if h["ChannelState"] == "6" and leg.role is LegRole.AGENT:
            return self._leg_up(call, leg, at)
        if h["ChannelState"] == "5" and call.state is CallState.DIALING:
            call.state = CallState.RINGING
        return []

    def _on_newcallerid(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Uniqueid", "CallerIDNum")
        call = self._call(msg)
        if h is None or call is None:
            return []
        number = _num(h["CallerIDNum"])
        if number and h["Uniqueid"] == call.call_id:
            call.caller_id = number
        return []

    def _on_varset(self, msg: AmiMessage, at: datetime) -> list[Event]:
        call = self._call(msg)
        if call is None:
            return []
        variable = msg.get("Variable")
        # Only two variables matter here; the other ~30 VarSets of a call are skipped before any
        # header check. panoramisk drops headers whose value is empty ("Value: "), so a missing
        # Value means an empty one, not a broken message.
        if variable not in (self._config.crm_call_id_variable, "MIXMONITOR_FILENAME"):
            return []
        value = msg.get("Value") or ""
        if variable == self._config.crm_call_id_variable and call.crm_call_id is None:
            call.crm_call_id = value or None
        elif variable == "MIXMONITOR_FILENAME" and value:
            call.recording_file = value
        return []

    def _on_mixmonitor(self, msg: AmiMessage, at: datetime) -> list[Event]:
        call = self._call(msg)
        if call is not None and call.recording_file is None:
            call.recording_file = msg.variables().get("MIXMONITOR_FILENAME")
        return []

    # -- dialling ---------------------------------------------------------------------------

    def _on_dialbegin(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "DestChannel")
        call = self._call(msg)
        if h is None or call is None:
            return []
        dest = call.leg_of(h["DestChannel"])
        if dest is None:
            dest = self._add_channel(call, h["DestChannel"], msg.get("DestUniqueid") or "")
        if msg.get("Channel") is None:
            # Originate's own DialBegin: it rings the first party and has no Channel header.
            # An inbound caller's own leg does not ring anybody (only the test rig originates it).
            if call.direction is CallDirection.INBOUND:
                return []
            return self._ringing(call, dest, at, channel=h["DestChannel"])
        out: list[Event] = []
        src = call.leg_of(msg.get("Channel") or "")
        if (
            src is not None
            and src.role is LegRole.CUSTOMER
            and not src.late
            and call.answered_at is not None
            and call.state is not CallState.TRANSFERRED
        ):
            # The customer's own channel dials after the call was answered: it was sent
            # elsewhere (AMI Redirect, i.e. a blind transfer, to an agent or a number).
            call.transferred = True
            call.state = CallState.TRANSFERRED
            out.append(
                CallTransferred(
                    occurred_at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    kind="blind",
                    from_agent_id=call.agent_id,
                    to_agent_id=dest.agent_id,
                    to_extension=msg.get("DestExten") or None,
                )
            )
        if dest.role is LegRole.CUSTOMER and call.called_number is None:
            call.called_number = _num(msg.get("DestExten"))
        if (
            dest.role is LegRole.AGENT
            and call.direction is CallDirection.OUTBOUND
            and not any(leg.role is LegRole.CUSTOMER for leg in call.legs.values())
        ):
            call.direction = CallDirection.INTERNAL
        return out + self._ringing(
            call, dest, at, caller_id=_num(msg.get("CallerIDNum")), channel=h["DestChannel"]
        )

    def _on_dialend(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "DestChannel", "DialStatus")
        call = self._call(msg)
        if h is None or call is None:
            return []
        dest = call.leg_of(h["DestChannel"])
        if dest is None:
            return []
        status = h["DialStatus"]
        own = msg.get("Channel") is None
        if status == "ANSWER":
            out = self._leg_up(call, dest, at)
            if not own or (
                dest.role is LegRole.CUSTOMER
                and call.direction in (CallDirection.DIALER, CallDirection.INTERNAL)
            ):
                if not own:
                    call.dial_status = status
                if dest.agent_id:
                    call.agent_id = dest.agent_id
                out.extend(self._answered(call, at))
            return out
        if not own and call.answered_at is None:
            call.dial_status = status
        if status == "CANCEL":
            dest.cancelled = True
        if dest.ended:
            return []
        dest.ended = True
        return self._leg_over(call, dest, at)

    def _on_hangup_request(self, msg: AmiMessage, at: datetime) -> list[Event]:
        call = self._call(msg)
        channel = msg.get("Channel")
        if call is not None and channel is not None:
            self._first_hangup(call, call.leg_of(channel))
        return []

    def _on_hangup(self, msg: AmiMessage, at: datetime) -> list[Event]:
        h = self._need(msg, "Channel", "Linkedid")
        if h is None:
            return []
        call = self._calls.get(h["Linkedid"])
        rec = call.channels.get(h["Channel"]) if call else None
        if call is None or rec is None:
            logger.debug("hang-up of unknown channel %s", h["Channel"])
            return []
        rec.hung_up = True
        leg = call.legs[rec.leg]
        self._first_hangup(call, leg)
        cause = _int(msg.get("Cause"))
        if not leg.cancelled and informative(cause):
            call.causes.append((cause, msg.get("Cause-txt") or ""))
        out: list[Event] = []
        if not leg.ended and all(call.channels[c].hung_up for c in leg.channels):
            leg.ended = True
            out.extend(self._leg_over(call, leg, at))
        if not call.live():
            out.extend(self._end(call, at))
        return out
