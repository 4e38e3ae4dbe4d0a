"""Import of custom attributes, external ids and lead sources: mapping, typed values, de-dup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_core.appkeys import BUS, POLICIES, SESSIONS
from crm_core.crm.import_files import Table
from crm_core.crm.import_mapping import parse_mapping
from crm_core.crm.importing import ImportOptions, ImportService, OnDuplicate
from crm_core.errors import InvalidInput
from crm_core.users.audit import AuditContext
from crm_core.users.models import Role
from crm_core.users.permissions import Principal
from tests.conftest import add_user
from tests.crm.helpers import Api
from tests.crm.test_import import _upload, _xlsx

COMPANY_MAP = {
    "code": "Code",
    "name": "Name",
    "external_id": "ERP",
    "lead_source": "Source",
    "lead_source_note": "Source note",
    "attr.tier": "Tier",
    "attr.size": "Size",
    "attr.since": "Since",
    "attr.vip": "VIP",
    "attr.motto": "Motto",
}
COMPANY_HEADER = "Code,Name,ERP,Source,Source note,Tier,Size,Since,VIP,Motto\n"


async def _define(api: Api, entity: str, *, required_tier: bool = False) -> None:
    """As the administrator: a choice, number, date, boolean and text attribute of ``entity``."""
    for name, kind, extra in (
        ("tier", "choice", {"choices": ["Gold", "Silver"], "required": required_tier}),
        ("size", "number", {}),
        ("since", "date", {}),
        ("vip", "boolean", {}),
        ("motto", "text", {}),
    ):
        await api.post(
            "/api/attribute-definitions",
            {"entity_type": entity, "name": name, "label": name.title(), "type": kind, **extra},
        )


async def _admin(client: TestClient[Any, Any]) -> Api:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    return api


async def test_companies_get_attributes_external_ids_and_lead_sources(
    client: TestClient[Any, Any],
) -> None:
    api = await _admin(client)
    await _define(api, "company")
    fair = await api.post("/api/lead-sources", {"name": "Trade fair"})
    web = await api.post("/api/lead-sources", {"name": "Web site"})
    content = (
        COMPANY_HEADER
        + 'ACME,Acme,ERP-1,trade FAIR,"Posidonia 2026, stand 4",Gold,250,2020-05-01,yes,Hi\n'
        + f"BETA,Beta,ERP-2,{web['id']},,Silver,12.5,,0,\n"
        + "GAMMA,Gamma,,,,,,,TRUE,\n"
    ).encode()
    report = await _upload(api, "companies", content, COMPANY_MAP)
    assert (report["created"], report["errors"]) == (3, [])
    acme, beta, gamma = (await api.get("/api/companies", sort="code"))["items"]
    assert (acme["external_id"], acme["lead_source_id"], acme["lead_source_note"]) == (
        "ERP-1",
        fair["id"],
        "Posidonia 2026, stand 4",
    )
    assert acme["attributes"] == {
        "tier": "Gold",
        "size": 250,
        "since": "2020-05-01",
        "vip": True,
        "motto": "Hi",
    }
    assert (beta["external_id"], beta["lead_source_id"], beta["lead_source_note"]) == (
        "ERP-2",
        web["id"],
        "",
    )
    assert beta["attributes"] == {"tier": "Silver", "size": 12.5, "vip": False}
    assert (gamma["external_id"], gamma["lead_source_id"], gamma["attributes"]) == (
        None,
        None,
        {"vip": True},
    )
    # the imported values are typed in the database: lists filter on them
    big = await api.get("/api/companies", **{"attr.size__gte": "100"})
    assert [c["code"] for c in big["items"]] == ["ACME"]
    # the ERP finds the imported company by its external id
    synced = await api.call(
        "PUT", "/api/sync/customers/ERP-1", 200, json={"kind": "company", "name": "Acme S.A."}
    )
    assert (synced["id"], synced["result"]) == (acme["id"], "updated")


async def test_persons_from_xlsx_cells_of_every_type(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    await _define(api, "person")
    fair = await api.post("/api/lead-sources", {"name": "Trade fair"})
    data = _xlsx(
        {
            "People": [
                ["Family", "ERP", "Source", "Note", "Tier", "Size", "Since", "VIP"],
                ["Pappa", "P-1", "Trade fair", "Stand 4", "Gold", 3, date(2019, 2, 1), True],
                ["Popescu", "P-2", fair["id"], None, "Silver", 2.25, "2021-12-31", False],
            ]
        }
    )
    mapping = {
        "family_name": "Family",
        "external_id": "ERP",
        "lead_source": "Source",
        "lead_source_note": "Note",
        "attr.tier": "Tier",
        "attr.size": "Size",
        "attr.since": "Since",
        "attr.vip": "VIP",
    }
    report = await _upload(api, "persons", data, mapping, filename="people.xlsx")
    assert (report["created"], report["errors"]) == (2, [])
    pappa, popescu = (await api.get("/api/persons", sort="family_name"))["items"]
    assert (pappa["external_id"], pappa["lead_source_id"], pappa["lead_source_note"]) == (
        "P-1",
        fair["id"],
        "Stand 4",
    )
    assert pappa["attributes"] == {"tier": "Gold", "size": 3, "since": "2019-02-01", "vip": True}
    assert (popescu["external_id"], popescu["lead_source_id"]) == ("P-2", fair["id"])
    assert popescu["attributes"] == {
        "tier": "Silver",
        "size": 2.25,
        "since": "2021-12-31",
        "vip": False,
    }


async def test_each_bad_value_is_a_row_error_at_its_column(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    await _define(api, "company", required_tier=True)
    await api.post("/api/lead-sources", {"name": "Trade fair"})
    retired = await api.post("/api/lead-sources", {"name": "Radio"})
    await api.patch(f"/api/lead-sources/{retired['id']}", {"active": False})
    await api.post("/api/persons", {"family_name": "Pappa", "external_id": "P-1"})
    long_text = "x" * 501
    content = (
        COMPANY_HEADER
        + "OK,Good,ERP-1,Trade fair,,Gold,1,2020-01-01,no,\n"
        + "C3,Bad number,,,,Gold,many,,,\n"
        + "C4,Bad date,,,,Gold,,17/05/2020,,\n"
        + "C5,Bad choice,,,,Platinum,,,,\n"
        + "C6,Bad boolean,,,,Gold,,,maybe,\n"
        + f"C7,Long text,,,,Gold,,,,{long_text}\n"
        + "C8,No tier,,,,,,,,\n"
        + "C9,Unknown source,,Television,,Gold,,,,\n"
        + "C10,Retired source,,Radio,,Gold,,,,\n"
        + f"C11,Long note,,,{long_text},Gold,,,,\n"
        + "C12,Spaced id,ERP 12,,,Gold,,,,\n"
        + "C13,A person's id,P-1,,,Gold,,,,\n"
    ).encode()
    body = await _upload(api, "companies", content, COMPANY_MAP, 400)
    assert "nothing was written" in body["error"]["message"]
    errors = body["error"]["details"]["report"]["errors"]
    expected = [
        (3, "Size", "attr.size: must be a number"),
        (4, "Since", "attr.since: must be a date written YYYY-MM-DD"),
        (5, "Tier", "attr.tier: must be one of: Gold, Silver"),
        (6, "VIP", "attr.vip: must be true or false (or yes/no, 1/0)"),
        (7, "Motto", "attr.motto: must be at most 500 characters"),
        (8, "Tier", "attr.tier: a new company needs a value (a required attribute)"),
        (9, "Source", "no lead source 'Television' (by name or id)"),
        (10, "Source", "lead_source_id: lead source 'Radio' is no longer in use"),
        (11, "Source note", "lead_source_note: String should have at most 500 characters"),
        (12, "ERP", "external_id: must be 1 to 100 characters without spaces or '/'"),
        (
            13,
            "ERP",
            "external_id 'P-1' is already used by person 1; an external id names one customer, "
            "a company or a person",
        ),
    ]
    assert [(e["row"], e["column"], e["message"]) for e in errors] == expected
    assert (await api.get("/api/companies"))["total"] == 0
    # the dry run reports the same errors with what the good row would do, and writes nothing
    dry = await _upload(api, "companies", content, COMPANY_MAP, dry_run="true")
    assert (dry["dry_run"], dry["created"]) == (True, 1)
    assert [(e["row"], e["column"], e["message"]) for e in dry["errors"]] == expected
    assert (await api.get("/api/companies"))["total"] == 0
    # a required attribute that is not mapped at all: every new record is refused
    unmapped = await _upload(
        api, "companies", b"Code,Name\nA1,Alpha\n", {"code": "Code", "name": "Name"}, 400
    )
    (error,) = unmapped["error"]["details"]["report"]["errors"]
    assert (error["row"], error["column"], error["message"]) == (
        2,
        None,
        "attr.tier: a new company needs a value (a required attribute)",
    )


async def test_duplicates_by_external_id(client: TestClient[Any, Any]) -> None:
    api = await _admin(client)
    acme = await api.post(
        "/api/companies", {"code": "ACME", "name": "Acme", "external_id": "ERP-1"}
    )
    beta = await api.post(
        "/api/companies",
        {
            "code": "BETA",
            "name": "Beta",
            "external_id": "ERP-9",
            "phones": [{"number": "+30 210 123 4567"}],
        },
    )
    gamma = await api.post("/api/companies", {"code": "GAMMA", "name": "Gamma"})
    mapping = {"code": "Code", "name": "Name", "external_id": "ERP", "phone": "Phone"}
    content = (
        b"Code,Name,ERP,Phone\n"
        b"ACME2,Acme again,ERP-1,\n"  # another code, but the stored ACME's external id
        b"NEW,New,ERP-2,\n"
        b"NEW2,New again,ERP-2,\n"  # the external id of row 3
        b"GAMMA,Gamma with an id,ERP-G,\n"  # the stored GAMMA by code; it has no external id
    )
    refused = await _upload(api, "companies", content, mapping, 400, on_duplicate="error")
    errors = refused["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["column"], e["message"]) for e in errors] == [
        (
            2,
            None,
            "this company already exists (same phone, e-mail, external id, tax number or code)",
        ),
        (
            4,
            None,
            "this company duplicates row 3 (same phone, e-mail, external id, tax number or code)",
        ),
        (
            5,
            None,
            "this company already exists (same phone, e-mail, external id, tax number or code)",
        ),
    ]
    assert (await api.get("/api/companies"))["total"] == 3

    dry = await _upload(api, "companies", content, mapping, dry_run="true")
    assert (dry["created"], dry["skipped"], dry["updated"], dry["errors"]) == (1, 3, 0, [])

    updated = await _upload(api, "companies", content, mapping, on_duplicate="update")
    assert (updated["created"], updated["updated"], updated["skipped"]) == (1, 3, 0)
    stored = await api.get(f"/api/companies/{acme['id']}")
    assert (stored["code"], stored["name"], stored["external_id"]) == (
        "ACME",
        "Acme again",
        "ERP-1",
    )
    assert (await api.get(f"/api/companies/{gamma['id']}"))["external_id"] == "ERP-G"
    new = await api.get("/api/companies", external_id="ERP-2")
    assert [(c["code"], c["name"]) for c in new["items"]] == [("NEW", "New again")]

    # a row matching a record (by phone) that belongs to another ERP customer is not merged
    other = b"Code,Name,ERP,Phone\nDELTA,Delta,ERP-10,+30 210 1234567\n"
    body = await _upload(api, "companies", other, mapping, 400, on_duplicate="update")
    (error,) = body["error"]["details"]["report"]["errors"]
    assert (error["row"], error["column"]) == (2, "ERP")
    assert f"matches company {beta['id']}" in error["message"]
    assert "whose external id is 'ERP-9', not 'ERP-10'" in error["message"]
    assert (await api.get(f"/api/companies/{beta['id']}"))["name"] == "Beta"


async def test_unknown_attribute_in_the_mapping_is_400_naming_it(
    client: TestClient[Any, Any],
) -> None:
    api = await _admin(client)
    await _define(api, "person")  # person attributes: a company import does not know them
    content = b"Code,Name,Colour,Tier\nA1,Alpha,red,Gold\nbad code!,,,\n"
    mapping = {"code": "Code", "name": "Name", "attr.colour": "Colour", "attr.tier": "Tier"}
    body = await _upload(api, "companies", content, mapping, 400)
    assert body["error"]["message"] == (
        "mapping: no custom attribute attr.colour, attr.tier for companies (defined: none is "
        "defined; administrators define them under /api/attribute-definitions)"
    )
    assert body["error"]["details"]["unknown"] == ["attr.colour", "attr.tier"]
    assert "report" not in body["error"]["details"]  # no row was looked at
    await api.post(
        "/api/attribute-definitions",
        {"entity_type": "company", "name": "tier", "label": "Tier", "type": "text"},
    )
    body = await _upload(api, "companies", content, mapping, 400, dry_run="true")
    assert body["error"]["message"].startswith(
        "mapping: no custom attribute attr.colour for companies (defined: attr.tier;"
    )
    body = await _upload(api, "companies", content, {"code": "A", "name": "B", "attr.": "C"}, 400)
    assert "attr. is not a custom attribute name" in body["error"]["message"]


async def test_unknown_attribute_stops_the_import_before_any_row_is_read(
    client: TestClient[Any, Any],
) -> None:
    admin = await add_user(client, "admin", "admin")
    principal = Principal(user_id=admin.id, username="admin", roles=frozenset({Role.ADMIN}))
    read: list[int] = []

    def rows() -> Iterator[tuple[int, list[Any]]]:
        read.append(2)
        yield 2, ["C1", "Company 1", "blue"]

    table = Table(["code", "name", "colour"], rows(), 1)
    mapping = parse_mapping(
        '{"code": "code", "name": "name", "attr.colour": "colour"}', "companies", table
    )
    app = client.app
    service = ImportService(app[SESSIONS], app[POLICIES], app[BUS], "GR")
    with pytest.raises(InvalidInput, match=r"no custom attribute attr\.colour") as caught:
        await service.run(principal, table, mapping, ImportOptions(), AuditContext(method="TEST"))
    assert caught.value.details["unknown"] == ["attr.colour"]
    assert read == []


async def test_attributes_across_progress_batches(client: TestClient[Any, Any]) -> None:
    """Every few rows the import's session is cleared: values still link to their definition,
    on creation and on update."""
    api = await _admin(client)
    await _define(api, "company")
    admin = await api.get("/api/me")
    principal = Principal(user_id=admin["id"], username="admin", roles=frozenset({Role.ADMIN}))
    app = client.app
    service = ImportService(app[SESSIONS], app[POLICIES], app[BUS], "GR", progress_every=2)

    async def run(size: int, on_duplicate: OnDuplicate, every: int = 1) -> Any:
        rows = iter(
            [
                (i + 2, [f"C{i}", f"Company {i}", "" if i % every else str(size + i)])
                for i in range(7)
            ]
        )
        table = Table(["code", "name", "size"], rows, 7)
        mapping = parse_mapping(
            '{"code": "code", "name": "name", "attr.size": "size"}', "companies", table
        )
        options = ImportOptions(on_duplicate=on_duplicate)
        return await service.run(principal, table, mapping, options, AuditContext(method="TEST"))

    # every other company without a value: the update adds some values and changes others
    created = await run(10, "error", every=2)
    assert (created.created, created.errors) == (7, [])
    updated = await run(100, "update")
    assert (updated.updated, updated.errors) == (7, [])
    items = (await api.get("/api/companies", sort="code", limit="10"))["items"]
    assert [c["attributes"] for c in items] == [{"size": 100 + i} for i in range(7)]
