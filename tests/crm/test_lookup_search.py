"""Phone normalisation, caller-ID lookup and quick search."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from crm_core.appkeys import ENGINE
from crm_core.crm.phones import digits_for_search, looks_like_phone, normalise, try_normalise
from tests.conftest import AppMaker, add_user
from tests.crm.helpers import Api, field_of


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("+302101234567", "GR", "+302101234567"),
        ("+30 210 123 4567", "US", "+302101234567"),
        ("210 123 4567", "GR", "+302101234567"),
        ("210-123-4567", "GR", "+302101234567"),
        ("0030 210 1234567", "GR", "+302101234567"),
        ("00302101234567", "US", "+302101234567"),
        ("0721 234 567", "RO", "+40721234567"),
        ("0040 721 234 567", "RO", "+40721234567"),
        ("06 30 123 4567", "HU", "+36301234567"),
        ("(212) 555-0100", "US", "+12125550100"),
        ("1 212 555 0100", "US", "+12125550100"),
        ("212.555.0100", "US", "+12125550100"),
        ("011 30 210 123 4567", "US", "+302101234567"),
    ],
)
def test_normalise_any_written_form(text: str, region: str, e164: str) -> None:
    assert normalise(text, region) == e164


@pytest.mark.parametrize("text", ["", "   ", "call me", "12", "+30 210 123 4567 ext", "1" * 70])
def test_normalise_refuses_what_is_not_a_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        normalise(text, "GR")
    assert try_normalise(text, "GR") is None


def test_partial_numbers_for_search() -> None:
    assert looks_like_phone("0210 123")
    assert not looks_like_phone("210")
    assert not looks_like_phone("Acme 2101")
    assert digits_for_search("00 30 210") == "30210"
    assert digits_for_search("0210-123") == "210123"


async def _seed(client: TestClient[Any, Any]) -> tuple[Api, dict[str, Any]]:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    acme = await api.post(
        "/api/companies",
        {
            "code": "ACME",
            "name": "Acme Hellas",
            "phones": [{"kind": "work", "number": "+30 210 123 4567"}],
            "emails": [{"address": "info@acme.example.gr"}],
        },
    )
    maria = await api.post(
        "/api/persons",
        {
            "given_name": "Maria",
            "family_name": "Papadopoulou",
            "phones": [
                {"kind": "mobile", "number": "6912345678"},
                {"kind": "work", "number": "2101234567"},
            ],
            "emails": [{"address": "maria@example.gr"}],
        },
    )
    nikos = await api.post(
        "/api/persons",
        {
            "given_name": "Nikos",
            "family_name": "Georgiou",
            "phones": [{"kind": "home", "number": "+30 231 098 7654"}],
        },
    )
    return api, {"acme": acme, "maria": maria, "nikos": nikos}


async def test_lookup_finds_the_same_record_in_every_format(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    api, seed = await _seed(client)
    for number in ("+306912345678", "691 234 5678", "0030 691-234-5678", "+30 (691) 2345678"):
        found = await api.get("/api/lookup/phone", number=number)
        assert found["e164"] == "+306912345678"
        assert found["candidates"] == [
            {
                "type": "person",
                "id": seed["maria"]["id"],
                "display_name": "Maria Papadopoulou",
                "phone_kind": "mobile",
            }
        ], number


async def test_lookup_returns_every_candidate(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    api, seed = await _seed(client)
    found = await api.get("/api/lookup/phone", number="210 123 4567")
    assert [(c["type"], c["id"], c["phone_kind"]) for c in found["candidates"]] == [
        ("person", seed["maria"]["id"], "work"),
        ("company", seed["acme"]["id"], "work"),
    ]
    assert (await api.get("/api/lookup/phone", number="+30 210 000 0000"))["candidates"] == []
    err = await api.get("/api/lookup/phone", expect=400, number="hello")
    assert field_of(err) == "number"
    err = await api.get("/api/lookup/phone", expect=400)
    assert err["error"]["details"]["parameter"] == "number"
    err = await api.get("/api/lookup/phone", expect=400, number="2101234567", x="1")
    assert err["error"]["details"]["parameter"] == "x"


async def test_lookup_is_one_query_on_the_e164_index(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    api, _ = await _seed(client)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "phones" in statement:
            statements.append(statement)

    engine = client.app[ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await api.get("/api/lookup/phone", number="2101234567")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert statements[0].count("phones.e164 =") == 2  # both branches of one UNION ALL
    assert "UNION ALL" in statements[0]


async def test_search_by_name_code_email_and_phone(make_client: AppMaker) -> None:
    client = await make_client(default_region="GR")
    api, seed = await _seed(client)

    async def hits(q: str) -> list[tuple[str, int]]:
        body = await api.get("/api/search", q=q)
        return [(h["type"], h["id"]) for h in body["items"]]

    acme, maria, nikos = (
        ("company", seed["acme"]["id"]),
        ("person", seed["maria"]["id"]),
        ("person", seed["nikos"]["id"]),
    )
    assert await hits("acme") == [acme]
    assert await hits("ACM") == [acme]
    assert await hits("papadop") == [maria]
    assert await hits("maria papa") == [maria]
    assert await hits("Georgiou Nikos") == [nikos]
    assert await hits("maria@example") == [maria]
    assert await hits("info@acme") == [acme]
    assert await hits("+30 691 234 5678") == [maria]
    assert await hits("0030 2310 987654") == [nikos]
    assert await hits("210-123-4567") == [acme, maria]
    assert await hits("345 678") == [maria]  # part of a number
    assert await hits("nobody") == []
    body = await api.get("/api/search", q="a", limit="1")
    assert len(body["items"]) == 1
    for params, name in (({}, "q"), ({"q": " "}, "q"), ({"q": "a", "limit": "0"}, "limit")):
        err = await api.get("/api/search", expect=400, **params)
        assert err["error"]["details"].get("parameter", err["error"]["details"].get("field")) == (
            name
        )
