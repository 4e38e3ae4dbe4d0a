"""The demo data set: multilingual contacts and the CRM extensions, loaded once."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.appkeys import SESSIONS
from crm_core.crm.demo import load_demo_data
from tests.conftest import add_user
from tests.crm.helpers import Api


async def test_demo_data_is_multilingual_and_uses_the_extensions(
    client: TestClient[Any, Any],
) -> None:
    admin = await add_user(client, "admin", "admin")
    sessions = client.app[SESSIONS]
    summary = await load_demo_data(
        sessions, admin_user_id=admin.id, region="GR", timezone="Europe/Athens"
    )
    assert summary is not None
    again = await load_demo_data(
        sessions, admin_user_id=admin.id, region="GR", timezone="Europe/Athens"
    )
    assert again is None
    api = Api(client)
    await api.as_("admin")
    persons = (await api.get("/api/persons", limit="200"))["items"]
    languages = {p["language"] for p in persons}
    assert {"el", "ro", "hu", "fa", "en-GB"} <= languages
    # the first demo callers keep their numbers (the PBX simulator dials them)
    for number in ("+302101234567", "+40213456789", "+3612345678", "+306971234567"):
        assert (await api.get("/api/lookup/phone", number=number))["candidates"], number
    sara = (await api.get("/api/search", q="احمدی"))["items"]
    assert [h["type"] for h in sara] == ["person"]
    hotels = await api.get("/api/companies", **{"attr.rooms__gte": "100"})
    assert [c["code"] for c in hotels["items"]] == ["DEMO-OLYMPOS"]
    acme = (await api.get("/api/companies", code="DEMO-ACME"))["items"][0]
    accounts = await api.get(f"/api/companies/{acme['id']}/bank-accounts")
    assert accounts["items"][0]["iban"].startswith("GR")
    assert (await api.get(f"/api/companies/{acme['id']}/branches"))["total"] == 1
    assert (await api.get("/api/contracts", company_id=str(acme["id"])))["total"] == 1
    assert (await api.get("/api/held-products"))["total"] >= 4
    # a few persons celebrate today (in the business time zone of the app: UTC)
    names = {p["full_name"] for p in persons if p["birth_date"]}
    assert {"Emily Clarke", "سارا احمدی"} <= names
    assert all(p["lead_source_id"] is not None for p in persons if p["language"] == "fa")
    # the demo still has its four companies
    assert (await api.get("/api/companies"))["total"] == 4
