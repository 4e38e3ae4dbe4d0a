"""Telephony inside the application: the simulator over real TCP, the runtime, calls stored once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from crm_core.appkeys import BUS, SESSIONS
from crm_core.bus.memory import InProcessBus
from crm_core.db import session_scope
from telephony.api import RUNTIMES
from telephony.events import AgentStateChanged, CallEnded, CallRinging
from telephony.models import AgentDirectory, AgentState, CallDirection, CallOutcome, HangupParty
from telephony.ports import (
    GatewayHealth,
    GatewayStatus,
    OriginateSpec,
    ReceivedBatch,
    ReceivedEvent,
)
from telephony.protocol import AmiMessage
from telephony.records import AgentPhone, CallRecordRow
from telephony.runtime import PbxRuntime, queue_summary
from telephony.sim.server import PbxSimulator, start_simulator
from telephony.store import CallStore
from telephony.tracker import CallTracker
from tests.conftest import AppMaker, add_user, login

SPEED = 20.0


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


async def _app_with_pbx(make_client: AppMaker, sim: PbxSimulator) -> TestClient[Any, Any]:
    client = await make_client(
        pbx=[{"name": "sim", "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}"}]
    )
    runtime = client.app[RUNTIMES]["sim"]
    async with asyncio.timeout(20):
        await runtime.gateway.wait_status(GatewayStatus.CONNECTED)  # type: ignore[attr-defined]
    return client


async def _map_phone(client: TestClient[Any, Any], user_id: int, interface: str) -> None:
    async with session_scope(client.app[SESSIONS]) as db:
        db.add(AgentPhone(user_id=user_id, pbx="sim", interface=interface, queues="support"))


async def test_readyz_reports_the_connected_pbx(make_client: AppMaker, sim: PbxSimulator) -> None:
    client = await _app_with_pbx(make_client, sim)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["checks"]["pbx:sim"]["status"] == "ok"
    assert "logged in as crm" in body["checks"]["pbx:sim"]["detail"]


async def test_wrong_secret_is_reported_not_retried_silently(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await make_client(
        pbx=[{"name": "sim", "ami_url": f"ami://crm:wrong-secret@127.0.0.1:{sim.port}"}]
    )
    runtime = client.app[RUNTIMES]["sim"]
    async with asyncio.timeout(20):
        await runtime.gateway.wait_status(GatewayStatus.LOGIN_FAILED)  # type: ignore[attr-defined]
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["checks"]["pbx:sim"]["status"] == "down"
    assert "login_failed" in body["checks"]["pbx:sim"]["detail"]
    assert "wrong-secret" not in await resp.text()


async def test_click_to_dial_call_is_tracked_stored_and_scoped(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    # The agent's phone mapping must exist before the runtime starts (it loads the directory).
    client0 = await make_client()
    agent = await add_user(client0, "agent1", "agent", teams=("North",))
    other = await add_user(client0, "agent2", "agent", teams=("South",))
    await add_user(client0, "sup", "supervisor", teams=("North",))
    await _map_phone(client0, agent.id, "Local/1001@agents")
    await client0.close()

    client = await _app_with_pbx(make_client, sim)
    runtime = client.app[RUNTIMES]["sim"]
    async with client.app[BUS].subscribe(CallRinging, CallEnded) as sub:
        await runtime.gateway.originate(
            OriginateSpec(
                channel="Local/1001@agents",
                context="customers",
                exten="0210000002",
                caller_id='"Agent 1001" <1001>',
                variables={"CRM_CALL_ID": "crm-42"},
            )
        )
        seen: list[Any] = []
        async with asyncio.timeout(30):
            while not any(isinstance(e, CallEnded) for e in seen):
                seen.append(await sub.get())
    ringing = [e for e in seen if isinstance(e, CallRinging) and e.agent_id == str(agent.id)]
    assert ringing, seen
    ended = next(e for e in seen if isinstance(e, CallEnded))
    assert ended.outcome == CallOutcome.ANSWERED, seen
    assert ended.crm_call_id == "crm-42"

    async with client.app[SESSIONS]() as db:
        rows = list(await db.scalars(select(CallRecordRow)))
    assert len(rows) == 1
    row = rows[0]
    assert row.agent_user_id == agent.id
    assert row.crm_call_id == "crm-42"
    assert row.outcome == "answered"
    assert row.talk_s > 0

    await login(client, "agent1")
    resp = await client.get("/api/calls")
    assert [c["call_id"] for c in (await resp.json())["items"]] == [row.call_id]
    resp = await client.get(f"/api/calls/{row.id}")
    assert resp.status == 200
    client.session.cookie_jar.clear()
    await add_user(client, "agent2", "agent")
    await login(client, "agent2")
    assert (await (await client.get("/api/calls")).json())["total"] == 0
    assert (await client.get(f"/api/calls/{row.id}")).status == 404
    client.session.cookie_jar.clear()
    await login(client, "sup")
    assert (await (await client.get("/api/calls")).json())["total"] == 1
    del other


async def test_live_agents_queues_and_active_calls(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app_with_pbx(make_client, sim)
    await add_user(client, "sup", "supervisor")
    await login(client, "sup")
    resp = await client.get("/api/queues")
    body = await resp.json()
    assert resp.status == 200, body
    names = {q["name"] for q in body["items"]}
    assert {"support", "sales"} <= names
    support = next(q for q in body["items"] if q["name"] == "support")
    assert support["strategy"] == "rrmemory"
    assert body["unavailable"] == []
    runtime = client.app[RUNTIMES]["sim"]
    async with client.app[BUS].subscribe(CallRinging) as sub:
        # Last digit 3: answers at once and talks for 120 s (simulated).
        await runtime.gateway.originate(
            OriginateSpec(
                channel="Local/1002@agents",
                context="customers",
                exten="0210000003",
            )
        )
        async with asyncio.timeout(20):
            await sub.get()
    resp = await client.get("/api/calls/active")
    items = (await resp.json())["items"]
    assert len(items) == 1
    assert items[0]["direction"] in {d.value for d in CallDirection}
    resp = await client.get("/api/agents")
    assert resp.status == 200


# -- the runtime against a scripted gateway ------------------------------------------------------


class ScriptedGateway:
    """A gateway whose events, status and Status answer the test decides."""

    pbx = "fake"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ReceivedEvent] = asyncio.Queue()
        self.sessions = 1
        self.live_channels: tuple[AmiMessage, ...] = ()

    async def events(self) -> AsyncIterator[ReceivedEvent]:
        while True:
            yield await self.queue.get()

    async def batches(self) -> AsyncIterator[ReceivedBatch]:
        async for event in self.events():
            yield ReceivedBatch(
                pbx=event.pbx,
                session=event.session,
                received_at=event.received_at,
                messages=[event.message],
            )

    def health(self) -> GatewayHealth:
        return GatewayHealth(pbx=self.pbx, status=GatewayStatus.CONNECTED, sessions=self.sessions)

    async def status(self) -> tuple[AmiMessage, ...]:
        return self.live_channels

    async def queue_status(self, queue: str | None = None) -> tuple[AmiMessage, ...]:
        return ()


def _newchannel(linkedid: str, channel: str) -> AmiMessage:
    return AmiMessage.build(
        ("Event", "Newchannel"),
        ("Channel", channel),
        ("ChannelState", "4"),
        ("ChannelStateDesc", "Ring"),
        ("CallerIDNum", "+302101234567"),
        ("CallerIDName", "<unknown>"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Context", "from-pstn"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Uniqueid", linkedid),
        ("Linkedid", linkedid),
    )


class FlakyStore(CallStore):
    """A store whose first ``failures`` saves fail like a database that is down."""

    def __init__(self, inner: CallStore, failures: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.failures = failures
        self.saved: list[str] = []

    async def save_many(self, events: Sequence[CallEnded]) -> list[bool]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is down")
        self.saved.extend(event.call_id for event in events)
        return [True] * len(events)


async def test_resync_closes_calls_that_ended_while_disconnected(
    client: TestClient[Any, Any],
) -> None:
    gateway = ScriptedGateway()
    bus = InProcessBus()
    store = CallStore(client.app[SESSIONS], region="GR")
    runtime = PbxRuntime("fake", gateway, CallTracker("fake", AgentDirectory()), bus, store)  # type: ignore[arg-type]
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    async with bus.subscribe(CallEnded) as sub:
        await runtime.resync()  # session 1: nothing live yet
        for msg in (
            _newchannel("100.1", "Local/s@from-pstn-00000001;1"),
            _newchannel("200.1", "Local/s@from-pstn-00000002;1"),
        ):
            runtime.tracker.apply(msg, at)
        assert set(runtime.tracker.open_calls()) == {"100.1", "200.1"}
        # The connection drops; when it is back only call 200.1 is still live.
        gateway.sessions = 2
        gateway.live_channels = (
            AmiMessage.build(
                ("Event", "CoreShowChannel"),
                ("Channel", "Local/s@from-pstn-00000002;1"),
                ("Uniqueid", "200.1"),
                ("Linkedid", "200.1"),
                ("ChannelState", "6"),
                ("ChannelStateDesc", "Up"),
                ("CallerIDNum", "+302101234567"),
                ("Context", "from-pstn"),
                ("Exten", "s"),
                ("Duration", "00:00:10"),
            ),
        )
        await runtime.resync()
        async with asyncio.timeout(5):
            ended = await sub.get()
    assert isinstance(ended, CallEnded)
    assert ended.call_id == "100.1"
    assert ended.vanished
    assert runtime.tracker.open_calls() == ("200.1",)
    async with client.app[SESSIONS]() as db:
        row = await db.scalar(select(CallRecordRow).where(CallRecordRow.call_id == "100.1"))
    assert row is not None
    assert row.vanished
    assert row.customer_e164 == "+302101234567"
    # A second resync of the same session changes nothing and stores nothing twice.
    await runtime.resync()
    await runtime.drain()
    async with client.app[SESSIONS]() as db:
        assert await db.scalar(select(func.count()).select_from(CallRecordRow)) == 1
    await bus.close()


async def test_store_is_idempotent_by_linkedid(client: TestClient[Any, Any]) -> None:
    store = CallStore(client.app[SESSIONS], region="GR")
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    event = CallEnded(
        pbx="main",
        call_id="1700.5",
        direction=CallDirection.INBOUND,
        outcome=CallOutcome.ABANDONED,
        started_at=start,
        ended_at=start + timedelta(seconds=30),
        caller_id="2101234567",
        hangup_by=HangupParty.CUSTOMER,
        queue="support",
        wait_s=30.0,
        total_s=30.0,
    )
    assert await store.save(event) is True
    assert await store.save(event) is False
    async with client.app[SESSIONS]() as db:
        rows = list(await db.scalars(select(CallRecordRow)))
    assert len(rows) == 1
    assert rows[0].customer_e164 == "+302101234567"
    assert rows[0].outcome == "abandoned"


async def test_unsaved_call_records_are_retried(client: TestClient[Any, Any]) -> None:
    gateway = ScriptedGateway()
    bus = InProcessBus()
    store = FlakyStore(CallStore(client.app[SESSIONS], region="GR"), failures=1)
    runtime = PbxRuntime("fake", gateway, CallTracker("fake"), bus, store)  # type: ignore[arg-type]
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    event = CallEnded(
        pbx="fake",
        call_id="9.9",
        direction=CallDirection.INBOUND,
        outcome=CallOutcome.ANSWERED,
        started_at=start,
        ended_at=start,
    )
    async with bus.subscribe(CallEnded) as sub:
        await runtime._emit([event])
        async with asyncio.timeout(5):
            # Published after the first (failed) store attempt, off the event path.
            assert await sub.get() == event
    assert store.saved == []
    assert runtime.records.unsaved == [event]
    pending, runtime.records.unsaved = runtime.records.unsaved, []
    for e in pending:
        await runtime.records.save(e)
    assert store.saved == ["9.9"]
    await runtime.drain()
    await bus.close()


class GatedStore:
    """A store whose saves wait until the test opens the gate (a slow database)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.saved: list[str] = []

    async def save(self, event: CallEnded) -> bool:
        return (await self.save_many([event]))[0]

    async def save_many(self, events: Sequence[CallEnded]) -> list[bool]:
        await self.gate.wait()
        self.saved.extend(event.call_id for event in events)
        return [True] * len(events)


