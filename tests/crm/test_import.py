"""Import of companies and persons from CSV and XLSX over HTTP: mapping, validation, de-dup."""

# ruff: noqa: RUF001 - Greek company names on purpose

from __future__ import annotations

import asyncio
import io
import json
from datetime import date
from typing import Any

import openpyxl
from aiohttp import FormData, WSMsgType
from aiohttp.test_utils import TestClient

from tests.conftest import AppMaker, add_user
from tests.crm.helpers import Api


async def _upload(
    api: Api,
    kind: str,
    content: bytes,
    mapping: dict[str, str] | str,
    expect: int = 200,
    filename: str = "data.csv",
    **fields: str,
) -> Any:
    form = FormData()
    form.add_field("file", content, filename=filename, content_type="application/octet-stream")
    form.add_field("mapping", mapping if isinstance(mapping, str) else json.dumps(mapping))
    for key, value in fields.items():
        form.add_field(key, value)
    resp = await api.client.post(f"/api/imports/{kind}", data=form, headers=api.headers)
    text = await resp.text()
    assert resp.status == expect, text
    return json.loads(text)


def _xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    wb = openpyxl.Workbook()
    first = True
    for name, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = name
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def _setup(client: TestClient[Any, Any]) -> Api:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    await add_user(client, "agent2", "agent")
    await add_user(client, "cm", "campaign_manager")
    return Api(client)


COMPANY_MAP = {"code": "Code", "name": "B", "vat_number": "VAT", "phone": "Phone", "email": "Email"}


