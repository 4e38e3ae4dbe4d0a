"""The call tracker gives the same calls on a recording and on the simulator's answer to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telephony.events import CallEnded
from telephony.models import AgentDirectory
from telephony.protocol import AmiMessage
from telephony.sim import start_simulator
from telephony.tracker import CallTracker

from .conformance import drive
from .test_sim_conformance import SPEED, _prelude, _recorded

CALL_SCENARIOS = ["02", "03a", "03b", "03c", "03d", "03e", "03f", "03g", "03h", "04a", "04c",
                  "04d", "04e", "05", "10"]  # fmt: skip
AGENTS = AgentDirectory(
    {
        **{f"Local/{n}@agents": f"agent-{n}" for n in range(1001, 1011)},
        **{f"Local/{n}@agents": f"agent-{n}" for n in (2001, 2002, 3001, 3002)},
    }
)


def _calls(messages: list[tuple[str, AmiMessage]]) -> list[tuple[object, ...]]:
    """What a call-center report would say of each finished call (ids and times left out)."""
    tracker = CallTracker("main", AGENTS)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    ended: list[CallEnded] = []
    for i, (_conn, msg) in enumerate(messages):
        for event in tracker.apply(msg, at + timedelta(milliseconds=i)):
            if isinstance(event, CallEnded):
                ended.append(event)
    assert tracker.open_calls() == ()
    return sorted(
        (
            e.direction.value,
            e.outcome.value,
            e.agent_id,
            e.queue,
            e.hangup_by.value,
            e.hangup_cause,
            e.crm_call_id,
            e.recording_file is not None,
            e.transferred,
            e.answered_at is not None,
        )
        for e in ended
    )


@pytest.mark.parametrize("name", CALL_SCENARIOS)
async def test_same_calls_from_recording_and_simulator(name: str) -> None:
    sim = await start_simulator(speed=SPEED)
    try:
        _prelude(sim, name)
        transcript = await drive(sim, name)
    finally:
        await sim.close()
    recorded = _calls(_recorded(name))
    simulated = _calls(transcript.messages)
    assert recorded, "the recording has finished calls"
    assert simulated == recorded
