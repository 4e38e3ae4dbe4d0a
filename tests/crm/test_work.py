"""Tickets, activities and the timeline: CRUD, validation, scope, newest-first paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, int, int, dict[str, int]]:
    users = {
        "admin": (await add_user(client, "admin", "admin")).id,
        "agent1": (await add_user(client, "agent1", "agent")).id,
        "agent2": (await add_user(client, "agent2", "agent")).id,
    }
    api = Api(client)
    await api.as_("admin")
    company = (await api.post("/api/companies", {"code": "ACME", "name": "Acme"}))["id"]
    person = (await api.post("/api/persons", {"family_name": "Pappas"}))["id"]
    return api, company, person, users


async def test_ticket_lifecycle(client: TestClient[Any, Any]) -> None:
    api, company, person, users = await _setup(client)
    t = await api.post(
        "/api/tickets",
        {
            "subject": "Invoice is wrong",
            "type": "complaint",
            "channel": "email",
            "priority": "high",
            "person_id": person,
            "company_id": company,
            "assigned_user_id": users["agent1"],
        },
    )
    assert (t["status"], t["created_by_id"], t["resolved_at"]) == ("new", users["admin"], None)
    resolved = await api.patch(f"/api/tickets/{t['id']}", {"status": "resolved"})
    assert resolved["resolved_at"] is not None
    closed = await api.patch(f"/api/tickets/{t['id']}", {"status": "closed"})
    assert closed["resolved_at"] == resolved["resolved_at"]
    assert closed["closed_at"] is not None
    reopened = await api.patch(f"/api/tickets/{t['id']}", {"status": "open"})
    assert (reopened["resolved_at"], reopened["closed_at"]) == (None, None)
    listed = await api.get("/api/tickets", status="open", company_id=str(company))
    assert [x["id"] for x in listed["items"]] == [t["id"]]
    for body, field in (
        ({"subject": "x"}, "body"),
        ({"subject": "x", "person_id": 999}, "person_id"),
        ({"subject": "x", "person_id": person, "assigned_team_id": 999}, "assigned_team_id"),
        ({"subject": "x", "person_id": person, "priority": "asap"}, "priority"),
        ({"subject": "", "person_id": person}, "subject"),
    ):
        err = await api.post("/api/tickets", body, expect=400)
        assert field_of(err) == field, body
    err = await api.patch(f"/api/tickets/{t['id']}", {"status": None}, expect=400)
    assert "status cannot be null" in err["error"]["message"]
    audit = await api.get("/api/audit", object_type="ticket")
    assert sorted({e["action"] for e in audit["items"]}) == ["ticket.create", "ticket.update"]
    # the assignee sees the ticket although the person and company are not theirs
    await api.as_("agent1")
    assert (await api.get(f"/api/tickets/{t['id']}"))["subject"] == "Invoice is wrong"
    await api.get(f"/api/persons/{person}", expect=404)
    await api.as_("agent2")
    await api.get(f"/api/tickets/{t['id']}", expect=404)
    assert (await api.get("/api/tickets"))["total"] == 0
    await api.patch(f"/api/tickets/{t['id']}", {"priority": "low"}, 404)


async def test_activities_with_participants_and_follow_ups(client: TestClient[Any, Any]) -> None:
    api, company, person, users = await _setup(client)
    ticket = await api.post("/api/tickets", {"subject": "Call back", "person_id": person})
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    call = await api.post(
        "/api/activities",
        {
            "type": "call",
            "subject": "First call",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=5)).isoformat(),
            "duration_seconds": 300,
            "status": "done",
            "ticket_id": ticket["id"],
            "call_id": "1700000000.42",
            "outcome": "wants an offer",
            "cost": "0.12",
            "cost_currency": "EUR",
            "participants": [
                {"person_id": person},
                {"company_id": company},
                {"user_id": users["agent2"]},
            ],
        },
    )
    assert call["responsible_user_id"] == users["admin"]
    assert call["cost"] == "0.12"
    assert len(call["participants"]) == 3
    follow = await api.post(
        "/api/activities",
        {
            "type": "task",
            "subject": "Send the offer",
            "parent_id": call["id"],
            "responsible_user_id": users["agent1"],
        },
    )
    assert follow["parent_id"] == call["id"]
    chain = await api.get("/api/activities", parent_id=str(call["id"]))
    assert [a["id"] for a in chain["items"]] == [follow["id"]]
    changed = await api.patch(
        f"/api/activities/{follow['id']}", {"status": "in_progress", "participants": []}
    )
    assert changed["status"] == "in_progress"
    for body, field in (
        ({"type": "call", "subject": "x", "parent_id": 999}, "parent_id"),
        ({"type": "call", "subject": "x", "ticket_id": 999}, "ticket_id"),
        ({"type": "call", "subject": "x", "participants": [{}]}, "participants.0"),
        ({"type": "call", "subject": "x", "participants": [{"person_id": 999}]}, "participants.0"),
        ({"type": "call", "subject": "x", "cost": "1.00"}, "body"),
        ({"type": "dance", "subject": "x"}, "type"),
        ({"type": "call", "subject": "x", "starts_at": "2026-03-01T09:00:00"}, "starts_at"),
        ({"type": "call", "subject": "x", "starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
    ):
        err = await api.post("/api/activities", body, expect=400)
        assert field_of(err) == field, body
    err = await api.patch(f"/api/activities/{call['id']}", {"cost": None}, expect=400)
    assert field_of(err) == "cost_currency"
    # visibility: a user participant and the responsible user see their activities only
    await api.as_("agent2")
    assert [a["id"] for a in (await api.get("/api/activities"))["items"]] == [call["id"]]
    await api.as_("agent1")
    assert [a["id"] for a in (await api.get("/api/activities"))["items"]] == [follow["id"]]
    await api.get(f"/api/activities/{call['id']}", expect=404)
    await api.patch(f"/api/activities/{call['id']}", {"notes": "x"}, 404)


async def test_timeline_newest_first_paged_and_scoped(client: TestClient[Any, Any]) -> None:
    api, company, _person, _users = await _setup(client)
    base = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    for day in (1, 5, 9):
        await api.post(
            "/api/activities",
            {
                "type": "call",
                "subject": f"call day {day}",
                "starts_at": (base + timedelta(days=day)).isoformat(),
                "participants": [{"company_id": company}],
            },
        )
    await api.post(
        "/api/invoices",
        {
            "number": "A-1",
            "issued_on": "2026-01-17",
            "amount": "10.00",
            "currency": "EUR",
            "company_id": company,
        },
    )
    ticket = await api.post("/api/tickets", {"subject": "Today", "company_id": company})
    await api.post("/api/activities", {"type": "note", "subject": "elsewhere"})

    page = await api.get(f"/api/companies/{company}/timeline")
    assert page["total"] == 5
    assert [(i["kind"], i["title"]) for i in page["items"]] == [
        ("ticket", "Today"),
        ("activity", "call day 9"),
        ("invoice", "invoice A-1"),
        ("activity", "call day 5"),
        ("activity", "call day 1"),
    ]
    assert page["items"][0]["id"] == ticket["id"]
    assert page["items"][2]["amount"] == "10.00"
    second = await api.get(f"/api/companies/{company}/timeline", limit="2", offset="2")
    assert [i["title"] for i in second["items"]] == ["invoice A-1", "call day 5"]
    assert (second["total"], second["limit"], second["offset"]) == (5, 2, 2)
    err = await api.get(f"/api/companies/{company}/timeline", expect=400, limit="0")
    assert err["error"]["details"]["parameter"] == "limit"

    # an agent who owns the company sees its history, the invoice too (crm.balances)
    await api.patch(f"/api/companies/{company}", {"owner_id": _users["agent1"]})
    await api.as_("agent1")
    page = await api.get(f"/api/companies/{company}/timeline")
    assert [i["kind"] for i in page["items"]] == [
        "ticket",
        "activity",
        "invoice",
        "activity",
        "activity",
    ]
    assert page["total"] == 5
    await api.as_("agent2")
    await api.get(f"/api/companies/{company}/timeline", expect=404)