async def test_csv_companies_land_in_the_importers_scope(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    me = await api.get("/api/me")
    csv_text = (
        "Code;Company name;VAT;Phone;Email\n"
        "ACME;Acme Α.Ε.;EL123;210 123 4567;Info@Acme.gr\n"
        "\n"
        "BETA;Beta Ltd;;+44 20 7946 0958;\n"
    )
    report = await _upload(
        api, "companies", b"\xef\xbb\xbf" + csv_text.encode(), COMPANY_MAP, on_duplicate="error"
    )
    assert report["dry_run"] is False
    assert (report["rows"], report["created"], report["updated"], report["skipped"]) == (2, 2, 0, 0)
    assert report["errors"] == []
    assert (report["encoding"], report["delimiter"]) == ("utf-8-sig", ";")
    listed = await api.get("/api/companies", sort="code")
    acme, beta = listed["items"]
    assert acme["name"] == "Acme Α.Ε."
    assert acme["owner_id"] == me["id"]
    assert acme["phones"][0]["e164"] == "+12101234567"  # default region US
    assert acme["emails"][0]["address"] == "info@acme.gr"
    assert beta["vat_number"] is None
    assert beta["phones"][0]["e164"] == "+442079460958"
    await api.as_("agent2")
    assert (await api.get("/api/companies"))["total"] == 0


async def test_xlsx_persons_with_named_sheet_and_company_link(
    client: TestClient[Any, Any],
) -> None:
    api = await _setup(client)
    await api.as_("admin")
    company = await api.post("/api/companies", {"code": "ACME", "name": "Acme"})
    data = _xlsx(
        {
            "Notes": [["nothing here"]],
            "People": [
                ["First", "Last", "Mobile", "Born", "Works at", "Job"],
                ["Maria", "Papadopoulou", 2125550100, date(1980, 5, 17), "ACME", "Buyer"],
                ["Ion", "Popescu", "+40 21 123 4567", None, None, None],
            ],
        }
    )
    mapping = {
        "given_name": "First",
        "family_name": "Last",
        "mobile": "C",
        "birth_date": "Born",
        "company_code": "Works at",
        "job_title": "Job",
    }
    report = await _upload(api, "persons", data, mapping, filename="people.xlsx", sheet="People")
    assert (report["rows"], report["created"], report["encoding"], report["delimiter"]) == (
        2,
        2,
        None,
        None,
    )
    persons = (await api.get("/api/persons", sort="family_name"))["items"]
    maria = next(p for p in persons if p["given_name"] == "Maria")
    assert maria["phones"][0] == {
        "id": maria["phones"][0]["id"],
        "kind": "mobile",
        "number": "2125550100",
        "e164": "+12125550100",
    }
    assert maria["birth_date"] == "1980-05-17"
    assert [(c["company_id"], c["job_title"], c["is_primary"]) for c in maria["companies"]] == [
        (company["id"], "Buyer", True)
    ]
    bad = await _upload(api, "persons", data, mapping, 400, filename="p.xlsx", sheet="Nope")
    assert "'Notes', 'People'" in bad["error"]["message"]


async def test_unusable_files_and_mappings_are_400_or_415(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    csv_data = b"Code,Name\nA1,Alpha\n"

    async def message(mapping: Any, content: bytes = csv_data, **kw: Any) -> str:
        body = await _upload(api, "companies", content, mapping, 400, **kw)
        return str(body["error"]["message"])

    assert "unknown field(s) colour" in await message(
        {"code": "Code", "name": "Name", "colour": "A"}
    )
    assert "no column 'Title'" in await message({"code": "Code", "name": "Title"})
    assert "'Code', 'Name'" in await message({"code": "Code", "name": "Title"})
    assert "need a column for name" in await message({"code": "A"})
    assert "not valid JSON" in await message("{code")
    assert "neither CSV nor XLSX" in await message({"code": "A", "name": "B"}, b"\x00\x01\x02")
    assert ".xls" in await message({"code": "A", "name": "B"}, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    assert "empty" in await message({"code": "A", "name": "B"}, b"")
    assert "not an Excel" in await message({"code": "A", "name": "B"}, filename="x.xlsx")
    assert "on_duplicate" in await message({"code": "A", "name": "B"}, on_duplicate="merge")
    # persons need a name column
    body = await _upload(api, "persons", csv_data, {"phone": "A"}, 400)
    assert "family_name or given_name" in body["error"]["message"]
    # not multipart
    resp = await client.post("/api/imports/companies", json={"file": "x"}, headers=api.headers)
    assert resp.status == 415
    assert "multipart/form-data" in (await resp.json())["error"]["message"]
    # no mapping
    form = FormData()
    form.add_field("file", csv_data, filename="a.csv")
    resp = await client.post("/api/imports/companies", data=form, headers=api.headers)
    assert resp.status == 400
    assert "'mapping'" in (await resp.json())["error"]["message"]


async def test_row_errors_abort_the_whole_import(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    content = (
        b"Code,Name,Phone,Email,Employees\n"
        b"GOOD,Good Ltd,2125550100,a@good.com,10\n"
        b"BAD1,Bad phone,call me,,\n"
        b"BAD2,Bad mail,,not-an-email,\n"
        b"bad code!,Bad code,,,\n"
        b"BAD3,Bad count,,,many\n"
    )
    mapping = {
        "code": "Code",
        "name": "Name",
        "phone": "Phone",
        "email": "Email",
        "employee_count": "Employees",
    }
    body = await _upload(api, "companies", content, mapping, 400)
    assert "nothing was written" in body["error"]["message"]
    report = body["error"]["details"]["report"]
    assert [(e["row"], e["column"]) for e in report["errors"]] == [
        (3, "Phone"),
        (4, "Email"),
        (5, "Code"),
        (6, "Employees"),
    ]
    assert "phone number" in report["errors"][0]["message"]
    assert (await api.get("/api/companies"))["total"] == 0
    # the same file as a dry run: a 200 report, still nothing written
    dry = await _upload(api, "companies", content, mapping, dry_run="true")
    assert dry["dry_run"] is True
    assert dry["created"] == 1
    assert len(dry["errors"]) == 4
    assert (await api.get("/api/companies"))["total"] == 0


async def test_dry_run_reports_and_changes_nothing(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    await api.post("/api/companies", {"code": "OLD", "name": "Old name"})
    content = b"Code,Name\nOLD,New name\nNEW,New Ltd\n"
    mapping = {"code": "Code", "name": "Name"}
    report = await _upload(
        api, "companies", content, mapping, dry_run="true", on_duplicate="update"
    )
    assert (report["dry_run"], report["created"], report["updated"]) == (True, 1, 1)
    items = (await api.get("/api/companies"))["items"]
    assert [(c["code"], c["name"]) for c in items] == [("OLD", "Old name")]


async def test_duplicates_in_the_file_and_in_the_database(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    old = await api.post(
        "/api/persons",
        {"family_name": "Old", "phones": [{"number": "+1 212 555 0100"}]},
    )
    content = (
        b"Given,Family,Phone,Email,Nick\n"
        b"Anna,Old,(212) 555-0100,anna@example.com,Annie\n"  # same phone as the stored person
        b"Bob,New,,bob@example.com,\n"
        b"Bobby,Newer,,BOB@Example.com,\n"  # same e-mail as row 3
    )
    mapping = {
        "given_name": "Given",
        "family_name": "Family",
        "phone": "Phone",
        "email": "Email",
        "nickname": "Nick",
    }
    refused = await _upload(api, "persons", content, mapping, 400, on_duplicate="error")
    errors = refused["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["message"].split(" (")[0]) for e in errors] == [
        (2, "this person already exists"),
        (4, "this person duplicates row 3"),
    ]
    assert (await api.get("/api/persons"))["total"] == 1

    skipped = await _upload(api, "persons", content, mapping, dry_run="true")
    assert (skipped["created"], skipped["skipped"], skipped["updated"]) == (1, 2, 0)

    updated = await _upload(api, "persons", content, mapping, on_duplicate="update")
    assert (updated["created"], updated["updated"], updated["skipped"]) == (1, 2, 0)
    stored = await api.get(f"/api/persons/{old['id']}")
    assert stored["given_name"] == "Anna"
    assert stored["nickname"] == "Annie"
    assert [p["e164"] for p in stored["phones"]] == ["+12125550100"]
    assert [e["address"] for e in stored["emails"]] == ["anna@example.com"]
    persons = (await api.get("/api/persons", sort="family_name"))["items"]
    assert [(p["given_name"], p["family_name"]) for p in persons] == [
        ("Bobby", "Newer"),
        ("Anna", "Old"),
    ]


async def test_companies_deduplicated_by_code_and_tax_number(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    await api.post("/api/companies", {"code": "ACME", "name": "Acme", "vat_number": "EL999"})
    content = (
        b"Code,Name,VAT\n"
        b"acme,Acme again,\n"
        b"OTHER,Acme under another code,EL999\n"
        b"NEW,New,EL1\n"
        b"NEW2,New again,EL1\n"
    )
    report = await _upload(
        api, "companies", content, {"code": "Code", "name": "Name", "vat_number": "VAT"}
    )
    # "acme" is a different code (codes are case-sensitive); EL999 and the second EL1 are dups
    assert (report["created"], report["skipped"]) == (2, 2)


async def test_permissions_and_assignment_rules(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("admin")
    south = await api.post("/api/territories", {"name": "South Greece"})
    await api.post("/api/territories", {"name": "North Greece"})
    await api.post(f"/api/territories/{south['id']}/grants", {"role": "agent"})
    hidden = await api.post(
        "/api/companies",
        {"code": "HID", "name": "Hidden", "phones": [{"number": "2125550199"}]},
    )
    await api.as_("cm")
    resp = await _upload(
        api, "companies", b"Code,Name\nA,B\n", {"code": "Code", "name": "Name"}, 403
    )
    assert "crm.write" in resp["error"]["message"]
    await api.as_("agent1")
    mapping = {"code": "Code", "name": "Name", "territory": "Region", "phone": "Phone"}
    north = b"Code,Name,Region,Phone\nN1,North Co,North Greece,\nN2,Nowhere,Atlantis,\n"
    body = await _upload(api, "companies", north, mapping, 400)
    errors = body["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, "Region"), (3, "Region")]
    assert "not granted" in errors[0]["message"]
    assert "no territory 'Atlantis'" in errors[1]["message"]
    # a record outside my scope is never updated through an import
    dup = b"Code,Name,Region,Phone\nS1,South Co,south greece,212 555 0199\n"
    body = await _upload(api, "companies", dup, mapping, 400, on_duplicate="update")
    assert "outside your scope" in body["error"]["details"]["report"]["errors"][0]["message"]
    ok = b"Code,Name,Region,Phone\nS1,South Co,south greece,\n"
    assert (await _upload(api, "companies", ok, mapping))["created"] == 1
    company = (await api.get("/api/companies"))["items"][0]
    assert company["territory_id"] == south["id"]
    assert company["id"] != hidden["id"]
    await api.as_("agent2")  # the territory is granted to every agent
    assert (await api.get("/api/companies"))["total"] == 1


async def test_encodings_and_delimiters(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    mapping = {"code": "Code", "name": "Name"}
    greek = "Code\tName\nGR1\tΕλληνική Εταιρεία\n".encode("cp1253")
    report = await _upload(api, "companies", greek, mapping)
    assert (report["encoding"], report["delimiter"]) == ("cp1253", "\t")
    # 0xFF is not a cp1253 character, so this can only be latin-1
    latin = "Code,Name\nFR1,Société ÿ\n".encode("latin-1")
    report = await _upload(api, "companies", latin, mapping)
    assert (report["encoding"], report["delimiter"]) == ("latin-1", ",")
    plain = "Code,Name\nHU1,Árvíztűrő Kft\n".encode()
    assert (await _upload(api, "companies", plain, mapping))["encoding"] == "utf-8"
    forced = "Code,Name\nFR2,Café\n".encode("latin-1")
    assert (await _upload(api, "companies", forced, mapping, encoding="latin-1"))["encoding"] == (
        "iso8859-1"
    )
    names = {c["code"]: c["name"] for c in (await api.get("/api/companies"))["items"]}
    assert names == {
        "GR1": "Ελληνική Εταιρεία",
        "FR1": "Société ÿ",
        "HU1": "Árvíztűrő Kft",
        "FR2": "Café",
    }


async def test_progress_reaches_the_importers_socket(client: TestClient[Any, Any]) -> None:
    api = await _setup(client)
    await api.as_("agent1")
    me = await api.get("/api/me")
    rows = "".join(f"Person{i}\n" for i in range(501))
    async with client.ws_connect("/ws") as ws:

        async def recv(kind: str) -> dict[str, Any]:
            while True:  # skip other pushes (e.g. a console snapshot)
                async with asyncio.timeout(10):
                    msg = await ws.receive()
                assert msg.type == WSMsgType.TEXT, msg
                data: dict[str, Any] = json.loads(msg.data)
                if data.get("type") == kind:
                    return data

        assert (await recv("hello"))["user_id"] == me["id"]
        report = await _upload(api, "persons", f"Family\n{rows}".encode(), {"family_name": "A"})
        assert report["created"] == 501
        first = await recv("import.progress")
        last = await recv("import.progress")
    assert first == {
        "type": "import.progress",
        "import_id": report["import_id"],
        "rows_done": 500,
        "rows_total": None,
    }
    assert last == {
        "type": "import.progress",
        "import_id": report["import_id"],
        "rows_done": 501,
        "rows_total": 501,
    }


async def test_upload_over_the_body_limit_is_413(make_client: AppMaker) -> None:
    client = await make_client(max_body_bytes=4096)
    api = await _setup(client)
    await api.as_("agent1")
    rows = "".join(f"C{i},Company number {i}\n" for i in range(300)).encode()
    body = await _upload(api, "companies", b"Code,Name\n" + rows, {"code": "A", "name": "B"}, 413)
    assert "4096 bytes" in body["error"]["message"]
    assert (await api.get("/api/companies"))["total"] == 0
