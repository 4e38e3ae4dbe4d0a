"""The ERP sync API: idempotent upserts of invoices and payments by external id, and batches."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, int]:
    await add_user(client, "admin", "admin")
    await add_user(client, "super", "supervisor")
    api = Api(client)
    await api.as_("admin")
    company = await api.post("/api/companies", {"code": "ACME", "name": "Acme"})
    return api, int(company["id"])


def _invoice(company_id: int, **changes: Any) -> dict[str, Any]:
    body = {
        "number": "F-1",
        "issued_on": "2026-01-10",
        "due_on": "2026-02-10",
        "amount": "100.00",
        "currency": "EUR",
        "company_id": company_id,
    }
    body.update(changes)
    return body


async def test_invoice_upsert_is_idempotent(client: TestClient[Any, Any]) -> None:
    api, acme = await _setup(client)
    first = await api.call("PUT", "/api/sync/invoices/ERP-INV-1", 200, json=_invoice(acme))
    assert first["result"] == "created"
    again = await api.call("PUT", "/api/sync/invoices/ERP-INV-1", 200, json=_invoice(acme))
    assert again == {**first, "result": "unchanged"}
    # 100 and 100.00 are the same amount
    same = await api.call(
        "PUT", "/api/sync/invoices/ERP-INV-1", 200, json=_invoice(acme, amount="100")
    )
    assert same["result"] == "unchanged"
    changed = await api.call(
        "PUT",
        "/api/sync/invoices/ERP-INV-1",
        200,
        json=_invoice(acme, amount="120.50", status="paid"),
    )
    assert changed == {**first, "result": "updated"}
    stored = await api.get(f"/api/invoices/{first['id']}")
    assert (stored["amount"], stored["status"], stored["external_id"]) == (
        "120.50",
        "paid",
        "ERP-INV-1",
    )
    assert (await api.get("/api/invoices"))["total"] == 1
    # another external id may not take an existing number
    clash = await api.call("PUT", "/api/sync/invoices/ERP-INV-2", 409, json=_invoice(acme))
    assert clash["error"]["details"]["field"] == "number"
    unknown = await api.call(
        "PUT", "/api/sync/invoices/ERP-INV-3", 400, json=_invoice(999, number="F-3")
    )
    assert unknown["error"]["details"]["field"] == "company_id"
    bad_id = await api.call("PUT", "/api/sync/invoices/a%20b", 400, json=_invoice(acme))
    assert bad_id["error"]["details"]["field"] == "external_id"


async def test_payment_upsert_with_allocations_by_external_id(
    client: TestClient[Any, Any],
) -> None:
    api, acme = await _setup(client)
    await api.call("PUT", "/api/sync/invoices/I1", 200, json=_invoice(acme))
    await api.call("PUT", "/api/sync/invoices/I2", 200, json=_invoice(acme, number="F-2"))
    payment = {
        "paid_on": "2026-02-01",
        "amount": "150.00",
        "currency": "EUR",
        "company_id": acme,
        "allocations": [{"invoice_external_id": "I1", "amount": "100.00"}],
    }
    created = await api.call("PUT", "/api/sync/payments/P1", 200, json=payment)
    assert created["result"] == "created"
    again = await api.call("PUT", "/api/sync/payments/P1", 200, json=payment)
    assert again["result"] == "unchanged"
    payment["allocations"] = [
        {"invoice_external_id": "I1", "amount": "60.00"},
        {"invoice_external_id": "I2", "amount": "90.00"},
    ]
    updated = await api.call("PUT", "/api/sync/payments/P1", 200, json=payment)
    assert (updated["result"], updated["id"]) == ("updated", created["id"])
    stored = await api.get(f"/api/payments/{created['id']}")
    assert sorted(a["amount"] for a in stored["allocations"]) == ["60.00", "90.00"]
    assert stored["unallocated"] == "0.00"
    balance = await api.get(f"/api/companies/{acme}/balance")
    assert [(b["invoiced"], b["paid"], b["balance_due"]) for b in balance["balances"]] == [
        ("200.00", "150.00", "50.00")
    ]
    # unknown invoices are named, and nothing changes
    payment["allocations"] = [
        {"invoice_external_id": "NOPE-2", "amount": "1.00"},
        {"invoice_external_id": "NOPE-1", "amount": "1.00"},
        {"invoice_external_id": "I1", "amount": "1.00"},
    ]
    refused = await api.call("PUT", "/api/sync/payments/P1", 400, json=payment)
    assert refused["error"]["details"]["unknown"] == ["NOPE-1", "NOPE-2"]
    assert "NOPE-1, NOPE-2" in refused["error"]["message"]
    # over-allocating an invoice (other payments counted) is refused
    payment["allocations"] = [{"invoice_external_id": "I1", "amount": "50.00"}]
    over = await api.call("PUT", "/api/sync/payments/P2", 400, json=payment)
    assert over["error"]["details"]["field"] == "allocations.0.amount"
    stored = await api.get(f"/api/payments/{created['id']}")
    assert len(stored["allocations"]) == 2
    assert (await api.get("/api/payments"))["total"] == 1


async def test_batch_is_all_or_nothing_with_per_item_results(
    client: TestClient[Any, Any],
) -> None:
    api, acme = await _setup(client)
    batch = {
        "invoices": [
            {**_invoice(acme), "external_id": "I1"},
            {**_invoice(acme, number="F-2", amount="40.00"), "external_id": "I2"},
        ],
        "payments": [
            {
                "external_id": "P1",
                "paid_on": "2026-02-01",
                "amount": "40.00",
                "currency": "EUR",
                "company_id": acme,
                "allocations": [{"invoice_external_id": "I2", "amount": "40.00"}],
            }
        ],
    }
    out = await api.call("POST", "/api/sync/batch", 200, json=batch)
    assert [(i["type"], i["external_id"], i["result"]) for i in out["items"]] == [
        ("invoice", "I1", "created"),
        ("invoice", "I2", "created"),
        ("payment", "P1", "created"),
    ]
    again = await api.call("POST", "/api/sync/batch", 200, json=batch)
    assert [i["result"] for i in again["items"]] == ["unchanged"] * 3
    assert [i["id"] for i in again["items"]] == [i["id"] for i in out["items"]]
    # a new invoice and a bad payment: the whole batch is refused, the invoice is not stored
    batch["invoices"].append({**_invoice(acme, number="F-3"), "external_id": "I3"})
    batch["invoices"][0]["amount"] = "99.00"
    batch["payments"][0]["allocations"] = [{"invoice_external_id": "GONE", "amount": "1.00"}]
    refused = await api.call("POST", "/api/sync/batch", 400, json=batch)
    assert refused["error"]["details"]["field"] == "payments.0.allocations"
    assert "payments.0 (P1)" in refused["error"]["message"]
    assert "GONE" in refused["error"]["message"]
    invoices = (await api.get("/api/invoices", sort="number"))["items"]
    assert [(i["external_id"], i["amount"]) for i in invoices] == [
        ("I1", "100.00"),
        ("I2", "40.00"),
    ]
    twice = {"invoices": [batch["invoices"][0], batch["invoices"][0]]}
    dup = await api.call("POST", "/api/sync/batch", 400, json=twice)
    assert "given twice: I1" in dup["error"]["message"]


async def test_sync_needs_the_sync_permission_and_works_with_a_token(
    client: TestClient[Any, Any],
) -> None:
    api, acme = await _setup(client)
    created = await api.post("/api/tokens", {"name": "ERP"})
    await api.as_("super")
    denied = await api.call("PUT", "/api/sync/invoices/I1", 403, json=_invoice(acme))
    assert "crm.sync" in denied["error"]["message"]
    client.session.cookie_jar.clear()
    resp = await client.put(
        "/api/sync/invoices/I1",
        json=_invoice(acme),
        headers={"Authorization": f"Bearer {created['token']}"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["result"] == "created"
