"""The gateway's fast AMI reader delivers exactly what panoramisk's own reader delivers.

Every recorded trace is fed, connection by connection, to panoramisk's ``AMIProtocol`` and to
:class:`FastAMIProtocol`, in chunks of several sizes (one byte at a time included), with the
trace's own actions pending: the events dispatched (headers, their order, ``content``), the
answers given to each pending action and the connection losses (``Shutdown``) must be the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from telephony.adapters.ami import IGNORED_EVENTS, AmiConfig
from telephony.adapters.panoramisk_compat import (
    FastAMIProtocol,
    QuietManager,
    Unread,
    parse_message,
)
from tests.telephony.traces import load_timeline, timeline_names

CHUNKS = (1, 7, 61, 1500, 1 << 30)
LISTS = frozenset(
    (
        "status",
        "queuestatus",
        "queuesummary",
        "coreshowchannels",
        "bridgelist",
        "listcommands",
        "devicestatelist",
    )
)


class _Transport:
    def write(self, _data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Factory:
    """What the protocol calls on its manager, recorded."""

    save_stream = None
    forgetable_actions = ("ping", "login")

    def __init__(self) -> None:
        self.dispatched: list[list[tuple[str, tuple[str, Any]]]] = []
        self.lost: list[object] = []
        self.awaiting_actions: list[Any] = []

    def dispatch(self, message: Message) -> None:
        self.dispatched.append(list(message._store.items()))

    def connection_lost(self, exc: object) -> None:
        self.lost.append(type(exc).__name__)


def _streams(name: str) -> Iterator[tuple[str, bytes, list[dict[str, str]]]]:
    """Per connection of a trace: the server's bytes and the client's actions (headers)."""
    by_conn: dict[str, tuple[bytearray, bytearray]] = {}
    for line in load_timeline(name):
        if line.dir not in ("S>C", "C>S"):
            continue
        server, client = by_conn.setdefault(line.conn, (bytearray(), bytearray()))
        (server if line.dir == "S>C" else client).extend(line.data.encode("utf-8"))
    for conn, (server, client) in by_conn.items():
        actions = []
        for block in client.decode().split("\r\n\r\n"):
            headers = dict(
                line.split(": ", 1) for line in block.strip().split("\r\n") if ": " in line
            )
            if "Action" in headers:
                actions.append(headers)
        yield conn, bytes(server), actions


def _run(
    protocol_class: type[AMIProtocol],
    stream: bytes,
    actions: list[dict[str, str]],
    chunk: int,
    unread: Unread | None = None,
) -> tuple[Any, ...]:
    protocol = protocol_class() if unread is None else protocol_class(unread)
    protocol.connection_made(_Transport())
    factory = _Factory()
    protocol.factory = factory
    pending = []
    for headers in actions:
        # As the gateway does, say whether a list follows (panoramisk's guess can raise).
        listing = headers["Action"].lower() in LISTS
        action = Action(dict(headers), as_list=listing)
        pending.append(action)
        protocol.responses[action.id] = action
        if action.action_id:
            protocol.responses[action.action_id] = action
    for start in range(0, len(stream), chunk):
        protocol.data_received(stream[start : start + chunk])
    answers = []
    for action in pending:
        if not action.future.done():
            answers.append(("pending", [list(m._store.items()) for m in action.responses]))
            continue
        result = action.future.result()
        items = result if isinstance(result, list) else [result]
        answers.append(("done", [list(m._store.items()) for m in items]))
    return factory.dispatched, answers, factory.lost, list(protocol.queue), protocol.version


@pytest.mark.parametrize("name", timeline_names())
async def test_every_trace_reads_the_same_through_both_readers(name: str) -> None:
    streams = list(_streams(name))
    assert streams, f"{name}: no connection recorded"
    delivered = 0
    for conn, stream, actions in streams:
        for chunk in CHUNKS:
            # The same chunks for both: panoramisk reads the banner only from a chunk's start.
            reference = _run(AMIProtocol, stream, actions, chunk)
            delivered += len(reference[0]) + sum(len(items) for _, items in reference[1])
            assert _run(FastAMIProtocol, stream, actions, chunk) == reference, (
                f"{name} ({conn}) differs from panoramisk in chunks of {chunk} bytes"
            )
    assert delivered > 0, f"{name}: nothing was delivered, so nothing was compared"


def _dropped_by_the_gateway(store: list[tuple[str, tuple[str, Any]]]) -> bool:
    """What ``PanoramiskGateway._on_event`` drops on arrival (its default configuration)."""
    fields = dict(store)
    name = fields.get("event", ("", ""))[1]
    if name == "VarSet":
        return fields.get("variable", ("", ""))[1] not in AmiConfig.kept_variables
    return name in IGNORED_EVENTS


@pytest.mark.parametrize("name", timeline_names())
async def test_events_the_gateway_drops_are_passed_over_unparsed_and_counted(name: str) -> None:
    passed_over = 0
    for _conn, stream, actions in _streams(name):
        for chunk in (7, 1 << 30):
            reference = _run(AMIProtocol, stream, actions, chunk)
            unread = Unread(IGNORED_EVENTS, AmiConfig.kept_variables)
            ours = _run(FastAMIProtocol, stream, actions, chunk, unread)
            # Everything the gateway keeps arrives exactly as before, answers included...
            kept = [m for m in reference[0] if not _dropped_by_the_gateway(m)]
            assert [m for m in ours[0] if not _dropped_by_the_gateway(m)] == kept
            assert ours[1:] == reference[1:]
            # ...and what is missing is only what the gateway drops, each counted once.
            assert len(reference[0]) - len(ours[0]) == unread.count
            passed_over += unread.count
    if name.startswith("06"):
        assert passed_over > 0  # the burst has plenty (Newexten, VarSet of DIALSTATUS...)


@pytest.mark.parametrize(
    "block",
    [
        "Event: Newchannel\r\nChannel: PJSIP/1001-00000001\r\nCallerIDNum: 1001",
        "Response: Success\r\nActionID: a-1\r\nMessage: Added interface to queue",
        # repeated headers become a list in panoramisk
        "Event: OriginateResponse\r\nVariable: A=1\r\nVariable: B=2\r\nResponse: Success",
        # a header differing only in case: the later one wins, in the first one's place
        "Event: VarSet\r\nVariable: X\r\nvariable: Y\r\nValue: 1",
        # a header named Content collides with the body's key
        "Event: UserEvent\r\nContent: something",
        # Result is unquoted and stripped (AGI)
        "Event: AsyncAGIExec\r\nResult: 200%20result%3D1%20",
        # a body after Follows / Fail
        "Response: Follows\r\nActionID: c-1\r\nline one\nline two\r\n--END COMMAND--",
        "Response: Fail\r\nActionID: c-2\r\nNo such command",
        # neither an event nor a response (or only in another case): nothing
        "Message: hello\r\nPrivilege: call",
        "event: Lowercase\r\nChannel: x",
        # lines without ": " are skipped; values may contain ": "
        "Event: UserEvent\r\ngarbage line\r\nUserEvent: a: b\r\nEmpty: ",
        "",
    ],
)
def test_a_message_parses_as_panoramisk_parses_it(block: str) -> None:
    ours = parse_message(block)
    theirs = Message.from_line(block)
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    assert list(ours._store.items()) == list(theirs._store.items())
    assert ours.manager is None
    assert (ours.id, ours.action_id, ours.success) == (theirs.id, theirs.action_id, theirs.success)


async def test_dispatch_calls_what_panoramisk_calls_in_the_same_order() -> None:
    """Our dispatch against panoramisk's own, with the gateway's catch-all, panoramisk's own
    FullyBooted pattern, a wildcard and a coroutine callback."""
    managers = [QuietManager(lambda _exc: None), Manager()]
    calls: list[list[tuple[str, str]]] = [[], []]
    for manager, seen in zip(managers, calls, strict=True):

        def record(tag: str, seen: list[tuple[str, str]] = seen) -> Any:
            return lambda _m, e: seen.append((tag, e.event))

        async def later(_m: Any, e: Any, seen: list[tuple[str, str]] = seen) -> None:
            seen.append(("coroutine", e.event))

        manager.register_event("*", record("all"))
        manager.register_event("Queue*", record("queue"))
        manager.register_event("Hangup", record("hangup"))
        manager.register_event("Hangup", later)
    blocks = [
        "Event: Hangup\r\nChannel: PJSIP/1001-00000001",
        "Event: QueueCallerJoin\r\nQueue: support",
        "Event: FullyBooted\r\nStatus: Fully Booted",
        "Event: Hangup\r\nEvent: Hangup\r\nChannel: x",  # repeated: panoramisk's own path
        "Response: Success\r\nMessage: no event name",
    ]
    for block in blocks:
        answers = []
        for manager in managers:
            message = Message.from_line(block) if "Event: Hangup\r\nEvent" in block else None
            message = message or parse_message(block)
            assert message is not None
            try:
                answers.append(sorted(manager.dispatch(message)))
            except TypeError as err:  # panoramisk cannot match a list of names
                answers.append([type(err).__name__])
            assert message.manager is manager or answers[-1] == ["TypeError"]
        assert answers[0] == answers[1], block
    await asyncio.sleep(0)  # the coroutine callbacks run
    assert calls[0] == calls[1]
    assert ("coroutine", "Hangup") in calls[0]
    assert ("queue", "QueueCallerJoin") in calls[0]


async def test_a_dropped_kind_of_event_answering_a_pending_action_is_read() -> None:
    """A list action's items carry its ActionID; they reach the action even when the gateway
    would drop that kind of event on the stream (here DeviceStateChange, of DeviceStateList)."""
    stream = (
        b"Response: Success\r\nActionID: d-1\r\nEventList: start\r\nMessage: will follow\r\n\r\n"
        b"Event: DeviceStateChange\r\nActionID: d-1\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"
        b"Event: DeviceStateChange\r\nDevice: PJSIP/1002\r\nState: RINGING\r\n\r\n"
        b"Event: DeviceStateListComplete\r\nActionID: d-1\r\nEventList: Complete\r\n"
        b"ListItems: 1\r\n\r\n"
    )
    action = [{"Action": "DeviceStateList", "ActionID": "d-1"}]
    unread = Unread(IGNORED_EVENTS, AmiConfig.kept_variables)
    ours = _run(FastAMIProtocol, stream, action, 1 << 30, unread)
    reference = _run(AMIProtocol, stream, action, 1 << 30)
    assert ours[1] == reference[1]
    ((state, items),) = ours[1]
    assert state == "done"
    assert [dict(m)["event"][1] for m in items[1:]] == [
        "DeviceStateChange",
        "DeviceStateListComplete",
    ]
    assert unread.count == 1  # only the plain event on the stream was passed over
    assert ours[0] == []
    assert len(reference[0]) == 1
