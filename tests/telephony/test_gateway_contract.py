"""One contract, two gateways: the panoramisk gateway over TCP and the in-process fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.errors import AmiActionFailed, ChannelNotFound, PbxUnavailable
from telephony.events import CallEnded
from telephony.fakes import InProcessGateway
from telephony.models import CallOutcome
from telephony.ports import AmiGateway, GatewayStatus, OriginateSpec
from telephony.sim import start_simulator
from telephony.tracker import CallTracker

from .replay import DIRECTORY

SPEED = 50.0


@pytest.fixture(params=["tcp", "in-process"])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[AmiGateway]:
    if request.param == "in-process":
        async with InProcessGateway(speed=SPEED) as fake:
            yield fake
        assert fake.health().status is GatewayStatus.DOWN
        return
    sim = await start_simulator(speed=SPEED)
    try:
        config = AmiConfig(port=sim.port, username="crm", secret="crmsecret")
        async with PanoramiskGateway(config) as real:
            await real.wait_status(GatewayStatus.CONNECTED)
            yield real
    finally:
        await sim.close()


async def test_health_and_ping(gateway: AmiGateway) -> None:
    assert gateway.health().status is GatewayStatus.CONNECTED
    result = await gateway.send_action("Ping")
    assert result.response.get("Ping") == "Pong"


async def test_errors_carry_asterisk_messages(gateway: AmiGateway) -> None:
    with pytest.raises(ChannelNotFound, match="No such channel"):
        await gateway.hangup("Local/none-00000000;1")
    with pytest.raises(AmiActionFailed, match="Interface not found"):
        await gateway.queue_pause("Local/9999@agents", True)
    with pytest.raises(AmiActionFailed, match="Invalid/unknown command"):
        await gateway.send_action("Queues")


async def test_click_to_dial_ends_answered_and_status_lists_channels(
    gateway: AmiGateway,
) -> None:
    tracker = CallTracker("main", DIRECTORY)
    queued = await gateway.originate(
        OriginateSpec(
            channel="Local/1001@agents",
            context="customers",
            exten="0210000001",
            variables={"CRM_CALL_ID": "contract-1"},
        )
    )
    assert queued.message == "Originate successfully queued"
    listed = False
    async for received in gateway.events():
        for event in tracker.apply(received.message, received.received_at):
            if isinstance(event, CallEnded):
                assert event.outcome is CallOutcome.ANSWERED
                assert event.crm_call_id == "contract-1"
                assert listed
                return
        if received.message.event == "BridgeEnter" and not listed:
            channels = await gateway.status()
            assert {c.get("Linkedid") for c in channels} == set(tracker.open_calls())
            listed = True
    raise AssertionError("event stream ended")


async def test_in_process_gateway_refuses_actions_when_stopped() -> None:
    fake = InProcessGateway(speed=SPEED)
    with pytest.raises(PbxUnavailable):
        await fake.send_action("Ping")
    await fake.start()
    await fake.ping()
    assert [m.get("Action") for m in fake.sent] == ["Ping"]
    await fake.stop()
