"""Console call control through the API against the simulator over TCP: transfer, recording
pause/resume, supervisor spy, and the wrap-up agent state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_core.appkeys import BUS, SESSIONS
from crm_core.bus.events import Event
from crm_core.bus.fanout import Subscription
from crm_core.db import session_scope
from telephony.api import RUNTIMES
from telephony.events import AgentStateChanged, CallAnswered, CallEnded, CallTransferred
from telephony.models import AgentState
from telephony.ports import GatewayStatus, OriginateSpec
from telephony.records import AgentPhone, CallRecordRow
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import AppMaker, add_user, login

SPEED = 20.0


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


async def _app(make_client: AppMaker, sim: PbxSimulator, **settings: Any) -> TestClient[Any, Any]:
    """Users agent1 (seat 1001), agent2 (1002), sup (1003) and agent3 (no phone), then the app."""
    client0 = await make_client()
    phones = {"agent1": "1001", "agent2": "1002", "sup": "1003"}
    async with session_scope(client0.app[SESSIONS]) as db:
        for name, role in (
            ("agent1", "agent"),
            ("agent2", "agent"),
            ("sup", "supervisor"),
            ("agent3", "agent"),
        ):
            user = await add_user(client0, name, role)
            if name in phones:
                db.add(
                    AgentPhone(
                        user_id=user.id,
                        pbx="sim",
                        interface=f"Local/{phones[name]}@agents",
                        queues="support",
                    )
                )
    await client0.close()
    client = await make_client(
        pbx=[{"name": "sim", "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}"}], **settings
    )
    runtime = client.app[RUNTIMES]["sim"]
    async with asyncio.timeout(20):
        await runtime.gateway.wait_status(GatewayStatus.CONNECTED)
    return client


async def _as(client: TestClient[Any, Any], username: str) -> dict[str, str]:
    client.session.cookie_jar.clear()
    body = await login(client, username)
    return {"X-CSRF-Token": body["csrf_token"]}


async def _uid(client: TestClient[Any, Any], username: str) -> int:
    from crm_core.users.models import User

    async with client.app[SESSIONS]() as db:
        uid = await db.scalar(select(User.id).where(User.username == username))
    assert isinstance(uid, int)
    return uid


async def _next(sub: Subscription, kind: type[Event], **fields: Any) -> Any:
    async with asyncio.timeout(20):
        while True:
            event = await sub.get()
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event


async def _call(client: TestClient[Any, Any], sub: Subscription) -> str:
    """Agent 1001 calls a customer who answers at once and talks 120 s (simulated)."""
    runtime = client.app[RUNTIMES]["sim"]
    await runtime.gateway.originate(
        OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000003")
    )
    answered = await _next(sub, CallAnswered)
    call_id: str = answered.call_id
    # The customer's and the agent's channels are bridged when the call shows as bridged.
    async with asyncio.timeout(20):
        while True:
            call = next(c for c in runtime.snapshot().calls if c.call_id == call_id)
            if call.state.value == "bridged":
                return call_id
            await sub.get()


async def test_blind_transfer_to_an_agent_with_clear_errors(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app(make_client, sim)
    agent2 = await _uid(client, "agent2")
    async with client.app[BUS].subscribe(
        CallAnswered, CallTransferred, CallEnded, AgentStateChanged
    ) as sub:
        call_id = await _call(client, sub)
        url = f"/api/calls/active/{call_id}/transfer"
        csrf = await _as(client, "agent2")
        body = {"target_type": "agent", "target": str(agent2), "mode": "blind"}
        resp = await client.post(url, json=body, headers=csrf)
        assert resp.status == 404  # not agent2's call
        csrf = await _as(client, "agent1")
        for bad, field_hint in (
            ({"target_type": "number", "target": "12ab"}, "digits"),
            ({"target_type": "queue", "target": "nope"}, "unknown queue 'nope'"),
            ({"target_type": "agent", "target": "999999"}, "has no phone"),
            ({"target_type": "agent", "target": str(await _uid(client, "agent1"))}, "already"),
        ):
            resp = await client.post(url, json=bad, headers=csrf)
            err = (await resp.json())["error"]
            assert resp.status == 400, err
            assert field_hint in err["message"]
            assert err["details"]["field"] == "target"
        resp = await client.post(url, json={"target_type": "fax", "target": "1"}, headers=csrf)
        assert resp.status == 400
        resp = await client.post(url, json=body, headers=csrf)
        out = await resp.json()
        assert resp.status == 202, out
        assert out["status"] == "transferring"
        assert out["channel"].startswith("Local/0210000003@pstn-sim")
        moved = await _next(sub, CallTransferred, call_id=call_id)
        assert (moved.kind, moved.to_agent_id) == ("blind", str(agent2))
        # agent2 now has the call and may act on it; agent1 no longer has a leg in it.
        await _next(sub, AgentStateChanged, agent_id=str(agent2), state=AgentState.ON_CALL)
        csrf = await _as(client, "agent2")
        resp = await client.post(f"/api/calls/active/{call_id}/hangup", headers=csrf)
        assert resp.status == 200, await resp.text()
        ended = await _next(sub, CallEnded, call_id=call_id)
    assert ended.transferred
    assert ended.agent_id == str(agent2)
    async with client.app[SESSIONS]() as db:
        rows = list(await db.scalars(select(CallRecordRow)))
    assert [(r.call_id, r.transferred, r.agent_user_id) for r in rows] == [(call_id, True, agent2)]
    resp = await client.post(url, json=body, headers=csrf)
    assert resp.status == 404  # the call is over


async def test_attended_transfer_recording_pause_and_spy(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app(make_client, sim)
    agent2 = await _uid(client, "agent2")
    async with client.app[BUS].subscribe(CallAnswered, CallTransferred, CallEnded) as sub:
        call_id = await _call(client, sub)
        base = f"/api/calls/active/{call_id}"
        csrf = await _as(client, "agent1")
        resp = await client.post(f"{base}/recording", json={"action": "pause"}, headers=csrf)
        err = (await resp.json())["error"]
        assert resp.status == 409
        assert err["details"]["reason"] == "not_recording"
        for action in ("start", "pause", "resume"):
            resp = await client.post(f"{base}/recording", json={"action": action}, headers=csrf)
            assert resp.status == 200, await resp.text()
        mutes = [a for a in sim.actions_seen if a.get("Action") == "MixMonitorMute"]
        assert [(a.get("State"), a.get("Direction")) for a in mutes] == [
            ("1", "both"),
            ("1", "both"),
            ("0", "both"),
        ]
        # Agents may not spy; a supervisor with a phone may.
        resp = await client.post(f"{base}/spy", json={"mode": "listen"}, headers=csrf)
        assert resp.status == 403
        sup = await _as(client, "sup")
        resp = await client.post(f"{base}/spy", json={"mode": "barge"}, headers=sup)
        out = await resp.json()
        assert resp.status == 202, out
        assert (out["status"], out["phone"]) == ("spying", "Local/1003@agents")
        spy = next(a for a in sim.actions_seen if a.get("Application") == "ChanSpy")
        assert spy.get("Channel") == "Local/1003@agents"
        assert spy.get("Data") == f"{out['spied_channel']},qEB"
        assert out["spied_channel"].startswith("Local/1001@agents")
        resp = await client.post(f"{base}/spy", json={"mode": "peek"}, headers=sup)
        assert resp.status == 400
        # Attended: agent1 consults agent2, then hangs up to complete the transfer.
        body = {"target_type": "agent", "target": str(agent2), "mode": "attended"}
        csrf = await _as(client, "agent1")
        resp = await client.post(f"{base}/transfer", json=body, headers=csrf)
        out = await resp.json()
        assert resp.status == 202, out
        assert out["channel"] == spy.require("Data").split(",")[0]
        atxfer = await sim.wait_for_action("Atxfer")
        assert (atxfer.get("Context"), atxfer.get("Exten")) == ("transfer-agent", "1002")
        runtime = client.app[RUNTIMES]["sim"]
        async with asyncio.timeout(20):
            while not any(
                leg.agent_id == str(agent2) and leg.answered
                for c in runtime.snapshot().calls
                if c.call_id == call_id
                for leg in c.legs
            ):
                await sub.get()
        await runtime.gateway.hangup(out["channel"])
        moved = await _next(sub, CallTransferred, call_id=call_id)
        assert (moved.kind, moved.to_agent_id) == ("attended", str(agent2))
        await runtime.gateway.hangup(
            next(
                leg.channels[0]
                for c in runtime.snapshot().calls
                if c.call_id == call_id
                for leg in c.legs
                if leg.agent_id == str(agent2)
            )
        )
        ended = await _next(sub, CallEnded, call_id=call_id)
    assert ended.transferred
    assert ended.recording_file is not None


async def test_transfer_into_a_queue_and_to_a_number(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client = await _app(make_client, sim)
    async with client.app[BUS].subscribe(CallAnswered, CallTransferred, CallEnded) as sub:
        call_id = await _call(client, sub)
        csrf = await _as(client, "sup")  # supervisors act on any call
        url = f"/api/calls/active/{call_id}/transfer"
        resp = await client.post(
            url, json={"target_type": "queue", "target": "sales"}, headers=csrf
        )
        assert resp.status == 202, await resp.text()
        moved = await _next(sub, CallTransferred, call_id=call_id)
        assert (moved.kind, moved.to_queue) == ("queue", "sales")
        redirect = await sim.wait_for_action("Redirect")
        assert (redirect.get("Context"), redirect.get("Exten")) == ("transfer-queue", "sales")
        # Still queued (not answered again): a second transfer is refused.
        resp = await client.post(
            url, json={"target_type": "number", "target": "+302100000001"}, headers=csrf
        )
        assert resp.status == 409
        assert (await resp.json())["error"]["details"]["reason"] == "not_answered"
        runtime = client.app[RUNTIMES]["sim"]
        customer = next(
            leg.channels[0]
            for c in runtime.snapshot().calls
            if c.call_id == call_id
            for leg in c.legs
            if leg.agent_id is None and not leg.ended
        )
        await runtime.gateway.hangup(customer)
        ended = await _next(sub, CallEnded, call_id=call_id)
    assert ended.transferred


async def test_wrap_up_after_a_call_then_ready(make_client: AppMaker, sim: PbxSimulator) -> None:
    client = await _app(make_client, sim, wrap_up_seconds=600)
    agent1 = str(await _uid(client, "agent1"))
    runtime = client.app[RUNTIMES]["sim"]
    async with client.app[BUS].subscribe(CallAnswered, AgentStateChanged, CallEnded) as sub:
        # Last digit 2: answered after 2 s, the customer hangs up after 3 s (simulated).
        await runtime.gateway.originate(
            OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000002")
        )
        await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.ON_CALL)
        await _next(sub, CallEnded)
        wrap = await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.WRAP_UP)
        assert wrap.reason is None
        pause = next(a for a in sim.actions_seen if a.get("Action") == "QueuePause")
        assert (pause.get("Paused"), pause.get("Reason")) == ("true", "wrap-up")
        csrf = await _as(client, "sup")
        agents = (await (await client.get("/api/agents")).json())["items"]
        assert {a["user_id"]: a["state"] for a in agents}[int(agent1)] == "wrap_up"
        # The agent is ready before the wrap-up time is over.
        csrf = await _as(client, "agent1")
        resp = await client.post("/api/agents/me/state", json={"action": "ready"}, headers=csrf)
        assert resp.status == 200, await resp.text()
        await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.READY)
        # ... and may ask for wrap-up explicitly.
        resp = await client.post("/api/agents/me/state", json={"action": "wrap_up"}, headers=csrf)
        assert resp.status == 200, await resp.text()
        await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.WRAP_UP)


async def test_wrap_up_ends_by_itself(make_client: AppMaker, sim: PbxSimulator) -> None:
    client = await _app(make_client, sim, wrap_up_seconds=0.2)
    agent1 = str(await _uid(client, "agent1"))
    csrf = await _as(client, "agent1")
    async with client.app[BUS].subscribe(AgentStateChanged) as sub:
        resp = await client.post("/api/agents/me/state", json={"action": "wrap_up"}, headers=csrf)
        assert resp.status == 200, await resp.text()
        await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.WRAP_UP)
        ready = await _next(sub, AgentStateChanged, agent_id=agent1, state=AgentState.READY)
    assert ready.previous is AgentState.WRAP_UP
    unpause = [a for a in sim.actions_seen if a.get("Action") == "QueuePause"][-1]
    assert unpause.get("Paused") == "false"
