"""Queue membership events (added, removed, paused, penalty) for the call tracker (pure)."""

from __future__ import annotations

import logging
from datetime import datetime

from crm_core.bus.events import Event
from telephony.agents import AgentBook
from telephony.events import QueueMemberChanged
from telephony.protocol import AmiMessage

__all__ = ["QueueMemberHandler"]

logger = logging.getLogger(__name__)

_CHANGES = {
    "QueueMemberAdded": "added",
    "QueueMemberRemoved": "removed",
    "QueueMemberPause": "paused",
    "QueueMemberPenalty": "penalty",
    "QueueMemberStatus": "status",
    "QueueMember": "status",
}


class QueueMemberHandler:
    """Turns queue-member events into :class:`QueueMemberChanged` and agent states."""

    def __init__(self, pbx: str, agents: AgentBook) -> None:
        self._pbx = pbx
        self._agents = agents
        # (queue, interface) -> paused, so that status events only report real changes.
        self._paused: dict[tuple[str, str], bool] = {}
        self._members: set[tuple[str, str]] = set()

    def apply(self, msg: AmiMessage, at: datetime) -> list[Event]:
        """Handle one queue-member event; other events give nothing."""
        change = _CHANGES.get(msg.event or "")
        if change is None:
            return []
        queue = msg.get("Queue")
        interface = msg.get("Interface") or msg.get("Location")
        if queue is None or interface is None:
            logger.warning("skipping %s event without Queue/Interface: %r", msg.event, msg.headers)
            return []
        key = (queue, interface)
        paused = msg.get("Paused") == "1"
        reason = msg.get("PausedReason") or ""
        agent_id = self._agents.agent_for_interface(interface)
        out: list[Event] = []
        was_member = key in self._members
        was_paused = self._paused.get(key, False)
        if change == "removed":
            self._members.discard(key)
            self._paused.pop(key, None)
        else:
            self._members.add(key)
            self._paused[key] = paused
        if change == "status":
            # Status events repeat constantly; report only membership or pause news.
            if was_member and was_paused == paused:
                return self._agent(agent_id, queue, change, paused, reason, at)
            change = "paused" if paused else ("unpaused" if was_member else "member")
        elif change == "paused" and not paused:
            change = "unpaused"
        out.append(
            QueueMemberChanged(
                occurred_at=at,
                pbx=self._pbx,
                queue=queue,
                interface=interface,
                change=change,
                agent_id=agent_id,
                member_name=msg.get("MemberName") or msg.get("Name"),
                paused=paused,
                reason=reason or None,
                penalty=int(msg.get("Penalty") or 0),
            )
        )
        out.extend(self._agent(agent_id, queue, change, paused, reason, at))
        return out

    def _agent(
        self,
        agent_id: str | None,
        queue: str,
        change: str,
        paused: bool,
        reason: str,
        at: datetime,
    ) -> list[Event]:
        if agent_id is None:
            return []
        if change == "removed":
            return self._agents.member(agent_id, queue, at, added=False)
        out = self._agents.member(agent_id, queue, at)
        out.extend(self._agents.pause(agent_id, queue, paused, reason, at))
        return out
