"""The panoramisk AMI gateway against the PBX simulator over real TCP; one test per trap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.errors import (
    AmiActionFailed,
    AmiTimeout,
    ChannelNotFound,
    PbxUnavailable,
)
from telephony.events import CallAnswered, CallEnded, CallStarted
from telephony.models import CallOutcome
from telephony.ports import GatewayStatus, OriginateSpec, ReceivedEvent
from telephony.sim import PbxSimulator, start_simulator
from telephony.tracker import CallTracker

from .replay import DIRECTORY

SPEED = 50.0


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator(speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


def _config(sim: PbxSimulator, **overrides: object) -> AmiConfig:
    values: dict[str, object] = {
        "port": sim.port,
        "username": "crm",
        "secret": "crmsecret",
        "reconnect_min": 0.01,
        "reconnect_max": 0.05,
        "action_timeout": 5.0,
    }
    values.update(overrides)
    return AmiConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def gateway(sim: PbxSimulator) -> AsyncIterator[PanoramiskGateway]:
    async with PanoramiskGateway(_config(sim)) as gw:
        await gw.wait_status(GatewayStatus.CONNECTED)
        yield gw


async def _next_event(gw: PanoramiskGateway, name: str) -> ReceivedEvent:
    async for event in gw.events():
        if event.message.event == name:
            return event
    raise AssertionError("event stream ended")


async def test_connects_logs_in_and_answers_ping(gateway: PanoramiskGateway) -> None:
    health = gateway.health()
    assert health.status is GatewayStatus.CONNECTED
    assert health.sessions == 1
    result = await gateway.ping()
    assert result.response.get("Ping") == "Pong"


async def test_wrong_secret_is_reported_and_not_retried(sim: PbxSimulator) -> None:
    # panoramisk 1.4 alone would retry this login forever without telling anybody.
    async with PanoramiskGateway(_config(sim, secret="wrong")) as gw:
        health = await gw.wait_status(GatewayStatus.LOGIN_FAILED)
        assert "Authentication failed" in health.detail
        with pytest.raises(PbxUnavailable):
            await gw.ping()
    logins = [a for a in sim.actions_seen if a.get("Action") == "Login"]
    assert len(logins) == 1


async def test_queue_add_resolves_and_duplicate_is_a_typed_error(
    gateway: PanoramiskGateway,
) -> None:
    # panoramisk 1.4 never resolves QueueAdd's future unless as_list=False is forced.
    result = await gateway.queue_add("support", "Local/1003@agents", member_name="Agent 1003")
    assert result.message == "Added interface to queue"
    added = await _next_event(gateway, "QueueMemberAdded")
    assert added.message.get("Interface") == "Local/1003@agents"
    with pytest.raises(AmiActionFailed) as err:
        await gateway.queue_add("support", "Local/1003@agents")
    assert err.value.message == "Unable to add interface: Already there"
    with pytest.raises(AmiActionFailed, match="No such queue"):
        await gateway.queue_add("nosuchqueue", "Local/1003@agents")
    members = await gateway.queue_status("support")
    assert "Local/1003@agents" in {m.get("Location") for m in members}
    paused = await gateway.queue_pause("Local/1003@agents", True, reason="lunch")
    assert paused.message == "Interface paused successfully"
    removed = await gateway.queue_remove("support", "Local/1003@agents")
    assert removed.message == "Removed interface from queue"


async def test_asterisk_errors_become_typed_errors(gateway: PanoramiskGateway) -> None:
    with pytest.raises(ChannelNotFound) as missing:
        await gateway.hangup("Local/none-00000000;1")
    assert missing.value.message == "No such channel"
    with pytest.raises(ChannelNotFound, match="Channel does not exist"):
        await gateway.redirect("Local/none-00000000;1", "agents", "1001")
    with pytest.raises(AmiActionFailed) as bad:
        await gateway.originate(
            OriginateSpec(channel="Local/1001@agents", context="nonexistent", exten="123")
        )
    assert bad.value.message == "Extension does not exist."
    with pytest.raises(AmiActionFailed, match="Invalid/unknown command: FooBar"):
        await gateway.send_action("FooBar")


async def test_action_timeout(gateway: PanoramiskGateway) -> None:
    # Asterisk answers WaitEvent only after its timeout; here that is never, for the test.
    with pytest.raises(AmiTimeout):
        await gateway.send_action("WaitEvent", {"Timeout": "3600"}, timeout=0.05)
    assert gateway.health().status is GatewayStatus.CONNECTED


async def test_shutdown_event_then_reconnect_without_resending(
    sim: PbxSimulator, gateway: PanoramiskGateway
) -> None:
    pending = asyncio.ensure_future(gateway.send_action("WaitEvent", {"Timeout": "3600"}))
    await sim.wait_for_action("WaitEvent")
    await sim.shutdown_sessions()
    shutdown = await _next_event(gateway, "Shutdown")
    assert shutdown.message.get("Restart") == "True"
    with pytest.raises(PbxUnavailable):
        await pending
    await gateway.wait_status(GatewayStatus.CONNECTING)
    health = await gateway.wait_status(GatewayStatus.CONNECTED)
    assert health.sessions == 2
    assert (await gateway.ping()).response.get("Ping") == "Pong"
    # panoramisk would have re-sent the interrupted action after FullyBooted.
    assert sum(a.get("Action") == "WaitEvent" for a in sim.actions_seen) == 1


async def test_unreachable_pbx_keeps_connecting(sim: PbxSimulator) -> None:
    port = sim.port
    await sim.close()
    async with PanoramiskGateway(_config(sim, port=port)) as gw:
        health = await gw.wait_status(GatewayStatus.CONNECTING)
        while "connect failed" not in health.detail:
            health = await gw.next_change()
        assert health.status is GatewayStatus.CONNECTING
        assert "retry in" in health.detail
        with pytest.raises(PbxUnavailable):
            await gw.ping()
    assert gw.health().status is GatewayStatus.DOWN


async def test_click_to_dial_through_gateway_and_tracker(gateway: PanoramiskGateway) -> None:
    tracker = CallTracker("main", DIRECTORY)
    queued = await gateway.originate(
        OriginateSpec(
            channel="Local/1001@agents",
            context="customers",
            exten="0210000002",
            caller_id='"Agent 1001" <1001>',
            variables={"CRM_CALL_ID": "crm-gw-1"},
        )
    )
    assert queued.message == "Originate successfully queued"
    ended: CallEnded | None = None
    kinds: list[str] = []
    async for event in gateway.events():
        for domain in tracker.apply(event.message, event.received_at):
            kinds.append(type(domain).__name__)
            if isinstance(domain, CallEnded):
                ended = domain
        if ended is not None:
            break
    assert ended is not None
    assert kinds[0] == CallStarted.__name__
    assert CallAnswered.__name__ in kinds
    assert ended.outcome is CallOutcome.ANSWERED
    assert ended.crm_call_id == "crm-gw-1"
    assert ended.agent_id == "agent-1001"
    assert ended.called_number == "0210000002"
    assert tracker.open_calls() == ()


async def test_raw_panoramisk_never_resolves_queue_add(sim: PbxSimulator) -> None:
    """The trap the gateway works around, shown with panoramisk alone against the simulator."""
    from panoramisk import Manager

    manager = Manager(
        host="127.0.0.1",
        port=sim.port,
        username="crm",
        secret="crmsecret",
        loop=asyncio.get_running_loop(),
        ping_delay=3600,
    )
    added = asyncio.Event()
    manager.register_event("QueueMemberAdded", lambda _m, _e: added.set())
    await manager.connect()
    try:
        login = await manager.authenticated_future
        assert login.success
        future = manager.send_action(
            {"Action": "QueueAdd", "Queue": "support", "Interface": "Local/1004@agents"}
        )
        await added.wait()  # the reply came before this event, and still:
        assert not future.done()
        future.cancel()
    finally:
        manager.close()
