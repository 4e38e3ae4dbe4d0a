"""The simulator's number plan, seen through the real gateway and the call tracker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.errors import AmiActionFailed
from telephony.events import CallAnswered, CallEnded, CallRinging
from telephony.models import CallDirection, CallOutcome
from telephony.ports import GatewayStatus, OriginateSpec
from telephony.sim import PbxSimulator, start_simulator
from telephony.tracker import CallTracker

from .replay import DIRECTORY

# Simulated time is scaled real time: keep simulated events that race each other (a dial
# timeout against an answer) many milliseconds apart even on a loaded machine.
SPEED = 25.0
# last digit of the called number -> outcome (3 and 8 talk for minutes: the test hangs up)
PLAN = {
    "0": CallOutcome.ANSWERED,
    "1": CallOutcome.ANSWERED,
    "2": CallOutcome.ANSWERED,
    "3": CallOutcome.ANSWERED,
    "4": CallOutcome.ANSWERED,
    "5": CallOutcome.BUSY,
    "6": CallOutcome.NO_ANSWER,
    "7": CallOutcome.CONGESTION,
    "8": CallOutcome.ANSWERED,
    "9": CallOutcome.UNALLOCATED,
}


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator(speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


@pytest.fixture
async def gateway(sim: PbxSimulator) -> AsyncIterator[PanoramiskGateway]:
    config = AmiConfig(port=sim.port, username="crm", secret="crmsecret")
    async with PanoramiskGateway(config) as gw:
        await gw.wait_status(GatewayStatus.CONNECTED)
        yield gw


async def _run_until_ended(
    gateway: PanoramiskGateway, tracker: CallTracker, count: int, hang_up: set[str]
) -> dict[str, CallEnded]:
    ended: dict[str, CallEnded] = {}
    async for received in gateway.events():
        for event in tracker.apply(received.message, received.received_at):
            if isinstance(event, CallEnded) and event.crm_call_id:
                ended[event.crm_call_id] = event
            if isinstance(event, CallAnswered) and event.crm_call_id in hang_up:
                call = next(c for c in tracker.snapshot().calls if c.call_id == event.call_id)
                agent_leg = next(leg for leg in call.legs if leg.agent_id)
                await gateway.hangup(agent_leg.channels[0])
        if len(ended) == count:
            return ended
    raise AssertionError("event stream ended")


async def test_every_last_digit_behaves_as_the_number_plan(gateway: PanoramiskGateway) -> None:
    tracker = CallTracker("main", DIRECTORY)
    for digit in PLAN:
        await gateway.originate(
            OriginateSpec(
                channel=f"Local/100{int(digit) % 9 + 1}@agents",
                context="customers",
                exten=f"021000000{digit}",
                caller_id="Agent",
                variables={"CRM_CALL_ID": f"plan-{digit}", "DIALTIMEOUT": "10"},
            )
        )
    ended = await _run_until_ended(gateway, tracker, len(PLAN), {"plan-3", "plan-8"})
    outcomes = {crm[-1]: e.outcome for crm, e in ended.items()}
    assert outcomes == PLAN
    assert {e.direction for e in ended.values()} == {CallDirection.OUTBOUND}
    assert ended["plan-9"].hangup_cause == 1
    assert ended["plan-9"].dial_status == "NOANSWER"
    assert tracker.open_calls() == ()


@pytest.mark.parametrize(
    ("seat", "outcome"),
    [("1005", CallOutcome.ANSWERED), ("3001", CallOutcome.NO_ANSWER), ("3002", CallOutcome.BUSY)],
)
async def test_agent_seats(gateway: PanoramiskGateway, seat: str, outcome: CallOutcome) -> None:
    tracker = CallTracker("main", DIRECTORY)
    await gateway.originate(
        OriginateSpec(
            channel=f"Local/{seat}@agents",
            context="customers",
            exten="0210000002",
            timeout_s=4,
            variables={"CRM_CALL_ID": f"seat-{seat}"},
        )
    )
    ended = await _run_until_ended(gateway, tracker, 1, set())
    assert ended[f"seat-{seat}"].outcome is outcome
    assert ended[f"seat-{seat}"].agent_id == f"agent-{seat}"


async def test_injected_inbound_call_pops_on_an_agent(
    sim: PbxSimulator, gateway: PanoramiskGateway
) -> None:
    tracker = CallTracker("main", DIRECTORY)
    call_id = await sim.inbound_call("+302107770000", "support", patience_s=3)
    pops: list[CallRinging] = []
    ended: CallEnded | None = None
    async for received in gateway.events():
        for event in tracker.apply(received.message, received.received_at):
            if isinstance(event, CallRinging) and event.agent_id:
                pops.append(event)
            if isinstance(event, CallEnded):
                ended = event
        if ended is not None:
            break
    assert ended is not None
    assert ended.call_id == call_id
    assert (ended.direction, ended.outcome, ended.queue) == (
        CallDirection.INBOUND,
        CallOutcome.ANSWERED,
        "support",
    )
    assert [(p.agent_id, p.caller_id, p.queue) for p in pops] == [
        ("agent-1001", "+302107770000", "support")
    ]


async def test_abandon_in_a_queue_without_members(
    sim: PbxSimulator, gateway: PanoramiskGateway
) -> None:
    tracker = CallTracker("main", DIRECTORY)
    await sim.inbound_call("+302107770001", "empty", patience_s=2)
    ended = None
    async for received in gateway.events():
        for event in tracker.apply(received.message, received.received_at):
            if isinstance(event, CallEnded):
                ended = event
        if ended is not None:
            break
    assert ended is not None
    assert ended.outcome is CallOutcome.ABANDONED


async def test_monitor_user_is_read_only(sim: PbxSimulator) -> None:
    config = AmiConfig(port=sim.port, username="monitor", secret="monsecret")
    async with PanoramiskGateway(config) as gw:
        await gw.wait_status(GatewayStatus.CONNECTED)
        assert (await gw.ping()).response.get("Ping") == "Pong"
        with pytest.raises(AmiActionFailed, match="Permission denied"):
            await gw.originate(
                OriginateSpec(channel="Local/1001@agents", context="customers", exten="1")
            )


async def test_originate_to_send_fax_application(gateway: PanoramiskGateway) -> None:
    await gateway.originate(
        OriginateSpec(
            channel="Local/0210000003@customers",
            application="SendFAX",
            data="/var/spool/asterisk/fax/out/doc-1.tif",
            variables={"CRM_CALL_ID": "fax-1"},
        )
    )
    async for received in gateway.events():
        if received.message.event == "SendFAX":
            assert received.message.get("PagesTransferred") == "3"
            assert received.message.get("FileName") == "/var/spool/asterisk/fax/out/doc-1.tif"
            break
