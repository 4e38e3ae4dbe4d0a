"""Actions on a call in progress from the console: hang up, record, transfer, spy.

An agent acts on their own calls; supervisors and administrators (``agents.control``) on any call
of the PBX. A call the caller may not act on is simply not found.

Transfers send the customer's channel (the one bridged with the agent, found with
``CoreShowChannels``) elsewhere: blind with ``Redirect``, attended with ``Atxfer`` on the agent's
channel. Where to: ``<queue>@transfer_queue_context``, ``<seat>@transfer_agent_context`` or
``<number>@number_context`` (see :class:`~telephony.models.DialplanLocations`).

A call on a PBX that another process leads is acted on by that process: the operation goes to
it whole, with the caller's user id (:mod:`telephony.forwarding`), because only the leader knows
the call's channels; it reloads the caller and decides again who may act on what.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.users.permissions import Principal
from telephony.errors import AmiActionFailed, ChannelNotFound, PbxUnavailable
from telephony.forwarding import LeaderLink
from telephony.forwarding_wire import (
    ChannelReply,
    HangupRequest,
    RecordingRequest,
    SpyReply,
    SpyRequest,
    TransferReply,
    TransferRequest,
    checked,
)
from telephony.models import CallInfo, CallState, Leg, LegRole
from telephony.ports import RecordingAction, SpyMode, TargetType, TransferMode
from telephony.runtime import PbxRuntime

__all__ = ["CallControl", "RecordingAction", "TargetType", "TransferDone", "TransferMode"]

log = logging.getLogger(__name__)
_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]")
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9]+/([0-9]+)(@[A-Za-z0-9_.-]+)?$")
_TALKING = (CallState.UP, CallState.BRIDGED, CallState.HELD)
_T = TypeVar("_T")


@dataclass(frozen=True)
class TransferDone:
    """A transfer that the PBX accepted; its outcome arrives as call events."""

    channel: str
    context: str
    exten: str


class CallControl:
    """Finds the caller's call on the PBXes and acts on its legs (here, or through the leader)."""

    def __init__(
        self, runtimes: dict[str, PbxRuntime], *, control_any: bool, forward: bool = True
    ) -> None:
        # forward=False: the leader carrying out a forwarded operation (never passed on again).
        self._runtimes = runtimes
        self._control_any = control_any
        self._forward = forward

    def find(self, principal: Principal, call_id: str) -> tuple[PbxRuntime, CallInfo]:
        """The call in progress on a PBX this process leads, if the caller may act on it."""
        for runtime in self._runtimes.values():
            if not runtime.is_leader:
                continue
            for call in runtime.snapshot().calls:
                if call.call_id != call_id:
                    continue
                mine = call.agent_id == str(principal.user_id) or any(
                    leg.agent_id == str(principal.user_id) for leg in call.legs
                )
                if mine or self._control_any:
                    return runtime, call
        raise NotFound(f"no call {call_id} in progress that you may act on")

    def _here(self, principal: Principal, call_id: str) -> tuple[PbxRuntime, CallInfo] | None:
        """The call if a PBX led here has it (NotFound if the caller may not act on it)."""
        if not any(
            c.call_id == call_id
            for r in self._runtimes.values()
            if r.is_leader
            for c in r.snapshot().calls
        ):
            return None
        return self.find(principal, call_id)

    async def _elsewhere(self, call_id: str, ask: Callable[[LeaderLink], Awaitable[_T]]) -> _T:
        """Have the leader of the call's PBX act: the PBX whose mirror shows the call, else
        (the mirror lags behind) each PBX led by another process in turn."""
        others = [r for r in self._runtimes.values() if not r.is_leader] if self._forward else []
        shown = [r for r in others if any(c.call_id == call_id for c in r.snapshot().calls)]
        candidates = shown or others
        if not candidates:
            raise NotFound(f"no call {call_id} in progress that you may act on")
        for runtime in candidates[:-1]:
            try:
                return await ask(self._link(runtime))
            except NotFound as err:
                if isinstance(err, ChannelNotFound):  # the call is there: its channel went
                    raise
        return await ask(self._link(candidates[-1]))

    @staticmethod
    def _link(runtime: PbxRuntime) -> LeaderLink:
        if runtime.leader_link is None:  # leader election without a way to the leader
            leader = runtime.leadership.leader if runtime.leadership else None
            raise PbxUnavailable(
                f"PBX {runtime.name!r} is connected through another Callboard process "
                f"({leader or 'none right now'}); retry on that process"
            )
        return runtime.leader_link

    @staticmethod
    def _channel(call: CallInfo, role: LegRole) -> str | None:
        legs: list[Leg] = [leg for leg in call.legs if leg.role is role and not leg.ended]
        for leg in legs:
            if leg.channels:
                return leg.channels[0]
        return None

    async def hangup(self, principal: Principal, call_id: str) -> str:
        """End the call by hanging up the agent's leg (the customer's when there is none)."""
        here = self._here(principal, call_id)
        if here is None:
            request = checked(lambda: HangupRequest(user_id=principal.user_id, call_id=call_id))
            out = await self._elsewhere(
                call_id, lambda link: link.call_action(request, ChannelReply)
            )
            return out.channel
        runtime, call = here
        channel = self._channel(call, LegRole.AGENT) or self._channel(call, LegRole.CUSTOMER)
        if channel is None:
            raise Conflict("the call has no live channel left to hang up")
        await runtime.gateway.hangup(channel)
        log.info("call %s hung up by %s (%s)", call_id, principal.username, channel)
        return channel

    async def recording(self, principal: Principal, call_id: str, action: RecordingAction) -> str:
        """Start, stop, pause or resume recording the call on the agent's leg; return the channel.

        Pause/resume mute both directions of the running MixMonitor (``MixMonitorMute``), e.g.
        while the customer reads out a card number.
        """
        here = self._here(principal, call_id)
        if here is None:
            request = checked(
                lambda: RecordingRequest(user_id=principal.user_id, call_id=call_id, action=action)
            )
            out = await self._elsewhere(
                call_id, lambda link: link.call_action(request, ChannelReply)
            )
            return out.channel
        runtime, call = here
        channel = self._channel(call, LegRole.AGENT) or self._channel(call, LegRole.CUSTOMER)
        if channel is None:
            raise Conflict("the call has no live channel to record")
        gateway = runtime.gateway
        if action == "start":
            file = _SAFE_FILE.sub("_", f"{runtime.name}-{call_id}.wav")
            await gateway.mixmonitor(channel, file)
        elif action == "stop":
            await gateway.stop_mixmonitor(channel)
        else:
            try:
                await gateway.mixmonitor_mute(channel, action == "pause")
            except AmiActionFailed as err:
                if "Cannot set mute flag" not in err.message:
                    raise
                raise Conflict(
                    "the call is not being recorded: start the recording first",
                    details={"reason": "not_recording"},
                ) from err
        log.info("call %s recording %s by %s", call_id, action, principal.username)
        return channel

    async def transfer(
        self,
        principal: Principal,
        call_id: str,
        target_type: TargetType,
        target: str,
        mode: TransferMode,
    ) -> TransferDone:
        """Transfer the call's customer to a queue, an agent's seat or a number."""
        here = self._here(principal, call_id)
        if here is None:
            request = checked(
                lambda: TransferRequest(
                    user_id=principal.user_id,
                    call_id=call_id,
                    target_type=target_type,
                    target=target,
                    mode=mode,
                )
            )
            done = await self._elsewhere(
                call_id, lambda link: link.call_action(request, TransferReply)
            )
            return TransferDone(channel=done.channel, context=done.context, exten=done.exten)
        runtime, call = here
        if call.state not in _TALKING or call.answered_at is None:
            raise Conflict(
                f"the call is {call.state.value}: only an answered call can be transferred",
                details={"reason": "not_answered", "state": call.state.value},
            )
        context, exten = await self._destination(runtime, call, target_type, target.strip())
        agent_chan, customer_chan = await self._bridged_pair(runtime, call)
        gateway = runtime.gateway
        if mode == "blind":
            await gateway.redirect(customer_chan, context, exten)
            channel = customer_chan
        else:
            await gateway.atxfer(agent_chan, context, exten)
            channel = agent_chan
        log.info(
            "call %s: %s transfer to %s %s (%s@%s) by %s",
            call_id,
            mode,
            target_type,
            target,
            exten,
            context,
            principal.username,
        )
        return TransferDone(channel=channel, context=context, exten=exten)

    async def _destination(
        self, runtime: PbxRuntime, call: CallInfo, target_type: TargetType, target: str
    ) -> tuple[str, str]:
        where = runtime.locations
        if target_type == "number":
            if not _NUMBER.match(target):
                raise InvalidInput(
                    "a number is 3 to 20 digits, optionally starting with +",
                    details={"field": "target"},
                )
            return where.number_context, target
        if target_type == "queue":
            known = sorted({q["name"] for q in await runtime.queues()})
            if not _QUEUE.match(target) or target not in known:
                raise InvalidInput(
                    f"unknown queue {target!r}; queues: {', '.join(known) or 'none'}",
                    details={"field": "target"},
                )
            return where.transfer_queue_context, target
        if not target.isdigit():
            raise InvalidInput("an agent is given by their user id", details={"field": "target"})
        if any(leg.agent_id == target and not leg.ended for leg in call.legs):
            raise InvalidInput("this agent is already on the call", details={"field": "target"})
        phones = await runtime.store.agent_interfaces(runtime.name)
        interface = next((i for i, uid in phones.items() if uid == target), None)
        match = _EXTENSION.match(interface or "")
        if match is None:
            raise InvalidInput(
                f"user {target} has no phone on PBX {runtime.name!r}", details={"field": "target"}
            )
        return where.transfer_agent_context, match.group(1)

    @staticmethod
    async def _bridged_pair(runtime: PbxRuntime, call: CallInfo) -> tuple[str, str]:
        """The agent's and the customer's channels that are bridged together right now."""
        agent_legs = [leg for leg in call.legs if leg.role is LegRole.AGENT and not leg.ended]
        mine = {c for leg in agent_legs for c in leg.channels}
        ours = {c for leg in call.legs if not leg.ended for c in leg.channels}
        live = [c for c in await runtime.gateway.core_show_channels() if c.bridge_id]
        for agent in (c for c in live if c.channel in mine):
            peer = next(
                (
                    c.channel
                    for c in live
                    if c.bridge_id == agent.bridge_id
                    and c.channel not in mine
                    and c.channel in ours
                ),
                None,
            )
            if peer is not None:
                return agent.channel, peer
        raise Conflict(
            "the call's agent and customer are not connected right now (on hold, ringing or "
            "already being transferred)",
            details={"reason": "not_bridged"},
        )

    async def spy(self, principal: Principal, call_id: str, mode: SpyMode) -> tuple[str, str]:
        """Ring the supervisor's phone and let them listen, whisper or barge in; (phone, spied)."""
        here = self._here(principal, call_id)
        if here is None:
            request = checked(
                lambda: SpyRequest(user_id=principal.user_id, call_id=call_id, mode=mode)
            )
            spying = await self._elsewhere(
                call_id, lambda link: link.call_action(request, SpyReply)
            )
            return spying.phone, spying.spied
        runtime, call = here
        spied = self._channel(call, LegRole.AGENT)
        if spied is None:
            raise Conflict(
                "the call has no agent leg to listen to", details={"reason": "no_agent_leg"}
            )
        phones = await runtime.store.agent_interfaces(runtime.name)
        phone = next((i for i, uid in phones.items() if uid == str(principal.user_id)), None)
        if phone is None:
            raise Conflict(
                f"you have no phone on PBX {runtime.name!r} to listen with; an administrator "
                "sets it with PUT /api/agents/{id}/phone",
                details={"reason": "no_phone"},
            )
        if spied.lower().startswith(phone.lower() + "-"):
            raise InvalidInput("you cannot spy on your own call", details={"field": "call_id"})
        await runtime.gateway.chanspy(
            phone,
            spied,
            mode,
            caller_id=f'"Spy {mode}" <{call.caller_id or call_id}>',
            variables={"CRM_SPY_CALL_ID": call_id},
        )
        log.info("call %s: %s %s by %s on %s", call_id, mode, spied, principal.username, phone)
        return phone, spied
