"""Persons: CRUD with contact data and company links, validation, sensitive-field masking."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of

MARIA: dict[str, Any] = {
    "given_name": "Maria",
    "family_name": "Papadopoulou",
    "nickname": "Marika",
    "salutation": "Dear Mrs Papadopoulou",
    "title": "Dr",
    "birth_date": "1980-05-17",
    "language": "el",
    "id_card_number": "AK 123456",
    "phones": [{"kind": "mobile", "number": "+30 691 234 5678"}],
    "emails": [{"kind": "home", "address": "maria@example.gr"}],
    "addresses": [{"kind": "home", "city": "Thessaloniki", "country": "GR"}],
}


async def test_person_crud_with_company_links(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    acme = await api.post("/api/companies", {"code": "ACME", "name": "Acme"})
    books = await api.post("/api/companies", {"code": "BOOKS", "name": "Books Ltd"})
    created = await api.post(
        "/api/persons",
        {
            **MARIA,
            "companies": [
                {
                    "company_id": acme["id"],
                    "job_title": "CFO",
                    "department": "Finance",
                    "is_primary": True,
                    "starts_on": "2020-01-01",
                },
                {"company_id": books["id"], "job_title": "External accountant"},
            ],
        },
    )
    assert created["full_name"] == "Maria Papadopoulou"
    assert created["id_card_number"] == "AK 123456"
    assert created["masked"] == []
    assert created["phones"][0]["e164"] == "+306912345678"
    links = {c["company_id"]: c for c in created["companies"]}
    assert links[acme["id"]]["is_primary"] is True
    assert links[acme["id"]]["department"] == "Finance"
    assert links[books["id"]]["job_title"] == "External accountant"

    pid = created["id"]
    assert await api.get(f"/api/persons/{pid}") == created
    at_acme = await api.get("/api/persons", company_id=str(acme["id"]))
    assert [p["id"] for p in at_acme["items"]] == [pid]

    changed = await api.patch(
        f"/api/persons/{pid}", {"companies": [], "nickname": None, "family_name": "Papa"}
    )
    assert changed["companies"] == []
    assert changed["nickname"] is None
    assert changed["full_name"] == "Maria Papa"
    assert (await api.get("/api/persons", company_id=str(acme["id"])))["total"] == 0

    await api.delete(f"/api/persons/{pid}")
    await api.get(f"/api/persons/{pid}", expect=404)
    actions = [e["action"] for e in (await api.get("/api/audit", object_type="person"))["items"]]
    assert sorted(actions) == ["person.create", "person.delete", "person.update"]


async def test_person_validation_names_the_field(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    acme = await api.post("/api/companies", {"code": "ACME", "name": "Acme"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"given_name": " "}, "family_name"),
        ({"family_name": "X", "birth_date": "2999-01-01"}, "birth_date"),
        ({"family_name": "X", "birth_date": "17/05/1980"}, "birth_date"),
        ({"family_name": "X", "language": "Greek"}, "language"),
        ({"family_name": "X", "companies": [{"company_id": 999}]}, "companies.0.company_id"),
        (
            {
                "family_name": "X",
                "companies": [
                    {"company_id": acme["id"], "is_primary": True},
                    {"company_id": acme["id"], "is_primary": True},
                ],
            },
            "companies",
        ),
        (
            {
                "family_name": "X",
                "companies": [
                    {"company_id": acme["id"], "starts_on": "2020-01-02", "ends_on": "2020-01-01"}
                ],
            },
            "companies.0",
        ),
        ({"family_name": "X", "phones": [{"kind": "pager", "number": "123"}]}, "phones.0.kind"),
    ]
    for body, field in cases:
        err = await api.post("/api/persons", body, expect=400)
        assert field_of(err) == field, (body, err)
    person = await api.post("/api/persons", {"family_name": "X"})
    err = await api.patch(
        f"/api/persons/{person['id']}", {"family_name": "", "given_name": ""}, expect=400
    )
    assert field_of(err) == "family_name"


async def test_id_card_number_is_masked_without_the_right(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    api = Api(client)
    await api.as_("agent1")
    created = await api.post("/api/persons", MARIA)
    pid = created["id"]
    assert created["owner_id"] is not None
    assert created["id_card_number"] is None
    assert created["masked"] == ["id_card_number"]
    for body in (
        await api.get(f"/api/persons/{pid}"),
        (await api.get("/api/persons"))["items"][0],
        await api.patch(f"/api/persons/{pid}", {"title": "Prof"}),
    ):
        assert body["id_card_number"] is None
        assert body["masked"] == ["id_card_number"]
    # The number is not searchable either.
    assert (await api.get("/api/search", q="AK 123456"))["items"] == []
    me = await api.get("/api/me")
    assert "crm.sensitive" not in me["permissions"]

    await api.as_("admin")
    body = await api.get(f"/api/persons/{pid}")
    assert body["id_card_number"] == "AK 123456"
    assert body["masked"] == []