def _ended(call_id: str) -> CallEnded:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    return CallEnded(
        pbx="fake",
        call_id=call_id,
        direction=CallDirection.INBOUND,
        outcome=CallOutcome.ANSWERED,
        started_at=start,
        ended_at=start,
    )


async def test_ringing_does_not_wait_for_a_slow_call_record() -> None:
    bus = InProcessBus()
    store = GatedStore()
    runtime = PbxRuntime("fake", ScriptedGateway(), CallTracker("fake"), bus, store)  # type: ignore[arg-type]
    ringing = CallRinging(pbx="fake", call_id="2.2", direction=CallDirection.INBOUND, agent_id="7")
    ended = dataclasses.replace(_ended("1.1"), agent_id="5")
    after = AgentStateChanged(
        pbx="fake", agent_id="5", state=AgentState.READY, previous=AgentState.ON_CALL
    )
    async with bus.subscribe(CallEnded, CallRinging, AgentStateChanged) as sub:
        # Call 1.1 of agent 5 ends, agent 5 becomes ready, agent 7 gets a call.
        await runtime._emit([ended, after, ringing])  # returns although 1.1 is not stored yet
        async with asyncio.timeout(5):
            assert await sub.get() == ringing
        assert store.saved == []
        store.gate.set()
        async with asyncio.timeout(5):
            # The end is published once the record is stored (its followers find it), and
            # agent 5's next state after it.
            assert await sub.get() == ended
            assert await sub.get() == after
        assert store.saved == ["1.1"]
    await runtime.drain()
    await bus.close()


