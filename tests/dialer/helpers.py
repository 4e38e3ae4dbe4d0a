"""Shared set-up of the console tests: a small CRM, agents in teams, calls that ring and end."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_core.appkeys import BUS, SESSIONS
from dialer.wrapup import apply_pending
from telephony.events import CallEnded, CallRinging
from telephony.models import CallDirection, CallOutcome
from telephony.records import CallRecordRow
from telephony.store import CallStore
from tests.conftest import add_user
from tests.crm.helpers import Api

SHARED = "+30 210 555 0000"  # two persons share this number: the pop lists candidates


@dataclass
class World:
    """Ids of the records and users a console test works with."""

    client: TestClient[Any, Any]
    api: Api
    users: dict[str, int]
    persons: dict[str, int]
    territory: int


async def world(client: TestClient[Any, Any]) -> World:
    """Admin, agents of team red and blue, supervisors; persons in and out of the agents' scope."""
    users = {"admin": (await add_user(client, "admin", "admin")).id}
    for name, role, team in (
        ("agent1", "agent", "red"),
        ("agent2", "agent", "red"),
        ("agent3", "agent", "blue"),
        ("sup", "supervisor", "red"),
        ("sup2", "supervisor", "blue"),
        ("manager", "campaign_manager", "red"),
    ):
        users[name] = (await add_user(client, name, role, teams=(team,))).id
    api = Api(client)
    await api.as_("admin")
    territory = await api.post("/api/territories", {"name": "North"})
    await api.post(f"/api/territories/{territory['id']}/grants", {"role": "agent"})
    await api.post(f"/api/territories/{territory['id']}/grants", {"role": "supervisor"})
    hidden_territory = await api.post("/api/territories", {"name": "Hidden"})
    persons: dict[str, int] = {}
    for key, given, number, terr in (
        ("maria", "Maria", "+30 210 123 4567", territory["id"]),
        ("nikos", "Nikos", SHARED, territory["id"]),
        ("eleni", "Eleni", SHARED, territory["id"]),
        ("hidden", "Hidden", "+30 210 999 0000", hidden_territory["id"]),
    ):
        person = await api.post(
            "/api/persons",
            {
                "given_name": given,
                "family_name": "Test",
                "territory_id": terr,
                "phones": [{"kind": "mobile", "number": number}],
            },
        )
        persons[key] = person["id"]
    return World(client, api, users, persons, territory["id"])


async def recv(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` on a console socket."""
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == kind:
                return data


def ringing(agent_id: int, caller: str, call_id: str = "500.1") -> CallRinging:
    """An inbound queue call ringing an agent."""
    return CallRinging(
        pbx="main",
        call_id=call_id,
        direction=CallDirection.INBOUND,
        agent_id=str(agent_id),
        caller_id=caller,
        called_number="2101234567",
        queue="support",
    )


def ended(agent_id: int, caller: str, call_id: str) -> CallEnded:
    """The same call, answered and ended."""
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    return CallEnded(
        pbx="main",
        call_id=call_id,
        direction=CallDirection.INBOUND,
        outcome=CallOutcome.ANSWERED,
        started_at=t0,
        answered_at=t0 + timedelta(seconds=5),
        ended_at=t0 + timedelta(seconds=65),
        agent_id=str(agent_id),
        caller_id=caller,
        called_number="2101234567",
        queue="support",
        talk_s=60.0,
        total_s=65.0,
    )


async def end_call(client: TestClient[Any, Any], event: CallEnded) -> None:
    """What the PBX runtime does when a call ends: store it, then publish CallEnded."""
    assert await CallStore(client.app[SESSIONS], region="GR").save(event)
    await client.app[BUS].publish(event)


async def store_only(client: TestClient[Any, Any], event: CallEnded) -> None:
    """Store the call record without telling anyone (a call the follower never heard of)."""
    assert await CallStore(client.app[SESSIONS], region="GR").save(event)


async def sweep(client: TestClient[Any, Any]) -> int:
    """Run the periodic copy of pending wrap-ups once."""
    return await apply_pending(client.app[SESSIONS])


async def record(client: TestClient[Any, Any], call_id: str) -> CallRecordRow:
    """The stored call record."""
    async with client.app[SESSIONS]() as db:
        row = await db.scalar(select(CallRecordRow).where(CallRecordRow.call_id == call_id))
    assert row is not None
    return row
