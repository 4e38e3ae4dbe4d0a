"""Personal dates, name days (Orthodox computus, St George) and today's celebrations in scope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_core.appkeys import SESSIONS
from crm_core.crm.celebrations import business_day, celebrations_for, occurs_on
from crm_core.crm.namedays import calendar, celebrated_names, name_key, orthodox_easter
from tests.conftest import AppMaker, add_user
from tests.crm.helpers import Api, field_of

GEORGE = "Γεώργιος"


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2000, date(2000, 4, 30)),
        (2021, date(2021, 5, 2)),
        (2023, date(2023, 4, 16)),
        (2024, date(2024, 5, 5)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 12)),
        (2027, date(2027, 5, 2)),
        (2100, date(2100, 5, 2)),
    ],
)
def test_orthodox_easter(year: int, easter: date) -> None:
    assert orthodox_easter(year) == easter
    assert easter.weekday() == 6


@pytest.mark.parametrize(
    ("day", "celebrates"),
    [
        (date(2024, 4, 23), False),  # Easter is 5 May: moved to Easter Monday
        (date(2024, 5, 6), True),
        (date(2025, 4, 23), True),  # Easter 20 April: on its own day
        (date(2025, 4, 21), False),
        (date(2026, 4, 23), True),
        (date(2027, 4, 23), False),
        (date(2027, 5, 3), True),
    ],
)
def test_st_george_moves_to_easter_monday_when_before_easter(day: date, celebrates: bool) -> None:
    assert (GEORGE in calendar("el").names_on(day)) is celebrates
    assert bool(celebrated_names("ΓΙΩΡΓΟΣ", None, "el", day)) is celebrates


def test_greek_movable_feasts_and_variants() -> None:
    assert celebrated_names("Λάμπρος", None, None, date(2026, 4, 12)) == ["Λάμπρος"]
    assert celebrated_names("λαμπρινη", None, "el", date(2024, 5, 5)) == ["Λαμπρινή"]
    assert celebrated_names("Θωμάς", None, "el", date(2025, 4, 27)) == ["Θωμάς"]
    assert celebrated_names("Nikos", "Γιωργία", "el-GR", date(2025, 4, 23)) == ["Γιωργία"]
    assert celebrated_names("Μαρία Ελένη", None, "el", date(2025, 5, 21)) == ["Ελένη"]
    assert celebrated_names("Λάμπρος", None, "el", date(2026, 4, 13)) == []
    assert name_key("Γιώργος") == name_key("ΓΙΩΡΓΟΣ") == name_key("γιωργος")


def test_romanian_and_hungarian_name_days() -> None:
    assert celebrated_names("Ștefan", None, "ro", date(2025, 12, 27)) == ["Ștefan"]
    assert celebrated_names("Stefan", None, "ro", date(2025, 12, 27)) == ["Ștefan"]
    assert celebrated_names("FLORIN", None, "ro", date(2025, 4, 13)) == ["Florin"]  # Palm Sunday
    assert celebrated_names("Florin", None, "ro", date(2025, 4, 14)) == []
    assert celebrated_names("Lorinc", None, "hu", date(2025, 8, 10)) == ["Lőrinc"]
    assert celebrated_names("Ádám", None, "hu", date(2025, 12, 24)) == ["Ádám"]
    hu = calendar("hu").names_on(date(2025, 12, 24))
    assert set(hu) >= {"Ádám", "Éva"}
    # the language chooses the calendar; without one every calendar is tried
    assert celebrated_names("Anna", None, "hu", date(2025, 7, 26)) == ["Anna"]
    assert celebrated_names("Anna", None, "el", date(2025, 7, 26)) == []
    assert celebrated_names("Maria", None, None, date(2025, 8, 15)) == ["Maria"]
    assert celebrated_names("Maria", None, "hu", date(2025, 8, 15)) == ["Mária"]
    assert celebrated_names("Maria", None, "hu", date(2025, 9, 12)) == ["Mária"]
    assert celebrated_names("Maria", None, "ro", date(2025, 9, 12)) == []
    assert celebrated_names("Anna", None, "en-GB", date(2025, 7, 26)) == ["Anna"]


def test_business_day_boundary_and_feb_29() -> None:
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    assert business_day(late, "UTC") == date(2026, 3, 10)
    assert business_day(late, "Europe/Athens") == date(2026, 3, 11)
    leap = date(1992, 2, 29)
    assert occurs_on(leap, date(2025, 2, 28))
    assert not occurs_on(leap, date(2024, 2, 28))
    assert occurs_on(leap, date(2024, 2, 29))
    assert not occurs_on(leap, date(2025, 3, 1))


async def _setup(client: TestClient[Any, Any]) -> tuple[Api, dict[str, int], dict[str, int]]:
    users = {
        "admin": (await add_user(client, "admin", "admin")).id,
        "agent1": (await add_user(client, "agent1", "agent")).id,
        "agent2": (await add_user(client, "agent2", "agent")).id,
    }
    api = Api(client)
    await api.as_("admin")
    people: dict[str, int] = {}
    for key, body in {
        "george": {
            "given_name": "Γιώργος",
            "family_name": "Alpha",
            "language": "el",
            "birth_date": "1980-05-06",
            "owner_id": users["agent1"],
        },
        "leap": {"given_name": "Leo", "family_name": "Beta", "birth_date": "1992-02-29"},
        "wed": {"given_name": "Xenia", "family_name": "Gamma", "owner_id": users["agent1"]},
        "hidden": {"given_name": "Georgia", "family_name": "Delta", "language": "el"},
        "tz": {"given_name": "Zeno", "family_name": "Epsilon", "birth_date": "1990-03-11"},
    }.items():
        people[key] = (await api.post("/api/persons", body))["id"]
    hidden_george = {"given_name": "Γεωργία", "family_name": "Zeta", "language": "el"}
    people["hidden_george"] = (await api.post("/api/persons", hidden_george))["id"]
    return api, users, people


async def test_person_dates_api_and_types(client: TestClient[Any, Any]) -> None:
    api, _users, p = await _setup(client)
    path = f"/api/persons/{p['wed']}/dates"
    wedding = await api.post(path, {"type": "wedding", "date": "2010-05-06", "label": "with Nikos"})
    assert (wedding["type"], wedding["date"]) == ("wedding", "2010-05-06")
    err = await api.post(path, {"type": "baptism", "date": "2012-01-01"}, expect=400)
    assert field_of(err) == "type"
    await api.post("/api/person-date-types", {"name": "baptism", "label": "Baptism"})
    await api.post("/api/person-date-types", {"name": "baptism"}, expect=409)
    await api.post("/api/person-date-types", {"name": "wedding"}, expect=409)
    types = await api.get("/api/person-date-types")
    assert {"wedding", "child_birth", "baptism"} <= {t["name"] for t in types["items"]}
    baptism = await api.post(path, {"type": "baptism", "date": "2012-01-01"})
    err = await api.post(path, {"type": "wedding", "date": "1800-01-01"}, expect=400)
    assert field_of(err) == "date"
    assert [d["type"] for d in (await api.get(path))["items"]] == ["wedding", "baptism"]

    await api.as_("agent1")  # owns the person
    child = await api.post(path, {"type": "child_birth", "date": "2015-07-01"})
    await api.delete(f"{path}/{child['id']}")
    await api.delete(f"{path}/{child['id']}", expect=404)
    await api.post("/api/person-date-types", {"name": "x"}, expect=403)
    await api.get(f"/api/persons/{p['hidden']}/dates", expect=404)
    await api.post(
        f"/api/persons/{p['hidden']}/dates", {"type": "wedding", "date": "2000-01-01"}, 404
    )
    await api.as_("agent2")
    await api.get(path, expect=404)
    await api.post(path, {"type": "wedding", "date": "2000-01-01"}, expect=404)
    await api.delete(f"{path}/{baptism['id']}", expect=404)
    await api.as_("admin")
    assert len((await api.get(path))["items"]) == 2


def _kinds(body: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(c["display_name"], c["kind"], c["years"]) for c in body["items"]]


async def test_celebrations_of_the_day_in_scope(client: TestClient[Any, Any]) -> None:
    api, _users, p = await _setup(client)
    await api.post(f"/api/persons/{p['wed']}/dates", {"type": "wedding", "date": "2010-05-06"})
    day = await api.get("/api/celebrations/today", date="2024-05-06")  # Easter Monday 2024
    assert day["day"] == "2024-05-06"
    assert _kinds(day) == [
        ("Γιώργος Alpha", "birthday", 44),
        ("Γιώργος Alpha", "name_day", None),
        ("Xenia Gamma", "anniversary", 14),
        ("Γεωργία Zeta", "name_day", None),
    ]
    anniversary = day["items"][2]
    assert (anniversary["type"], anniversary["date"], anniversary["person_id"]) == (
        "wedding",
        "2010-05-06",
        p["wed"],
    )
    assert day["items"][1]["name"] == "Γιώργος"
    page = await api.get("/api/celebrations/today", date="2024-05-06", limit="1", offset="1")
    assert (page["total"], page["limit"], page["offset"]) == (4, 1, 1)
    assert _kinds(page) == [("Γιώργος Alpha", "name_day", None)]
    # 23 April 2024 is before Easter: no St George name day then
    assert (await api.get("/api/celebrations/today", date="2024-04-23"))["total"] == 0
    # 29 February birthdays: 28 February in common years only
    assert _kinds(await api.get("/api/celebrations/today", date="2025-02-28")) == [
        ("Leo Beta", "birthday", 33)
    ]
    assert (await api.get("/api/celebrations/today", date="2024-02-28"))["total"] == 0
    assert _kinds(await api.get("/api/celebrations/today", date="2024-02-29")) == [
        ("Leo Beta", "birthday", 32)
    ]
    # an agent sees only the persons in scope
    await api.as_("agent1")
    mine = await api.get("/api/celebrations/today", date="2024-05-06")
    assert {c["person_id"] for c in mine["items"]} == {p["george"], p["wed"]}
    assert mine["total"] == 3
    await api.as_("agent2")
    assert (await api.get("/api/celebrations/today", date="2024-05-06"))["total"] == 0
    # bad parameters
    for params in ({"date": "2024-13-01"}, {"date": "1066-10-14"}, {"limit": "0"}, {"x": "1"}):
        await api.get("/api/celebrations/today", expect=400, **params)
    await api.get("/api/celebrations/today", expect=400, at="2026-03-10T22:30:00")
    # the screen pop's helper: no scope of its own, the caller passes visible ids
    async with client.app[SESSIONS]() as db:
        found = await celebrations_for(db, [p["george"], p["leap"]], date(2027, 5, 3))
    assert [c.kind for c in found[p["george"]]] == ["name_day"]
    assert p["leap"] not in found


async def test_today_is_the_business_days_today(make_client: AppMaker) -> None:
    athens = await make_client(default_timezone="Europe/Athens")
    api, _users, p = await _setup(athens)
    late = "2026-03-10T22:30:00Z"  # 00:30 on 11 March in Athens
    body = await api.get("/api/celebrations/today", at=late)
    assert body["day"] == "2026-03-11"
    assert [c["person_id"] for c in body["items"]] == [p["tz"]]
    assert (await api.get("/api/celebrations/today", date="2026-03-10"))["total"] == 0
    before = business_day(datetime.now(UTC), "Europe/Athens").isoformat()
    today = await api.get("/api/celebrations/today")
    after = business_day(datetime.now(UTC), "Europe/Athens").isoformat()
    assert today["day"] in {before, after}


async def test_utc_business_day(client: TestClient[Any, Any]) -> None:
    api, _users, _p = await _setup(client)
    body = await api.get("/api/celebrations/today", at="2026-03-10T22:30:00Z")
    assert (body["day"], body["total"]) == ("2026-03-10", 0)
