"""Invoices, payments and balances per currency, within the caller's scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, int, int]:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    company = (await api.post("/api/companies", {"code": "ACME", "name": "Acme"}))["id"]
    person = (await api.post("/api/persons", {"family_name": "Pappas"}))["id"]
    return api, company, person


def _today() -> date:
    """Today in the business time zone of the test app (UTC by default)."""
    return datetime.now(UTC).date()


def _invoice(number: str, amount: str, currency: str, due_days_ago: int, **extra: Any) -> Any:
    today = _today()
    return {
        "number": number,
        "issued_on": (today - timedelta(days=due_days_ago + 30)).isoformat(),
        "due_on": (today - timedelta(days=due_days_ago)).isoformat(),
        "amount": amount,
        "currency": currency,
        **extra,
    }


async def test_balance_is_per_currency_and_counts_allocations(
    client: TestClient[Any, Any],
) -> None:
    api, company, person = await _setup(client)
    eur1 = await api.post("/api/invoices", _invoice("A-1", "100.10", "EUR", 20, company_id=company))
    eur2 = await api.post("/api/invoices", _invoice("A-2", "50.00", "EUR", -10, company_id=company))
    usd = await api.post("/api/invoices", _invoice("A-3", "70.00", "USD", 5, company_id=company))
    # not owed: a pro-forma, an order, a draft and a cancelled invoice
    for number, extra in (
        ("P-1", {"kind": "pro_forma"}),
        ("O-1", {"kind": "order"}),
        ("A-4", {"status": "draft"}),
    ):
        await api.post(
            "/api/invoices", _invoice(number, "999.00", "EUR", 40, company_id=company, **extra)
        )
    cancelled = await api.post(
        "/api/invoices", _invoice("A-5", "999.00", "EUR", 40, company_id=company)
    )
    await api.patch(f"/api/invoices/{cancelled['id']}", {"status": "cancelled"})
    # a person's own invoice is not the company's debt
    await api.post("/api/invoices", _invoice("A-6", "5.00", "EUR", 1, person_id=person))

    pay = await api.post(
        "/api/payments",
        {
            "paid_on": _today().isoformat(),
            "amount": "80.00",
            "currency": "EUR",
            "company_id": company,
            "allocations": [{"invoice_id": eur1["id"], "amount": "60.10"}],
        },
    )
    assert pay["unallocated"] == "19.90"
    inv = await api.get(f"/api/invoices/{eur1['id']}")
    assert (inv["paid_amount"], inv["balance_due"]) == ("60.10", "40.00")

    body = await api.get(f"/api/companies/{company}/balance")
    assert body["masked"] is False
    assert body["balances"] == [
        {
            "currency": "EUR",
            "invoiced": "150.10",
            "paid": "60.10",
            "balance_due": "90.00",
            "overdue": "40.00",
            "days_overdue": 20,
            "open_invoices": 2,
            "unallocated_payments": "19.90",
        },
        {
            "currency": "USD",
            "invoiced": "70.00",
            "paid": "0.00",
            "balance_due": "70.00",
            "overdue": "70.00",
            "days_overdue": 5,
            "open_invoices": 1,
            "unallocated_payments": "0.00",
        },
    ]
    assert eur2["balance_due"] == "50.00"
    assert usd["currency"] == "USD"
    person_balance = await api.get(f"/api/persons/{person}/balance")
    assert [(b["currency"], b["balance_due"]) for b in person_balance["balances"]] == [
        ("EUR", "5.00")
    ]
    listed = await api.get("/api/invoices", company_id=str(company), status="issued")
    assert sorted(i["number"] for i in listed["items"]) == ["A-1", "A-2", "A-3", "O-1", "P-1"]
    # the ledger keeps its customers
    err = await api.delete(f"/api/companies/{company}", expect=409)
    assert err["error"]["code"] == "conflict"


async def test_payment_allocation_rules(client: TestClient[Any, Any]) -> None:
    api, company, _person = await _setup(client)
    inv = await api.post("/api/invoices", _invoice("A-1", "100.00", "EUR", 1, company_id=company))
    proforma = await api.post(
        "/api/invoices", _invoice("P-1", "100.00", "EUR", 1, company_id=company, kind="pro_forma")
    )
    base = {"paid_on": _today().isoformat(), "currency": "EUR", "company_id": company}
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"amount": "10.00", "allocations": [{"invoice_id": inv["id"], "amount": "20.00"}]},
            "allocations",
        ),
        (
            {
                "amount": "200.00",
                "allocations": [{"invoice_id": inv["id"], "amount": "150.00"}],
            },
            "allocations.0.amount",
        ),
        (
            {
                "amount": "10.00",
                "currency": "USD",
                "allocations": [{"invoice_id": inv["id"], "amount": "10.00"}],
            },
            "allocations.0.invoice_id",
        ),
        (
            {"amount": "10.00", "allocations": [{"invoice_id": proforma["id"], "amount": "1.00"}]},
            "allocations.0.invoice_id",
        ),
        (
            {"amount": "10.00", "allocations": [{"invoice_id": 999, "amount": "1.00"}]},
            "allocations.0.invoice_id",
        ),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "1.00", "currency": "euro"}, "currency"),
        ({"amount": "1.00", "paid_on": "0001-01-01"}, "paid_on"),
        ({"amount": "1.00", "company_id": None}, "body"),
    ]
    for extra, field in cases:
        err = await api.post("/api/payments", {**base, **extra}, expect=400)
        assert field_of(err) == field, (extra, err)
    await api.post(
        "/api/payments",
        {
            **base,
            "amount": "100.00",
            "allocations": [{"invoice_id": inv["id"], "amount": "100.00"}],
        },
    )
    err = await api.post(
        "/api/payments",
        {**base, "amount": "1.00", "allocations": [{"invoice_id": inv["id"], "amount": "1.00"}]},
        expect=400,
    )
    assert field_of(err) == "allocations.0.amount"
    err = await api.post(
        "/api/invoices", _invoice("A-1", "1.00", "EUR", 1, company_id=company), 409
    )
    assert field_of(err) == "number"
    await api.post(
        "/api/invoices", _invoice("X-1", "1.00", "EUR", 1, company_id=company, external_id="erp-1")
    )
    err = await api.post(
        "/api/invoices",
        _invoice("X-2", "1.00", "EUR", 1, company_id=company, external_id="erp-1"),
        409,
    )
    assert field_of(err) == "external_id"


async def test_finance_respects_scope_and_masking(client: TestClient[Any, Any]) -> None:
    api, company, _person = await _setup(client)
    await add_user(client, "agent1", "agent")
    await add_user(client, "sup1", "supervisor", teams=("Alpha",))
    await api.post("/api/invoices", _invoice("A-1", "100.00", "EUR", 3, company_id=company))
    await api.as_("agent1")
    own = (await api.post("/api/companies", {"code": "MINE", "name": "Mine"}))["id"]
    # agents have crm.balances: their own record's balance is shown, other records' are not
    body = await api.get(f"/api/companies/{own}/balance")
    assert (body["masked"], body["balances"]) == (False, [])
    await api.get(f"/api/companies/{company}/balance", expect=404)
    assert (await api.get("/api/invoices"))["total"] == 0
    await api.get("/api/invoices/1", expect=404)
    # ... but recording invoices stays with crm.finance
    await api.post("/api/invoices", _invoice("B-1", "1.00", "EUR", 1, company_id=own), 403)
    # a supervisor with crm.balances sees only invoices of records in scope
    await api.as_("sup1")
    assert (await api.get("/api/invoices"))["total"] == 0
    await api.get("/api/invoices/1", expect=404)
    await api.get(f"/api/companies/{company}/balance", expect=404)
    await api.as_("admin")
    assert (await api.get("/api/invoices"))["total"] == 1
