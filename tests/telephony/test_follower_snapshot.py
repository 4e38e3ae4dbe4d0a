"""A follower seeds its live view with the leader's snapshot: an agent logged in and a call in
progress before the follower started show there at once (two app instances on one simulator over
TCP, real Redis); the snapshot request and reply are checked on both sides; a leader that is
gone leaves the follower answering from what it showed, never hanging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.bus.memory import InProcessBus
from crm_core.errors import InvalidInput
from telephony.adapters.redis_lease import redis_client
from telephony.errors import AmiTimeout, PbxUnavailable, TelephonyError
from telephony.events import AgentStateChanged
from telephony.fakes import InProcessGateway
from telephony.forwarding import LeaderLink
from telephony.forwarding_server import ForwardingServer
from telephony.forwarding_wire import (
    SnapshotReply,
    SnapshotRequest,
    decode_reply,
    decode_request,
    encode_error,
    encode_request,
    encode_result,
)
from telephony.leader import Leadership
from telephony.models import AgentState, CallState, TrackerSnapshot
from telephony.ports import ForwardedHandler, GatewayStatus, OriginateSpec
from telephony.runtime import PbxRuntime
from telephony.sim.server import PbxSimulator, start_simulator
from telephony.store import CallStore
from telephony.tracker import CallTracker
from tests.conftest import AppMaker
from tests.telephony.test_forwarding import WAIT, Node, _agent_state, _as, _node, _seed, _settings

from .replay import DIRECTORY

# The customer 0210000008 echoes for 300 simulated seconds: 30 s here, longer than the test.
SPEED = 10.0
GHOST = "ghost:1:dead"


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


class _Replies:
    """A leader channel that answers every request with one fixed body (no Redis, no PBX)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked: list[str] = []

    async def request(self, pbx: str, body: str, *, ttl_s: float) -> str:
        self.asked.append(body)
        return self.reply

    async def serve(self, pbx: str, handle: ForwardedHandler) -> None:
        raise NotImplementedError


def _reply(**result: Any) -> str:
    return json.dumps({"v": 1, "ok": True, "result": result})


async def test_a_snapshot_request_and_its_reply_are_checked_on_both_sides() -> None:
    at = "2026-11-22T12:00:03+00:00"
    call = {
        "call_id": "1795349385.154",
        "direction": "inbound",
        "state": "bridged",
        "started_at": "2026-11-22T12:00:01+00:00",
        "answered_at": "2026-11-22T12:00:02+00:00",
        "agent_id": "7",
        "queue": "support",
    }
    agent = {"agent_id": "7", "state": "on_call", "call_id": call["call_id"], "queues": ["support"]}
    channel = _Replies(_reply(taken_at=at, calls=[call], agents=[agent]))
    snapshot = await LeaderLink(channel, "sim", action_timeout_s=5.0).snapshot()
    # The request names nothing but the PBX; the leader reads it as a snapshot request.
    (asked,) = channel.asked
    assert json.loads(asked) == {"v": 1, "pbx": "sim", "request": {"op": "snapshot"}}
    assert isinstance(decode_request(asked, "sim"), SnapshotRequest)
    assert snapshot.pbx == "sim"
    assert snapshot.taken_at == datetime(2026, 11, 22, 12, 0, 3, tzinfo=UTC)
    ((got_call,), (got_agent,)) = snapshot.calls, snapshot.agents
    assert (got_call.pbx, got_call.state, got_call.agent_id) == ("sim", CallState.BRIDGED, "7")
    assert (got_agent.state, got_agent.queues) == (AgentState.ON_CALL, ("support",))

    # The leader refuses a snapshot request carrying anything else.
    extra = {"v": 1, "pbx": "sim", "request": {"op": "snapshot", "calls": []}}
    with pytest.raises(InvalidInput, match=r"request\.snapshot\.calls"):
        decode_request(json.dumps(extra), "sim")

    # The follower refuses a reply it cannot trust, saying where to look.
    for bad in (
        {"taken_at": "2026-11-22T12:00:03", "calls": [], "agents": []},  # no time zone
        {"taken_at": at, "calls": [], "agents": [{**agent, "state": "asleep"}]},
        {"taken_at": at, "calls": [{**call, "call_id": ""}], "agents": []},
        {"taken_at": at, "calls": [], "agents": [], "legs": []},
    ):
        link = LeaderLink(_Replies(_reply(**bad)), "sim", action_timeout_s=5.0)
        with pytest.raises(TelephonyError, match="unreadable answer"):
            await link.snapshot()