class ListeningGateway(ScriptedGateway):
    """Tells when the runtime started reading its events."""

    def __init__(self) -> None:
        super().__init__()
        self.listening = asyncio.Event()

    async def events(self) -> AsyncIterator[ReceivedEvent]:
        self.listening.set()
        async for event in super().events():
            yield event


async def test_stopping_the_event_loop_drains_queued_call_records() -> None:
    bus = InProcessBus()
    store = GatedStore()
    gateway = ListeningGateway()
    runtime = PbxRuntime("fake", gateway, CallTracker("fake"), bus, store)  # type: ignore[arg-type]
    events = asyncio.create_task(runtime.run_events())
    async with asyncio.timeout(5):
        await gateway.listening.wait()
    await runtime._emit([_ended("1.1"), _ended("1.2")])
    assert store.saved == []
    events.cancel()
    store.gate.set()
    async with asyncio.timeout(5):
        await asyncio.wait([events])
    assert events.cancelled()
    # Stored once each, in order, before the task ended; the writer is stopped.
    assert store.saved == ["1.1", "1.2"]
    assert runtime.records.task is None
    await bus.close()


def test_queue_summary_groups_queue_status_answers() -> None:
    msgs = (
        AmiMessage.build(
            ("Event", "QueueParams"),
            ("Queue", "support"),
            ("Strategy", "rrmemory"),
            ("Calls", "1"),
            ("Completed", "4"),
            ("Abandoned", "1"),
            ("ServicelevelPerf", "80.0"),
        ),
        AmiMessage.build(
            ("Event", "QueueMember"),
            ("Queue", "support"),
            ("StateInterface", "Local/1001@agents"),
            ("Name", "Agent 1001"),
            ("Paused", "1"),
            ("PausedReason", "lunch"),
            ("InCall", "0"),
            ("CallsTaken", "3"),
            ("Penalty", "0"),
        ),
        AmiMessage.build(
            ("Event", "QueueEntry"),
            ("Queue", "support"),
            ("Position", "1"),
            ("CallerIDNum", "+302101234567"),
            ("Wait", "12"),
            ("Linkedid", "123.4"),
        ),
        AmiMessage.build(("Event", "QueueStatusComplete")),
    )
    (support,) = queue_summary(msgs)
    assert support["calls_waiting"] == 1
    assert support["members"][0]["paused_reason"] == "lunch"
    assert support["callers"][0] == {
        "position": 1,
        "caller_id": "+302101234567",
        "wait_s": 12,
        "call_id": "123.4",
    }


