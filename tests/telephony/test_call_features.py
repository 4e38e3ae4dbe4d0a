"""Call features (Atxfer, MixMonitorMute, PlayDTMF, UserEvent, ChanSpy, listings) on both gateways.

The simulator runs over real TCP with the real panoramisk client ("tcp") and in process; the
tracker turns the resulting events into the domain events the platform reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from crm_core.bus.events import Event
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.errors import AmiActionFailed, ChannelNotFound
from telephony.events import CallAnswered, CallEnded, CallTransferred
from telephony.fakes import InProcessGateway
from telephony.models import CallOutcome
from telephony.ports import GatewayStatus, OriginateSpec, ReceivedEvent
from telephony.protocol import AmiMessage
from telephony.runtime import RuntimeGateway
from telephony.sim import start_simulator
from telephony.tracker import CallTracker

from .replay import DIRECTORY

SPEED = 50.0


@pytest.fixture(params=["tcp", "in-process"])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[RuntimeGateway]:
    if request.param == "in-process":
        async with InProcessGateway(speed=SPEED) as fake:
            yield fake
        return
    sim = await start_simulator(speed=SPEED)
    try:
        config = AmiConfig(port=sim.port, username="crm", secret="crmsecret")
        async with PanoramiskGateway(config) as real:
            await real.wait_status(GatewayStatus.CONNECTED)
            yield real
    finally:
        await sim.close()


class Watcher:
    """Reads the gateway's events through a tracker, keeping both."""

    def __init__(self, gateway: RuntimeGateway) -> None:
        self.stream = gateway.events()
        self.tracker = CallTracker("main", DIRECTORY)
        self.messages: list[AmiMessage] = []
        self.events: list[Event] = []

    async def until(self, done: Callable[[ReceivedEvent], bool]) -> ReceivedEvent:
        """Read until ``done`` holds for a received message (the test's timeout bounds it)."""
        async for received in self.stream:
            self.messages.append(received.message)
            self.events.extend(self.tracker.apply(received.message, received.received_at))
            if done(received):
                return received
        raise AssertionError("event stream ended")

    async def close(self) -> None:
        """Close the event stream (an async generator) before the gateway goes."""
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()

    async def event(self, name: str, **headers: str) -> AmiMessage:
        """Read until an AMI event with these headers arrives."""
        received = await self.until(
            lambda r: (
                r.message.event == name and all(r.message.get(k) == v for k, v in headers.items())
            )
        )
        return received.message

    async def domain(self, kind: type[Event]) -> Event:
        """Read until the tracker emits a domain event of this type."""
        for seen in self.events:
            if isinstance(seen, kind):
                return seen
        await self.until(lambda _r: any(isinstance(e, kind) for e in self.events))
        return next(e for e in self.events if isinstance(e, kind))


async def _answered_call(gw: RuntimeGateway, watcher: Watcher) -> tuple[str, str, str]:
    """Agent 1001 calls a customer who answers at once (…3); return (call, agent, customer)."""
    await gw.originate(
        OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000003")
    )
    answered = await watcher.domain(CallAnswered)
    assert isinstance(answered, CallAnswered)
    enter = await watcher.event("BridgeEnter", BridgeNumChannels="2")
    call = next(c for c in watcher.tracker.snapshot().calls if c.call_id == answered.call_id)
    agent = next(leg.channels[0] for leg in call.legs if leg.agent_id == "agent-1001")
    customer = next(leg.channels[0] for leg in call.legs if leg.agent_id is None)
    assert enter.get("Linkedid") == answered.call_id
    return answered.call_id, agent, customer


