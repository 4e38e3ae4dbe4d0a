"""Wrap-up is derived from queue pauses with the reason ``wrap-up``, also after a resync."""

from __future__ import annotations

from datetime import UTC, datetime

from telephony.events import AgentStateChanged
from telephony.models import AgentState
from telephony.protocol import AmiMessage
from telephony.tracker import CallTracker

from .replay import DIRECTORY

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _member(event: str, queue: str, paused: bool, reason: str) -> AmiMessage:
    return AmiMessage.build(
        ("Event", event),
        ("Queue", queue),
        ("MemberName", "Local/1001@agents"),
        ("Interface", "Local/1001@agents"),
        ("StateInterface", "Local/1001@agents"),
        ("Paused", "1" if paused else "0"),
        ("PausedReason", reason),
    )


def _state(tracker: CallTracker) -> tuple[AgentState, str | None]:
    (agent,) = tracker.snapshot().agents
    return agent.state, agent.reason


def test_resync_rebuilds_wrap_up_and_ready_ends_it() -> None:
    tracker = CallTracker("main", DIRECTORY)
    # What QueueStatus answers after a (re)connect for an agent in wrap-up.
    events = tracker.apply(_member("QueueMember", "support", True, "wrap-up"), AT)
    assert _state(tracker) == (AgentState.WRAP_UP, None)
    changed = [e for e in events if isinstance(e, AgentStateChanged)]
    assert changed[-1].state is AgentState.WRAP_UP  # member first (ready), then paused
    tracker.apply(_member("QueueMemberPause", "support", False, ""), AT)
    assert _state(tracker) == (AgentState.READY, None)


def test_a_real_pause_wins_over_wrap_up() -> None:
    tracker = CallTracker("main", DIRECTORY)
    tracker.apply(_member("QueueMemberPause", "support", True, "wrap-up"), AT)
    tracker.apply(_member("QueueMemberPause", "sales", True, "lunch"), AT)
    assert _state(tracker) == (AgentState.PAUSED, "lunch")
