"""Helpers for CRM tests: an HTTP client signed in as someone, fixtures of records and users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.crm.celebrations import business_day
from tests.conftest import add_user, login


class Api:
    """Calls the running app as the user last signed in (session cookie + CSRF header)."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    async def as_(self, username: str) -> None:
        """Sign in as ``username``, forgetting the last session (a signed-in POST needs CSRF)."""
        self.client.session.cookie_jar.clear()
        body = await login(self.client, username)
        self.headers = {"X-CSRF-Token": body["csrf_token"]}

    async def call(
        self, method: str, path: str, status: int, *, json: Any = None, params: Any = None
    ) -> Any:
        """Call the API; assert the status; return the JSON answer (None for 204)."""
        resp = await self.client.request(
            method, path, json=json, params=params, headers=self.headers
        )
        text = await resp.text()
        assert resp.status == status, f"{method} {path}: {resp.status} {text}"
        return None if resp.status == 204 else await resp.json()

    async def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        """GET with query parameters."""
        return await self.call("GET", path, expect, params=params or None)

    async def post(self, path: str, json: Any, expect: int = 201) -> Any:
        """POST a JSON body."""
        return await self.call("POST", path, expect, json=json)

    async def patch(self, path: str, json: Any, expect: int = 200) -> Any:
        """PATCH a JSON body."""
        return await self.call("PATCH", path, expect, json=json)

    async def delete(self, path: str, expect: int = 204) -> Any:
        """DELETE."""
        return await self.call("DELETE", path, expect)


def field_of(body: dict[str, Any]) -> str:
    """The field an error answer names."""
    details = body["error"]["details"]
    if "field" in details:
        return str(details["field"])
    return str(details["fields"][0]["field"])


def born_today(timezone: str) -> str:
    """A birth date whose birthday is today in ``timezone`` (a leap year on 29 February)."""
    today = business_day(datetime.now(UTC), timezone)
    year = 1984 if (today.month, today.day) == (2, 29) else 1980
    return today.replace(year=year).isoformat()


async def seed_debtor(api: Api, **person: Any) -> dict[str, int]:
    """As the signed-in administrator: territory North (granted to agents) with Acme <b>Hellas</b>
    and Maria Pappa (+30 210 123 4567) working there, who owes EUR 120.00 thirty days overdue and
    RON 900.00 not yet due (invoices A-1, A-2), has an open high-priority ticket "Broken delivery"
    and a done call "Payment plan" noted "Will pay in May". ``person`` adds to her fields or
    replaces them. Returns the territory's, company's and person's ids."""
    territory = await api.post("/api/territories", {"name": "North"})
    await api.post(f"/api/territories/{territory['id']}/grants", {"role": "agent"})
    company = await api.post(
        "/api/companies",
        {"code": "ACME", "name": "Acme <b>Hellas</b>", "territory_id": territory["id"]},
    )
    maria = await api.post(
        "/api/persons",
        {
            "given_name": "Maria",
            "family_name": "Pappa",
            "territory_id": territory["id"],
            "salutation": "Dear Ms Pappa",
            "phones": [{"kind": "mobile", "number": "+30 210 123 4567"}],
            "companies": [{"company_id": company["id"], "is_primary": True}],
            **person,
        },
    )
    today = date.today()
    await api.post(
        "/api/invoices",
        {
            "number": "A-1",
            "issued_on": (today - timedelta(days=60)).isoformat(),
            "due_on": (today - timedelta(days=30)).isoformat(),
            "amount": "120.00",
            "currency": "EUR",
            "person_id": maria["id"],
        },
    )
    await api.post(
        "/api/invoices",
        {
            "number": "A-2",
            "issued_on": (today - timedelta(days=5)).isoformat(),
            "amount": "900.00",
            "currency": "RON",
            "person_id": maria["id"],
        },
    )
    await api.post(
        "/api/tickets",
        {
            "subject": "Broken delivery",
            "person_id": maria["id"],
            "priority": "high",
            "status": "open",
        },
    )
    await api.post(
        "/api/activities",
        {
            "type": "call",
            "subject": "Payment plan",
            "notes": "Will pay in May",
            "status": "done",
            "starts_at": "2026-11-20T10:00:00+00:00",
            "participants": [{"person_id": maria["id"]}],
        },
    )
    return {"territory": territory["id"], "company": company["id"], "person": maria["id"]}


@dataclass
class AccessWorld:
    """Users, territories and records of the access tests: agent1 is granted North Greece,
    the campaign_manager role South Greece; agent2 owns Teo in team Alpha, which sup1
    supervises; every record has a phone of ``PHONES``."""

    api: Api
    users: dict[str, int]
    territories: dict[str, int]
    companies: dict[str, int]
    persons: dict[str, int]
    team_alpha: int


PHONES = {
    "north_co": "+30 210 111 1111",
    "south_co": "+30 210 222 2222",
    "south_p": "+30 697 333 3333",
    "team_p": "+30 697 444 4444",
    "north_p": "+30 697 555 5555",
}


async def access_world(client: TestClient[Any, Any]) -> AccessWorld:
    users = {
        "admin": (await add_user(client, "admin", "admin")).id,
        "agent1": (await add_user(client, "agent1", "agent")).id,
        "agent2": (await add_user(client, "agent2", "agent", teams=("Alpha",))).id,
        "sup1": (await add_user(client, "sup1", "supervisor", teams=("Alpha",))).id,
        "manager": (await add_user(client, "manager", "campaign_manager")).id,
    }
    api = Api(client)
    await api.as_("admin")
    team_alpha = (await api.get("/api/teams", name="Alpha"))["items"][0]["id"]
    north = (await api.post("/api/territories", {"name": "North Greece"}))["id"]
    south = (await api.post("/api/territories", {"name": "South Greece"}))["id"]
    await api.post(f"/api/territories/{north}/grants", {"user_id": users["agent1"]})
    await api.post(f"/api/territories/{south}/grants", {"role": "campaign_manager"})
    err = await api.post(f"/api/territories/{south}/grants", {"role": "campaign_manager"}, 409)
    assert err["error"]["code"] == "conflict"

    async def company(code: str, territory: int, phone: str) -> int:
        body = {
            "code": code,
            "name": f"{code.title()} Ltd",
            "territory_id": territory,
            "phones": [{"number": phone}],
            "emails": [{"address": f"{code.lower()}@example.gr"}],
        }
        return int((await api.post("/api/companies", body))["id"])

    async def person(name: str, phone: str, **access: Any) -> int:
        given, family = name.split()
        body = {
            "given_name": given,
            "family_name": family,
            "phones": [{"number": phone}],
            "id_card_number": f"ID-{family}",
            **access,
        }
        return int((await api.post("/api/persons", body))["id"])

    companies = {
        "north": await company("NORTHCO", north, PHONES["north_co"]),
        "south": await company("SOUTHCO", south, PHONES["south_co"]),
    }
    persons = {
        "south": await person("Sofia Southern", PHONES["south_p"], territory_id=south),
        "team": await person(
            "Teo Teamson", PHONES["team_p"], owner_id=users["agent2"], team_id=team_alpha
        ),
        "north": await person("Nora Northern", PHONES["north_p"], territory_id=north),
    }
    return AccessWorld(api, users, {"north": north, "south": south}, companies, persons, team_alpha)
