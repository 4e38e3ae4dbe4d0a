"""Property test: any interleaving of recorded calls leaves no open call and adds up."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.events import CallEnded, CallStarted

from .replay import replay_messages
from .traces import TracedMessage, server_messages

SCENARIOS = ["02", "03a", "03b", "03c", "03d", "03e", "03f", "03g", "03h", "04a", "04c", "04d",
             "04e", "05", "10"]  # fmt: skip
_CALL_EVENTS = frozenset(
    {
        "Newchannel", "Newstate", "NewCallerid", "VarSet", "DialBegin", "DialEnd", "AgentCalled",
        "AgentConnect", "AgentComplete", "QueueCallerJoin", "QueueCallerLeave",
        "QueueCallerAbandon", "BridgeEnter", "BridgeLeave", "MixMonitorStart", "Hangup",
        "HangupRequest", "SoftHangupRequest", "OriginateResponse",
    }
)  # fmt: skip


def _call_messages(name: str) -> list[TracedMessage]:
    return [m for m in server_messages(name) if m.message.event in _CALL_EVENTS]


def _interleave(streams: list[list[TracedMessage]], rnd: random.Random) -> list[TracedMessage]:
    cursors = [0] * len(streams)
    out: list[TracedMessage] = []
    while True:
        live = [i for i, s in enumerate(streams) if cursors[i] < len(s)]
        if not live:
            return out
        i = rnd.choice(live)
        out.append(streams[i][cursors[i]])
        cursors[i] += 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.sampled_from(SCENARIOS), min_size=2, max_size=4, unique=True),
    rnd=st.randoms(use_true_random=False),
)
def test_any_interleaving_ends_with_no_open_call(names: list[str], rnd: random.Random) -> None:
    merged = _interleave([_call_messages(n) for n in names], rnd)
    result = replay_messages(merged)
    assert result.tracker.open_calls() == ()
    started = {e.call_id for e in result.of(CallStarted) if isinstance(e, CallStarted)}
    ended = [e for e in result.of(CallEnded) if isinstance(e, CallEnded)]
    assert len(ended) == len(names) == len(started)
    assert {e.call_id for e in ended} == started
    for e in ended:
        assert e.ring_s >= 0
        assert e.talk_s >= 0
        assert e.hold_s >= 0
        assert e.ring_s + e.talk_s + e.hold_s == pytest.approx(e.total_s, abs=1e-9)
        assert e.wait_s <= e.total_s + 1e-9
    for agent in result.tracker.snapshot().agents:
        assert agent.call_id is None
