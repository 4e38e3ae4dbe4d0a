"""The bus mirror of a follower process: the tracker's domain events give the same live view,
and the leader's snapshot loaded with the events received meanwhile gives the leader's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from crm_core.bus.events import Event
from telephony.events import (
    AgentStateChanged,
    CallEnded,
    CallRinging,
    CallStarted,
)
from telephony.mirror import CallMirror
from telephony.models import (
    AgentInfo,
    AgentState,
    CallDirection,
    CallInfo,
    CallOutcome,
    CallState,
    Leg,
    LegRole,
    TrackerSnapshot,
)
from telephony.tracker import CallTracker

from .replay import DIRECTORY, replay
from .traces import at, server_messages


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


# -- seeding from the leader's snapshot ------------------------------------------------------

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _agent(
    agent_id: str,
    state: AgentState,
    at: float,
    *,
    previous: AgentState = AgentState.LOGGED_OUT,
    pbx: str = "main",
    reason: str | None = None,
    call_id: str | None = None,
) -> AgentStateChanged:
    return AgentStateChanged(
        occurred_at=_t(at),
        pbx=pbx,
        agent_id=agent_id,
        state=state,
        previous=previous,
        reason=reason,
        call_id=call_id,
    )


def _ended(call_id: str, at: float) -> CallEnded:
    return CallEnded(
        occurred_at=_t(at),
        pbx="main",
        call_id=call_id,
        direction=CallDirection.INBOUND,
        outcome=CallOutcome.ANSWERED,
        started_at=_t(0),
        ended_at=_t(at),
    )


def _leader_view(taken_at: float) -> TrackerSnapshot:
    """What the leader's tracker showed at ``taken_at``: agent 7 on call 1.1, agent 8 ready."""
    leg = Leg(key="Local/1007@agents-1", interface="Local/1007@agents", role=LegRole.AGENT)
    return TrackerSnapshot(
        pbx="main",
        taken_at=_t(taken_at),
        calls=(
            CallInfo(
                pbx="main",
                call_id="1.1",
                direction=CallDirection.INBOUND,
                state=CallState.BRIDGED,
                started_at=_t(1),
                answered_at=_t(2),
                agent_id="7",
                queue="support",
                legs=(leg,),
            ),
        ),
        agents=(
            AgentInfo(
                pbx="main",
                agent_id="7",
                state=AgentState.ON_CALL,
                call_id="1.1",
                queues=("support",),
                since=_t(2),
            ),
            AgentInfo(
                pbx="main", agent_id="8", state=AgentState.READY, queues=("sales",), since=_t(1)
            ),
        ),
    )


def test_a_snapshot_replaces_what_the_mirror_showed() -> None:
    # What a follower had pieced together from the bus: a call that has ended since (its end was
    # lost in a gap) and agent 8 on a break.
    mirror = _mirror(
        [
            CallStarted(
                occurred_at=_t(0), pbx="main", call_id="0.9", direction=CallDirection.OUTBOUND
            ),
            _agent("8", AgentState.PAUSED, 0, reason="break"),
        ]
    )
    assert mirror.load(_leader_view(3)) == 0
    shown = mirror.snapshot()
    assert shown.taken_at == _t(3)
    (call,) = shown.calls
    assert (call.call_id, call.state, call.agent_id, call.queue) == (
        "1.1",
        CallState.BRIDGED,
        "7",
        "support",
    )
    assert (call.started_at, call.answered_at) == (_t(1), _t(2))
    assert call.legs == ()  # not kept right by later events: a mirror has none
    assert [(a.agent_id, a.state, a.call_id, a.queues) for a in shown.agents] == [
        ("7", AgentState.ON_CALL, "1.1", ("support",)),
        ("8", AgentState.READY, None, ("sales",)),
    ]
    # Later events apply to the loaded view as to any other.
    mirror.apply(_agent("8", AgentState.RINGING, 4, previous=AgentState.READY, call_id="1.2"))
    assert [a.state for a in mirror.snapshot().agents] == [AgentState.ON_CALL, AgentState.RINGING]


