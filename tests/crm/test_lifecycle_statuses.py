"""Derived lifecycle (inactive without recent invoices), activity statuses and lead sources."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from crm_core.appkeys import POLICIES, SESSIONS, SETTINGS
from crm_core.crm.models import Company, Person
from crm_core.crm.service import CrmService
from crm_core.users.models import Role
from crm_core.users.permissions import Principal
from tests.conftest import AppMaker, add_user
from tests.crm.helpers import Api, field_of


async def _age(client: TestClient[Any, Any], model: Any, record_id: int, days: int) -> None:
    """Pretend the record was created ``days`` ago."""
    async with client.app[SESSIONS]() as db, db.begin():
        await db.execute(
            update(model)
            .where(model.id == record_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


async def test_active_customer_without_recent_invoice_reads_inactive(
    make_client: AppMaker,
) -> None:
    client = await make_client(crm_inactive_after_days=90)
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    old = await api.post("/api/companies", {"code": "OLD", "name": "Old", "status": "active"})
    assert old["lifecycle"] == "active"  # just created: the period has not passed yet
    fresh = await api.post("/api/companies", {"code": "NEW", "name": "New", "status": "active"})
    prospect = await api.post("/api/companies", {"code": "PRO", "name": "Prospect"})
    person = await api.post("/api/persons", {"family_name": "Pappas", "status": "active"})
    for model, rid in (
        (Company, old["id"]),
        (Company, fresh["id"]),
        (Company, prospect["id"]),
        (Person, person["id"]),
    ):
        await _age(client, model, rid, 400)
    today = datetime.now(UTC).date()
    for number, days_ago, company_id in (("A-1", 200, old["id"]), ("A-2", 10, fresh["id"])):
        await api.post(
            "/api/invoices",
            {
                "number": number,
                "issued_on": (today - timedelta(days=days_ago)).isoformat(),
                "amount": "10.00",
                "currency": "EUR",
                "company_id": company_id,
            },
        )
    got = await api.get(f"/api/companies/{old['id']}")
    assert (got["status"], got["lifecycle"]) == ("active", "inactive")
    assert (await api.get(f"/api/companies/{fresh['id']}"))["lifecycle"] == "active"
    assert (await api.get(f"/api/companies/{prospect['id']}"))["lifecycle"] == "prospect"
    assert (await api.get(f"/api/persons/{person['id']}"))["lifecycle"] == "inactive"
    inactive = await api.get("/api/companies", lifecycle="inactive")
    assert [c["code"] for c in inactive["items"]] == ["OLD"]
    both = await api.get("/api/companies", lifecycle__in="active,prospect", sort="code")
    assert [(c["code"], c["lifecycle"]) for c in both["items"]] == [
        ("NEW", "active"),
        ("PRO", "prospect"),
    ]
    assert (await api.get("/api/persons", lifecycle="inactive"))["total"] == 1
    err = await api.get("/api/companies", expect=400, lifecycle="asleep")
    assert err["error"]["details"]["parameter"] == "lifecycle"
    # stored "inactive" stays inactive whatever the invoices
    await api.patch(f"/api/companies/{fresh['id']}", {"status": "inactive"})
    assert (await api.get(f"/api/companies/{fresh['id']}"))["lifecycle"] == "inactive"


async def test_lifecycle_is_read_on_the_business_day(make_client: AppMaker) -> None:
    """At 20:00 UTC on 10 March it is already 11 March in Tokyo, the business time zone: the
    30-day period has moved on by a day, and an invoice of 8 February no longer counts."""
    client = await make_client(crm_inactive_after_days=30, default_timezone="Asia/Tokyo")
    admin = await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    acme = await api.post("/api/companies", {"code": "ACME", "name": "Acme", "status": "active"})
    await api.post(
        "/api/invoices",
        {
            "number": "A-1",
            "issued_on": "2026-02-08",
            "amount": "10.00",
            "currency": "EUR",
            "company_id": acme["id"],
        },
    )
    async with client.app[SESSIONS]() as db, db.begin():
        await db.execute(
            update(Company)
            .where(Company.id == acme["id"])
            .values(created_at=datetime(2025, 1, 1, tzinfo=UTC))
        )
    instant = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    principal = Principal(user_id=admin.id, username="admin", roles=frozenset({Role.ADMIN}))
    app = client.app
    tokyo = CrmService.configured(
        app[SESSIONS], app[POLICIES], app[SETTINGS], clock=lambda: instant
    )
    utc = CrmService(
        app[SESSIONS], app[POLICIES], "US", inactive_after_days=30, clock=lambda: instant
    )
    assert (tokyo.business_day(), utc.business_day()) == (date(2026, 3, 11), date(2026, 3, 10))
    # Tokyo's period starts on 9 February: the invoice is older, the customer reads inactive
    assert (await tokyo.get_company(principal, acme["id"])).lifecycle == "inactive"
    page = await tokyo.list_companies(principal, {"lifecycle": "inactive"})
    assert [c.code for c in page.items] == ["ACME"]
    # on the UTC date the period starts on 8 February, the day of the invoice
    assert (await utc.get_company(principal, acme["id"])).lifecycle == "active"
    assert (await utc.list_companies(principal, {"lifecycle": "inactive"})).total == 0
    page = await utc.list_companies(principal, {"lifecycle": "active"})
    assert [(c.code, c.lifecycle) for c in page.items] == [("ACME", "active")]


async def test_activity_statuses_are_managed_and_checked(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    api = Api(client)
    await api.as_("admin")
    seeded = await api.get("/api/activity-statuses")
    assert [(s["name"], s["is_closed"]) for s in seeded["items"]] == [
        ("planned", False),
        ("in_progress", False),
        ("done", True),
        ("cancelled", True),
    ]
    waiting = await api.post(
        "/api/activity-statuses",
        {"name": "waiting", "label": "Waiting for customer", "position": 1},
    )
    err = await api.post("/api/activity-statuses", {"name": "done", "label": "Again"}, 409)
    assert field_of(err) == "name"
    err = await api.post("/api/activity-statuses", {"name": "Bad!", "label": "X"}, 400)
    assert field_of(err) == "name"
    person = (await api.post("/api/persons", {"family_name": "Pappas"}))["id"]
    act = await api.post(
        "/api/activities",
        {
            "type": "call",
            "subject": "Call back",
            "status": "waiting",
            "participants": [{"person_id": person}],
        },
    )
    assert act["status"] == "waiting"
    err = await api.post(
        "/api/activities", {"type": "call", "subject": "X", "status": "sleeping"}, 400
    )
    assert field_of(err) == "status"
    assert "waiting" in err["error"]["message"]
    err = await api.patch(f"/api/activities/{act['id']}", {"status": "sleeping"}, 400)
    assert field_of(err) == "status"
    await api.patch(f"/api/activities/{act['id']}", {"status": "done"})
    assert (await api.get("/api/activities", closed="true"))["total"] == 1
    assert (await api.get("/api/activities", closed="false"))["total"] == 0
    # a retired status can no longer be chosen, but activities keep it
    await api.patch(f"/api/activity-statuses/{waiting['id']}", {"active": False, "label": "Old"})
    err = await api.post(
        "/api/activities", {"type": "call", "subject": "Y", "status": "waiting"}, 400
    )
    assert "no longer in use" in err["error"]["message"]
    got = await api.get(f"/api/activity-statuses/{waiting['id']}")
    assert (got["label"], got["active"]) == ("Old", False)
    assert (await api.get("/api/activity-statuses", active="true"))["total"] == 4
    await api.as_("agent1")
    await api.post("/api/activity-statuses", {"name": "x", "label": "X"}, 403)
    await api.patch(f"/api/activity-statuses/{waiting['id']}", {"label": "Z"}, 403)
    assert (await api.get("/api/activity-statuses"))["total"] == 5


async def test_lead_sources(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    fair = await api.post("/api/lead-sources", {"name": "Trade fair"})
    web = await api.post("/api/lead-sources", {"name": "Web site"})
    err = await api.post("/api/lead-sources", {"name": "Web site"}, 409)
    assert field_of(err) == "name"
    company = await api.post(
        "/api/companies",
        {
            "code": "ACME",
            "name": "Acme",
            "lead_source_id": fair["id"],
            "lead_source_note": "Met at Posidonia 2026, stand 4",
        },
    )
    assert (company["lead_source_id"], company["lead_source_note"]) == (
        fair["id"],
        "Met at Posidonia 2026, stand 4",
    )
    err = await api.post("/api/persons", {"family_name": "X", "lead_source_id": 999}, 400)
    assert field_of(err) == "lead_source_id"
    person = await api.post("/api/persons", {"family_name": "Pappas", "lead_source_id": web["id"]})
    assert (await api.get("/api/persons", lead_source_id=str(web["id"])))["total"] == 1
    assert (await api.get("/api/companies", lead_source_id=str(web["id"])))["total"] == 0
    # a retired source stays on its records but cannot be chosen again
    await api.patch(f"/api/lead-sources/{fair['id']}", {"active": False})
    await api.patch(f"/api/companies/{company['id']}", {"lead_source_id": fair["id"]})
    err = await api.patch(f"/api/persons/{person['id']}", {"lead_source_id": fair["id"]}, 400)
    assert field_of(err) == "lead_source_id"
    err = await api.patch(f"/api/persons/{person['id']}", {"lead_source_note": "x" * 501}, 400)
    assert field_of(err) == "lead_source_note"
