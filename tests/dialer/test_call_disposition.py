"""A disposition reaches the call record and the call activity whenever it is given."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from crm_core.appkeys import BUS, SESSIONS
from crm_core.crm.work_models import Activity
from crm_core.users.audit import AuditEntry
from dialer.console_models import CallWrapup
from tests.conftest import login
from tests.dialer.helpers import World, end_call, ended, record, recv, ringing, store_only, sweep

MARIA = "+302101234567"


async def _audit(w: World, action: str) -> list[AuditEntry]:
    async with w.client.app[SESSIONS]() as db:
        return list(await db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_disposition_during_the_call_lands_on_record_and_activity(w: World) -> None:
    agent = w.users["agent1"]
    await w.api.as_("agent1")
    async with w.client.ws_connect("/ws") as ws:
        await recv(ws, "hello")
        await w.client.app[BUS].publish(ringing(agent, MARIA, "100.1"))
        pop = await recv(ws, "screen_pop")
        assert pop["contact"]["id"] == w.persons["maria"]
        # While the call is up there is no record yet: the disposition waits for it.
        first = await w.api.post(
            "/api/calls/100.1/disposition", {"code": "INFO", "notes": "asked about prices"}
        )
        assert first["on_record"] is False
        assert first["code"] == "INFO"
        assert first["replaced"] is None
        assert first["user_id"] == agent
        # A second one by the same agent replaces the first.
        second = await w.api.post(
            "/api/calls/100.1/disposition", {"code": "SALE", "notes": "bought the plan"}
        )
        assert second["replaced"] == "INFO"
        assert second["requires_callback"] is False
        await end_call(w.client, ended(agent, MARIA, "100.1"))
        await recv(ws, "call_update")
    await sweep(w.client)
    row = await record(w.client, "100.1")
    assert row.disposition_code == "SALE"
    assert row.disposition_notes == "bought the plan"
    assert row.disposition_user_id == agent
    assert row.disposition_at is not None
    calls = (await w.api.get("/api/calls"))["items"]
    assert [(c["call_id"], c["disposition_code"]) for c in calls] == [("100.1", "SALE")]
    one = await w.api.get(f"/api/calls/{row.id}")
    assert one["disposition_notes"] == "bought the plan"
    async with w.client.app[SESSIONS]() as db:
        activities = list(await db.scalars(select(Activity).where(Activity.call_id == "100.1")))
    assert len(activities) == 1
    assert (activities[0].outcome, activities[0].notes) == ("SALE", "bought the plan")
    # Copying again changes nothing and creates nothing.
    assert await sweep(w.client) == 0
    async with w.client.app[SESSIONS]() as db:
        count = await db.scalar(
            select(func.count()).select_from(Activity).where(Activity.call_id == "100.1")
        )
    assert count == 1
    audited = await _audit(w, "call.disposition")
    assert [a.details["code"] for a in audited] == ["INFO", "SALE"]
    assert audited[1].details["replaced"] == "INFO"
    # The timeline shows the call with its disposition.
    timeline = await w.api.get(f"/api/persons/{w.persons['maria']}/timeline")
    assert any(i["kind"] == "activity" and "call" in i["title"].lower() for i in timeline["items"])


async def test_disposition_after_the_call_was_stored(w: World) -> None:
    agent = w.users["agent1"]
    # Stored, and the console never saw CallEnded (a restart): the record is already there.
    await store_only(w.client, ended(agent, MARIA, "101.1"))
    await w.api.as_("agent1")
    saved = await w.api.post("/api/calls/101.1/disposition", {"code": "NO_ANSWER"})
    assert saved["on_record"] is True
    assert (await record(w.client, "101.1")).disposition_code == "NO_ANSWER"


async def test_pending_disposition_survives_until_the_sweep(w: World) -> None:
    agent = w.users["agent1"]
    await w.api.as_("agent1")
    async with w.client.ws_connect("/ws") as ws:
        await recv(ws, "hello")
        await w.client.app[BUS].publish(ringing(agent, MARIA, "102.1"))
        await recv(ws, "screen_pop")
        await w.api.post("/api/calls/102.1/disposition", {"code": "RESOLVED", "notes": "ok"})
    # The record appears without any CallEnded reaching the console (another process stored
    # it, this one restarted): the durable sweep copies the pending disposition.
    await store_only(w.client, ended(agent, MARIA, "102.1"))
    assert await sweep(w.client) == 1
    assert (await record(w.client, "102.1")).disposition_code == "RESOLVED"
    assert await sweep(w.client) == 0


async def test_callback_codes_and_embedded_callback(w: World) -> None:
    agent = w.users["agent1"]
    await store_only(w.client, ended(agent, MARIA, "103.1"))
    await w.api.as_("agent1")
    asked = await w.api.post("/api/calls/103.1/disposition", {"code": "CALLBACK"})
    assert asked["requires_callback"] is True
    assert asked["callback"] is None
    both = await w.api.post(
        "/api/calls/103.1/disposition",
        {
            "code": "CALLBACK",
            "notes": "call after lunch",
            "callback": {"due_local": "2099-03-02T15:30", "notes": "ask for Maria"},
        },
    )
    assert both["requires_callback"] is False
    cb = both["callback"]
    assert cb["person_id"] == w.persons["maria"]
    assert cb["phone"] == MARIA
    assert cb["call_id"] == "103.1"
    assert cb["assigned_user_id"] == agent
    assert cb["time_zone"] == "Europe/Athens"
    assert cb["due_at"].startswith("2099-03-02T13:30")
    # An invalid embedded callback refuses the whole disposition.
    bad = await w.api.post(
        "/api/calls/103.1/disposition",
        {"code": "SALE", "callback": {"due_local": "2099-03-02T15:30", "time_zone": "Mars/Base"}},
        expect=400,
    )
    assert bad["error"]["details"]["field"] == "time_zone"
    assert (await record(w.client, "103.1")).disposition_code == "CALLBACK"


async def test_refusals(w: World) -> None:
    agent = w.users["agent1"]
    await store_only(w.client, ended(agent, MARIA, "104.1"))
    await store_only(w.client, ended(w.users["agent3"], MARIA, "105.1"))
    # Another agent's call, an unknown call: not found.
    await w.api.as_("agent2")
    await w.api.post("/api/calls/104.1/disposition", {"code": "SALE"}, expect=404)
    await w.api.post("/api/calls/999.9/disposition", {"code": "SALE"}, expect=404)
    # A role without calls.wrapup: forbidden.
    await w.api.as_("manager")
    await w.api.post("/api/calls/104.1/disposition", {"code": "SALE"}, expect=403)
    # Unknown, inactive or other campaign's codes: a field error.
    await w.api.as_("sup")
    code = await w.api.post(
        "/api/dispositions", {"code": "C9", "label": "Campaign 9 only", "campaign_id": 9}
    )
    await w.api.as_("agent1")
    for body in ({"code": "NOPE"}, {"code": "C9"}, {"code": "C9", "campaign_id": 8}):
        answer = await w.api.post("/api/calls/104.1/disposition", body, expect=400)
        assert answer["error"]["details"]["field"] == "code"
    await w.api.post("/api/calls/104.1/disposition", {"code": "C9", "campaign_id": 9})
    await w.api.as_("admin")
    await w.api.patch(f"/api/dispositions/{code['id']}", {"active": False})
    await w.api.as_("agent1")
    await w.api.post("/api/calls/104.1/disposition", {"code": "C9", "campaign_id": 9}, expect=400)
    # Supervisors act on their teams' calls only.
    await w.api.as_("sup")
    await w.api.post("/api/calls/104.1/disposition", {"code": "SALE", "notes": "by sup"})
    await w.api.post("/api/calls/105.1/disposition", {"code": "SALE"}, expect=404)
    await w.api.as_("sup2")
    await w.api.post("/api/calls/105.1/disposition", {"code": "SALE"})
    # CSRF and authentication are the middleware's: without them nothing is saved.
    w.client.session.cookie_jar.clear()
    resp = await w.client.post("/api/calls/104.1/disposition", json={"code": "DNC"})
    assert resp.status == 401
    await login(w.client, "agent1")
    resp = await w.client.post("/api/calls/104.1/disposition", json={"code": "DNC"})
    assert resp.status == 403
    assert (await record(w.client, "104.1")).disposition_code == "SALE"


async def test_two_first_dispositions_at_once_make_one_wrapup(w: World) -> None:
    agent = w.users["agent1"]
    await store_only(w.client, ended(agent, MARIA, "106.1"))
    await w.api.as_("agent1")

    async def post(code: str) -> int:
        resp = await w.client.post(
            "/api/calls/106.1/disposition", json={"code": code}, headers=w.api.headers
        )
        return resp.status

    # Both race to create the call's wrap-up row: the loser retries and replaces.
    assert await asyncio.gather(post("SALE"), post("INFO")) == [201, 201]
    async with w.client.app[SESSIONS]() as db:
        rows = list(await db.scalars(select(CallWrapup).where(CallWrapup.call_id == "106.1")))
    assert len(rows) == 1
    assert rows[0].code in {"SALE", "INFO"}
    assert (await record(w.client, "106.1")).disposition_code == rows[0].code