def test_events_received_while_the_snapshot_travelled_apply_only_if_newer() -> None:
    mirror = CallMirror("main")
    # The leader took its snapshot at 3, in the middle of an AMI batch received at 3.
    received: list[Event] = [
        # Included in the snapshot, and so are the events after them, which the leader still
        # holds (they follow the storing of a finished call): applied again, these would show
        # agent 7 ringing and call 0.9 in progress until those arrive.
        CallStarted(occurred_at=_t(1), pbx="main", call_id="0.9", direction=CallDirection.OUTBOUND),
        _agent("7", AgentState.RINGING, 1, call_id="1.1", previous=AgentState.READY),
        # Of the batch of the snapshot's last message, after it: the snapshot misses this one.
        _agent("8", AgentState.PAUSED, 3, reason="lunch", previous=AgentState.READY),
        # After the snapshot: a new call rings agent 9; another PBX's event.
        _agent("7", AgentState.READY, 4, pbx="other"),
        CallRinging(
            occurred_at=_t(5),
            pbx="main",
            call_id="1.2",
            direction=CallDirection.INBOUND,
            agent_id="9",
            queue="sales",
        ),
        _agent("9", AgentState.RINGING, 5, call_id="1.2", previous=AgentState.READY),
    ]
    assert mirror.load(_leader_view(3), received) == 3
    shown = mirror.snapshot()
    assert shown.taken_at == _t(5)
    expected_calls = [("1.1", CallState.BRIDGED, "7"), ("1.2", CallState.RINGING, "9")]
    expected_agents = [
        ("7", AgentState.ON_CALL, "1.1", None),
        ("8", AgentState.PAUSED, None, "lunch"),
        ("9", AgentState.RINGING, "1.2", None),
    ]

    def shows(snapshot: TrackerSnapshot) -> tuple[object, ...]:
        return (
            [(c.call_id, c.state, c.agent_id) for c in snapshot.calls],
            [(a.agent_id, a.state, a.call_id, a.reason) for a in snapshot.agents],
        )

    assert shows(shown) == (expected_calls, expected_agents)
    # The held events arrive: they say what the snapshot said already.
    mirror.apply(_ended("0.9", 2))
    mirror.apply(_agent("7", AgentState.ON_CALL, 2, call_id="1.1", previous=AgentState.RINGING))
    assert shows(mirror.snapshot()) == (expected_calls, expected_agents)


def test_a_snapshot_of_another_pbx_is_refused() -> None:
    with pytest.raises(ValueError, match="snapshot of PBX 'main' given to the mirror of 'other'"):
        CallMirror("other").load(_leader_view(3))


@pytest.mark.parametrize("trace", ["04a", "10"])
def test_seeding_at_any_moment_gives_the_leaders_view(trace: str) -> None:
    """For every moment of a recorded trace at which the leader could take its snapshot, with the
    follower subscribed a few AMI batches before and the reply arriving a few batches after:
    once loaded, the mirror shows what the leader's tracker shows then, and keeps doing so."""
    batches = _batches(trace)
    for taken in range(len(batches)):
        subscribed, replied = max(taken - _AROUND, 0), min(taken + _AROUND, len(batches) - 1)
        snapshot = batches[taken].after
        received = [e for b in batches[subscribed : replied + 1] for e in b.events]
        # A mirror already showing something, all of it replaced.
        mirror = _mirror([e for b in batches[:subscribed] for e in b.events][:3])
        mirror.load(snapshot, received)
        assert _view(mirror.snapshot()) == _view(batches[replied].after), (taken, subscribed)
        for batch in batches[replied + 1 :]:
            for event in batch.events:
                mirror.apply(event)
        assert _view(mirror.snapshot()) == _view(batches[-1].after), taken


# How many AMI batches before the snapshot the follower subscribed, and after it the reply came.
_AROUND = 4
# Messages per AMI batch: all of a batch carry its receive time, as PanoramiskGateway stamps them.
_BATCH = 3


@dataclass
class _Batch:
    events: list[Event]
    after: TrackerSnapshot  # the leader's tracker once the batch is applied


def _batches(trace: str) -> list[_Batch]:
    """A trace as the leader lives it: batches of messages, each stamped with one time; the
    snapshot may also be taken in the middle of a batch (that is one batch less here)."""
    tracker = CallTracker("main", DIRECTORY)
    messages = server_messages(trace)
    out: list[_Batch] = []
    for start in range(0, len(messages), _BATCH):
        chunk = messages[start : start + _BATCH]
        received = at(chunk[-1].t)
        events: list[Event] = []
        for i, m in enumerate(chunk):
            events.extend(tracker.apply(m.message, received))
            if i == 0 and len(chunk) > 1:
                # Taken mid-batch: what follows carries the same time as its last message.
                out.append(_Batch(events, tracker.snapshot()))
                events = []
        out.append(_Batch(events, tracker.snapshot()))
    return out


def _view(snapshot: TrackerSnapshot) -> tuple[object, ...]:
    """The calls and agents shown, as far as the bus can tell them: no legs, and no call's agent
    (after a transfer into a queue no event says which agent took the call over: trace 10)."""
    return (
        sorted((c.call_id, c.queue, c.answered_at is not None) for c in snapshot.calls),
        sorted((a.agent_id, a.state, a.reason, a.call_id) for a in snapshot.agents),
    )
