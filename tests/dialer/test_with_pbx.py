"""End to end through the PBX simulator: a queue call pops, is dispositioned while it is up, is
hung up from the console, and the disposition lands on the stored call and its activity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_core.appkeys import BUS, SESSIONS
from crm_core.crm.work_models import Activity
from crm_core.db import session_scope
from dialer.events import CallWrappedUp
from telephony.api import RUNTIMES
from telephony.events import CallAnswered, CallEnded
from telephony.ports import GatewayStatus
from telephony.records import AgentPhone
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import AppMaker
from tests.dialer.helpers import World, recv, world

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    """The PBX simulator over TCP."""
    simulator = await start_simulator("127.0.0.1", 0, speed=20.0)
    try:
        yield simulator
    finally:
        await simulator.close()


async def _console(make_client: AppMaker, sim: PbxSimulator) -> World:
    boot = await make_client(default_region="GR", default_timezone="Europe/Athens")
    first = await world(boot)
    async with session_scope(boot.app[SESSIONS]) as db:
        db.add(
            AgentPhone(
                user_id=first.users["agent1"],
                pbx="sim",
                interface="Local/1001@agents",
                queues="support",
            )
        )
    await boot.close()
    client: TestClient[Any, Any] = await make_client(
        default_region="GR",
        default_timezone="Europe/Athens",
        pbx=[
            {
                "name": "sim",
                "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}",
                "context": "customers",
            }
        ],
    )
    async with asyncio.timeout(20):
        await client.app[RUNTIMES]["sim"].gateway.wait_status(GatewayStatus.CONNECTED)
    first.client = client
    first.api.client = client
    return first


async def test_disposition_of_a_live_queue_call(make_client: AppMaker, sim: PbxSimulator) -> None:
    w = await _console(make_client, sim)
    await w.api.as_("agent1")
    async with (
        w.client.app[BUS].subscribe(CallAnswered, CallEnded, CallWrappedUp) as sub,
        w.client.ws_connect("/ws") as ws,
    ):
        await recv(ws, "hello")
        # The caller's side lasts `patience` simulated seconds (Wait), answered or not: 600 at
        # speed 20 is 30 s, so the call is still up when the disposition is saved below even
        # on a loaded machine (two sign-ins hash passwords); the test hangs it up itself.
        call_id = await sim.inbound_call("+302101234567", "support", 600)
        pop = await recv(ws, "screen_pop")
        assert pop["call"]["id"] == call_id
        assert pop["contact"]["id"] == w.persons["maria"]
        async with asyncio.timeout(30):
            while not (isinstance(event := await sub.get(), CallAnswered)):
                pass
        # The call is up and known only to the PBX runtime: another agent may not touch it.
        await w.api.as_("agent2")
        await w.api.post(f"/api/calls/{call_id}/disposition", {"code": "SALE"}, expect=404)
        await w.api.as_("agent1")
        saved = await w.api.post(
            f"/api/calls/{call_id}/disposition", {"code": "SALE", "notes": "premium plan"}
        )
        assert saved["on_record"] is False
        followup = await w.api.post(
            f"/api/calls/{call_id}/activity", {"type": "task", "subject": "Send the contract"}
        )
        await w.api.post(f"/api/calls/active/{call_id}/hangup", {}, expect=200)
        wrapped: CallWrappedUp | None = None
        async with asyncio.timeout(30):
            while wrapped is None:
                event = await sub.get()
                if isinstance(event, CallWrappedUp) and event.call_id == call_id:
                    wrapped = event
        assert (wrapped.disposition_code, wrapped.person_id) == ("SALE", w.persons["maria"])
    calls = (await w.api.get("/api/calls"))["items"]
    assert [(c["call_id"], c["disposition_code"], c["disposition_notes"]) for c in calls] == [
        (call_id, "SALE", "premium plan")
    ]
    async with w.client.app[SESSIONS]() as db:
        acts = list(
            await db.scalars(
                select(Activity).where(Activity.call_id == call_id).order_by(Activity.id)
            )
        )
    call_act = next(a for a in acts if a.type == "call")
    assert (call_act.outcome, call_act.notes) == ("SALE", "premium plan")
    assert next(a for a in acts if a.id == followup["id"]).parent_id == call_act.id
