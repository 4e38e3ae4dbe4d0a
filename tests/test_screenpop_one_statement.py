"""The screen pop in one statement (PostgreSQL): the lookup and the sole candidate's details
together give exactly the pop of the two-statement path, for every kind of user and record."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, text

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.db import autocommit_engine
from crm_core.users.auth import principal_for
from crm_core.users.models import User
from crm_core.users.permissions import Principal
from screenpop.service import PopBuilder
from tests.crm.helpers import PHONES, access_world, seed_debtor

UNKNOWN = "+302109999990"
MARIA = "+302101234567"  # seed_debtor's person, then shared with a second record


class CountingBuilder(PopBuilder):
    """Counts the pops the one statement answered (``_in_one`` returned True)."""

    def __init__(self, *args: Any, one_statement: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_statement = one_statement
        self.in_one = 0
        self.declined = 0

    async def _in_one(self, *args: Any) -> bool:
        if not self.one_statement:
            return False
        answered = await super()._in_one(*args)
        if answered:
            self.in_one += 1
        else:
            self.declined += 1
        return answered


def _call(number: str) -> dict[str, Any]:
    return {"id": "1.1", "direction": "inbound", "caller_id": number, "called": None}


async def _principals(client: TestClient[Any, Any], ids: dict[str, int]) -> dict[str, Principal]:
    out = {}
    async with client.app[SESSIONS]() as db:
        for name, uid in ids.items():
            user = await db.get(User, uid)
            assert user is not None
            out[name] = principal_for(user, auth_method="internal")
    return out


async def test_one_statement_gives_the_pop_of_two(client: TestClient[Any, Any]) -> None:
    w = await access_world(client)
    await seed_debtor(w.api)  # Maria Pappa: invoices in two currencies, a ticket, an activity
    principals = await _principals(client, w.users)
    sessions, policies = client.app[SESSIONS], client.app[POLICIES]
    one = CountingBuilder(
        sessions, policies, region="GR", timezone="Europe/Athens", one_statement=True
    )
    two = CountingBuilder(
        sessions, policies, region="GR", timezone="Europe/Athens", one_statement=False
    )
    numbers = [*PHONES.values(), MARIA, UNKNOWN]
    pg = autocommit_engine(sessions).dialect.name == "postgresql"

    async def compare() -> list[dict[str, Any]]:
        pops = []
        for name, principal in principals.items():
            for number in numbers:
                expected = await two.build(principal, _call(number))
                got = await one.build(principal, _call(number))
                assert got == expected, (name, number)
                pops.append(got)
        return pops

    pops = await compare()
    shown = [p for p in pops if p["contact"] is not None]
    # The comparison covered what matters: persons and companies, finances shown and masked,
    # records out of scope, a debtor with invoices, tickets and an activity.
    assert {p["contact"]["kind"] for p in shown} == {"person", "company"}
    assert any(p["masked"] for p in shown)
    assert any(not p["masked"] for p in shown)
    assert any(p["contact"] is None and p["call"]["customer_number"] != UNKNOWN for p in pops)
    maria = [p["contact"] for p in shown if p["contact"]["name"] == "Maria Pappa"]
    assert maria
    assert all(c["open_tickets"] and c["last_activity"] for c in maria)
    assert any(c["balance_due"] for c in maria)
    # A number shared by two records: candidates, from one statement as from two.
    await w.api.post("/api/persons", {"family_name": "Pappas", "phones": [{"number": MARIA}]})
    shared = await compare()
    assert any(len(p["candidates"]) == 2 for p in shared)
    if pg:
        # Every pop with a number to look up came from the one statement.
        assert one.in_one == len(principals) * (len(numbers)) * 2
        assert one.declined == 0


async def test_one_statement_is_one_round_trip_and_notices_scope_changes(
    client: TestClient[Any, Any],
) -> None:
    w = await access_world(client)
    principals = await _principals(client, {"agent1": w.users["agent1"]})
    agent1 = principals["agent1"]
    sessions = client.app[SESSIONS]
    engine = autocommit_engine(sessions)
    if engine.dialect.name != "postgresql":
        return  # SQLite answers a pop in two statements (checked by the test above)
    builder = CountingBuilder(
        sessions, client.app[POLICIES], region="GR", timezone="Europe/Athens", one_statement=True
    )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    south = PHONES["south_p"]  # Sofia Southern, in South Greece: not granted to agent1
    assert (await builder.build(agent1, _call(south)))["contact"] is None  # scope cached
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        statements.clear()
        assert (await builder.build(agent1, _call(PHONES["north_p"])))["contact"] is not None
        assert len(statements) == 1
        # A grant written behind the pop's back: the statement's access_epoch row shows it,
        # the pop is asked again through the lookup (which reads the scope again).
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "INSERT INTO territory_grants (territory_id, user_id, created_at) "
                    "VALUES (:t, :u, now())"
                ),
                {"t": w.territories["south"], "u": agent1.user_id},
            )
        declined = builder.declined
        pop = await builder.build(agent1, _call(south))
        assert pop["contact"] is not None
        assert pop["contact"]["name"] == "Sofia Southern"
        assert builder.declined == declined + 1
        statements.clear()
        assert (await builder.build(agent1, _call(south)))["contact"] is not None
        assert len(statements) == 1  # the scope is cached again: back to one statement
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
