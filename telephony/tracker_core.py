"""Shared state and helpers of the call tracker (see :mod:`telephony.tracker`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from crm_core.bus.events import Event
from telephony.agents import AgentBook
from telephony.calls import CallRecord, ChannelRecord, LegRecord
from telephony.events import (
    CallAnswered,
    CallEnded,
    CallRinging,
)
from telephony.models import (
    AgentDirectory,
    CallDirection,
    CallState,
    HangupParty,
    LegRole,
    interface_of,
    leg_key,
)
from telephony.protocol import AmiMessage
from telephony.queues import QueueMemberHandler

__all__ = ["TrackerConfig", "TrackerCore"]

logger = logging.getLogger(__name__)

_UNKNOWN = "<unknown>"


@dataclass(frozen=True)
class TrackerConfig:
    """Dialplan contexts that tell the tracker a call's direction (see docs/telephony.md)."""

    inbound_contexts: frozenset[str] = frozenset({"from-pstn", "from-trunk", "from-external"})
    agent_contexts: frozenset[str] = frozenset({"agents", "from-internal"})
    dialer_contexts: frozenset[str] = frozenset({"customers", "pstn-sim"})
    crm_call_id_variable: str = "CRM_CALL_ID"


def _num(value: str | None) -> str | None:
    return None if value in (None, "", _UNKNOWN) else value


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


class TrackerCore:
    """State of the tracker and the helpers its event handlers share."""

    def __init__(
        self,
        pbx: str = "main",
        agents: AgentDirectory | None = None,
        config: TrackerConfig | None = None,
    ) -> None:
        self.pbx = pbx
        self._directory = agents or AgentDirectory()
        self._config = config or TrackerConfig()
        self._calls: dict[str, CallRecord] = {}
        self._agents = AgentBook(pbx, self._directory)
        self._queues = QueueMemberHandler(pbx, self._agents)
        self._last_at: datetime | None = None

    def _need(self, msg: AmiMessage, *names: str) -> dict[str, str] | None:
        values: dict[str, str] = {}
        for name in names:
            value = msg.get(name)
            if value is None:
                logger.warning(
                    "skipping %s event without %s header: %r", msg.event, name, msg.headers
                )
                return None
            values[name] = value
        return values

    def _call(self, msg: AmiMessage) -> CallRecord | None:
        for header in ("Linkedid", "DestLinkedid"):
            linkedid = msg.get(header)
            if linkedid and linkedid in self._calls:
                return self._calls[linkedid]
        return None

    def _direction(self, channel: str, context: str) -> CallDirection:
        cfg = self._config
        if context in cfg.inbound_contexts:
            return CallDirection.INBOUND
        if self._directory.agent_for_channel(channel) or context in cfg.agent_contexts:
            return CallDirection.OUTBOUND
        if context in cfg.dialer_contexts:
            return CallDirection.DIALER
        return CallDirection.INTERNAL

    def _add_channel(self, call: CallRecord, channel: str, uniqueid: str) -> LegRecord:
        key = leg_key(channel)
        leg = call.legs.get(key)
        if leg is None:
            interface = interface_of(channel)
            agent_id = self._directory.agent_for_interface(interface)
            role = LegRole.AGENT if agent_id else LegRole.CUSTOMER
            leg = call.legs[key] = LegRecord(key, interface, role, agent_id)
            leg.late = call.answered_at is not None
        if channel not in call.channels:
            call.channels[channel] = ChannelRecord(channel, uniqueid, key)
            leg.channels.append(channel)
        return leg

    def _ringing(
        self,
        call: CallRecord,
        leg: LegRecord,
        at: datetime,
        *,
        agent_id: str | None = None,
        caller_id: str | None = None,
        queue: str | None = None,
        channel: str | None = None,
    ) -> list[Event]:
        if leg.announced or leg.ended or leg.cancelled:
            return []
        leg.announced = True
        agent_id = agent_id or leg.agent_id
        out: list[Event] = []
        if agent_id and leg.agent_id is None:
            leg.agent_id, leg.role = agent_id, LegRole.AGENT
        if agent_id:
            if call.direction is not CallDirection.OUTBOUND or call.agent_id is None:
                call.agent_id = agent_id
            out.extend(self._agents.leg_ringing(agent_id, leg.key, call.call_id, at))
        if call.state is CallState.DIALING:
            call.state = CallState.RINGING
        out.insert(
            0,
            CallRinging(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                direction=call.direction,
                agent_id=agent_id or call.agent_id,
                caller_id=caller_id or call.caller_id,
                called_number=call.called_number,
                queue=queue or call.queue,
                crm_call_id=call.crm_call_id,
                channel=channel,
            ),
        )
        return out

    def _answered(self, call: CallRecord, at: datetime) -> list[Event]:
        call.connected()
        if call.state in (CallState.DIALING, CallState.RINGING, CallState.TRANSFERRED):
            call.state = CallState.UP
        if call.answered_at is not None:
            return []
        call.answered_at = at
        logger.info("call %s answered (agent %s)", call.call_id, call.agent_id)
        return [
            CallAnswered(
                occurred_at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                direction=call.direction,
                agent_id=call.agent_id,
                crm_call_id=call.crm_call_id,
                ring_s=(at - call.started_at).total_seconds(),
            )
        ]

    def _leg_up(self, call: CallRecord, leg: LegRecord, at: datetime) -> list[Event]:
        leg.answered = True
        if leg.agent_id:
            return self._agents.leg_up(leg.agent_id, leg.key, call.call_id, at)
        return []

    def _leg_over(self, call: CallRecord, leg: LegRecord, at: datetime) -> list[Event]:
        if leg.agent_id:
            return self._agents.leg_gone(leg.agent_id, leg.key, at)
        return []

    def _end(self, call: CallRecord, at: datetime, *, vanished: bool = False) -> list[Event]:
        out: list[Event] = []
        for leg in call.legs.values():
            if not leg.ended:
                leg.ended = True
                out.extend(self._leg_over(call, leg, at))
        ended: CallEnded = call.finish(self.pbx, at, vanished=vanished)
        del self._calls[call.call_id]
        logger.info(
            "call %s ended: %s, cause %s, by %s",
            call.call_id,
            ended.outcome,
            ended.hangup_cause,
            ended.hangup_by,
        )
        return [ended, *out]

    def _first_hangup(self, call: CallRecord, leg: LegRecord | None) -> None:
        if call.hangup_by is None and leg is not None and not leg.cancelled:
            call.hangup_by = (
                HangupParty.AGENT if leg.role is LegRole.AGENT else HangupParty.CUSTOMER
            )


def _duration(value: str | None) -> int:
    if not value:
        return 0
    parts = value.split(":")
    try:
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
    except ValueError:
        return 0
    return seconds
