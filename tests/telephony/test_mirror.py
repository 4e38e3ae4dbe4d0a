"""The bus mirror of a follower process: the tracker's domain events give the same live view."""

from __future__ import annotations

from crm_core.bus.events import Event
from telephony.events import AgentStateChanged
from telephony.mirror import CallMirror
from telephony.models import AgentState, CallState

from .replay import replay


def _mirror(events: list[Event]) -> CallMirror:
    mirror = CallMirror("main")
    for event in events:
        mirror.apply(event)
    return mirror


def test_mirror_follows_a_queue_call_to_its_end() -> None:
    result = replay("04a")
    events = [e for _, e in result.events]
    ended_at = next(i for i, e in enumerate(events) if type(e).__name__ == "CallEnded")
    during = _mirror(events[:ended_at]).snapshot()
    (call,) = during.calls
    assert call.state in (CallState.UP, CallState.BRIDGED)
    assert call.answered_at is not None
    assert call.queue == "support"
    assert call.agent_id is not None
    after = _mirror(events).snapshot()
    assert after.calls == ()
    assert not result.tracker.open_calls()
    # Agents: the mirror shows what the tracker's AgentStateChanged said last.
    last = {e.agent_id: e.state for e in events if isinstance(e, AgentStateChanged)}
    assert {a.agent_id: a.state for a in after.agents} == last


def test_mirror_ignores_other_pbxes() -> None:
    mirror = CallMirror("main")
    mirror.apply(
        AgentStateChanged(
            pbx="other", agent_id="7", state=AgentState.READY, previous=AgentState.LOGGED_OUT
        )
    )
    assert mirror.snapshot().agents == ()