async def test_listings_are_typed(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    call_id, agent, customer = await _answered_call(gateway, watcher)
    bridges = await gateway.bridge_list()
    assert [(b.bridge_type, b.channels) for b in bridges] == [("basic", 2)]
    channels = await gateway.core_show_channels()
    assert {c.linkedid for c in channels} == {call_id}
    assert {agent, customer} <= {c.channel for c in channels}
    assert any(c.bridge_id == bridges[0].bridge_id for c in channels)
    summary = await gateway.queue_summary("support")
    assert [(q.queue, q.logged_in) for q in summary] == [("support", 2)]
    await gateway.queue_penalty("Local/1001@agents", 3, queue="support")
    changed = await watcher.event("QueueMemberPenalty")
    assert changed.get("Penalty") == "3"
    with pytest.raises(AmiActionFailed, match="Invalid interface, queuename or penalty"):
        await gateway.queue_penalty("Local/9999@agents", 1)
    await gateway.hangup(agent)
    await watcher.domain(CallEnded)


async def test_recording_pause_and_resume(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    _, agent, _ = await _answered_call(gateway, watcher)
    with pytest.raises(AmiActionFailed, match="Cannot set mute flag"):
        await gateway.mixmonitor_mute(agent, True)
    with pytest.raises(ChannelNotFound, match="No such channel"):
        await gateway.mixmonitor_mute("Local/none-00000000;1", True)
    await gateway.mixmonitor(agent, "pay.wav")
    await gateway.mixmonitor_mute(agent, True)
    muted = await watcher.event("MixMonitorMute", Channel=agent)
    assert (muted.get("Direction"), muted.get("State")) == ("both", "1")
    await gateway.mixmonitor_mute(agent, False)
    resumed = await watcher.event("MixMonitorMute", Channel=agent)
    assert resumed.get("State") == "0"
    await gateway.hangup(agent)
    ended = await watcher.domain(CallEnded)
    assert isinstance(ended, CallEnded)
    assert ended.recording_file == "/var/spool/asterisk/monitor/pay.wav"


async def test_user_event_and_dtmf(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    await gateway.user_event("CrmScreenPop", {"Customer": "42"})
    user = await watcher.event("UserEvent", UserEvent="CrmScreenPop")
    assert user.get("Customer") == "42"
    # Last digit 4: the customer is asked for one DTMF digit; we play it on their channel.
    await gateway.originate(
        OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000004")
    )
    await watcher.event("BridgeEnter", BridgeNumChannels="2")
    customer = next(
        m.require("Channel")
        for m in watcher.messages
        if m.event == "Newchannel" and (m.get("Channel") or "").startswith("Local/0210000004")
    )
    await gateway.play_dtmf(customer, "7", duration_ms=250)
    pressed = await watcher.event("UserEvent", UserEvent="CustomerDTMF")
    assert (pressed.get("Digit"), pressed.get("ReadStatus")) == ("7", "OK")
    with pytest.raises(ChannelNotFound):
        await gateway.play_dtmf("Local/none-00000000;1", "1")
    await watcher.domain(CallEnded)


async def test_attended_transfer_to_another_agent(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    call_id, agent, customer = await _answered_call(gateway, watcher)
    with pytest.raises(AmiActionFailed, match="Channel specified does not exist"):
        await gateway.atxfer("Local/none-00000000;1", "transfer-agent", "1002")
    result = await gateway.atxfer(agent, "transfer-agent", "1002")
    assert result.message == "Atxfer successfully queued"
    # The transferer's new leg dials the target, which answers (seat 1002 answers at once).
    dial = await watcher.event("DialEnd", Channel=agent, DialStatus="ANSWER")
    assert dial.require("DestChannel").startswith("Local/1002@transfer-agent")
    await gateway.hangup(agent)  # the transferer hangs up: the transfer completes
    done = await watcher.event("AttendedTransfer")
    assert done.get("Result") == "Success"
    assert done.get("TransfereeChannel") == customer
    assert done.get("OrigTransfererLinkedid") == call_id
    transferred = await watcher.domain(CallTransferred)
    assert isinstance(transferred, CallTransferred)
    assert (transferred.kind, transferred.from_agent_id) == ("attended", "agent-1001")
    assert transferred.to_agent_id == "agent-1002"
    assert transferred.call_id == call_id
    call = next(c for c in watcher.tracker.snapshot().calls if c.call_id == call_id)
    assert call.agent_id == "agent-1002"
    # The customer is now talking to agent 1002; ending their leg ends the call once.
    await gateway.hangup(customer)
    ended = await watcher.domain(CallEnded)
    assert isinstance(ended, CallEnded)
    assert ended.transferred
    assert ended.outcome is CallOutcome.ANSWERED
    assert ended.agent_id == "agent-1002"
    assert not watcher.tracker.open_calls()


async def test_blind_transfer_by_redirect_is_tracked(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    call_id, _, customer = await _answered_call(gateway, watcher)
    await gateway.redirect(customer, "transfer-agent", "1002")
    transferred = await watcher.domain(CallTransferred)
    assert isinstance(transferred, CallTransferred)
    assert (transferred.kind, transferred.to_agent_id) == ("blind", "agent-1002")
    await watcher.event("BridgeEnter", BridgeNumChannels="2")
    call = next(c for c in watcher.tracker.snapshot().calls if c.call_id == call_id)
    assert call.agent_id == "agent-1002"
    await gateway.hangup(customer)
    ended = await watcher.domain(CallEnded)
    assert isinstance(ended, CallEnded)
    assert ended.transferred
    assert [e for e in watcher.events if isinstance(e, CallEnded)] == [ended]


async def test_supervisor_spies_with_chanspy(gateway: RuntimeGateway) -> None:
    watcher = Watcher(gateway)
    _, agent, _ = await _answered_call(gateway, watcher)
    await gateway.chanspy("Local/1003@agents", agent, "whisper")
    start = await watcher.event("ChanSpyStart")
    assert start.get("SpyeeChannel") == agent
    assert (start.get("SpyerChannel") or "").startswith("Local/1003@agents")
    originate = (
        next(m for m in reversed(getattr(gateway, "sent", [])) if m.get("Action") == "Originate")
        if isinstance(gateway, InProcessGateway)
        else None
    )
    if originate is not None:
        assert (originate.get("Application"), originate.get("Data")) == ("ChanSpy", f"{agent},qEw")
    await gateway.hangup(agent)
    stop = await watcher.event("ChanSpyStop")
    assert stop.get("SpyeeChannel") == agent


async def test_list_commands_names_the_new_actions(gateway: RuntimeGateway) -> None:
    result = await gateway.send_action("ListCommands")
    assert result.response.get("Atxfer") == "Attended transfer.  (Priv: call,all)"
    assert result.response.get("MixMonitorMute") is not None
    assert result.response.get("BridgeList") is not None


async def test_blind_transfer_of_an_inbound_queue_call() -> None:
    sim = await start_simulator(speed=SPEED)
    try:
        config = AmiConfig(port=sim.port, username="crm", secret="crmsecret")
        async with PanoramiskGateway(config) as gw:
            await gw.wait_status(GatewayStatus.CONNECTED)
            watcher = Watcher(gw)
            call_id = await sim.inbound_call("+302101234567", "support")
            await watcher.event("AgentConnect")
            await watcher.event("BridgeEnter", BridgeNumChannels="2", Linkedid=call_id)
            channels = {c.channel: c for c in await gw.core_show_channels()}
            bridged = [c for c in channels.values() if c.bridge_id and c.linkedid == call_id]
            customer = next(c.channel for c in bridged if "@from-pstn" in c.channel)
            await gw.redirect(customer, "transfer-agent", "1003")
            moved = await watcher.domain(CallTransferred)
            assert isinstance(moved, CallTransferred)
            assert (moved.kind, moved.to_agent_id) == ("blind", "agent-1003")
            await watcher.event("DialEnd", DialStatus="ANSWER", Channel=customer)
            call = next(c for c in watcher.tracker.snapshot().calls if c.call_id == call_id)
            assert call.agent_id == "agent-1003"
            await gw.hangup(customer)
            ended = await watcher.domain(CallEnded)
            assert isinstance(ended, CallEnded)
            assert ended.transferred
            assert ended.call_id == call_id
            assert not watcher.tracker.open_calls()
            await watcher.close()
    finally:
        await sim.close()
