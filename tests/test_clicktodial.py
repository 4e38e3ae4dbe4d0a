"""Click-to-dial through the simulator: the agent's phone first, then the customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_core.appkeys import BUS, SESSIONS
from crm_core.db import session_scope
from dialer.clicktodial import dial_string
from telephony.api import RUNTIMES
from telephony.events import AgentStateChanged, CallEnded, CallRinging
from telephony.ports import GatewayStatus
from telephony.records import AgentPhone
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import AppMaker, add_user, login
from tests.crm.helpers import Api


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=20.0)
    try:
        yield simulator
    finally:
        await simulator.close()


async def _setup(
    make_client: AppMaker, sim: PbxSimulator, seat: str
) -> tuple[TestClient[Any, Any], dict[str, str], int]:
    boot = await make_client(default_region="GR")
    agent = await add_user(boot, "agent1", "agent")
    await add_user(boot, "admin", "admin")
    async with session_scope(boot.app[SESSIONS]) as db:
        db.add(AgentPhone(user_id=agent.id, pbx="sim", interface=seat, queues="support"))
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
    await boot.close()
    client = await make_client(
        default_region="GR",
        pbx=[
            {
                "name": "sim",
                "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}",
                "context": "customers",
            }
        ],
    )
    runtime = client.app[RUNTIMES]["sim"]
    async with asyncio.timeout(20):
        await runtime.gateway.wait_status(GatewayStatus.CONNECTED)
    body = await login(client, "agent1")
    return client, {"X-CSRF-Token": body["csrf_token"]}, person["id"]


def test_dial_string_home_and_abroad() -> None:
    assert dial_string("+302101234567", "GR") == "2101234567"
    assert dial_string("+40213456789", "GR") == "0040213456789"


async def test_agent_dials_a_contact_and_the_call_comes_back(
    make_client: AppMaker, sim: PbxSimulator
) -> None:
    client, csrf, person_id = await _setup(make_client, sim, "Local/1001@agents")
    async with client.app[BUS].subscribe(CallRinging, CallEnded) as sub:
        resp = await client.post(
            "/api/calls",
            json={"to": "+30 210 000 0002", "contact_kind": "person", "contact_id": person_id},
            headers=csrf,
        )
        body = await resp.json()
        assert resp.status == 201, body
        assert body["number"] == "+302100000002"
        assert body["dialled"] == "2100000002"
        crm_call_id = body["crm_call_id"]
        async with asyncio.timeout(30):
            while True:
                event = await sub.get()
                if isinstance(event, CallEnded) and event.crm_call_id == crm_call_id:
                    break
    assert event.outcome.value == "answered"
    resp = await client.get("/api/calls")
    calls = (await resp.json())["items"]
    assert [c["crm_call_id"] for c in calls] == [crm_call_id]
    assert calls[0]["person_id"] == person_id


async def test_clear_refusals(make_client: AppMaker, sim: PbxSimulator) -> None:
    client, csrf, person_id = await _setup(make_client, sim, "Local/1001@agents")
    cases = [
        ({"to": "12"}, 400, "invalid number"),
        ({"to": "+30 210 999 9999"}, 403, "number not allowed"),
        (
            {"to": "+30 210 000 0002", "contact_kind": "person", "contact_id": person_id + 50},
            403,
            "not a number of that contact",
        ),
    ]
    for body, status, text in cases:
        resp = await client.post("/api/calls", json=body, headers=csrf)
        answer = await resp.json()
        assert resp.status == status, (body, answer)
        assert text in answer["error"]["message"], answer
    # Logged out of every queue: told to log in first.
    async with client.app[BUS].subscribe(AgentStateChanged) as sub:
        resp = await client.post("/api/agents/me/state", json={"action": "logout"}, headers=csrf)
        assert resp.status == 200
        async with asyncio.timeout(20):
            while (await sub.get()).state.value != "logged_out":
                pass
    resp = await client.post("/api/calls", json={"to": "+30 210 000 0002"}, headers=csrf)
    assert resp.status == 409
    assert "log in" in (await resp.json())["error"]["message"]


async def test_unanswered_agent_phone_is_reported(make_client: AppMaker, sim: PbxSimulator) -> None:
    # Seat 3001 never answers; it is a member of the sales queue, so the agent counts as in.
    client, csrf, _ = await _setup(make_client, sim, "Local/3001@agents")
    resp = await client.post("/api/calls", json={"to": "+30 210 000 0002"}, headers=csrf)
    answer = await resp.json()
    assert resp.status == 409, answer
    assert answer["error"]["details"]["reason"] == "phone_unreachable"
    assert "not answered" in answer["error"]["message"]


async def test_agent_without_phone(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    body = await login(client, "agent1")
    resp = await client.post(
        "/api/calls", json={"to": "+302100000002"}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert resp.status == 409
    assert "no phone" in (await resp.json())["error"]["message"]
