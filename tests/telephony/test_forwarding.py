"""PBX actions from a follower: two app instances on one simulator (real TCP, real Redis); the
follower has the leader carry out agent state, click-to-dial and call control, and answers with
the leader's typed results and errors; no leader means 503 by the deadline, never a hang."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_core.appkeys import BUS, SESSIONS
from crm_core.bus.events import Event
from crm_core.bus.fanout import Subscription
from crm_core.db import session_scope
from crm_core.errors import (
    CallboardError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crm_core.users.models import Role
from crm_core.users.permissions import Principal
from telephony.adapters.redis_lease import redis_client
from telephony.adapters.redis_rpc import RedisLeaderChannel
from telephony.api import RUNTIMES
from telephony.call_control import CallControl
from telephony.errors import (
    AmiActionFailed,
    AmiLoginFailed,
    AmiTimeout,
    ChannelNotFound,
    PbxUnavailable,
    TelephonyError,
)
from telephony.events import CallAnswered, CallEnded, CallTransferred
from telephony.forwarding import LeaderLink
from telephony.forwarding_wire import encode_error
from telephony.models import AgentState, CallState, TrackerSnapshot
from telephony.ports import ForwardedHandler, GatewayStatus, OriginateSpec
from telephony.records import AgentPhone
from telephony.runtime import PbxRuntime
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import AppMaker, add_user, login
from tests.crm.helpers import Api
from web.errors import status_of

SPEED = 20.0
# Long enough that a busy test machine does not move the leadership in the middle of a test;
# the first process to start is elected at once anyway.
TTL = 3.0
WAIT = 20  # bound of every wait on an event: a failure, never a hang


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


@dataclass
class Node:
    """One Callboard process: its HTTP client and its runtime of the PBX ``sim``."""

    client: TestClient[Any, Any]
    runtime: PbxRuntime


async def _seed(make_client: AppMaker) -> dict[str, int]:
    """agent1 (seat 1001), agent2 (1002), sup (1003, supervisor), agent3 (no phone), admin;
    a person with the number +30 210 000 0002 in a territory that agents work."""
    boot = await make_client(default_region="GR")
    ids: dict[str, int] = {}
    phones = {"agent1": "1001", "agent2": "1002", "sup": "1003"}
    for name, role in (
        ("agent1", "agent"),
        ("agent2", "agent"),
        ("sup", "supervisor"),
        ("agent3", "agent"),
        ("admin", "admin"),
    ):
        ids[name] = (await add_user(boot, name, role)).id
    async with session_scope(boot.app[SESSIONS]) as db:
        for name, seat in phones.items():
            db.add(
                AgentPhone(
                    user_id=ids[name], pbx="sim", interface=f"Local/{seat}@agents", queues="support"
                )
            )
    api = Api(boot)
    await api.as_("admin")
    territory = await api.post("/api/territories", {"name": "Mine"})
    await api.post(f"/api/territories/{territory['id']}/grants", {"role": "agent"})
    person = await api.post(
        "/api/persons",
        {
            "family_name": "Pappa",
            "territory_id": territory["id"],
            "phones": [{"kind": "work", "number": "210 000 0002"}],
        },
    )
    ids["person"] = person["id"]
    await boot.close()
    return ids


def _settings(sim: PbxSimulator, redis_url: str, redis_prefix: str, **pbx: Any) -> dict[str, Any]:
    return {
        "default_region": "GR",
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "pbx_leader_ttl_seconds": TTL,
        "pbx": [
            {
                "name": "sim",
                "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}",
                "context": "customers",
                **pbx,
            }
        ],
    }


async def _node(make_client: AppMaker, settings: dict[str, Any]) -> Node:
    client = await make_client(**settings)
    return Node(client, client.app[RUNTIMES]["sim"])


async def _elected(nodes: list[Node]) -> tuple[Node, Node]:
    """(leader, follower) once one of the two has been elected and is connected."""
    async with asyncio.timeout(WAIT):
        while not any(n.runtime.is_leader for n in nodes):
            leaderships = [n.runtime.leadership for n in nodes if n.runtime.leadership]
            waits = [asyncio.create_task(le.wait_leader()) for le in leaderships]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        leader = next(n for n in nodes if n.runtime.is_leader)
        await leader.runtime.gateway.wait_status(GatewayStatus.CONNECTED)
    follower = next(n for n in nodes if n is not leader)
    assert not follower.runtime.is_leader
    return leader, follower


async def _pair(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> tuple[Node, Node]:
    settings = _settings(sim, redis_url, redis_prefix)
    return await _elected([await _node(make_client, settings), await _node(make_client, settings)])


async def _as(client: TestClient[Any, Any], username: str) -> dict[str, str]:
    client.session.cookie_jar.clear()
    return {"X-CSRF-Token": (await login(client, username))["csrf_token"]}


async def _next(sub: Subscription, kind: type[Event], **fields: Any) -> Any:
    async with asyncio.timeout(WAIT):
        while True:
            event = await sub.get()
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event


def _agent_state(snapshot: TrackerSnapshot, agent_id: str) -> AgentState | None:
    return next((a.state for a in snapshot.agents if a.agent_id == agent_id), None)


class _Answers:
    """A leader channel that answers every request with one fixed error (no Redis, no PBX)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def request(self, pbx: str, body: str, *, ttl_s: float) -> str:
        return encode_error(self.error)

    async def serve(self, pbx: str, handle: ForwardedHandler) -> None:
        raise NotImplementedError


