"""Replays of the recorded traces through the real parser and the call tracker."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from telephony.events import (
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallRinging,
    CallStarted,
    CallTransferred,
    QueueCallerAbandoned,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMemberChanged,
)
from telephony.models import (
    AgentState,
    CallDirection,
    CallOutcome,
    CallState,
    HangupParty,
)
from telephony.protocol import AmiMessage
from telephony.tracker import CallTracker

from .replay import DIRECTORY, call_events, replay, replay_messages
from .traces import TracedMessage, at, server_messages

D, Out = CallDirection, CallOutcome


@dataclass(frozen=True)
class Expect:
    direction: CallDirection
    agent: str | None
    outcome: CallOutcome
    cause: int
    by: HangupParty
    answer: str | None  # which message marks the answer: dial / originate / None
    called: str | None = None
    caller: str | None = None
    crm: str | None = None
    queue: str | None = None
    dial_status: str | None = None


CUST, AGENT = HangupParty.CUSTOMER, HangupParty.AGENT
EXPECTED = {
    "02": Expect(D.OUTBOUND, "agent-1001", Out.ANSWERED, 16, CUST, "dial", "0210000001", "1001",
                 "crm-0002", dial_status="ANSWER"),
    "03a": Expect(D.OUTBOUND, "agent-1001", Out.BUSY, 17, CUST, None, "0210000005", "1001",
                  "crm-0003a", dial_status="BUSY"),
    "03b": Expect(D.OUTBOUND, "agent-1001", Out.NO_ANSWER, 16, CUST, None, "0210000006", "1001",
                  "crm-0003b", dial_status="NOANSWER"),
    "03c": Expect(D.DIALER, None, Out.NO_ANSWER, 19, CUST, None, "0210000006", "2100000000",
                  "crm-0003c"),
    "03d": Expect(D.DIALER, None, Out.BUSY, 17, CUST, None, "0210000005", "2100000000",
                  "crm-0003d"),
    "03e": Expect(D.OUTBOUND, "agent-3001", Out.NO_ANSWER, 19, AGENT, None, None, "3001",
                  "crm-0003e"),
    "03f": Expect(D.OUTBOUND, "agent-1001", Out.CONGESTION, 34, CUST, None, "0210000007", "1001",
                  "crm-0003f", dial_status="CONGESTION"),
    # 03g: Asterisk says DIALSTATUS=NOANSWER, the cause (1) says unallocated.
    "03g": Expect(D.OUTBOUND, "agent-1001", Out.UNALLOCATED, 1, CUST, None, "0210000009", "1001",
                  "crm-0003g", dial_status="NOANSWER"),
    "03h": Expect(D.OUTBOUND, "agent-1001", Out.ANSWERED, 16, CUST, "dial", "0210000004", "1001",
                  "crm-0003h", dial_status="ANSWER"),
    "04a": Expect(D.INBOUND, "agent-1001", Out.ANSWERED, 16, CUST, "dial", "2101234567",
                  "+302101234567", "inbound-1", "support", "ANSWER"),
    # 04c: AgentComplete says "Reason: caller" although the agent leg was hung up.
    "04c": Expect(D.INBOUND, "agent-1002", Out.ANSWERED, 16, AGENT, "dial", "2101234567",
                  "+302109876543", "inbound-agenthup-1", "support", "ANSWER"),
    "04d": Expect(D.INBOUND, None, Out.ABANDONED, 0, CUST, None, "2101234567", "+302105550000",
                  "inbound-abandon-1", "empty"),
    "04e": Expect(D.INBOUND, "agent-2001", Out.ANSWERED, 16, AGENT, "dial", "2101234567",
                  "+302106660000", "inbound-sales-1", "sales", "ANSWER"),
    "05": Expect(D.INTERNAL, None, Out.ANSWERED, 16, CUST, "originate", "send", "+302100000001"),
    "10": Expect(D.OUTBOUND, "agent-1001", Out.ANSWERED, 16, CUST, "dial", "0210000003", "1005",
                 "crm-10", "support", "ANSWER"),
}  # fmt: skip


def _times(messages: list[TracedMessage], answer: str | None) -> tuple[float, float, float | None]:
    start = next(m.t for m in messages if m.message.event == "Newchannel")
    end = max(m.t for m in messages if m.message.event == "Hangup")
    answered: float | None = None
    if answer is not None:
        answered = next(
            m.t
            for m in messages
            if m.message.event == "DialEnd"
            and m.message.get("DialStatus") == "ANSWER"
            and ("Channel" in m.message) == (answer == "dial")
        )
    return start, end, answered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trace_replay_gives_the_recorded_call(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="telephony")
    expect = EXPECTED[name]
    result = replay(name)
    assert result.tracker.open_calls() == ()
    [ended] = result.of(CallEnded)
    assert isinstance(ended, CallEnded)
    [started] = result.of(CallStarted)
    assert isinstance(started, CallStarted)
    assert started.call_id == ended.call_id
    assert (ended.direction, ended.agent_id, ended.outcome) == (
        expect.direction,
        expect.agent,
        expect.outcome,
    )
    assert (ended.hangup_cause, ended.hangup_by) == (expect.cause, expect.by)
    assert ended.called_number == expect.called
    assert ended.caller_id == expect.caller
    assert ended.crm_call_id == expect.crm
    assert ended.queue == expect.queue
    assert ended.dial_status == expect.dial_status
    assert ended.pbx == "main"
    assert ended.vanished is False

    start, end, answered = _times(server_messages(name), expect.answer)
    assert ended.total_s == pytest.approx(end - start, abs=1e-6)
    if answered is None:
        assert ended.answered_at is None
        assert ended.ring_s == pytest.approx(end - start, abs=1e-6)
        assert ended.talk_s == 0
        assert result.of(CallAnswered) == []
    else:
        assert ended.answered_at == at(answered)
        assert ended.ring_s == pytest.approx(answered - start, abs=1e-6)
        assert ended.talk_s == pytest.approx(end - answered, abs=1e-6)
        assert len(result.of(CallAnswered)) == 1
    assert ended.hold_s == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_click_to_dial_event_sequence() -> None:
    result = replay("02")
    assert call_events(result) == [
        "CallStarted",
        "CallRinging",  # Originate rings the agent's seat (DialBegin without Channel)
        "CallRinging",  # the agent's leg dials the customer
        "CallAnswered",
        "CallBridged",
        "CallEnded",
    ]
    first, second = result.of(CallRinging)
    assert isinstance(first, CallRinging)
    assert isinstance(second, CallRinging)
    assert first.channel == "Local/1001@agents-00000002;1"
    assert second.called_number == "0210000001"
    states = [e.state for e in result.of(AgentStateChanged) if isinstance(e, AgentStateChanged)]
    assert states[:2] == [AgentState.RINGING, AgentState.ON_CALL]
    assert states[-1] is AgentState.READY


def test_inbound_queue_screen_pop_carries_agent_caller_and_queue() -> None:
    result = replay("04a")
    pops = [e for e in result.of(CallRinging) if isinstance(e, CallRinging) and e.agent_id]
    assert len(pops) == 1
    pop = pops[0]
    assert (pop.agent_id, pop.caller_id, pop.called_number, pop.queue) == (
        "agent-1001",
        "+302101234567",
        "2101234567",
        "support",
    )
    assert pop.crm_call_id == "inbound-1"
    joined = result.of(QueueCallerJoined)
    left = result.of(QueueCallerLeft)
    assert len(joined) == len(left) == 1


def test_ringall_loser_does_not_decide_cause_or_party() -> None:
    result = replay("04e")
    rung = {e.agent_id for e in result.of(CallRinging) if isinstance(e, CallRinging)}
    assert rung == {"agent-2001", "agent-3001"}
    last = {}
    for e in result.of(AgentStateChanged):
        assert isinstance(e, AgentStateChanged)
        last[e.agent_id] = e.state
    assert last == {"agent-2001": AgentState.READY, "agent-3001": AgentState.READY}


def test_abandon_in_empty_queue() -> None:
    result = replay("04d")
    [abandon] = result.of(QueueCallerAbandoned)
    assert isinstance(abandon, QueueCallerAbandoned)
    assert (abandon.queue, abandon.hold_s) == ("empty", 4.0)
    [ended] = result.of(CallEnded)
    assert isinstance(ended, CallEnded)
    msgs = server_messages("04d")
    join = next(m.t for m in msgs if m.message.event == "QueueCallerJoin")
    leave = next(m.t for m in msgs if m.message.event == "QueueCallerLeave")
    assert ended.wait_s == pytest.approx(leave - join, abs=1e-6)


def test_redirect_into_queue_is_a_transfer_with_recording() -> None:
    result = replay("10")
    [transfer] = result.of(CallTransferred)
    assert isinstance(transfer, CallTransferred)
    assert (transfer.from_agent_id, transfer.to_queue, transfer.kind) == (
        "agent-1005",
        "support",
        "queue",
    )
    [ended] = result.of(CallEnded)
    assert isinstance(ended, CallEnded)
    assert ended.transferred
    assert ended.recording_file == "/var/spool/asterisk/monitor/crm-10.wav"


def test_burst_of_twenty_calls() -> None:
    result = replay("06")
    ended = [e for e in result.of(CallEnded) if isinstance(e, CallEnded)]
    assert len(ended) == 20
    assert {e.outcome for e in ended} == {CallOutcome.ANSWERED}
    assert {e.direction for e in ended} == {CallDirection.OUTBOUND}
    assert len({e.crm_call_id for e in ended}) == 20
    assert result.tracker.open_calls() == ()


def test_queue_member_management_events() -> None:
    result = replay("04b")
    changes = [
        (e.queue, e.interface, e.change, e.reason)
        for e in result.of(QueueMemberChanged)
        if isinstance(e, QueueMemberChanged)
    ]
    assert ("support", "Local/1003@agents", "added", None) in changes
    assert ("support", "Local/1003@agents", "paused", "lunch") in changes
    assert ("support", "Local/1003@agents", "unpaused", None) in changes
    assert ("support", "Local/1003@agents", "removed", None) in changes
    states = [
        (e.state, e.reason)
        for e in result.of(AgentStateChanged)
        if isinstance(e, AgentStateChanged) and e.agent_id == "agent-1003"
    ]
    assert states[:3] == [
        (AgentState.READY, None),
        (AgentState.PAUSED, "lunch"),
        (AgentState.READY, None),
    ]
    assert states[-1] == (AgentState.LOGGED_OUT, None)


def test_agent_complete_without_channel_fields_is_harmless(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = CallTracker("main", DIRECTORY)
    msg = next(m.message for m in server_messages("04c") if m.message.event == "AgentComplete")
    assert "Channel" not in msg
    assert msg["Reason"] == "caller"
    with caplog.at_level(logging.WARNING, logger="telephony"):
        assert tracker.apply(msg, at(0)) == []
    assert caplog.records == []


def test_missing_header_is_logged_with_raw_message_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = CallTracker("main", DIRECTORY)
    msg = AmiMessage.build(
        ("Event", "Newchannel"), ("Channel", "Local/1001@agents-00000001;1"), ("Uniqueid", "1.1")
    )
    with caplog.at_level(logging.WARNING, logger="telephony"):
        assert tracker.apply(msg, at(0)) == []
    assert tracker.open_calls() == ()
    [record] = caplog.records
    assert "Linkedid" in record.getMessage()
    assert "Local/1001@agents-00000001;1" in record.getMessage()


def test_responses_and_unknown_events_give_nothing() -> None:
    tracker = CallTracker()
    assert tracker.apply(AmiMessage.build(("Response", "Success")), at(0)) == []
    assert tracker.apply(AmiMessage.build(("Event", "Cdr")), at(0)) == []


def test_snapshot_mid_call_and_close_stale() -> None:
    messages = server_messages("02")
    result = replay_messages(m for m in messages if m.t < 5)
    snap = result.tracker.snapshot()
    [call] = snap.calls
    assert (call.state, call.agent_id, call.direction) == (
        CallState.BRIDGED,
        "agent-1001",
        CallDirection.OUTBOUND,
    )
    assert call.crm_call_id == "crm-0002"
    assert {leg.role for leg in call.legs} == {"agent", "customer"}
    agents = {a.agent_id: a for a in snap.agents}
    assert agents["agent-1001"].state is AgentState.ON_CALL
    assert agents["agent-1001"].call_id == call.call_id

    assert result.tracker.close_stale([call.call_id], at(6)) == []
    events = result.tracker.close_stale([], at(6))
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert len(ended) == 1
    assert ended[0].vanished
    assert ended[0].outcome is CallOutcome.ANSWERED
    assert ended[0].total_s == pytest.approx(6 - messages[0].t, abs=0.01)
    assert result.tracker.open_calls() == ()
    assert result.tracker.snapshot().agents[0].state is AgentState.READY


def test_rebuild_from_core_show_channels_after_reconnect() -> None:
    messages = server_messages("01b")
    listing = [m for m in messages if m.message.event == "CoreShowChannel"][:4]
    result = replay_messages(listing)
    [call] = result.tracker.snapshot().calls
    assert call.direction is CallDirection.OUTBOUND
    assert call.agent_id == "agent-1001"
    assert call.state is CallState.BRIDGED
    later = [m for m in messages if m.t > listing[-1].t and m.message.event != "CoreShowChannel"]
    replay_messages(later, result.tracker)
    assert result.tracker.open_calls() == ()


def test_hold_time_is_counted_apart_from_talk_time() -> None:
    messages = server_messages("02")
    agent = "Local/1001@agents-00000002;1"
    linkedid = "1795349175.4"

    def hold(event: str, t: float) -> TracedMessage:
        msg = AmiMessage.build(
            ("Event", event), ("Channel", agent), ("Uniqueid", linkedid), ("Linkedid", linkedid)
        )
        return TracedMessage(t, "S>C", "main", msg)

    injected = sorted([*messages, hold("Hold", 5.0), hold("Unhold", 7.5)], key=lambda m: m.t)
    result = replay_messages(injected)
    [ended] = [e for e in result.of(CallEnded) if isinstance(e, CallEnded)]
    assert ended.hold_s == pytest.approx(2.5)
    assert ended.ring_s + ended.talk_s + ended.hold_s == pytest.approx(ended.total_s)
    mid = replay_messages(m for m in injected if m.t < 6)
    assert mid.tracker.snapshot().calls[0].state is CallState.HELD


def test_queue_status_listing_seeds_members_and_agents() -> None:
    listing = [m for m in server_messages("04a") if m.message.event == "QueueMember"]
    result = replay_messages(listing)
    members = {
        (e.queue, e.interface, e.member_name, e.change)
        for e in result.of(QueueMemberChanged)
        if isinstance(e, QueueMemberChanged)
    }
    assert ("support", "Local/1001@agents", "Agent 1001", "member") in members
    assert ("sales", "Local/3001@agents", "Never Answers 3001", "member") in members
    agents = {a.agent_id: a.state for a in result.tracker.snapshot().agents}
    assert agents["agent-1002"] is AgentState.READY
