"""Exports of companies and persons: scope, masking, formats, formula neutralising, audit."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from crm_core.crm.export import cell_text
from tests.conftest import add_user
from tests.crm.helpers import Api

FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'


async def _setup(client: TestClient[Any, Any]) -> Api:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    await add_user(client, "sup1", "supervisor")
    await add_user(client, "manager", "campaign_manager")
    api = Api(client)
    await api.as_("admin")
    north = (await api.post("/api/territories", {"name": "North"}))["id"]
    south = (await api.post("/api/territories", {"name": "South"}))["id"]
    await api.post(f"/api/territories/{south}/grants", {"role": "campaign_manager"})
    await api.post(f"/api/territories/{south}/grants", {"role": "supervisor"})
    for given, family, territory, phone in (
        ("Sofia", "Southern", south, "+30 697 333 3333"),
        ("Σπύρος", "Παπαδόπουλος", south, "210 444 4444"),
        ("Nora", "Northern", north, "+30 697 555 5555"),
    ):
        await api.post(
            "/api/persons",
            {
                "given_name": given,
                "family_name": family,
                "territory_id": territory,
                "phones": [{"number": phone, "kind": "mobile"}],
                "emails": [{"address": f"{given.lower()}@example.gr"}],
                "id_card_number": f"ID-{family}",
            },
        )
    await api.post(
        "/api/companies",
        {"code": "EVIL", "name": FORMULA_NAME, "territory_id": south},
    )
    await api.post("/api/companies", {"code": "NORTHCO", "name": "North Co", "territory_id": north})
    return api


async def _csv(api: Api, path: str, **params: str) -> list[dict[str, str]]:
    resp = await api.client.get(path, params=params, headers=api.headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment;" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline="")))


async def test_export_follows_scope_and_masks_sensitive(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("manager")
    rows = await _csv(api, "/api/persons/export")
    assert sorted(r["family_name"] for r in rows) == ["Southern", "Παπαδόπουλος"]
    assert {r["id_card_number"] for r in rows} == {""}
    assert all(r["masked"] == "id_card_number" for r in rows)
    by_name = {r["family_name"]: r for r in rows}
    assert by_name["Southern"]["phones"] == "mobile: +30 697 333 3333"
    assert by_name["Southern"]["emails"].endswith("sofia@example.gr")

    await api.as_("sup1")
    rows = await _csv(api, "/api/persons/export", sort="-family_name")
    assert [r["family_name"] for r in rows] == ["Παπαδόπουλος", "Southern"]
    assert {r["id_card_number"] for r in rows} == {"ID-Southern", "ID-Παπαδόπουλος"}

    await api.as_("admin")
    rows = await _csv(api, "/api/persons/export", q="nor")
    assert [r["family_name"] for r in rows] == ["Northern"]


async def test_agents_may_not_export(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    body = await api.get("/api/persons/export", 403)
    assert body["error"]["code"] == "forbidden"


async def test_formulas_are_neutralised_in_csv_and_xlsx(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("manager")
    rows = await _csv(api, "/api/companies/export")
    assert [r["name"] for r in rows] == ["'" + FORMULA_NAME]

    resp = await api.client.get(
        "/api/companies/export", params={"format": "xlsx"}, headers=api.headers
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(await resp.read()))
    sheet = book["companies"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["id", "territory_id", "owner_id"]
    name = sheet.cell(row=2, column=header.index("name") + 1)
    assert name.data_type == "s"
    assert name.value == "'" + FORMULA_NAME
    assert sheet.max_row == 2


async def test_bad_export_parameters_are_named(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("admin")
    body = await api.get("/api/persons/export", 400, format="pdf")
    assert body["error"]["details"]["parameter"] == "format"
    body = await api.get("/api/persons/export", 400, limit="10")
    assert body["error"]["details"]["parameter"] == "limit"
    body = await api.get("/api/persons/export", 400, colour="red")
    assert body["error"]["details"]["parameter"] == "colour"


async def test_every_export_is_audited(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("sup1")
    await _csv(api, "/api/persons/export", q="south")
    await api.as_("admin")
    entries = (await api.get("/api/audit", action="crm.export"))["items"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["object_type"] == "persons"
    assert entry["details"]["rows"] == 1
    assert entry["details"]["format"] == "csv"
    assert entry["details"]["query"] == {"q": "south"}


async def test_export_takes_custom_attribute_filters_and_shows_lifecycle(
    client: TestClient[Any, Any],
) -> None:
    api = await _setup(client)
    await api.as_("admin")
    await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "rooms", "label": "Rooms", "type": "number"},
    )
    for code, rooms in (("BIG", 300), ("SMALL", 12)):
        await api.post(
            "/api/companies",
            {"code": code, "name": f"Hotel {code}", "attributes": {"rooms": rooms}},
        )
    rows = await _csv(api, "/api/companies/export", **{"attr.rooms__gte": "100"})
    assert [r["code"] for r in rows] == ["BIG"]
    assert rows[0]["lifecycle"] in {"prospect", "active"}
    rows = await _csv(api, "/api/companies/export", sort="-attr.rooms", **{"attr.rooms__gte": "1"})
    assert [r["code"] for r in rows] == ["BIG", "SMALL"]
    body = await api.get("/api/companies/export", 400, **{"attr.nope": "1"})
    assert "attr.nope" in body["error"]["message"]


def test_cell_text_keeps_phone_numbers_and_neutralises_formulas() -> None:
    assert cell_text("+30 210 123 4567") == "+30 210 123 4567"
    assert cell_text("-12.5") == "-12.5"
    assert cell_text("+SUM(A1:A2)") == "'+SUM(A1:A2)"
    assert cell_text("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert cell_text("@SUM(1)") == "'@SUM(1)"
    assert cell_text("\t=1") == "'\t=1"
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(["VIP", "hotels"]) == "VIP; hotels"
    assert cell_text({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
