"""Agent state book of the call tracker: derives each agent's state from calls and queues (pure)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from crm_core.bus.events import Event
from telephony.events import AgentStateChanged
from telephony.models import WRAP_UP_REASON, AgentDirectory, AgentInfo, AgentState

__all__ = ["AgentBook"]

logger = logging.getLogger(__name__)


@dataclass
class _LegOnAgent:
    call_id: str
    up: bool = False


@dataclass
class _Agent:
    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    call_id: str | None = None
    since: datetime | None = None
    queues: set[str] = field(default_factory=set)
    paused: dict[str, str] = field(default_factory=dict)
    legs: dict[str, _LegOnAgent] = field(default_factory=dict)

    def derive(self) -> tuple[AgentState, str | None, str | None]:
        """Return (state, reason, call id) from the legs, pauses and queues."""
        for leg in self.legs.values():
            if leg.up:
                return AgentState.ON_CALL, None, leg.call_id
        for leg in self.legs.values():
            return AgentState.RINGING, None, leg.call_id
        if self.paused:
            reasons = set(self.paused.values())
            if reasons == {WRAP_UP_REASON}:
                # The platform pauses an agent with this reason for the wrap-up time.
                return AgentState.WRAP_UP, None, None
            reasons.discard(WRAP_UP_REASON)
            return AgentState.PAUSED, sorted(reasons)[0] or None, None
        if self.queues:
            return AgentState.READY, None, None
        return AgentState.LOGGED_OUT, None, None


class AgentBook:
    """Tracks agents by their phone legs and queue memberships; returns state-change events."""

    def __init__(self, pbx: str, directory: AgentDirectory) -> None:
        self._pbx = pbx
        self._directory = directory
        self._agents: dict[str, _Agent] = {}

    def agent_for_interface(self, interface: str) -> str | None:
        """Return the agent id of a phone interface."""
        return self._directory.agent_for_interface(interface)

    def _get(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = _Agent(agent_id)
        return agent

    def _update(self, agent: _Agent, at: datetime) -> list[Event]:
        state, reason, call_id = agent.derive()
        if (state, reason, call_id) == (agent.state, agent.reason, agent.call_id):
            return []
        previous = agent.state
        agent.state, agent.reason, agent.call_id, agent.since = state, reason, call_id, at
        logger.debug("agent %s: %s -> %s (call %s)", agent.agent_id, previous, state, call_id)
        return [
            AgentStateChanged(
                occurred_at=at,
                pbx=self._pbx,
                agent_id=agent.agent_id,
                state=state,
                previous=previous,
                reason=reason,
                call_id=call_id,
            )
        ]

    def leg_ringing(self, agent_id: str, leg: str, call_id: str, at: datetime) -> list[Event]:
        """Record that a leg of a call rings the agent's phone."""
        agent = self._get(agent_id)
        agent.legs.setdefault(leg, _LegOnAgent(call_id))
        return self._update(agent, at)

    def leg_up(self, agent_id: str, leg: str, call_id: str, at: datetime) -> list[Event]:
        """Record that the agent's phone leg is answered."""
        agent = self._get(agent_id)
        agent.legs.setdefault(leg, _LegOnAgent(call_id)).up = True
        return self._update(agent, at)

    def leg_gone(self, agent_id: str, leg: str, at: datetime) -> list[Event]:
        """Record that the agent's phone leg ended or was cancelled."""
        agent = self._get(agent_id)
        agent.legs.pop(leg, None)
        return self._update(agent, at)

    def member(self, agent_id: str, queue: str, at: datetime, *, added: bool = True) -> list[Event]:
        """Record that the agent joined (or left) a queue."""
        agent = self._get(agent_id)
        if added:
            agent.queues.add(queue)
        else:
            agent.queues.discard(queue)
            agent.paused.pop(queue, None)
        return self._update(agent, at)

    def pause(
        self, agent_id: str, queue: str, paused: bool, reason: str, at: datetime
    ) -> list[Event]:
        """Record that the agent was paused or unpaused in a queue."""
        agent = self._get(agent_id)
        agent.queues.add(queue)
        if paused:
            agent.paused[queue] = reason
        else:
            agent.paused.pop(queue, None)
        return self._update(agent, at)

    def snapshot(self) -> tuple[AgentInfo, ...]:
        """Return every known agent."""
        return tuple(
            AgentInfo(
                pbx=self._pbx,
                agent_id=a.agent_id,
                state=a.state,
                reason=a.reason,
                call_id=a.call_id,
                queues=tuple(sorted(a.queues)),
                since=a.since,
            )
            for a in sorted(self._agents.values(), key=lambda a: a.agent_id)
        )

    def state_of(self, agent_id: str) -> AgentState:
        """Return an agent's current state (logged out if never seen)."""
        agent = self._agents.get(agent_id)
        return agent.state if agent else AgentState.LOGGED_OUT
