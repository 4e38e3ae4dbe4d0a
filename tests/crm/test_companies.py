"""Companies: CRUD with nested contact data, validation naming the field, lists, audit."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of


async def _admin(client: TestClient[Any, Any]) -> Api:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    return api


ACME: dict[str, Any] = {
    "code": "ACME",
    "name": "Acme Hellas S.A.",
    "vat_number": "EL094012345",
    "trade_register_number": "GEMI 123456701000",
    "industry": "Hotels",
    "employee_count": 120,
    "turnover": "1234567.50",
    "description": "Hotel chain",
    "website": "https://acme.example.gr",
    "status": "active",
    "roles": ["supplier", "customer"],
    "phones": [
        {"kind": "work", "number": "+30 210 123 4567"},
        {"kind": "fax", "number": "210-123-4568"},
    ],
    "emails": [{"kind": "work", "address": "Info@Acme.example.gr"}],
    "addresses": [
        {
            "kind": "head_office",
            "street": "Panepistimiou 10",
            "city": "Athens",
            "postal_code": "10671",
            "country": "GR",
        },
        {"kind": "warehouse", "city": "Piraeus", "country": "GR"},
    ],
}


async def test_create_get_update_delete_company(make_client: Any) -> None:
    client = await make_client(default_region="GR")
    api = await _admin(client)
    cat = await api.post("/api/categories", {"name": "VIP"})
    created = await api.post("/api/companies", {**ACME, "category_ids": [cat["id"]]})
    assert created["code"] == "ACME"
    assert created["roles"] == ["customer", "supplier"]
    assert created["turnover"] == "1234567.50"
    assert [(p["kind"], p["number"], p["e164"]) for p in created["phones"]] == [
        ("work", "+30 210 123 4567", "+302101234567"),
        ("fax", "210-123-4568", "+302101234568"),
    ]
    assert created["emails"][0]["address"] == "info@acme.example.gr"
    assert [a["kind"] for a in created["addresses"]] == ["head_office", "warehouse"]
    assert created["category_ids"] == [cat["id"]]

    cid = created["id"]
    got = await api.get(f"/api/companies/{cid}")
    assert got == created

    changed = await api.patch(
        f"/api/companies/{cid}",
        {"name": "Acme Hotels", "phones": [{"kind": "mobile", "number": "6912345678"}]},
    )
    assert changed["name"] == "Acme Hotels"
    assert [p["e164"] for p in changed["phones"]] == ["+306912345678"]
    assert changed["emails"] == created["emails"]  # lists not sent stay as they were

    cleared = await api.patch(f"/api/companies/{cid}", {"vat_number": None, "roles": []})
    assert cleared["vat_number"] is None
    assert cleared["roles"] == []

    audit = await api.get("/api/audit", object_type="company", object_id=str(cid))
    assert sorted(e["action"] for e in audit["items"]) == [
        "company.create",
        "company.update",
        "company.update",
    ]

    await api.delete(f"/api/companies/{cid}")
    await api.get(f"/api/companies/{cid}", expect=404)
    audit = await api.get("/api/audit", action="company.delete")
    assert audit["items"][0]["object_id"] == str(cid)


async def test_validation_errors_name_the_field(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"code": "X1"}, "name"),
        ({"code": "bad code", "name": "N"}, "code"),
        ({"code": "X1", "name": "N", "status": "dead"}, "status"),
        ({"code": "X1", "name": "N", "roles": ["king"]}, "roles.0"),
        ({"code": "X1", "name": "N", "phones": [{"number": "call me"}]}, "phones.0.number"),
        ({"code": "X1", "name": "N", "phones": [{"number": "12"}]}, "phones.0.number"),
        ({"code": "X1", "name": "N", "emails": [{"address": "nope"}]}, "emails.0.address"),
        ({"code": "X1", "name": "N", "addresses": [{"kind": "moon"}]}, "addresses.0.kind"),
        ({"code": "X1", "name": "N", "turnover": "1.234"}, "turnover"),
        ({"code": "X1", "name": "N", "territory_id": 999}, "territory_id"),
        ({"code": "X1", "name": "N", "owner_id": 999}, "owner_id"),
        ({"code": "X1", "name": "N", "team_id": 999}, "team_id"),
        ({"code": "X1", "name": "N", "category_ids": [999]}, "category_ids"),
        ({"code": "X1", "name": "N", "parent_id": 999}, "parent_id"),
        ({"code": "X1", "name": "N\x00"}, "body"),
        ({"code": "X1", "name": "N", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        err = await api.post("/api/companies", body, expect=400)
        assert err["error"]["code"] == "invalid_input"
        assert field_of(err) == field, (body, err)
    await api.post("/api/companies", {"code": "X1", "name": "N"})
    err = await api.post("/api/companies", {"code": "X1", "name": "Other"}, expect=409)
    assert field_of(err) == "code"
    err = await api.patch("/api/companies/1", {"name": None}, expect=400)
    assert "name cannot be null" in err["error"]["message"]
    assert (await api.get("/api/companies"))["total"] == 1


async def test_parent_company_and_cycles(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    group = await api.post("/api/companies", {"code": "GRP", "name": "Group"})
    sub = await api.post("/api/companies", {"code": "SUB", "name": "Sub", "parent_id": group["id"]})
    assert sub["parent_id"] == group["id"]
    err = await api.patch(f"/api/companies/{group['id']}", {"parent_id": sub["id"]}, expect=400)
    assert field_of(err) == "parent_id"
    err = await api.patch(f"/api/companies/{group['id']}", {"parent_id": group["id"]}, expect=400)
    assert field_of(err) == "parent_id"
    children = await api.get("/api/companies", parent_id=str(group["id"]))
    assert [c["code"] for c in children["items"]] == ["SUB"]


async def test_list_filters_sort_and_search(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    await api.post("/api/companies", {"code": "B", "name": "Beta", "roles": ["customer"]})
    await api.post(
        "/api/companies", {"code": "A", "name": "Alpha", "status": "active", "roles": ["partner"]}
    )
    await api.post("/api/companies", {"code": "C", "name": "Gamma", "vat_number": "RO123"})
    page = await api.get("/api/companies")
    assert [c["name"] for c in page["items"]] == ["Alpha", "Beta", "Gamma"]
    assert page["total"] == 3
    page = await api.get("/api/companies", sort="-code", limit="2")
    assert [c["code"] for c in page["items"]] == ["C", "B"]
    assert (page["total"], page["limit"]) == (3, 2)
    assert [c["code"] for c in (await api.get("/api/companies", role="customer"))["items"]] == ["B"]
    assert [c["code"] for c in (await api.get("/api/companies", status="active"))["items"]] == ["A"]
    assert [c["code"] for c in (await api.get("/api/companies", q="ro12"))["items"]] == ["C"]
    err = await api.get("/api/companies", expect=400, colour="red")
    assert err["error"]["details"]["parameter"] == "colour"
    recent = await api.get("/api/companies", created_at__gte="2000-01-01T00:00:00+00:00")
    assert recent["total"] == 3
    err = await api.get("/api/companies", expect=400, created_at__gte="0001-01-01T00:00:00+05:00")
    assert err["error"]["details"]["parameter"] == "created_at__gte"