async def test_the_leader_answers_from_its_tracker_once_it_has_read_the_pbx() -> None:
    gateway = InProcessGateway("sim", speed=SPEED)
    sessions: async_sessionmaker[Any] = async_sessionmaker()
    runtime = PbxRuntime(
        "sim",
        gateway,
        CallTracker("sim", DIRECTORY),
        InProcessBus(),
        CallStore(sessions, region="GR"),
    )
    server = ForwardingServer(runtime, gateway, sessions, _Replies(""))
    body = encode_request("sim", SnapshotRequest())

    async def ask() -> TrackerSnapshot:
        reply = await server.handle("0" * 32, body, 1.0)
        return decode_reply(reply, SnapshotReply, pbx="sim", op="snapshot").snapshot("sim")

    # Not connected to the PBX yet: an empty view would wipe what followers show.
    with pytest.raises(PbxUnavailable, match="has not read the PBX's state yet"):
        await ask()
    try:
        await gateway.start()
        await runtime.resync()
        snapshot = await ask()
    finally:
        await gateway.stop()
    # The simulator's static queue members, as the tracker has them, unchanged by the trip.
    assert snapshot == runtime.snapshot()
    assert {a.agent_id: a.state for a in snapshot.agents}["agent-1001"] is AgentState.READY
    assert encode_result(SnapshotReply.of(snapshot)) == encode_result(
        SnapshotReply.of(runtime.snapshot())
    )


class _Leader:
    """The leader as a follower's runtime sees it: each snapshot request waits for the reply
    the test gives it."""

    def __init__(self) -> None:
        self.asked: asyncio.Queue[asyncio.Future[str]] = asyncio.Queue()

    async def request(self, pbx: str, body: str, *, ttl_s: float) -> str:
        assert isinstance(decode_request(body, pbx), SnapshotRequest)
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.asked.put_nowait(reply)
        return await reply

    async def serve(self, pbx: str, handle: ForwardedHandler) -> None:
        raise NotImplementedError


class _HeldElsewhere:
    """The PBX's lease, held by another process (``holder``; the test changes it)."""

    def __init__(self, holder: str) -> None:
        self.holder_id = "follower:1:me"
        self.other = holder

    async def acquire(self) -> bool:
        return False

    async def renew(self) -> bool:
        return False

    async def release(self) -> None:
        return None

    async def holder(self) -> str | None:
        return self.other


def _changed(agent: str, state: AgentState, second: int, **more: Any) -> AgentStateChanged:
    return AgentStateChanged(
        occurred_at=datetime(2026, 11, 22, 12, 0, second, tzinfo=UTC),
        pbx=more.pop("pbx", "sim"),
        agent_id=agent,
        state=state,
        previous=AgentState.READY,
        **more,
    )


def _leader_view(second: int, **states: AgentState) -> str:
    """A snapshot reply taken at ``second``: one call on agent-1001, the agents ``states``."""
    return _reply(
        taken_at=f"2026-11-22T12:00:{second:02d}+00:00",
        calls=[
            {
                "call_id": "1.1",
                "direction": "inbound",
                "state": "bridged",
                "started_at": "2026-11-22T12:00:01+00:00",
                "agent_id": "agent-1001",
            }
        ],
        agents=[{"agent_id": a.replace("_", "-"), "state": st.value} for a, st in states.items()],
    )


