"""``callboard bench screenpop`` end to end with a tiny set-up, and the ringing call it sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from screenpop.bench import RING_TRACE, RINGS_PER_S, TALK_S, _plan, _server_events, ring_call
from telephony.protocol import AmiParser
from tests.cli_helpers import run_cli

SHARED = Path(__file__).resolve().parents[2] / "shared" / "ami-traces"
KEYS = {
    "pops",
    "pop_p50_ms",
    "pop_p99_ms",
    "known_pops",
    "known_pop_p99_ms",
    "unknown_pop_p99_ms",
    "baseline_pops",
    "baseline_p50_ms",
    "baseline_p99_ms",
    "missed_pops",
    "agents",
    "contacts",
    "calls",
    "background_eps",
    "background_eps_achieved",
    "load_s",
    "load_avg_1m",
    "target_pop_p99_ms",
}


def test_ring_call_is_the_recorded_queue_call_renumbered_for_a_seat() -> None:
    template = _server_events(SHARED, RING_TRACE)
    calls = [ring_call(template, n, "Local/70001@agents", "+306941234567") for n in (0, 1)]
    assert calls[0][0] != calls[1][0]  # a Linkedid per call
    linkedid, before, ring, after = calls[0]
    messages = AmiParser().feed(before + ring + after)
    names = [m.event for m in messages]
    assert names[0] == "Newchannel"
    assert names.count("AgentCalled") == 1
    assert "Hangup" in names
    (called,) = [m for m in messages if m.event == "AgentCalled"]
    assert called.get("Interface") == "Local/70001@agents"
    assert called.get("CallerIDNum") == "+306941234567"
    assert called.get("Linkedid") == linkedid
    assert ring.startswith(b"Event: AgentCalled")
    assert b"1001@agents" not in before + ring + after


def test_the_plan_spreads_hang_ups_between_the_rings() -> None:
    seats = [f"Local/{70000 + k}@agents" for k in range(4)]
    plan = _plan(200, seats, 1000, seed=7)
    assert plan == _plan(200, seats, 1000, seed=7)  # the same calls for the same seed
    assert [caller for _, caller, _ in plan[1::2]] == ["anonymous"] * 220  # baseline calls
    talks = [talk for _, _, talk in plan]
    assert all(TALK_S[0] <= t <= TALK_S[1] for t in talks)
    # Where each hang-up falls within the 100 ms between two rings: all over it, not at a ring.
    phases = {int(((n / RINGS_PER_S + t) * RINGS_PER_S % 1) * 10) for n, t in enumerate(talks)}
    assert phases == set(range(10))


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_bench_screenpop_prints_its_figures(bench_db: str) -> None:
    result = run_cli(
        "bench",
        "screenpop",
        "--contacts",
        "500",
        "--agents",
        "3",
        "--calls",
        "10",
        "--background-eps",
        "200",
        "--database-url",
        bench_db,
        "--traces",
        str(SHARED),
        timeout=360,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    figures = json.loads(lines[0])
    assert set(figures) == KEYS
    assert (figures["agents"], figures["contacts"], figures["calls"]) == (3, 500, 10)
    assert figures["missed_pops"] == 0
    assert figures["pops"] == 10
    assert figures["baseline_pops"] == 10
    for kind in ("pop", "baseline"):
        assert 0 < figures[f"{kind}_p50_ms"] <= figures[f"{kind}_p99_ms"], kind
    # 8 of 10 measured calls come from known numbers (each pop shows its contact), 2 from
    # unknown ones.
    assert figures["known_pops"] == 8
    assert figures["known_pop_p99_ms"] > 0
    assert figures["unknown_pop_p99_ms"] > 0
    assert figures["background_eps"] == 200
    assert figures["background_eps_achieved"] > 0
    assert figures["target_pop_p99_ms"] == 10.0
