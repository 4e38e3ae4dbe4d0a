"""ERP sync of customers by external id: idempotent upserts, invoices by customer external id."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of

COMPANY = {
    "kind": "company",
    "name": "Acme Hellas",
    "vat_number": "EL094014201",
    "phones": [{"kind": "work", "number": "+30 210 123 4567"}],
    "emails": [{"address": "Info@Acme.gr"}],
    "addresses": [{"kind": "head_office", "street": "Stadiou 1", "city": "Athens"}],
}


async def _audit(api: Api, action: str) -> int:
    return int((await api.get("/api/audit", action=action))["total"])


async def test_customer_upsert_is_idempotent_and_creates_a_contact(
    client: TestClient[Any, Any],
) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    first = await api.call("PUT", "/api/sync/customers/C-1001", 200, json=COMPANY)
    assert (first["type"], first["result"]) == ("company", "created")
    company = await api.get(f"/api/companies/{first['id']}")
    assert company["external_id"] == "C-1001"
    assert company["code"] == "C-1001"  # the external id serves as code
    assert company["roles"] == ["customer"]
    assert company["status"] == "active"
    assert company["phones"][0]["e164"] == "+302101234567"
    assert company["emails"][0]["address"] == "info@acme.gr"
    assert (await api.get("/api/lookup/phone", number="+302101234567"))["candidates"]
    again = await api.call("PUT", "/api/sync/customers/C-1001", 200, json=COMPANY)
    assert again == {**first, "result": "unchanged"}
    assert await _audit(api, "company.sync.created") == 1
    assert await _audit(api, "company.sync.updated") == 0
    changed = await api.call(
        "PUT",
        "/api/sync/customers/C-1001",
        200,
        json={**COMPANY, "phones": [{"kind": "mobile", "number": "+30 697 000 0001"}]},
    )
    assert changed["result"] == "updated"
    company = await api.get(f"/api/companies/{first['id']}")
    assert [p["e164"] for p in company["phones"]] == ["+306970000001"]
    assert company["emails"][0]["address"] == "info@acme.gr"
    # fields left out stay as they are
    partial = {"kind": "company", "name": "Acme Hellas"}
    assert (await api.call("PUT", "/api/sync/customers/C-1001", 200, json=partial))[
        "result"
    ] == "unchanged"
    assert (await api.get("/api/companies"))["total"] == 1
    # persons too
    person = {"kind": "person", "given_name": "Maria", "family_name": "Pappa", "language": "el"}
    p1 = await api.call("PUT", "/api/sync/customers/P-7", 200, json=person)
    assert (p1["type"], p1["result"]) == ("person", "created")
    assert (await api.call("PUT", "/api/sync/customers/P-7", 200, json=person))[
        "result"
    ] == "unchanged"
    # null for a name the person must keep means "not sent"
    same = {**person, "given_name": None}
    assert (await api.call("PUT", "/api/sync/customers/P-7", 200, json=same))[
        "result"
    ] == "unchanged"
    stored = await api.get(f"/api/persons/{p1['id']}")
    assert (stored["external_id"], stored["status"]) == ("P-7", "active")


async def test_customer_sync_rejects_bad_input(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    for body, field in (
        ({"kind": "company"}, "body"),
        ({"kind": "person", "name": "X"}, "body"),
        ({**COMPANY, "phones": [{"number": "12"}]}, "phones.0.number"),
        ({**COMPANY, "emails": [{"address": "nope"}]}, "emails.0.address"),
        ({**COMPANY, "kind": "robot"}, "kind"),
    ):
        err = await api.call("PUT", "/api/sync/customers/C-1", 400, json=body)
        assert field_of(err) == field, body
    # a long external id cannot be a company code: the ERP must send one
    long_id = "X" * 40
    err = await api.call("PUT", f"/api/sync/customers/{long_id}", 400, json=COMPANY)
    assert field_of(err) == "code"
    await api.call("PUT", f"/api/sync/customers/{long_id}", 200, json={**COMPANY, "code": "X1"})
    # one external id is one customer: a company id cannot become a person
    err = await api.call(
        "PUT",
        f"/api/sync/customers/{long_id}",
        409,
        json={"kind": "person", "family_name": "Pappas"},
    )
    assert field_of(err) == "kind"
    # nothing was stored by the failed calls
    assert (await api.get("/api/companies"))["total"] == 1
    await add_user(client, "agent1", "agent")
    await api.as_("agent1")
    await api.call("PUT", "/api/sync/customers/C-1", 403, json=COMPANY)


async def test_batch_with_customers_and_invoices_by_customer_external_id(
    client: TestClient[Any, Any],
) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    batch = {
        "customers": [{**COMPANY, "external_id": "C-1"}],
        "invoices": [
            {
                "external_id": "INV-1",
                "number": "F-1",
                "issued_on": "2026-01-10",
                "amount": "100.00",
                "currency": "EUR",
                "company_external_id": "C-1",
            }
        ],
        "payments": [
            {
                "external_id": "PAY-1",
                "paid_on": "2026-01-20",
                "amount": "40.00",
                "currency": "EUR",
                "company_external_id": "C-1",
                "allocations": [{"invoice_external_id": "INV-1", "amount": "40.00"}],
            }
        ],
    }
    out = await api.post("/api/sync/batch", batch, 200)
    assert [(i["type"], i["result"]) for i in out["items"]] == [
        ("company", "created"),
        ("invoice", "created"),
        ("payment", "created"),
    ]
    company_id = out["items"][0]["id"]
    invoice = await api.get(f"/api/invoices/{out['items'][1]['id']}")
    assert (invoice["company_id"], invoice["balance_due"]) == (company_id, "60.00")
    again = await api.post("/api/sync/batch", batch, 200)
    assert {i["result"] for i in again["items"]} == {"unchanged"}
    # an unknown customer external id names the field and undoes the whole batch
    bad = {
        "customers": [{**COMPANY, "external_id": "C-2", "code": "C2"}],
        "invoices": [{**batch["invoices"][0], "company_external_id": "C-404"}],
    }
    err = await api.post("/api/sync/batch", bad, 400)
    assert field_of(err) == "invoices.0.company_external_id"
    assert (await api.get("/api/companies"))["total"] == 1
    # a single invoice upsert takes the customer's external id as well
    single = {k: v for k, v in batch["invoices"][0].items() if k != "external_id"}
    item = await api.call("PUT", "/api/sync/invoices/INV-2", 200, json={**single, "number": "F-2"})
    assert item["result"] == "created"
    err = await api.call(
        "PUT",
        "/api/sync/invoices/INV-3",
        400,
        json={**single, "number": "F-3", "company_id": company_id},
    )
    assert "not both" in err["error"]["message"]