async def test_the_follower_keeps_the_events_of_the_wait_and_asks_again_when_needed() -> None:
    """In the runtime: asked once subscribed; events of the wait applied at once and again after
    the snapshot if newer; asked again after a bus gap (a failure keeps the view) and when
    another process leads."""
    bus = InProcessBus()
    runtime = PbxRuntime(
        "sim",
        InProcessGateway("sim"),
        CallTracker("sim", DIRECTORY),
        bus,
        CallStore(async_sessionmaker(), region="GR"),
    )
    leader, lease = _Leader(), _HeldElsewhere("leader:1:a")

    async def never() -> None:
        raise AssertionError("this process never leads here")

    runtime.leader_link = LeaderLink(leader, "sim", action_timeout_s=5.0)
    runtime.leadership = Leadership("sim", lease, ttl_s=0.3, on_elected=never, on_deposed=never)

    def agents() -> dict[str, tuple[AgentState, str | None]]:
        return {a.agent_id: (a.state, a.reason) for a in runtime.snapshot().agents}

    tasks = [
        asyncio.create_task(runtime.leadership.run()),
        asyncio.create_task(runtime.run_mirror()),
    ]
    try:
        async with asyncio.timeout(WAIT):
            reply = await leader.asked.get()
            assert runtime.mirror_seed.leader == "leader:1:a"
            # While the snapshot (taken at :03) travels: an event it includes, one after it.
            await bus.publish(_changed("agent-1001", AgentState.RINGING, 2, call_id="1.1"))
            await bus.publish(_changed("agent-1002", AgentState.PAUSED, 5, reason="lunch"))
            # Shown at once: the wait holds nothing up.
            await runtime.wait_mirrored(lambda s: len(s.agents) == 2)
            reply.set_result(
                _leader_view(3, agent_1001=AgentState.ON_CALL, agent_1002=AgentState.READY)
            )
            seed = await runtime.wait_mirror_seed(lambda s: s.state == "seeded")
        assert seed.detail == "calls in progress: 1, agents: 2"
        expected = {
            "agent-1001": (AgentState.ON_CALL, None),
            "agent-1002": (AgentState.PAUSED, "lunch"),
        }
        assert agents() == expected
        assert [c.call_id for c in runtime.snapshot().calls] == ["1.1"]

        # The follower falls further behind than its subscription holds: a gap. It asks again;
        # the leader does not answer in time: what it shows stays.
        for _ in range(10_001):  # published without yielding: nobody reads meanwhile
            await bus.publish(_changed("7", AgentState.READY, 6, pbx="other"))
        async with asyncio.timeout(WAIT):
            reply = await leader.asked.get()
            reply.set_result(encode_error(AmiTimeout("no Callboard process answered")))
            seed = await runtime.wait_mirror_seed(lambda s: s.state == "failed")
        assert seed.detail == "pbx_timeout: no Callboard process answered"
        assert agents() == expected

        # Another process takes the lead: it is asked at once (not after the back-off).
        lease.other = "leader:2:b"
        async with asyncio.timeout(WAIT):
            reply = await leader.asked.get()
            reply.set_result(_leader_view(9, agent_1001=AgentState.READY))
            seed = await runtime.wait_mirror_seed(lambda s: s.state == "seeded")
        assert seed.leader == "leader:2:b"
        assert agents() == {"agent-1001": (AgentState.READY, None)}
        assert leader.asked.empty()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _leading(node: Node) -> Node:
    """``node`` once it leads the PBX and is connected (the only process so far)."""
    assert node.runtime.leadership is not None
    async with asyncio.timeout(WAIT):
        await node.runtime.leadership.wait_leader()
        await node.runtime.gateway.wait_status(GatewayStatus.CONNECTED)
    return node


async def _busy_leader(
    make_client: AppMaker, settings: dict[str, Any], ids: dict[str, int]
) -> tuple[Node, str]:
    """The only process: agent1 logs in, agent2 is on a call; returns the leader and the call."""
    leader = await _leading(await _node(make_client, settings))
    agent1, agent2 = str(ids["agent1"]), str(ids["agent2"])
    csrf = await _as(leader.client, "agent1")
    resp = await leader.client.post("/api/agents/me/state", json={"action": "login"}, headers=csrf)
    assert resp.status == 200, await resp.text()
    await leader.runtime.gateway.originate(
        OriginateSpec(channel="Local/1002@agents", context="customers", exten="0210000008")
    )
    # The leader's own bus mirror follows what its tracker published.
    async with asyncio.timeout(WAIT):
        shown = await leader.runtime.wait_mirrored(
            lambda s: (
                _agent_state(s, agent1) is AgentState.READY
                and any(c.agent_id == agent2 and c.state is CallState.BRIDGED for c in s.calls)
            )
        )
    (call,) = shown.calls
    return leader, call.call_id


