"""A small HTTP helper for CRM tests: sign in as someone, call the API, check the status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.crm.celebrations import business_day
from tests.conftest import login


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