async def test_admin_assigns_a_phone_and_the_tracker_uses_it_at_once(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app_with_pbx(make_client, sim)
    await add_user(client, "admin", "admin")
    agent = await add_user(client, "agent7", "agent")
    body = await login(client, "admin")
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    bad = await client.put(
        f"/api/agents/{agent.id}/phone",
        json={"pbx": "nowhere", "interface": "Local/1007@agents"},
        headers=csrf,
    )
    assert bad.status == 400
    assert "unknown PBX" in (await bad.json())["error"]["message"]
    resp = await client.put(
        f"/api/agents/{agent.id}/phone",
        json={"pbx": "sim", "interface": "Local/1007@agents", "queues": ["support"]},
        headers=csrf,
    )
    assert resp.status == 200, await resp.text()
    runtime = client.app[RUNTIMES]["sim"]
    async with client.app[BUS].subscribe(CallRinging) as sub:
        await runtime.gateway.originate(
            OriginateSpec(
                channel="Local/1007@agents",
                context="customers",
                exten="0210000003",
            )
        )
        async with asyncio.timeout(20):
            ringing = await sub.get()
    assert isinstance(ringing, CallRinging)
    assert ringing.agent_id == str(agent.id)
    await add_user(client, "agent8", "agent")
    other = await client.put(
        f"/api/agents/{agent.id + 1}/phone",
        json={"pbx": "sim", "interface": "Local/1007@agents"},
        headers=csrf,
    )
    assert other.status == 409


async def _wait_agent_state(sub: Any, agent_id: str, state: str) -> Any:
    async with asyncio.timeout(20):
        while True:
            event = await sub.get()
            if event.agent_id == agent_id and event.state.value == state:
                return event


async def test_agent_logs_out_logs_in_pauses_and_gets_ready(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    from telephony.events import AgentStateChanged

    client0 = await make_client()
    agent = await add_user(client0, "agent1", "agent", teams=("North",))
    await add_user(client0, "sup", "supervisor", teams=("North",))
    await add_user(client0, "sup2", "supervisor", teams=("South",))
    await _map_phone(client0, agent.id, "Local/1001@agents")
    await client0.close()
    client = await _app_with_pbx(make_client, sim)
    me = str(agent.id)
    body = await login(client, "agent1")
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    async with client.app[BUS].subscribe(AgentStateChanged) as sub:
        resp = await client.post("/api/agents/me/state", json={"action": "logout"}, headers=csrf)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["results"][0]["queues"] == ["support"]
        await _wait_agent_state(sub, me, "logged_out")
        resp = await client.post("/api/agents/me/state", json={"action": "ready"}, headers=csrf)
        assert resp.status == 409
        assert "log in first" in (await resp.json())["error"]["message"]
        resp = await client.post("/api/agents/me/state", json={"action": "login"}, headers=csrf)
        assert resp.status == 200
        await _wait_agent_state(sub, me, "ready")
        resp = await client.post("/api/agents/me/state", json={"action": "pause"}, headers=csrf)
        assert resp.status == 400
        assert "reason" in (await resp.json())["error"]["message"]
        resp = await client.post(
            "/api/agents/me/state", json={"action": "pause", "reason": "lunch"}, headers=csrf
        )
        assert resp.status == 200
        paused = await _wait_agent_state(sub, me, "paused")
        assert paused.reason == "lunch"
        # The team's supervisor makes the agent ready again; another team's cannot.
        client.session.cookie_jar.clear()
        body = await login(client, "sup2")
        resp = await client.post(
            f"/api/agents/{agent.id}/state",
            json={"action": "ready"},
            headers={"X-CSRF-Token": body["csrf_token"]},
        )
        assert resp.status == 404
        client.session.cookie_jar.clear()
        body = await login(client, "sup")
        resp = await client.post(
            f"/api/agents/{agent.id}/state",
            json={"action": "ready"},
            headers={"X-CSRF-Token": body["csrf_token"]},
        )
        assert resp.status == 200
        await _wait_agent_state(sub, me, "ready")


async def test_agent_without_phone_is_told_how_to_fix_it(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app_with_pbx(make_client, sim)
    await add_user(client, "agent9", "agent")
    body = await login(client, "agent9")
    resp = await client.post(
        "/api/agents/me/state",
        json={"action": "ready"},
        headers={"X-CSRF-Token": body["csrf_token"]},
    )
    assert resp.status == 404
    assert "PUT /api/agents/{id}/phone" in (await resp.json())["error"]["message"]


async def test_finished_call_of_a_known_caller_is_in_the_timeline(
    client: TestClient[Any, Any],
) -> None:
    from tests.crm.helpers import Api

    agent = await add_user(client, "agent1", "agent")
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    person = await api.post(
        "/api/persons",
        {
            "family_name": "Pappas",
            "phones": [{"kind": "mobile", "number": "+30 210 123 4567"}],
        },
    )
    store = CallStore(client.app[SESSIONS], region="GR")
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    await store.save(
        CallEnded(
            pbx="main",
            call_id="77.1",
            direction=CallDirection.INBOUND,
            outcome=CallOutcome.ANSWERED,
            started_at=start,
            answered_at=start + timedelta(seconds=5),
            ended_at=start + timedelta(seconds=65),
            caller_id="00302101234567",
            queue="support",
            agent_id=str(agent.id),
            talk_s=60.0,
            total_s=65.0,
        )
    )
    async with client.app[SESSIONS]() as db:
        row = await db.scalar(select(CallRecordRow))
    assert row is not None
    assert row.person_id == person["id"]
    page = await api.get(f"/api/persons/{person['id']}/timeline")
    calls = [i for i in page["items"] if i["kind"] == "activity"]
    assert len(calls) == 1
    assert "Inbound call via support: answered" in calls[0]["title"]


async def test_agent_records_and_hangs_up_own_call_only(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    from telephony.events import CallAnswered

    client0 = await make_client()
    agent = await add_user(client0, "agent1", "agent")
    await add_user(client0, "agent2", "agent")
    await _map_phone(client0, agent.id, "Local/1001@agents")
    await client0.close()
    client = await _app_with_pbx(make_client, sim)
    runtime = client.app[RUNTIMES]["sim"]
    async with client.app[BUS].subscribe(CallAnswered, CallEnded) as sub:
        # Last digit 3: the customer answers at once and talks for 120 s (simulated).
        await runtime.gateway.originate(
            OriginateSpec(
                channel="Local/1001@agents",
                context="customers",
                exten="0210000003",
            )
        )
        async with asyncio.timeout(20):
            answered = await sub.get()
        assert isinstance(answered, CallAnswered)
        call_id = answered.call_id
        body = await login(client, "agent2")
        resp = await client.post(
            f"/api/calls/active/{call_id}/hangup", headers={"X-CSRF-Token": body["csrf_token"]}
        )
        assert resp.status == 404  # not agent2's call
        client.session.cookie_jar.clear()
        body = await login(client, "agent1")
        csrf = {"X-CSRF-Token": body["csrf_token"]}
        resp = await client.post(
            f"/api/calls/active/{call_id}/recording", json={"action": "start"}, headers=csrf
        )
        assert resp.status == 200, await resp.text()
        resp = await client.post(
            f"/api/calls/active/{call_id}/recording", json={"action": "stop"}, headers=csrf
        )
        assert resp.status == 200, await resp.text()
        resp = await client.post(f"/api/calls/active/{call_id}/hangup", headers=csrf)
        assert resp.status == 200, await resp.text()
        async with asyncio.timeout(20):
            ended = await sub.get()
            while not isinstance(ended, CallEnded):
                ended = await sub.get()
    assert ended.call_id == call_id
    assert ended.outcome == CallOutcome.ANSWERED
    assert ended.recording_file is not None
    resp = await client.post(f"/api/calls/active/{call_id}/hangup", headers=csrf)
    assert resp.status == 404