async def _live_view(node: Node) -> tuple[dict[int, Any], list[tuple[Any, ...]]]:
    """What a supervisor sees on ``node``: agents by user id, and the calls in progress."""
    await _as(node.client, "sup")
    async with asyncio.timeout(WAIT):
        agents = await (await node.client.get("/api/agents")).json()
        calls = await (await node.client.get("/api/calls/active")).json()
    by_user = {a["user_id"]: (a["state"], a["call_id"]) for a in agents["items"]}
    return by_user, [(c["call_id"], c["state"], c["agent_user_id"]) for c in calls["items"]]


async def test_a_follower_started_later_shows_the_leaders_agents_and_calls(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    ids = await _seed(make_client)
    settings = _settings(sim, redis_url, redis_prefix)
    leader, call_id = await _busy_leader(make_client, settings, ids)
    before = await _live_view(leader)

    # Nothing happens to agent1 or the call from now on: only the snapshot can tell of them.
    follower = await _node(make_client, settings)
    async with asyncio.timeout(WAIT):
        seed = await follower.runtime.wait_mirror_seed(lambda s: s.state == "seeded")
    assert not follower.runtime.is_leader
    assert leader.runtime.leadership is not None
    assert seed.leader == leader.runtime.leadership.leader
    agents, calls = await _live_view(follower)
    assert (agents, calls) == before
    assert agents[ids["agent1"]] == ("ready", None)
    assert agents[ids["agent2"]] == ("on_call", call_id)
    assert calls == [(call_id, "bridged", ids["agent2"])]
    health = await (await follower.client.get("/readyz")).json()
    assert health["checks"]["pbx:sim"]["mirror"] == "seeded"

    # Click-to-dial through the follower knows agent1 is logged in: the leader dials.
    csrf = await _as(follower.client, "agent1")
    resp = await follower.client.post(
        "/api/calls",
        json={"to": "+30 210 000 0002", "contact_kind": "person", "contact_id": ids["person"]},
        headers=csrf,
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert body["interface"] == "Local/1001@agents"
    dialled = [
        a
        for a in sim.actions_seen
        if a.get("Action") == "Originate"
        and f"CRM_CALL_ID={body['crm_call_id']}" in a.get_all("Variable")
    ]
    assert [a.get("Channel") for a in dialled] == ["Local/1001@agents"]


async def test_a_follower_whose_leader_is_gone_keeps_answering_from_its_mirror(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    ids = await _seed(make_client)
    settings = _settings(sim, redis_url, redis_prefix, action_timeout=0.5)
    leader, call_id = await _busy_leader(make_client, settings, ids)
    follower = await _node(make_client, settings)
    async with asyncio.timeout(WAIT):
        await follower.runtime.wait_mirror_seed(lambda s: s.state == "seeded")
    seeded = await _live_view(follower)
    assert seeded[1] == [(call_id, "bridged", ids["agent2"])]

    # The leader dies: its lease stays until it expires, nobody serves its requests. The
    # follower sees another holder and asks it for its snapshot, in vain.
    redis = redis_client(redis_url)
    try:
        await redis.set(f"{redis_prefix}pbx-leader:sim", GHOST, px=60_000)
    finally:
        await redis.aclose()
    await leader.client.close()
    async with asyncio.timeout(WAIT):
        await follower.runtime.wait_mirror_seed(lambda s: s.leader == GHOST)
    # Asking or given up: the API answers at once from what the follower showed.
    assert await _live_view(follower) == seeded
    async with asyncio.timeout(WAIT):
        seed = await follower.runtime.wait_mirror_seed(
            lambda s: s.leader == GHOST and s.state == "failed"
        )
    assert seed.detail.startswith("pbx_timeout: no Callboard process holding PBX 'sim' answered")
    assert await _live_view(follower) == seeded
    assert not follower.runtime.is_leader
    check = (await (await follower.client.get("/readyz")).json())["checks"]["pbx:sim"]
    assert (check["status"], check["mirror"], check["leader"]) == ("ok", "failed", GHOST)
    assert "could not be loaded (pbx_timeout" in check["detail"]
