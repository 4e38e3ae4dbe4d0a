"""Bank accounts and branches of companies, the product catalogue, products held, contracts."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of

GR_IBAN = "GR16 0110 1250 0000 0001 2300 695"
RO_IBAN = "RO49AAAA1B31007593840000"


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, int, int]:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    await add_user(client, "agent2", "agent")
    api = Api(client)
    await api.as_("agent1")
    company = (await api.post("/api/companies", {"code": "ACME", "name": "Acme"}))["id"]
    person = (await api.post("/api/persons", {"family_name": "Pappas"}))["id"]
    return api, company, person


async def test_bank_accounts_validate_iban_bic_currency(client: TestClient[Any, Any]) -> None:
    api, company, _ = await _setup(client)
    base = f"/api/companies/{company}/bank-accounts"
    acc = await api.post(
        base, {"iban": GR_IBAN, "bank_name": "NBG", "bic": "ethngraa", "currency": "EUR"}
    )
    assert (acc["iban"], acc["bic"]) == ("GR1601101250000000012300695", "ETHNGRAA")
    for body, field in (
        ({"iban": "GR17 0110 1250 0000 0001 2300 695", "currency": "EUR"}, "iban"),
        ({"iban": "GR16 0110 1250 0000 0001 2300 69", "currency": "EUR"}, "iban"),
        ({"iban": "ZZ16 0110 1250 0000 0001 2300 695", "currency": "EUR"}, "iban"),
        ({"iban": RO_IBAN, "currency": "XYZ"}, "currency"),
        ({"iban": RO_IBAN, "currency": "eur"}, "currency"),
        ({"iban": RO_IBAN, "currency": "RON", "bic": "BANK-RO"}, "bic"),
    ):
        err = await api.post(base, body, 400)
        assert field_of(err) == field, body
    err = await api.post(base, {"iban": GR_IBAN, "currency": "EUR"}, 409)
    assert field_of(err) == "iban"
    ron = await api.post(base, {"iban": RO_IBAN, "currency": "RON", "is_primary": True})
    await api.patch(f"{base}/{acc['id']}", {"is_primary": True})
    listed = await api.get(base)
    assert [(a["currency"], a["is_primary"]) for a in listed["items"]] == [
        ("EUR", True),
        ("RON", False),
    ]
    err = await api.patch(f"{base}/{ron['id']}", {"iban": "RO49 0000"}, 400)
    assert field_of(err) == "iban"
    await api.delete(f"{base}/{ron['id']}")
    assert (await api.get(base))["total"] == 1
    # out of scope: the company and its accounts are "not found"
    await api.as_("agent2")
    await api.get(base, expect=404)
    await api.get(f"{base}/{acc['id']}", expect=404)
    await api.post(base, {"iban": RO_IBAN, "currency": "RON"}, 404)
    await api.patch(f"{base}/{acc['id']}", {"bank_name": "x"}, 404)
    await api.delete(f"{base}/{acc['id']}", 404)
    # an account of another company is not reachable under this one
    await api.as_("agent1")
    other = (await api.post("/api/companies", {"code": "OTHER", "name": "Other"}))["id"]
    await api.get(f"/api/companies/{other}/bank-accounts/{acc['id']}", expect=404)


async def test_branches(client: TestClient[Any, Any]) -> None:
    api, company, person = await _setup(client)
    base = f"/api/companies/{company}/branches"
    branch = await api.post(
        base,
        {
            "name": "Thessaloniki shop",
            "code": "SKG",
            "street": "Tsimiski 10",
            "city": "Thessaloniki",
            "country": "GR",
            "email": "skg@acme.gr",
            "manager_person_id": person,
            "phones": [{"number": "+30 2310 123456"}],
        },
    )
    assert branch["phones"][0]["e164"] == "+302310123456"
    assert branch["manager_person_id"] == person
    for body, field in (
        ({"name": "X", "code": "SKG"}, "code"),
        ({"name": "X", "code": "X1", "phones": [{"number": "123"}]}, "phones.0.number"),
        ({"name": "X", "code": "X2", "email": "nope"}, "email"),
        ({"name": "X", "code": "X3", "manager_person_id": 999}, "manager_person_id"),
    ):
        status = 409 if field == "code" else 400
        err = await api.post(base, body, status)
        assert field_of(err) == field, body
    patched = await api.patch(f"{base}/{branch['id']}", {"city": "Kalamaria", "phones": []})
    assert (patched["city"], patched["phones"]) == ("Kalamaria", [])
    assert (await api.get(base, q="kalam"))["total"] == 1
    await api.as_("agent2")
    await api.get(base, expect=404)
    await api.as_("agent1")
    await api.delete(f"{base}/{branch['id']}")
    await api.get(f"{base}/{branch['id']}", expect=404)


async def test_products_held_and_contracts(client: TestClient[Any, Any]) -> None:
    api, company, person = await _setup(client)
    await api.post("/api/products", {"code": "P1", "name": "Boiler"}, 403)  # admins only
    await api.as_("admin")
    boiler = await api.post(
        "/api/products", {"code": "BOIL-1", "name": "Boiler", "price": "990.00", "currency": "EUR"}
    )
    old = await api.post("/api/products", {"code": "OLD", "name": "Old model", "active": False})
    err = await api.post("/api/products", {"code": "BOIL-1", "name": "Again"}, 409)
    assert field_of(err) == "code"
    err = await api.post("/api/products", {"code": "X", "name": "X", "price": "1.00"}, 400)
    assert "together" in err["error"]["message"]
    err = await api.patch(f"/api/products/{boiler['id']}", {"currency": None}, 400)
    assert field_of(err) == "currency"
    await api.as_("agent1")
    assert (await api.get("/api/products", active="true"))["total"] == 1
    held = await api.post(
        "/api/held-products",
        {
            "product_id": boiler["id"],
            "person_id": person,
            "quantity": "2",
            "acquired_on": "2025-03-01",
        },
    )
    assert (held["quantity"], held["is_active"]) == ("2.000", True)
    for body, field in (
        ({"product_id": boiler["id"]}, "body"),
        ({"product_id": boiler["id"], "person_id": person, "company_id": company}, "body"),
        ({"product_id": 999, "person_id": person}, "product_id"),
        ({"product_id": old["id"], "person_id": person}, "product_id"),
        ({"product_id": boiler["id"], "person_id": person, "quantity": "0"}, "quantity"),
        ({"product_id": boiler["id"], "person_id": 999}, "person_id"),
    ):
        err = await api.post("/api/held-products", body, 400)
        assert field_of(err) == field, body
    await api.patch(f"/api/held-products/{held['id']}", {"is_active": False})
    assert (await api.get("/api/held-products", person_id=str(person), is_active="false"))[
        "total"
    ] == 1
    contract = await api.post(
        "/api/contracts",
        {
            "number": "C-2026-1",
            "company_id": company,
            "product_id": boiler["id"],
            "starts_on": "2026-01-01",
            "ends_on": "2026-12-31",
            "value": "1200.00",
            "currency": "EUR",
            "renewal_on": "2026-11-30",
        },
    )
    assert (contract["status"], contract["renewal_on"]) == ("active", "2026-11-30")
    for body, field, status in (
        ({"number": "C-2026-1", "company_id": company, "starts_on": "2026-01-01"}, "number", 409),
        (
            {
                "number": "C2",
                "company_id": company,
                "starts_on": "2026-01-01",
                "ends_on": "2025-01-01",
            },
            "ends_on",
            400,
        ),
        (
            {"number": "C3", "company_id": company, "starts_on": "2026-01-01", "value": "5.00"},
            "currency",
            400,
        ),
        (
            {"number": "C4", "company_id": company, "starts_on": "2026-01-01", "currency": "EURO"},
            "currency",
            400,
        ),
        ({"number": "C5", "starts_on": "2026-01-01"}, "body", 400),
    ):
        err = await api.post("/api/contracts", body, status)
        assert field_of(err) == field, body
    due = await api.get("/api/contracts", renewal_on__lte="2026-12-01", status="active")
    assert [c["number"] for c in due["items"]] == ["C-2026-1"]
    err = await api.get("/api/contracts", expect=400, renewal_on__lte="soon")
    assert err["error"]["details"]["parameter"] == "renewal_on__lte"
    err = await api.patch(f"/api/contracts/{contract['id']}", {"starts_on": "2027-01-01"}, 400)
    assert field_of(err) == "ends_on"
    await api.patch(f"/api/contracts/{contract['id']}", {"status": "terminated"})
    # scope: another agent sees neither, and cannot attach to records out of scope
    await api.as_("agent2")
    assert (await api.get("/api/contracts"))["total"] == 0
    assert (await api.get("/api/held-products"))["total"] == 0
    await api.get(f"/api/contracts/{contract['id']}", expect=404)
    await api.patch(f"/api/held-products/{held['id']}", {"is_active": True}, 404)
    await api.delete(f"/api/contracts/{contract['id']}", 404)
    err = await api.post(
        "/api/contracts", {"number": "C9", "company_id": company, "starts_on": "2026-01-01"}, 400
    )
    assert field_of(err) == "company_id"
    # a company with contracts cannot be deleted out from under them
    await api.as_("admin")
    err = await api.delete(f"/api/companies/{company}", 409)
    assert "contracts" in err["error"]["message"]
    await api.delete(f"/api/contracts/{contract['id']}")
    await api.delete(f"/api/held-products/{held['id']}")
    assert (await api.get("/api/contracts"))["total"] == 0
    await api.delete(f"/api/companies/{company}")
