"""Trace conformance: the simulator answers recorded conversations as the real Asterisk did."""

from __future__ import annotations

import difflib

import pytest

from telephony.protocol import AmiMessage, AmiParser
from telephony.sim import PbxSimulator, start_simulator

from .conformance import drive, per_key
from .traces import load_timeline

SPEED = 25.0
SCENARIOS = ["01", "02", "03a", "03b", "03c", "03d", "03e", "03f", "03g", "03h", "04a",
             "04b", "04c", "04d", "04e", "05", "07a", "07b", "07c", "09a", "09b", "09c", "09d",
             "10", "12"]  # fmt: skip


def _recorded(name: str) -> list[tuple[str, AmiMessage]]:
    out: list[tuple[str, AmiMessage]] = []
    parsers: dict[str, AmiParser] = {}
    for line in load_timeline(name):
        if line.dir == "S>C":
            for msg in parsers.setdefault(line.conn, AmiParser()).feed(line.data.encode()):
                out.append((line.conn, msg))
    return out


def _prelude(sim: PbxSimulator, name: str) -> None:
    if name == "04c":
        # Recorded right after 04a on the same PBX: rrmemory remembers that 1001 took the
        # last call, so 1002 is rung first.
        sim.queues.queues["support"].last_index = 0


@pytest.mark.parametrize("name", SCENARIOS)
async def test_simulator_matches_recording(name: str) -> None:
    sim = await start_simulator(speed=SPEED)
    try:
        _prelude(sim, name)
        transcript = await drive(sim, name)
    finally:
        await sim.close()
    expected = per_key(_recorded(name))
    actual = per_key(transcript.messages)
    problems: list[str] = []
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            diff = difflib.unified_diff(
                [repr(x) for x in expected.get(key, [])],
                [repr(x) for x in actual.get(key, [])],
                "recorded",
                "simulator",
                lineterm="",
            )
            problems.append(f"{key}:\n" + "\n".join(diff))
    assert not problems, "\n\n".join(problems)
    assert transcript.missing == []
    assert sum(len(v) for v in expected.values()) > 3
