"""Custom attributes: definitions, typed values on companies and persons, filters and sorting."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user
from tests.crm.helpers import Api, field_of


async def _setup(client: TestClient[Any, Any]) -> Api:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    api = Api(client)
    await api.as_("admin")
    for body in (
        {"entity_type": "company", "name": "rooms", "label": "Rooms", "type": "number"},
        {"entity_type": "company", "name": "opened", "label": "Opened", "type": "date"},
        {
            "entity_type": "company",
            "name": "stars",
            "label": "Stars",
            "type": "choice",
            "choices": ["3", "4", "5"],
        },
        {"entity_type": "company", "name": "pool", "label": "Pool", "type": "boolean"},
        {"entity_type": "company", "name": "chain", "label": "Chain", "type": "text"},
        {
            "entity_type": "person",
            "name": "shoe_size",
            "label": "Shoe size",
            "type": "number",
            "required": True,
        },
    ):
        await api.post("/api/attribute-definitions", body)
    return api


async def _hotel(api: Api, code: str, **attributes: Any) -> Any:
    return await api.post(
        "/api/companies", {"code": code, "name": f"Hotel {code}", "attributes": attributes}
    )


async def test_definitions_are_admin_managed_and_validated(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    listed = await api.get("/api/attribute-definitions", entity_type="company")
    assert [d["name"] for d in listed["items"]] == ["chain", "opened", "pool", "rooms", "stars"]
    err = await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "rooms", "label": "Again", "type": "text"},
        409,
    )
    assert field_of(err) == "name"
    err = await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "x", "label": "X", "type": "choice"},
        400,
    )
    assert "choices" in err["error"]["message"]
    err = await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "Bad Name", "label": "X", "type": "text"},
        400,
    )
    assert field_of(err) == "name"
    await api.as_("agent1")
    await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "y", "label": "Y", "type": "text"},
        403,
    )
    assert (await api.get("/api/attribute-definitions"))["total"] == 6


async def test_values_are_typed_shown_and_patched(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    created = await _hotel(
        api, "H1", rooms=120, opened="1998-05-01", stars="5", pool=True, chain=" Aegean "
    )
    assert created["attributes"] == {
        "chain": "Aegean",
        "opened": "1998-05-01",
        "pool": True,
        "rooms": 120,
        "stars": "5",
    }
    cid = created["id"]
    patched = await api.patch(
        f"/api/companies/{cid}", {"attributes": {"rooms": 80.5, "pool": None}}
    )
    assert patched["attributes"]["rooms"] == 80.5
    assert "pool" not in patched["attributes"]
    assert patched["attributes"]["stars"] == "5"  # untouched
    for attributes, field in (
        ({"rooms": "many"}, "attributes.rooms"),
        ({"rooms": True}, "attributes.rooms"),
        ({"opened": "01/05/1998"}, "attributes.opened"),
        ({"stars": "6"}, "attributes.stars"),
        ({"pool": "yes"}, "attributes.pool"),
        ({"colour": "red"}, "attributes.colour"),
    ):
        err = await api.patch(f"/api/companies/{cid}", {"attributes": attributes}, 400)
        assert field_of(err) == field, attributes
    # a required person attribute must be given on creation and cannot be removed
    err = await api.post("/api/persons", {"family_name": "Pappas"}, 400)
    assert field_of(err) == "attributes.shoe_size"
    person = await api.post(
        "/api/persons", {"family_name": "Pappas", "attributes": {"shoe_size": "42"}}
    )
    assert person["attributes"] == {"shoe_size": 42}
    err = await api.patch(f"/api/persons/{person['id']}", {"attributes": {"shoe_size": None}}, 400)
    assert field_of(err) == "attributes.shoe_size"
    # removing a choice still in use is refused; the definition can be deleted with its values
    defs = {d["name"]: d for d in (await api.get("/api/attribute-definitions"))["items"]}
    err = await api.patch(
        f"/api/attribute-definitions/{defs['stars']['id']}", {"choices": ["3", "4"]}, 409
    )
    assert field_of(err) == "choices"
    await api.delete(f"/api/attribute-definitions/{defs['stars']['id']}")
    assert "stars" not in (await api.get(f"/api/companies/{cid}"))["attributes"]


async def test_filter_and_sort_by_attributes(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await _hotel(api, "H1", rooms=120, opened="1998-05-01", stars="5", pool=True, chain="Aegean")
    await _hotel(api, "H2", rooms=9, opened="2010-01-01", stars="3", pool=False, chain="Grecotel")
    await _hotel(api, "H3", rooms=45, stars="4", chain="Aegean Blue")
    await _hotel(api, "H4")

    async def codes(**params: Any) -> list[str]:
        return [c["code"] for c in (await api.get("/api/companies", **params))["items"]]

    # numbers compare as numbers (9 < 45 < 120), not as text
    assert await codes(sort="attr.rooms") == ["H2", "H3", "H1", "H4"]
    assert await codes(sort="-attr.rooms") == ["H1", "H3", "H2", "H4"]
    assert await codes(**{"attr.rooms__gte": "40", "sort": "code"}) == ["H1", "H3"]
    assert await codes(**{"attr.rooms__lte": "45", "sort": "-attr.rooms"}) == ["H3", "H2"]
    assert await codes(**{"attr.opened__gte": "2000-01-01"}) == ["H2"]
    assert await codes(**{"attr.stars__in": "4,5", "sort": "code"}) == ["H1", "H3"]
    assert await codes(**{"attr.pool": "false"}) == ["H2"]
    assert await codes(**{"attr.chain__contains": "aegean", "sort": "code"}) == ["H1", "H3"]
    assert await codes(**{"attr.chain": "Aegean", "attr.rooms__gte": "100"}) == ["H1"]
    page = await api.get("/api/companies", **{"attr.rooms__gte": "40", "limit": "1"})
    assert page["total"] == 2
    for params, parameter in (
        ({"attr.rooms": "many"}, "attr.rooms"),
        ({"attr.nope": "1"}, "attr.nope"),
        ({"attr.pool__gte": "true"}, "attr.pool__gte"),
        ({"attr.stars": "7"}, "attr.stars"),
        ({"attr.opened__lte": "yesterday"}, "attr.opened__lte"),
        ({"sort": "attr.nope"}, "sort"),
        ({"sort": "nope"}, "sort"),
    ):
        err = await api.get("/api/companies", expect=400, **params)
        assert err["error"]["details"]["parameter"] == parameter, params
    # the filters apply within the caller's scope
    await api.as_("agent1")
    assert await codes(**{"attr.rooms__gte": "0"}) == []
