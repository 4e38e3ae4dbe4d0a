"""Agents' own actions on the PBX: log in to their queues, pause with a reason, ready, log out.

Ready, pause and wrap-up map to ``QueuePause`` on every queue the agent belongs to (wrap-up is a
pause with the reason ``wrap-up``, ended by the runtime after the wrap-up time or by ready); log
in and log out to
``QueueAdd``/``QueueRemove`` on the queues of the agent's phone (``agent_phones.queues``). The
agent's state itself is not set here: it comes back from the PBX as queue-member events, through
the tracker, as ``AgentStateChanged`` — the PBX stays the single source of truth.

In a process that does not hold a PBX's connection, ``runtime.gateway`` sends these actions
through the process that does (:mod:`telephony.forwarding`); nothing here changes for it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.errors import Conflict, InvalidInput, NotFound
from telephony.errors import AmiActionFailed
from telephony.models import WRAP_UP_REASON
from telephony.ports import ActionResult
from telephony.records import AgentPhone
from telephony.runtime import PbxRuntime

__all__ = ["AgentAction", "AgentControl", "ControlResult"]

log = logging.getLogger(__name__)
_ALREADY = ("Unable to add interface: Already there", "Unable to remove interface: Not there")


class AgentAction(enum.StrEnum):
    """What an agent (or their supervisor) asks for."""

    LOGIN = "login"
    READY = "ready"
    PAUSE = "pause"
    LOGOUT = "logout"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True)
class ControlResult:
    """What was done on which PBX."""

    pbx: str
    interface: str
    queues: tuple[str, ...]
    action: AgentAction


class AgentControl:
    """Carries out agent state changes on every PBX where the agent has a phone."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], runtimes: dict[str, PbxRuntime]
    ) -> None:
        self._sessions = sessions
        self._runtimes = runtimes

    async def phones(self, user_id: int) -> list[AgentPhone]:
        """The agent's phones on the PBXes this process is connected to."""
        async with self._sessions() as db:
            rows = await db.scalars(select(AgentPhone).where(AgentPhone.user_id == user_id))
            return [r for r in rows if r.pbx in self._runtimes]

    async def apply(
        self, user_id: int, action: AgentAction, reason: str = ""
    ) -> list[ControlResult]:
        """Do ``action`` for the agent; raise NotFound when the agent has no phone."""
        if action is AgentAction.PAUSE and not reason.strip():
            raise InvalidInput(
                "a pause needs a reason (e.g. break, lunch, training)", details={"field": "reason"}
            )
        phones = await self.phones(user_id)
        if not phones:
            raise NotFound(
                "this agent has no phone on a connected PBX; an administrator sets "
                "it with PUT /api/agents/{id}/phone"
            )
        results = []
        for phone in phones:
            gateway = self._runtimes[phone.pbx].gateway
            queues = tuple(q for q in phone.queues.split(",") if q)
            if action is AgentAction.LOGIN:
                for queue in queues:
                    await _tolerant(gateway.queue_add(queue, phone.interface))
                await gateway.queue_pause(phone.interface, False)
            elif action is AgentAction.READY:
                await _pause(gateway.queue_pause(phone.interface, False))
            elif action is AgentAction.WRAP_UP:
                await _pause(gateway.queue_pause(phone.interface, True, reason=WRAP_UP_REASON))
            elif action is AgentAction.PAUSE:
                await _pause(gateway.queue_pause(phone.interface, True, reason=reason.strip()[:80]))
            else:
                for queue in queues:
                    await _tolerant(gateway.queue_remove(queue, phone.interface))
            log.info("agent %s: %s on %s (%s)", user_id, action.value, phone.pbx, phone.interface)
            results.append(ControlResult(phone.pbx, phone.interface, queues, action))
        return results


async def _pause(action: Awaitable[ActionResult]) -> None:
    """QueuePause; an agent in no queue is told to log in first."""
    try:
        await action
    except AmiActionFailed as err:
        if "Interface not found" in err.message:
            raise Conflict(
                "you are logged out of every queue: log in first", details={"reason": "logged_out"}
            ) from err
        raise


async def _tolerant(action: Awaitable[ActionResult]) -> None:
    """Run a queue add/remove; 'already there' / 'not there' is what we wanted anyway."""
    try:
        await action
    except AmiActionFailed as err:
        if not any(text in err.message for text in _ALREADY):
            raise
