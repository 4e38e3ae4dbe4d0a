"""crm.balances: agents see invoices, payments and debt in their scope; ID cards stay masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.users.auth import principal_for
from crm_core.users.models import User
from screenpop.service import PopBuilder
from tests.conftest import add_user
from tests.crm.helpers import Api


async def _pop(client: TestClient[Any, Any], user_id: int) -> dict[str, Any]:
    async with client.app[SESSIONS]() as db:
        user = await db.get(User, user_id)
        assert user is not None
        principal = principal_for(user, auth_method="internal")
    builder = PopBuilder(client.app[SESSIONS], client.app[POLICIES], region="GR", timezone="UTC")
    call = {"id": "1", "direction": "inbound", "caller_id": "+302101234567", "called": None}
    return await builder.build(principal, call)


async def test_balances_right_is_separate_from_sensitive(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    agent = await add_user(client, "agent1", "agent")
    manager = await add_user(client, "manager", "campaign_manager")
    api = Api(client)
    await api.as_("admin")
    south = (await api.post("/api/territories", {"name": "South"}))["id"]
    for role in ("agent", "campaign_manager"):
        await api.post(f"/api/territories/{south}/grants", {"role": role})
    person = await api.post(
        "/api/persons",
        {
            "family_name": "Pappas",
            "id_card_number": "AK 123456",
            "territory_id": south,
            "phones": [{"number": "+30 210 123 4567"}],
        },
    )
    pid = person["id"]
    today = datetime.now(UTC).date()
    invoice = await api.post(
        "/api/invoices",
        {
            "number": "A-1",
            "issued_on": (today - timedelta(days=40)).isoformat(),
            "due_on": (today - timedelta(days=10)).isoformat(),
            "amount": "50.00",
            "currency": "EUR",
            "person_id": pid,
        },
    )
    payment = await api.post(
        "/api/payments",
        {"paid_on": today.isoformat(), "amount": "20.00", "currency": "EUR", "person_id": pid},
    )

    await api.as_("agent1")
    me = await api.get("/api/me")
    assert "crm.balances" in me["permissions"]
    assert "crm.sensitive" not in me["permissions"]
    got = await api.get(f"/api/persons/{pid}")
    assert (got["id_card_number"], got["masked"]) == (None, ["id_card_number"])
    balance = await api.get(f"/api/persons/{pid}/balance")
    assert balance["masked"] is False
    assert balance["balances"][0]["balance_due"] == "50.00"
    assert (await api.get("/api/invoices"))["total"] == 1
    assert (await api.get(f"/api/invoices/{invoice['id']}"))["number"] == "A-1"
    assert (await api.get(f"/api/payments/{payment['id']}"))["amount"] == "20.00"
    kinds = {i["kind"] for i in (await api.get(f"/api/persons/{pid}/timeline"))["items"]}
    assert {"invoice", "payment"} <= kinds
    pop = await _pop(client, agent.id)
    assert pop["masked"] == []
    assert pop["contact"]["last_invoice"]["number"] == "A-1"
    assert pop["contact"]["balance_due"][0]["amount"] == "50.00"

    # campaign managers see the record but neither its money nor its ID card
    await api.as_("manager")
    assert "crm.balances" not in (await api.get("/api/me"))["permissions"]
    await api.get(f"/api/persons/{pid}")
    balance = await api.get(f"/api/persons/{pid}/balance")
    assert (balance["masked"], balance["balances"]) == (True, [])
    await api.get("/api/invoices", expect=403)
    await api.get(f"/api/payments/{payment['id']}", expect=403)
    kinds = {i["kind"] for i in (await api.get(f"/api/persons/{pid}/timeline"))["items"]}
    assert not kinds & {"invoice", "payment"}
    pop = await _pop(client, manager.id)
    assert pop["masked"] == ["balance_due", "last_invoice"]
    assert (pop["contact"]["balance_due"], pop["contact"]["last_invoice"]) == (None, None)
