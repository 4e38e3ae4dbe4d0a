"""Phone normalisation, caller-ID lookup and quick search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine, Select, case, event, func, literal, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.crm import repository as repo
from crm_core.crm import search
from crm_core.crm.models import Company, Email, Person, Phone
from crm_core.crm.phones import digits_for_search, looks_like_phone, normalise, try_normalise
from crm_core.users.auth import principal_for
from crm_core.users.models import User
from crm_core.users.permissions import PolicyRegistry, Principal
from tests.conftest import AppMaker, add_user, drop_pg_connections
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

    # Every engine: on PostgreSQL the lookup reads through its own AUTOCOMMIT engine
    # (crm_core.db.autocommit_engine).
    engine = Engine
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


# -- the fast paths answer exactly what the scoped sub-query forms answer ---------------------


def _reference_lookup_stmt(
    policies: PolicyRegistry, principal: Principal, e164: str
) -> Select[Any]:
    """The lookup as it was written before the scope was resolved into values."""
    persons = cast(
        "Select[Any]",
        select(
            literal("person").label("type"), Person.id.label("id"), Phone.kind.label("kind")
        ).join(Phone, Phone.person_id == Person.id),
    )
    companies = cast(
        "Select[Any]",
        select(
            literal("company").label("type"), Company.id.label("id"), Phone.kind.label("kind")
        ).join(Phone, Phone.company_id == Company.id),
    )
    return cast(
        "Select[Any]",
        union_all(
            policies.scope(principal, Person, persons.where(Phone.e164 == e164)),
            policies.scope(principal, Company, companies.where(Phone.e164 == e164)),
        ),
    )


async def _principal(client: TestClient[Any, Any], username: str) -> Principal:
    async with client.app[SESSIONS]() as db:
        user = await db.scalar(select(User).where(User.username == username))
        assert user is not None
        return principal_for(user, auth_method="internal")


def _person_match(text: str, region: str) -> ColumnElement[bool]:
    """The quick search's person match as it was first written: one ``OR`` of substring
    conditions (``search_records`` gathers the same persons from indexed arms)."""
    needle = text.lower()
    conds = [
        func.lower(Person.given_name + " " + Person.family_name).contains(needle, autoescape=True),
        func.lower(Person.family_name + " " + Person.given_name).contains(needle, autoescape=True),
        func.lower(Person.nickname).contains(needle, autoescape=True),
        Person.id.in_(
            select(Email.person_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = search._phone_match(Person.id, Phone.person_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


def _starts_first(text: str) -> ColumnElement[int]:
    """0 for a person whose name ("given family" or "family given") starts with ``text``."""
    needle = text.lower()
    starts = or_(
        func.lower(Person.given_name + " " + Person.family_name).startswith(
            needle, autoescape=True
        ),
        func.lower(Person.family_name + " " + Person.given_name).startswith(
            needle, autoescape=True
        ),
    )
    return case((starts, 0), else_=1)


SEARCH_TEXTS = [
    "maria",
    "MARIA PAP",
    "papadopoulou maria",
    "ria pa",
    "pap",
    "ou",
    "a",
    "eorg",
    "γιώργος",
    "ΠΑΠΑΔ",
    "100%",
    "o_n",
    "a/b",
    "nick",
    "the boss",
    "@example",
    "lena.s",
    "g2024@ex",
    "h2024",
    "2024",
    "6912345678",
    "691 234",
    "345 678",
    "2101234567",
    "+30 231 098 7654",
    "0030 210",
    "nobody at all",
]


async def test_search_and_lookup_answer_what_the_scoped_subqueries_answer(
    make_client: AppMaker,
) -> None:
    """Every principal kind (admin, territory grant, team supervisor, delegate, nothing
    granted) gets from the resolved-scope lookup and the indexed search exactly the rows that
    the original statements (scope as sub-queries, one OR of LIKEs) give; the search in their
    order, names starting with the text first. No cap is reached with so few persons."""
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    await add_user(client, "granted", "agent")
    await add_user(client, "delegate", "agent")
    await add_user(client, "lonely", "agent")
    await add_user(client, "boss", "supervisor", teams=("Desk",))
    api = Api(client)
    await api.as_("admin")
    users = {
        name: (await _principal(client, name)).user_id
        for name in ("granted", "delegate", "lonely", "boss")
    }
    team = (await api.get("/api/teams", name="Desk"))["items"][0]["id"]
    north = (await api.post("/api/territories", {"name": "North"}))["id"]
    south = (await api.post("/api/territories", {"name": "South"}))["id"]
    await api.post(f"/api/territories/{north}/grants", {"user_id": users["granted"]})
    await api.post(f"/api/territories/{south}/grants", {"role": "supervisor"})
    people = [
        ("Maria", "Papadopoulou", None, "maria@example.gr", "6912345678", {"territory_id": north}),
        ("Maria", "Papas", "the boss", "m.papas@example.gr", "2101234567", {"team_id": team}),
        ("Γιώργος", "Παπαδόπουλος", None, None, "+30 231 098 7654", {"territory_id": south}),
        ("Elena", "Stoica", "nick", "lena.s@example.ro", "0721 234 567", {}),
        ("Ioana", "O_Neil", "100%", "a/b@example.com", "691 234 5670", {"territory_id": north}),
        (
            "Anna",
            "Georgiou",
            None,
            "anna.g2024@example.com",
            "2101234567",
            {"owner_id": users["granted"]},
        ),
    ]
    for given, family, nickname, email, phone, where in people:
        body: dict[str, Any] = {"given_name": given, "family_name": family, **where}
        if nickname:
            body["nickname"] = nickname
        if email:
            body["emails"] = [{"address": email}]
        body["phones"] = [{"number": phone}]
        await api.post("/api/persons", body)
    await api.post(
        "/api/companies",
        {
            "code": "PAP",
            "name": "Papadopoulou Ltd",
            "territory_id": north,
            "phones": [{"number": "2101234567"}],
            "emails": [{"address": "maria@pap.example"}],
        },
    )
    now = datetime.now(UTC)
    await api.as_("boss")
    await api.post(
        "/api/delegations",
        {
            "to_user_id": users["delegate"],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    policies = client.app[POLICIES]
    sessions = client.app[SESSIONS]
    for username in ("admin", "granted", "delegate", "lonely", "boss"):
        principal = await _principal(client, username)
        async with sessions() as db:
            for e164 in ("+306912345678", "+302101234567", "+302310987654", "+40721234567"):
                got = await repo.lookup_phone(db, policies, principal, e164)
                want = (await db.execute(_reference_lookup_stmt(policies, principal, e164))).all()
                assert sorted((c.type, c.id, c.phone_kind) for c in got) == sorted(
                    (r.type, r.id, r.kind) for r in want
                ), (username, e164)
            for text in SEARCH_TEXTS:
                for limit in (1, 20):
                    found = await search.search_records(db, policies, principal, text, "GR", limit)
                    companies, persons = found.companies, found.persons
                    assert not found.truncated, (username, text)
                    ref_p = policies.scope(
                        principal, Person, select(Person.id).where(_person_match(text, "GR"))
                    ).order_by(
                        _starts_first(text), Person.family_name, Person.given_name, Person.id
                    )
                    ref_c = policies.scope(
                        principal,
                        Company,
                        select(Company.id).where(search._company_match(text, "GR")),
                    ).order_by(Company.name, Company.id)
                    assert [p.id for p in persons] == list(await db.scalars(ref_p.limit(limit))), (
                        username,
                        text,
                        limit,
                    )
                    assert [c.id for c in companies] == list(
                        await db.scalars(ref_c.limit(limit))
                    ), (username, text, limit)


# -- capped, ranked candidates ---------------------------------------------------------------


async def _add_persons(api: Api, people: list[dict[str, Any]]) -> list[int]:
    return [(await api.post("/api/persons", body))["id"] for body in people]


async def test_each_arm_stops_at_the_cap_and_says_so(make_client: AppMaker) -> None:
    """With a cap of 2, the walk of the names starting with the text keeps the first two in
    name order and the e-mail arm two of its matches, and the answer is marked truncated; a
    cap as large as the matches finds them all and is not."""
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    willis = await _add_persons(
        api,
        [{"given_name": g, "family_name": "Willis"} for g in ("Anna", "Beth", "Carl", "Dora")],
    )
    zeds = await _add_persons(
        api,
        [
            {"given_name": "Eva", "family_name": f"Kovacs{n}", "emails": [{"address": a}]}
            for n, a in enumerate(("zed1@mail.example", "zed2@mail.example", "zed3@mail.example"))
        ],
    )
    policies, principal = client.app[POLICIES], await _principal(client, "admin")
    async with client.app[SESSIONS]() as db:
        capped = await search.search_records(
            db, policies, principal, "willi", "GR", 20, candidates=2
        )
        assert capped.truncated
        assert [p.id for p in capped.persons] == willis[:2]
        whole = await search.search_records(
            db, policies, principal, "willi", "GR", 20, candidates=4
        )
        assert not whole.truncated
        assert [p.id for p in whole.persons] == willis
        by_mail = await search.search_records(
            db, policies, principal, "zed", "GR", 20, candidates=2
        )
        assert by_mail.truncated
        assert len(by_mail.persons) == 2
        assert {p.id for p in by_mail.persons} < set(zeds)
        every = await search.search_records(db, policies, principal, "zed", "GR", 20, candidates=3)
        assert not every.truncated
        assert sorted(p.id for p in every.persons) == zeds


async def test_the_scope_is_applied_before_the_cap(make_client: AppMaker) -> None:
    """An agent finds the one person it owns among matches it may not see that come first in
    every arm (name, e-mail, phone): the arms skip invisible rows before they count."""
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    await add_user(client, "agent", "agent")
    api = Api(client)
    await api.as_("admin")
    agent_id = (await _principal(client, "agent")).user_id
    hidden = (await api.post("/api/territories", {"name": "Hidden"}))["id"]
    await _add_persons(
        api,
        [
            {
                "given_name": g,
                "family_name": "Willis",
                "territory_id": hidden,
                "emails": [{"address": f"team.zed{n}@mail.example"}],
                "phones": [{"number": f"691234567{n}"}],
            }
            for n, g in enumerate(("Anna", "Beth", "Carl", "Dora", "Emma"))
        ],
    )
    [own] = await _add_persons(
        api,
        [
            {
                "given_name": "Zoe",
                "family_name": "Willis",
                "owner_id": agent_id,
                "emails": [{"address": "team.zed9@mail.example"}],
                "phones": [{"number": "6912345679"}],
            }
        ],
    )
    policies, principal = client.app[POLICIES], await _principal(client, "agent")
    async with client.app[SESSIONS]() as db:
        for text in ("willi", "Willis Z", "team.zed", "691 234 567"):
            found = await search.search_records(
                db, policies, principal, text, "GR", 20, candidates=2
            )
            assert [p.id for p in found.persons] == [own], text
            assert not found.truncated, text


async def test_names_starting_with_the_text_come_first(make_client: AppMaker) -> None:
    """Persons whose family or given name ("given family", "family given") starts with the
    text come before those that only contain it or match by nickname or e-mail; each group
    in name order."""
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    joanna, anna, marianne, nikos, eva = await _add_persons(
        api,
        [
            {"given_name": "Joanna", "family_name": "Adams"},
            {"given_name": "Anna", "family_name": "Georgiou"},
            {"given_name": "Marianne", "family_name": "Annan"},
            {"given_name": "Nikos", "family_name": "Babis", "nickname": "Vanna"},
            {
                "given_name": "Eva",
                "family_name": "Aaron",
                "emails": [{"address": "hannah@mail.example"}],
            },
        ],
    )

    async def order(q: str) -> list[int]:
        body = await api.get("/api/search", q=q)
        assert body["truncated"] is False
        return [h["id"] for h in body["items"]]

    assert await order("ann") == [marianne, anna, eva, joanna, nikos]
    assert await order("ANNA G") == [anna]
    assert await order("georgiou an") == [anna]
    assert await order("nna") == [eva, joanna, marianne, nikos, anna]  # nobody starts so


async def test_the_answer_says_when_more_persons_match(
    make_client: AppMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``truncated`` in ``GET /api/search``: true when an arm reached the cap (the module's
    ``SEARCH_CANDIDATES``, read at each search), false when every match was examined."""
    monkeypatch.setattr(search, "SEARCH_CANDIDATES", 2)
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    willis = await _add_persons(
        api,
        [{"given_name": g, "family_name": "Willis"} for g in ("Anna", "Beth", "Carl", "Dora")],
    )
    body = await api.get("/api/search", q="willi")
    assert body["truncated"] is True
    assert [h["id"] for h in body["items"]] == willis[:2]
    body = await api.get("/api/search", q="willis b")
    assert body == {
        "items": [{"type": "person", "id": willis[1], "display_name": "Beth Willis", "code": None}],
        "truncated": False,
    }
    assert await api.get("/api/search", q="nobody") == {"items": [], "truncated": False}


