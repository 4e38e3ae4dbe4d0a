"""From a call: pick the contact among the candidates, open a ticket, plan a follow-up."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.appkeys import BUS, SESSIONS
from crm_core.crm.work_models import Activity
from tests.dialer.helpers import World, end_call, ended, record, recv, ringing, sweep

SHARED_E164 = "+302105550000"


async def test_link_a_candidate_updates_pop_record_and_activity(w: World) -> None:
    agent = w.users["agent1"]
    nikos = w.persons["nikos"]
    await w.api.as_("agent1")
    async with w.client.ws_connect("/ws") as ws:
        await recv(ws, "hello")
        await w.client.app[BUS].publish(ringing(agent, SHARED_E164, "200.1"))
        pop = await recv(ws, "screen_pop")
        assert pop["contact"] is None
        assert {c["id"] for c in pop["candidates"]} == {nikos, w.persons["eleni"]}
        # Nothing to open a ticket for until the agent says who is calling.
        body = await w.api.post("/api/calls/200.1/ticket", {"subject": "Broken"}, expect=409)
        assert body["error"]["details"]["reason"] == "no_contact"
        # A record outside the agent's scope is not found.
        await w.api.post("/api/calls/200.1/contact", {"person_id": w.persons["hidden"]}, expect=404)
        await w.api.post("/api/calls/200.1/contact", {"person_id": nikos, "company_id": 1}, 400)
        linked = await w.api.post("/api/calls/200.1/contact", {"person_id": nikos}, expect=200)
        assert linked == {
            "call_id": "200.1",
            "kind": "person",
            "id": nikos,
            "name": "Nikos Test",
            "on_record": False,
            "consoles_told": 1,
        }
        # The pop is rebuilt for the chosen record: the whole card, with this agent's masking.
        update = await recv(ws, "screen_pop")
        assert update["call"]["id"] == "200.1"
        assert update["linked_contact"] == {"kind": "person", "id": nikos, "name": "Nikos Test"}
        assert update["contact"]["id"] == nikos
        assert update["contact"]["name"] == "Nikos Test"
        assert update["call"]["customer_number"] == SHARED_E164
        # A console that reconnects sees the choice in its snapshot.
        async with w.client.ws_connect("/ws") as ws2:
            await recv(ws2, "hello")
            again = await recv(ws2, "screen_pop")
            assert again["linked_contact"]["id"] == nikos
            assert again["contact"]["id"] == nikos
        ticket = await w.api.post(
            "/api/calls/200.1/ticket",
            {"subject": "Broken delivery", "description": "box damaged", "priority": "high"},
        )
        assert (ticket["person_id"], ticket["channel"], ticket["priority"]) == (
            nikos,
            "call",
            "high",
        )
        early = await w.api.post(
            "/api/calls/200.1/activity",
            {"type": "task", "subject": "Send a new box", "due_at": "2099-01-01T09:00:00Z"},
        )
        assert early["parent_id"] is None  # no call activity yet: adopted once stored
        assert early["call_id"] == "200.1"
        assert early["participants"] == [{"person_id": nikos, "company_id": None, "user_id": None}]
        await end_call(w.client, ended(agent, SHARED_E164, "200.1"))
        await recv(ws, "call_update")
    await sweep(w.client)
    row = await record(w.client, "200.1")
    assert (row.person_id, row.company_id) == (nikos, None)
    async with w.client.app[SESSIONS]() as db:
        acts = list(
            await db.scalars(
                select(Activity).where(Activity.call_id == "200.1").order_by(Activity.id)
            )
        )
    call_act = next(a for a in acts if a.type == "call")
    assert [p.person_id for p in call_act.participants if p.person_id] == [nikos]
    assert call_act.ticket_id == ticket["id"]
    follow = next(a for a in acts if a.id == early["id"])
    assert follow.parent_id == call_act.id
    # After the call: the follow-up hangs from the call activity at once.
    later = await w.api.post(
        "/api/calls/200.1/activity",
        {"type": "call", "subject": "Check the delivery", "notes": "in a week"},
    )
    assert later["parent_id"] == call_act.id
    assert later["responsible_user_id"] == agent
    # The call follows a new choice too (the record and the activity).
    eleni = w.persons["eleni"]
    relinked = await w.api.post("/api/calls/200.1/contact", {"person_id": eleni}, expect=200)
    assert relinked["on_record"] is True
    assert (await record(w.client, "200.1")).person_id == eleni
    calls = (await w.api.get("/api/calls", person_id=str(eleni)))["items"]
    assert [c["call_id"] for c in calls] == ["200.1"]


async def test_call_actions_refusals(w: World) -> None:
    agent = w.users["agent1"]
    await w.api.as_("agent1")
    async with w.client.ws_connect("/ws") as ws:
        await recv(ws, "hello")
        await w.client.app[BUS].publish(ringing(agent, "+302101234567", "201.1"))
        await recv(ws, "screen_pop")
        # Another agent (and another team's supervisor) may not touch it.
        for who in ("agent2", "sup2"):
            await w.api.as_(who)
            await w.api.post("/api/calls/201.1/contact", {"person_id": w.persons["maria"]}, 404)
            await w.api.post("/api/calls/201.1/ticket", {"subject": "x"}, expect=404)
            await w.api.post("/api/calls/201.1/activity", {"subject": "x"}, expect=404)
        await w.api.as_("manager")
        await w.api.post("/api/calls/201.1/ticket", {"subject": "x"}, expect=403)
        # The CRM's validation applies: a bad type or an unknown assignee is a field error.
        await w.api.as_("agent1")
        bad = await w.api.post(
            "/api/calls/201.1/ticket", {"subject": "x", "type": "rant"}, expect=400
        )
        assert bad["error"]["details"]["fields"][0]["field"] == "type"
        bad = await w.api.post(
            "/api/calls/201.1/ticket", {"subject": "x", "assigned_user_id": 99999}, expect=400
        )
        assert bad["error"]["details"]["field"] == "assigned_user_id"
        # The team's supervisor may.
        await w.api.as_("sup")
        ticket = await w.api.post("/api/calls/201.1/ticket", {"subject": "Complaint"})
        assert ticket["person_id"] == w.persons["maria"]
