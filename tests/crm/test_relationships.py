"""Person-person relationships with typed inverses, company links, and their scope."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, dict[str, int]]:
    agent1 = (await add_user(client, "agent1", "agent")).id
    await add_user(client, "admin", "admin")
    await add_user(client, "agent2", "agent")
    api = Api(client)
    await api.as_("admin")
    ids: dict[str, int] = {}
    for key, family, owner in (
        ("anna", "Anna", agent1),
        ("bob", "Bob", agent1),
        ("cleo", "Cleo", None),
    ):
        body = {"family_name": family, "owner_id": owner}
        ids[key] = (await api.post("/api/persons", body))["id"]
    for key, code, owner in (("x", "X", agent1), ("y", "Y", agent1), ("z", "Z", None)):
        body = {"code": code, "name": f"{code} Ltd", "owner_id": owner}
        ids[key] = (await api.post("/api/companies", body))["id"]
    return api, ids


async def test_relationship_types_are_admin_defined(client: TestClient[Any, Any]) -> None:
    api, _ids = await _setup(client)
    parent = await api.post("/api/relationship-types", {"name": "parent", "inverse_name": "child"})
    assert (parent["name"], parent["inverse_name"]) == ("parent", "child")
    err = await api.post(
        "/api/relationship-types", {"name": "parent", "inverse_name": "x"}, expect=409
    )
    assert field_of(err) == "name"
    await api.post("/api/relationship-types", {"name": "spouse"}, expect=400)
    await api.post("/api/relationship-types", {"name": " ", "inverse_name": "x"}, expect=400)
    await api.as_("agent1")
    await api.post(
        "/api/relationship-types", {"name": "spouse", "inverse_name": "spouse"}, expect=403
    )
    await api.delete(f"/api/relationship-types/{parent['id']}", expect=403)
    assert [t["name"] for t in (await api.get("/api/relationship-types"))["items"]] == ["parent"]
    await api.as_("admin")
    await api.delete(f"/api/relationship-types/{parent['id']}")
    await api.delete(f"/api/relationship-types/{parent['id']}", expect=404)


async def test_person_links_show_the_inverse_and_hide_what_is_out_of_scope(
    client: TestClient[Any, Any],
) -> None:
    api, ids = await _setup(client)
    parent = await api.post("/api/relationship-types", {"name": "parent", "inverse_name": "child"})
    spouse = await api.post("/api/relationship-types", {"name": "spouse", "inverse_name": "spouse"})
    # the admin links Anna to Cleo, whom agent1 cannot see
    hidden = await api.post(
        "/api/person-links",
        {"person_a_id": ids["anna"], "person_b_id": ids["cleo"], "type_id": spouse["id"]},
    )
    await api.as_("agent1")
    link = await api.post(
        "/api/person-links",
        {
            "person_a_id": ids["anna"],
            "person_b_id": ids["bob"],
            "type_id": parent["id"],
            "since": "2001-02-03",
        },
    )
    # Anna is Bob's parent: seen from Anna, Bob is her child
    assert (link["person_id"], link["other_person_id"], link["relation"]) == (
        ids["anna"],
        ids["bob"],
        "child",
    )
    seen_from_bob = (await api.get(f"/api/persons/{ids['bob']}/links"))["items"]
    assert [(x["other_person_id"], x["relation"], x["since"]) for x in seen_from_bob] == [
        (ids["anna"], "parent", "2001-02-03")
    ]
    # agent1 does not learn that Anna has a spouse they may not see
    mine = (await api.get(f"/api/persons/{ids['anna']}/links"))["items"]
    assert [x["id"] for x in mine] == [link["id"]]
    await api.get(f"/api/persons/{ids['cleo']}/links", expect=404)
    await api.delete(f"/api/person-links/{hidden['id']}", expect=404)
    err = await api.post(
        "/api/person-links",
        {"person_a_id": ids["anna"], "person_b_id": ids["cleo"], "type_id": parent["id"]},
        expect=400,
    )
    assert field_of(err) == "person_b_id"
    for body, field in (
        ({"person_a_id": ids["anna"], "person_b_id": ids["anna"], "type_id": parent["id"]}, "body"),
        ({"person_a_id": ids["anna"], "person_b_id": ids["bob"], "type_id": 999}, "type_id"),
        (
            {
                "person_a_id": ids["bob"],
                "person_b_id": ids["anna"],
                "type_id": parent["id"],
                "since": "2020-01-01",
                "until": "2019-01-01",
            },
            "body",
        ),
    ):
        assert field_of(await api.post("/api/person-links", body, expect=400)) == field
    await api.post(
        "/api/person-links",
        {"person_a_id": ids["anna"], "person_b_id": ids["bob"], "type_id": parent["id"]},
        expect=409,
    )
    await api.as_("agent2")
    await api.get(f"/api/persons/{ids['anna']}/links", expect=404)
    await api.delete(f"/api/person-links/{link['id']}", expect=404)
    await api.as_("admin")
    everything = (await api.get(f"/api/persons/{ids['anna']}/links"))["items"]
    assert {(x["other_person_id"], x["relation"]) for x in everything} == {
        (ids["bob"], "child"),
        (ids["cleo"], "spouse"),
    }
    await api.delete(f"/api/relationship-types/{parent['id']}", expect=409)
    await api.post(f"/api/persons/{ids['cleo']}/dates", {"type": "wedding", "date": "2000-06-01"})
    await api.delete(f"/api/persons/{ids['cleo']}")  # its dates and links go with it
    assert [
        x["other_person_id"] for x in (await api.get(f"/api/persons/{ids['anna']}/links"))["items"]
    ] == [ids["bob"]]
    await api.as_("agent1")
    await api.delete(f"/api/person-links/{link['id']}")
    assert (await api.get(f"/api/persons/{ids['bob']}/links"))["items"] == []


async def test_company_links_partner_and_followed_through(client: TestClient[Any, Any]) -> None:
    api, ids = await _setup(client)
    hidden = await api.post(
        "/api/company-links",
        {"company_a_id": ids["x"], "company_b_id": ids["z"], "kind": "partner"},
    )
    await api.as_("agent1")
    link = await api.post(
        "/api/company-links",
        {
            "company_a_id": ids["x"],
            "company_b_id": ids["y"],
            "kind": "followed_through",
            "note": "n",
        },
    )
    assert (link["other_company_id"], link["relation"], link["note"]) == (
        ids["y"],
        "followed_through",
        "n",
    )
    from_y = (await api.get(f"/api/companies/{ids['y']}/links"))["items"]
    assert [(x["other_company_id"], x["relation"], x["kind"]) for x in from_y] == [
        (ids["x"], "follows", "followed_through")
    ]
    assert [x["id"] for x in (await api.get(f"/api/companies/{ids['x']}/links"))["items"]] == [
        link["id"]
    ]
    await api.get(f"/api/companies/{ids['z']}/links", expect=404)
    await api.delete(f"/api/company-links/{hidden['id']}", expect=404)
    for body, field in (
        ({"company_a_id": ids["x"], "company_b_id": ids["z"], "kind": "partner"}, "company_b_id"),
        ({"company_a_id": ids["x"], "company_b_id": ids["x"], "kind": "partner"}, "body"),
        ({"company_a_id": ids["x"], "company_b_id": ids["y"], "kind": "friend"}, "kind"),
    ):
        assert field_of(await api.post("/api/company-links", body, expect=400)) == field
    await api.post(
        "/api/company-links",
        {"company_a_id": ids["x"], "company_b_id": ids["y"], "kind": "followed_through"},
        expect=409,
    )
    await api.as_("agent2")
    await api.get(f"/api/companies/{ids['x']}/links", expect=404)
    await api.delete(f"/api/company-links/{link['id']}", expect=404)
    await api.as_("admin")
    assert len((await api.get(f"/api/companies/{ids['x']}/links"))["items"]) == 2
    await api.delete(f"/api/companies/{ids['z']}")  # its links go with it
    assert [x["id"] for x in (await api.get(f"/api/companies/{ids['x']}/links"))["items"]] == [
        link["id"]
    ]
    audit = await api.get("/api/audit", object_type="company_link")
    assert {e["action"] for e in audit["items"]} == {"company_link.create"}
    await api.as_("agent1")
    await api.delete(f"/api/company-links/{link['id']}")
    assert (await api.get(f"/api/companies/{ids['y']}/links"))["items"] == []