async def test_resolved_scope_follows_grants_at_once(make_client: AppMaker) -> None:
    """A new grant counts from the next lookup (a cached scope is checked against access_epoch)."""
    client = await make_client(default_region="GR")
    await add_user(client, "admin", "admin")
    await add_user(client, "agent", "agent")
    api = Api(client)
    await api.as_("admin")
    territory = (await api.post("/api/territories", {"name": "East"}))["id"]
    person = await api.post(
        "/api/persons",
        {
            "given_name": "Nikos",
            "family_name": "Ioannou",
            "territory_id": territory,
            "phones": [{"number": "6944444444"}],
        },
    )
    agent_id = (await _principal(client, "agent")).user_id
    await api.as_("agent")
    assert (await api.get("/api/lookup/phone", number="6944444444"))["candidates"] == []
    assert (await api.get("/api/search", q="ioannou"))["items"] == []
    await api.as_("admin")
    grant = await api.post(f"/api/territories/{territory}/grants", {"user_id": agent_id})
    await api.as_("agent")
    found = await api.get("/api/lookup/phone", number="6944444444")
    assert [c["id"] for c in found["candidates"]] == [person["id"]]
    assert [h["id"] for h in (await api.get("/api/search", q="ioannou"))["items"]] == [person["id"]]
    await api.as_("admin")
    await api.delete(f"/api/territories/{territory}/grants/{grant['id']}")
    await api.as_("agent")
    assert (await api.get("/api/lookup/phone", number="6944444444"))["candidates"] == []


async def test_lookup_survives_connections_the_server_dropped(
    make_client: AppMaker, db_url: str
) -> None:
    """The hot-read pool does not ping: a connection PostgreSQL closed fails once inside
    ``CrmService.lookup_phone``, which reads again on a new one (SQLite has no such pool)."""
    client = await make_client(default_region="GR")
    api, seed = await _seed(client)
    first = await api.get("/api/lookup/phone", number="6912345678")
    assert [c["id"] for c in first["candidates"]] == [seed["maria"]["id"]]
    if db_url.startswith("postgresql"):
        # At least the hot-read connection of the first lookup.
        assert await drop_pg_connections(db_url) >= 1
    again = await api.get("/api/lookup/phone", number="6912345678")
    assert again == first
