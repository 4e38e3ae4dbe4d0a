"""Actions on a call in progress from the console: hang up, start or stop the recording.

An agent acts on their own calls; supervisors and administrators (``agents.control``) on any call
of the PBX. A call the caller may not act on is simply not found.
"""

from __future__ import annotations

import logging
import re

from crm_core.errors import Conflict, NotFound
from crm_core.users.permissions import Principal
from telephony.models import CallInfo, Leg, LegRole
from telephony.runtime import PbxRuntime

__all__ = ["CallControl"]

log = logging.getLogger(__name__)
_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]")


class CallControl:
    """Finds the caller's call on the connected PBXes and acts on its legs."""

    def __init__(self, runtimes: dict[str, PbxRuntime], *, control_any: bool) -> None:
        self._runtimes = runtimes
        self._control_any = control_any

    def find(self, principal: Principal, call_id: str) -> tuple[PbxRuntime, CallInfo]:
        """The call in progress, if the caller may act on it."""
        for runtime in self._runtimes.values():
            for call in runtime.snapshot().calls:
                if call.call_id != call_id:
                    continue
                mine = call.agent_id == str(principal.user_id) or any(
                    leg.agent_id == str(principal.user_id) for leg in call.legs
                )
                if mine or self._control_any:
                    return runtime, call
        raise NotFound(f"no call {call_id} in progress that you may act on")

    @staticmethod
    def _channel(call: CallInfo, role: LegRole) -> str | None:
        legs: list[Leg] = [leg for leg in call.legs if leg.role is role and not leg.ended]
        for leg in legs:
            if leg.channels:
                return leg.channels[0]
        return None

    async def hangup(self, principal: Principal, call_id: str) -> str:
        """End the call by hanging up the agent's leg (the customer's when there is none)."""
        runtime, call = self.find(principal, call_id)
        channel = self._channel(call, LegRole.AGENT) or self._channel(call, LegRole.CUSTOMER)
        if channel is None:
            raise Conflict("the call has no live channel left to hang up")
        await runtime.gateway.hangup(channel)
        log.info("call %s hung up by %s (%s)", call_id, principal.username, channel)
        return channel

    async def recording(self, principal: Principal, call_id: str, start: bool) -> str:
        """Start or stop recording the call on the agent's leg; return the channel."""
        runtime, call = self.find(principal, call_id)
        channel = self._channel(call, LegRole.AGENT) or self._channel(call, LegRole.CUSTOMER)
        if channel is None:
            raise Conflict("the call has no live channel to record")
        gateway = runtime.gateway
        if start:
            file = _SAFE_FILE.sub("_", f"{runtime.name}-{call_id}.wav")
            await gateway.mixmonitor(channel, file)
        else:
            await gateway.stop_mixmonitor(channel)
        log.info(
            "call %s recording %s by %s",
            call_id,
            "started" if start else "stopped",
            principal.username,
        )
        return channel