@pytest.mark.parametrize(
    "error",
    [
        ChannelNotFound("Hangup", "No such channel"),
        AmiActionFailed("QueuePause", "Interface not found"),
        AmiTimeout("no answer to Ping from PBX 'sim' in time"),
        AmiLoginFailed("Authentication failed"),
        PbxUnavailable("PBX 'sim' is down: connection refused"),
        Conflict("the call is not being recorded", details={"reason": "not_recording"}),
        NotFound("no call 1.2 in progress that you may act on"),
        PermissionDenied("your role does not allow this (calls.spy)"),
        InvalidInput("unknown queue 'nope'", details={"field": "target"}),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_every_error_kind_comes_back_as_itself(error: CallboardError) -> None:
    link = LeaderLink(_Answers(error), "sim", action_timeout_s=1.0)
    with pytest.raises(type(error)) as raised:
        await link.send_action("Ping")
    back = raised.value
    assert type(back) is type(error)
    assert (back.message, back.details, back.code) == (error.message, error.details, error.code)
    assert status_of(back) == status_of(error)


async def test_unknown_errors_and_originate_timeouts_keep_their_meaning() -> None:
    # A bug on the leader is not dressed up as a PBX answer: a 500 that says where to look.
    link = LeaderLink(_Answers(KeyError("secret-ish detail")), "sim", action_timeout_s=1.0)
    with pytest.raises(TelephonyError) as raised:
        await link.send_action("Ping")
    assert status_of(raised.value) == 500
    assert "secret-ish" not in raised.value.message
    # No OriginateResponse in time is a TimeoutError, as for originate_and_wait on the leader.
    link = LeaderLink(_Answers(TimeoutError()), "sim", action_timeout_s=1.0)
    with pytest.raises(TimeoutError):
        await link.originate_and_wait(OriginateSpec(channel="Local/1001@agents"), 5.0)


async def test_agent_state_and_click_to_dial_through_the_follower(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    ids = await _seed(make_client)
    _, follower = await _pair(make_client, sim, redis_url, redis_prefix)
    agent1 = str(ids["agent1"])
    csrf = await _as(follower.client, "agent1")
    state = "/api/agents/me/state"
    resp = await follower.client.post(
        state, json={"action": "pause", "reason": "break"}, headers=csrf
    )
    assert resp.status == 200, await resp.text()
    pause = await sim.wait_for_action("QueuePause")
    assert (pause.get("Interface"), pause.get("Paused"), pause.get("Reason")) == (
        "Local/1001@agents",
        "true",
        "break",
    )
    async with asyncio.timeout(WAIT):
        await follower.runtime.wait_mirrored(lambda s: _agent_state(s, agent1) is AgentState.PAUSED)
    resp = await follower.client.post(state, json={"action": "ready"}, headers=csrf)
    assert resp.status == 200, await resp.text()
    async with asyncio.timeout(WAIT):
        await follower.runtime.wait_mirrored(lambda s: _agent_state(s, agent1) is AgentState.READY)

    # Click-to-dial: the agent's seat rings first (the leader waits for it to answer).
    async with follower.client.app[BUS].subscribe(CallEnded) as sub:
        resp = await follower.client.post(
            "/api/calls",
            json={"to": "+30 210 000 0002", "contact_kind": "person", "contact_id": ids["person"]},
            headers=csrf,
        )
        body = await resp.json()
        assert resp.status == 201, body
        assert (body["pbx"], body["interface"]) == ("sim", "Local/1001@agents")
        originate = await sim.wait_for_action("Originate")
        assert originate.get("Channel") == "Local/1001@agents"
        assert (originate.get("Context"), originate.get("Exten")) == ("customers", "2100000002")
        assert f"CRM_CALL_ID={body['crm_call_id']}" in originate.get_all("Variable")
        ended = await _next(sub, CallEnded, crm_call_id=body["crm_call_id"])
    assert ended.outcome.value == "answered"
    assert ended.agent_id == agent1
    # Stored once, by the leader, before CallEnded was published: the follower lists it.
    calls = (await (await follower.client.get("/api/calls")).json())["items"]
    assert [(c["crm_call_id"], c["person_id"]) for c in calls] == [
        (body["crm_call_id"], ids["person"])
    ]


async def test_call_control_through_the_follower_is_checked_by_the_leader(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    ids = await _seed(make_client)
    leader, follower = await _pair(make_client, sim, redis_url, redis_prefix)
    client = follower.client
    async with client.app[BUS].subscribe(CallAnswered, CallTransferred, CallEnded) as sub:
        # An Originate sent on the follower's gateway goes through the leader's connection.
        await follower.runtime.gateway.originate(
            OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000003")
        )
        call_id: str = (await _next(sub, CallAnswered)).call_id
        async with asyncio.timeout(WAIT):
            await follower.runtime.wait_mirrored(
                lambda s: any(
                    c.call_id == call_id and c.state is CallState.BRIDGED for c in s.calls
                )
            )
        base = f"/api/calls/active/{call_id}"

        # The leader decides who may act: agent3 is not on the call.
        resp = await client.post(f"{base}/hangup", headers=await _as(client, "agent3"))
        assert resp.status == 404, await resp.text()

        # An AMI refusal on the leader comes back as the leader itself answers it.
        pause = {"action": "pause"}
        answers = []
        for node in (leader, follower):
            csrf = await _as(node.client, "agent1")
            resp = await node.client.post(f"{base}/recording", json=pause, headers=csrf)
            answers.append((resp.status, await resp.json()))
        assert answers[0] == answers[1]
        assert answers[1][0] == 409
        assert answers[1][1]["error"]["details"]["reason"] == "not_recording"
        csrf = await _as(client, "agent1")
        resp = await client.post(f"{base}/recording", json={"action": "start"}, headers=csrf)
        out = await resp.json()
        assert resp.status == 200, out
        mixmonitor = await sim.wait_for_action("MixMonitor")
        assert mixmonitor.get("Channel") == out["channel"]
        assert out["channel"].startswith("Local/1001@agents")

        # A role list is never taken from the follower: the leader reloads the user.
        control = CallControl(client.app[RUNTIMES], control_any=True)
        forged = Principal(user_id=ids["agent1"], username="agent1", roles=frozenset(Role))
        with pytest.raises(PermissionDenied, match=r"calls\.spy"):
            await control.spy(forged, call_id, "listen")
        nobody = Principal(user_id=999_999, username="ghost", roles=frozenset({Role.ADMIN}))
        with pytest.raises(PermissionDenied, match="unknown or deactivated"):
            await control.hangup(nobody, call_id)
        assert not [a for a in sim.actions_seen if a.get("Application") == "ChanSpy"]

        sup = await _as(client, "sup")
        resp = await client.post(f"{base}/spy", json={"mode": "listen"}, headers=sup)
        out = await resp.json()
        assert resp.status == 202, out
        assert out["phone"] == "Local/1003@agents"
        spy = next(a for a in sim.actions_seen if a.get("Application") == "ChanSpy")
        assert spy.get("Data") == f"{out['spied_channel']},qE"

        # agent1 hands the customer to agent2, who then hangs up: both through the follower.
        body = {"target_type": "agent", "target": str(ids["agent2"]), "mode": "blind"}
        csrf = await _as(client, "agent1")
        resp = await client.post(f"{base}/transfer", json=body, headers=csrf)
        out = await resp.json()
        assert resp.status == 202, out
        redirect = await sim.wait_for_action("Redirect")
        assert (redirect.get("Context"), redirect.get("Exten")) == ("transfer-agent", "1002")
        moved = await _next(sub, CallTransferred, call_id=call_id)
        assert moved.to_agent_id == str(ids["agent2"])
        async with asyncio.timeout(WAIT):
            while not any(
                leg.agent_id == str(ids["agent2"]) and leg.answered
                for c in leader.runtime.snapshot().calls
                if c.call_id == call_id
                for leg in c.legs
            ):
                await sub.get()
        resp = await client.post(f"{base}/hangup", headers=await _as(client, "agent2"))
        assert resp.status == 200, await resp.text()
        ended = await _next(sub, CallEnded, call_id=call_id)
    assert ended.transferred
    assert ended.agent_id == str(ids["agent2"])
    calls = (await (await client.get("/api/calls")).json())["items"]
    assert [(c["call_id"], c["agent_user_id"]) for c in calls] == [(call_id, ids["agent2"])]


async def test_errors_come_back_typed_and_bad_requests_are_refused(
    make_client: AppMaker,
    sim: PbxSimulator,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telephony")
    await _seed(make_client)
    leader, follower = await _pair(make_client, sim, redis_url, redis_prefix)
    # A listing action (QueueStatus) comes back whole: the live queues as the leader sees them.
    queues = []
    for node in (leader, follower):
        await _as(node.client, "sup")
        resp = await node.client.get("/api/queues")
        assert resp.status == 200, await resp.text()
        queues.append(await resp.json())
    assert queues[0] == queues[1]
    assert queues[1]["unavailable"] == []
    assert "support" in {q["name"] for q in queues[1]["items"]}

    gone = "Local/1001@agents-00000099;1"
    errors = []
    for node in (leader, follower):
        with pytest.raises(ChannelNotFound) as raised:
            await node.runtime.gateway.hangup(gone)
        errors.append((raised.value.message, raised.value.details))
    assert errors[0] == errors[1]
    assert errors[1][1] == {"action": "Hangup"}

    # The same HTTP answer from both: a logged-out agent is told to log in first.
    csrf = await _as(follower.client, "agent1")
    resp = await follower.client.post(
        "/api/agents/me/state", json={"action": "logout"}, headers=csrf
    )
    assert resp.status == 200, await resp.text()
    remove = await sim.wait_for_action("QueueRemove")
    assert (remove.get("Queue"), remove.get("Interface")) == ("support", "Local/1001@agents")
    answers = []
    for node in (leader, follower):
        csrf = await _as(node.client, "agent1")
        resp = await node.client.post(
            "/api/agents/me/state", json={"action": "ready"}, headers=csrf
        )
        answers.append((resp.status, await resp.json()))
    assert answers[0] == answers[1]
    assert answers[1][0] == 409
    assert answers[1][1]["error"]["details"]["reason"] == "logged_out"

    # Only the platform's own actions are forwarded, with one-line headers.
    with pytest.raises(InvalidInput, match="not one the platform sends"):
        await follower.runtime.gateway.send_action("Command", {"Command": "core show version"})
    with pytest.raises(InvalidInput, match="cannot forward"):
        await follower.runtime.gateway.send_action("Ping", {"X": "1\r\nAction: Logoff"})
    assert not [a for a in sim.actions_seen if a.get("Action") in ("Command", "Logoff")]

    # Whatever reaches the leader's queue is checked there too, and answered.
    redis = redis_client(redis_url)
    try:
        channel = RedisLeaderChannel(redis, redis_prefix)
        ping = {"op": "action", "action": "Ping", "timeout_s": 2}
        valid = {"v": 1, "pbx": "sim", "request": ping}
        injected = {**ping, "headers": {"X": "1\r\nAction: Logoff"}}
        for body, hint in (
            ("{not json", "not JSON"),
            (json.dumps({**valid, "v": 2}), "wire version 2"),
            (json.dumps({**valid, "pbx": "other"}), "reached the queue of 'sim'"),
            (json.dumps({**valid, "request": injected}), "request.action.headers.X"),
        ):
            async with asyncio.timeout(WAIT):
                reply = json.loads(await channel.request("sim", body, ttl_s=3))
            assert reply["ok"] is False
            assert reply["error"]["code"] == "invalid_input"
            assert hint in reply["error"]["message"]
    finally:
        await redis.aclose()
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 5  # the Command above, then these four
    assert all("forwarded request" in r.getMessage() for r in refused)
    assert not [a for a in sim.actions_seen if a.get("Action") == "Logoff"]


async def test_no_leader_answers_503_by_the_deadline_and_late_requests_are_dropped(
    make_client: AppMaker,
    sim: PbxSimulator,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telephony")
    await _seed(make_client)
    # The leader died a moment ago: its lease has not expired yet, nobody serves its queue.
    lease = f"{redis_prefix}pbx-leader:sim"
    redis = redis_client(redis_url)
    await redis.set(lease, "ghost:1:dead", px=60_000)
    settings = _settings(sim, redis_url, redis_prefix, action_timeout=0.5)
    try:
        alone = await _node(make_client, settings)
        csrf = await _as(alone.client, "agent1")
        async with asyncio.timeout(WAIT):
            resp = await alone.client.post(
                "/api/agents/me/state", json={"action": "ready"}, headers=csrf
            )
        err = (await resp.json())["error"]
        assert resp.status == 503, err
        assert err["code"] == "pbx_timeout"
        assert "no Callboard process holding PBX 'sim' answered" in err["message"]
        spec = OriginateSpec(
            channel="Local/1001@agents",
            context="customers",
            exten="0210000003",
            variables={"CRM_CALL_ID": "too-late"},
        )
        async with asyncio.timeout(WAIT):
            with pytest.raises(AmiTimeout):
                await alone.runtime.gateway.originate(spec)
        assert not alone.runtime.is_leader

        # The lease goes: this process takes over, and finds both requests past their deadline.
        await redis.delete(lease)
        async with asyncio.timeout(WAIT):
            assert alone.runtime.leadership is not None
            await alone.runtime.leadership.wait_leader()
            await alone.runtime.gateway.wait_status(GatewayStatus.CONNECTED)
        other = await _node(make_client, settings)
        assert not other.runtime.is_leader
        # Queued after the stale ones: once answered, the leader has taken (and dropped) them.
        async with asyncio.timeout(WAIT):
            pong = await other.runtime.gateway.send_action("Ping")
        assert pong.response.get("Response") == "Success"
    finally:
        await redis.aclose()
    late = [a for a in sim.actions_seen if a.get("Action") in ("QueuePause", "Originate")]
    assert late == []
    dropped = [r for r in caplog.records if "past its deadline" in r.getMessage()]
    # The two requests above, and the one ask of the follower for the gone leader's snapshot
    # (asked again only when the leader changes: here to this process, which needs none).
    asks = [r for r in caplog.records if "snapshot could not be had (pbx_timeout" in r.getMessage()]
    assert len(asks) == 1
    assert len(dropped) == 3
