"""Record-level access: no endpoint lets a user reach a record outside their scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import AppMaker
from tests.crm.helpers import PHONES, Api, access_world, field_of


async def _visible(api: Api) -> tuple[set[int], set[int]]:
    companies = await api.get("/api/companies")
    persons = await api.get("/api/persons")
    assert companies["total"] == len(companies["items"])
    assert persons["total"] == len(persons["items"])
    return {c["id"] for c in companies["items"]}, {p["id"] for p in persons["items"]}


async def test_each_role_sees_its_scope(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    expected = {
        "admin": (set(w.companies.values()), set(w.persons.values())),
        "agent1": ({w.companies["north"]}, {w.persons["north"]}),  # user grant
        "agent2": (set(), {w.persons["team"]}),  # owner
        "sup1": (set(), {w.persons["team"]}),  # team supervised
        "manager": ({w.companies["south"]}, {w.persons["south"]}),  # role grant
    }
    for user, scope in expected.items():
        await w.api.as_(user)
        assert await _visible(w.api) == scope, user


async def test_nothing_outside_the_scope_is_reachable(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    w = await access_world(client)
    api = w.api
    await api.as_("agent1")
    south_co, south_p, team_p = w.companies["south"], w.persons["south"], w.persons["team"]
    # lists, with filters that name the hidden records
    for params in (
        {"territory_id": str(w.territories["south"])},
        {"code": "SOUTHCO"},
        {"q": "south"},
        {"territory_id__in": f"{w.territories['south']},{w.territories['north']}"},
    ):
        items = (await api.get("/api/companies", **params))["items"]
        assert south_co not in {c["id"] for c in items}, params
    for params in (
        {"territory_id": str(w.territories["south"])},
        {"owner_id": str(w.users["agent2"])},
        {"team_id": str(w.team_alpha)},
        {"q": "Teo"},
        {"family_name__contains": "south"},
    ):
        assert (await api.get("/api/persons", **params))["total"] == 0, params
    # quick search by name, code, e-mail and phone
    for q in ("Southern", "SOUTHCO", "southco@example", PHONES["south_co"], "697 444 4444"):
        assert (await api.get("/api/search", q=q))["items"] == [], q
    # caller-ID lookup
    for key in ("south_co", "south_p", "team_p"):
        found = await api.get("/api/lookup/phone", number=PHONES[key])
        assert found["candidates"] == [], key
    # detail, update
    for path in (f"/api/companies/{south_co}", f"/api/persons/{south_p}", f"/api/persons/{team_p}"):
        await api.get(path, expect=404)
        err = await api.patch(path, {"description" if "compan" in path else "title": "x"}, 404)
        assert err["error"]["code"] == "not_found"
    # delete: agents lack the right; supervisors have it but not for records outside their scope
    await api.delete(f"/api/companies/{south_co}", expect=403)
    await api.as_("sup1")
    await api.delete(f"/api/companies/{south_co}", expect=404)
    await api.delete(f"/api/persons/{south_p}", expect=404)
    # references to hidden records are refused as unknown
    await api.as_("agent1")
    err = await api.post(
        "/api/persons", {"family_name": "X", "companies": [{"company_id": south_co}]}, 400
    )
    assert field_of(err) == "companies.0.company_id"
    err = await api.post("/api/companies", {"code": "X", "name": "X", "parent_id": south_co}, 400)
    assert field_of(err) == "parent_id"
    # the hidden records are untouched
    await api.as_("admin")
    assert (await api.get(f"/api/companies/{south_co}"))["description"] == ""
    assert (await api.get(f"/api/persons/{team_p}"))["title"] is None


async def test_lookup_and_search_show_only_visible_candidates(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    w = await access_world(client)
    api = w.api
    await api.as_("admin")
    shared = "+30 210 999 9999"
    await api.patch(f"/api/persons/{w.persons['north']}", {"phones": [{"number": shared}]})
    await api.patch(f"/api/persons/{w.persons['south']}", {"phones": [{"number": shared}]})
    found = await api.get("/api/lookup/phone", number="2109999999")
    assert {c["id"] for c in found["candidates"]} == {w.persons["north"], w.persons["south"]}
    await api.as_("agent1")
    found = await api.get("/api/lookup/phone", number="210 999 9999")
    assert [c["id"] for c in found["candidates"]] == [w.persons["north"]]
    hits = (await api.get("/api/search", q="210 999 9999"))["items"]
    assert [h["id"] for h in hits] == [w.persons["north"]]


async def test_delegation_lends_access_for_its_period(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    api = w.api
    now = datetime.now(UTC)
    await api.as_("agent2")
    later = await api.post(
        "/api/delegations",
        {
            "to_user_id": w.users["agent1"],
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=2)).isoformat(),
        },
    )
    await api.as_("agent1")
    await api.get(f"/api/persons/{w.persons['team']}", expect=404)

    await api.as_("agent2")
    current = await api.post(
        "/api/delegations",
        {
            "to_user_id": w.users["agent1"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "note": "holiday",
        },
    )
    await api.as_("agent1")
    assert await _visible(api) == ({w.companies["north"]}, {w.persons["north"], w.persons["team"]})
    await api.get(f"/api/persons/{w.persons['team']}")
    found = await api.get("/api/lookup/phone", number=PHONES["team_p"])
    assert [c["id"] for c in found["candidates"]] == [w.persons["team"]]
    mine = await api.get("/api/delegations")
    assert {d["id"] for d in mine["items"]} == {later["id"], current["id"]}
    # the delegate may not end it, nor delegate on someone else's behalf
    await api.delete(f"/api/delegations/{current['id']}", expect=403)
    err = await api.post(
        "/api/delegations",
        {
            "from_user_id": w.users["agent2"],
            "to_user_id": w.users["agent1"],
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
        403,
    )
    assert err["error"]["code"] == "forbidden"

    await api.as_("agent2")
    await api.delete(f"/api/delegations/{current['id']}")
    await api.as_("agent1")
    await api.get(f"/api/persons/{w.persons['team']}", expect=404)
    # a supervisor's delegation lends the supervised teams
    await api.as_("sup1")
    await api.post(
        "/api/delegations",
        {
            "to_user_id": w.users["agent1"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    await api.as_("agent1")
    await api.get(f"/api/persons/{w.persons['team']}")
    # nobody else's delegations are listed to an outsider
    await api.as_("manager")
    assert (await api.get("/api/delegations"))["total"] == 0


async def test_assignment_rules(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    api = w.api
    await api.as_("agent1")
    err = await api.post(
        "/api/companies", {"code": "N1", "name": "N", "territory_id": w.territories["south"]}, 400
    )
    assert field_of(err) == "territory_id"
    err = await api.post(
        "/api/companies", {"code": "N1", "name": "N", "team_id": w.team_alpha}, 400
    )
    assert field_of(err) == "team_id"
    err = await api.post(
        "/api/companies", {"code": "N1", "name": "N", "owner_id": w.users["agent2"]}, 400
    )
    assert field_of(err) == "owner_id"
    made = await api.post(
        "/api/companies", {"code": "N1", "name": "N", "territory_id": w.territories["north"]}
    )
    assert made["owner_id"] == w.users["agent1"]
    # may change a record of the territory, but not hand it to someone else
    nora = f"/api/persons/{w.persons['north']}"
    assert (await api.patch(nora, {"title": "Dr"}))["title"] == "Dr"
    err = await api.patch(nora, {"owner_id": w.users["agent1"]}, 403)
    assert err["error"]["code"] == "forbidden"
    # a supervisor may reassign the team's records to a team member
    await api.as_("sup1")
    teo = f"/api/persons/{w.persons['team']}"
    body = await api.patch(teo, {"owner_id": w.users["sup1"]})
    assert body["owner_id"] == w.users["sup1"]
    assert body["id_card_number"] == "ID-Teamson"  # supervisors have crm.sensitive
    err = await api.patch(teo, {"owner_id": w.users["agent1"]}, 400)
    assert field_of(err) == "owner_id"
    # only administrators manage territories and categories
    await api.post("/api/territories", {"name": "East"}, 403)
    await api.post("/api/categories", {"name": "VIP"}, 403)
    await api.get(f"/api/territories/{w.territories['north']}/grants", expect=403)
    names = [t["name"] for t in (await api.get("/api/territories"))["items"]]
    assert names == ["North Greece", "South Greece"]


async def test_grant_changes_apply_at_once(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    api = w.api
    north = w.territories["north"]
    grants = (await api.get(f"/api/territories/{north}/grants"))["items"]
    assert [(g["role"], g["user_id"]) for g in grants] == [(None, w.users["agent1"])]
    await api.delete(f"/api/territories/{north}/grants/{grants[0]['id']}")
    await api.post(f"/api/territories/{north}/grants", {"role": "supervisor"})
    await api.as_("agent1")
    assert await _visible(api) == (set(), set())
    await api.as_("sup1")
    assert await _visible(api) == (
        {w.companies["north"]},
        {w.persons["north"], w.persons["team"]},
    )
    await api.as_("admin")
    err = await api.post(f"/api/territories/{north}/grants", {"role": "agent", "user_id": 1}, 400)
    assert err["error"]["code"] == "invalid_input"


async def test_finance_and_work_endpoints_stay_in_scope(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    api = w.api
    south_co, south_p = w.companies["south"], w.persons["south"]
    inv = await api.post(
        "/api/invoices",
        {
            "number": "S-1",
            "issued_on": "2026-01-01",
            "amount": "10.00",
            "currency": "EUR",
            "company_id": south_co,
        },
    )
    pay = await api.post(
        "/api/payments",
        {"paid_on": "2026-01-02", "amount": "5.00", "currency": "EUR", "company_id": south_co},
    )
    ticket = await api.post("/api/tickets", {"subject": "S", "person_id": south_p})
    act = await api.post(
        "/api/activities",
        {"type": "call", "subject": "S", "participants": [{"company_id": south_co}]},
    )
    await api.as_("sup1")  # has crm.sensitive, but South is not in scope
    for path in ("/api/invoices", "/api/payments", "/api/tickets", "/api/activities"):
        assert (await api.get(path))["total"] == 0, path
    for path in (
        f"/api/invoices/{inv['id']}",
        f"/api/payments/{pay['id']}",
        f"/api/tickets/{ticket['id']}",
        f"/api/activities/{act['id']}",
        f"/api/companies/{south_co}/balance",
        f"/api/persons/{south_p}/balance",
        f"/api/companies/{south_co}/timeline",
        f"/api/persons/{south_p}/timeline",
    ):
        await api.get(path, expect=404)
    await api.patch(f"/api/tickets/{ticket['id']}", {"status": "closed"}, 404)
    await api.patch(f"/api/activities/{act['id']}", {"status": "done"}, 404)
    err = await api.post("/api/tickets", {"subject": "x", "person_id": south_p}, 400)
    assert field_of(err) == "person_id"
    err = await api.post(
        "/api/activities",
        {"type": "call", "subject": "x", "participants": [{"company_id": south_co}]},
        400,
    )
    assert field_of(err) == "participants.0"
    # a delegation from the campaign manager lends the role's territory grant
    await api.as_("manager")
    now = datetime.now(UTC)
    await api.post(
        "/api/delegations",
        {
            "to_user_id": w.users["sup1"],
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    await api.as_("sup1")
    assert [i["id"] for i in (await api.get("/api/invoices"))["items"]] == [inv["id"]]
    assert [t["id"] for t in (await api.get("/api/tickets"))["items"]] == [ticket["id"]]
    balance = await api.get(f"/api/companies/{south_co}/balance")
    assert [(b["currency"], b["balance_due"]) for b in balance["balances"]] == [("EUR", "10.00")]
