"""Screen pop: ringing → the agent's consoles get the caller's record, masked for their role."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from crm_core.appkeys import BUS, POLICIES, SESSIONS
from crm_core.bus.events import Event
from crm_core.bus.fanout import Subscription
from crm_core.bus.memory import InProcessBus
from crm_core.users.auth import principal_for
from crm_core.users.models import Role, User
from crm_core.users.permissions import Principal
from screenpop.dispatcher import PopDispatcher
from screenpop.service import PopBuilder
from telephony.events import CallAnswered, CallEnded
from telephony.models import CallDirection, CallOutcome
from tests.conftest import add_user, login
from tests.crm.helpers import Api, born_today, seed_debtor
from tests.dialer.helpers import recv, ringing
from web.screenpop_wiring import PRINCIPALS, PrincipalCache


async def _crm(client: TestClient[Any, Any]) -> dict[str, int]:
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    ids = await seed_debtor(api, birth_date=born_today("UTC"))
    client.session.cookie_jar.clear()
    return {"person": ids["person"], "company": ids["company"]}


async def test_agent_console_gets_the_pop_then_updates(client: TestClient[Any, Any]) -> None:
    ids = await _crm(client)
    agent = await add_user(client, "agent1", "agent")
    other = await add_user(client, "agent2", "agent")
    await login(client, "agent1")
    principals = client.app[PRINCIPALS]
    async with client.ws_connect("/ws") as ws:
        await recv(ws, "hello")
        await ws.send_json({"type": "ping", "id": 1})
        await recv(ws, "pong")  # commands are read once the snapshot has been sent
        # The console's connection read agent1's principal ahead of its first pop.
        assert principals.loads == 1
        bus = client.app[BUS]
        await bus.publish(ringing(other.id, "+302101234567", "999.9"))  # not for agent1
        await bus.publish(ringing(agent.id, "00302101234567"))
        pop = await recv(ws, "screen_pop")
        assert principals.loads == 2  # agent2's, for the other call; agent1's was ready
        assert pop["call"]["id"] == "500.1"
        assert pop["call"]["customer_number"] == "+302101234567"
        contact = pop["contact"]
        assert contact["id"] == ids["person"]
        assert contact["kind"] == "person"
        assert contact["company"] == "Acme <b>Hellas</b>"  # raw data; the browser escapes it
        assert contact["salutation"] == "Dear Ms Pappa"
        assert [t["subject"] for t in contact["open_tickets"]] == ["Broken delivery"]
        assert contact["last_activity"]["subject"] == "Payment plan"
        birthdays = [c for c in contact["celebrations_today"] if c["kind"] == "birthday"]
        assert len(birthdays) == 1
        # Agents have crm.balances: the last invoice and the debt are shown.
        assert pop["masked"] == []
        assert contact["last_invoice"]["number"] == "A-2"
        assert {b["currency"] for b in contact["balance_due"]} == {"EUR", "RON"}
        await bus.publish(
            CallAnswered(
                pbx="main", call_id="500.1", direction=CallDirection.INBOUND, agent_id=str(agent.id)
            )
        )
        update = await recv(ws, "call_update")
        assert update["state"] == "answered"
        # A console opened now gets the open pop as its snapshot.
        async with client.ws_connect("/ws") as ws2:
            await recv(ws2, "hello")
            again = await recv(ws2, "screen_pop")
            assert again["call"]["id"] == "500.1"
            assert again["call"]["state"] == "answered"
        started = pop["call"]["started_at"]
        from datetime import datetime

        t0 = datetime.fromisoformat(started)
        await bus.publish(
            CallEnded(
                pbx="main",
                call_id="500.1",
                direction=CallDirection.INBOUND,
                outcome=CallOutcome.ANSWERED,
                started_at=t0,
                ended_at=t0,
                agent_id=str(agent.id),
            )
        )
        ended = await recv(ws, "call_update")
        assert ended["state"] == "ended"
    async with client.ws_connect("/ws") as ws3:
        await recv(ws3, "hello")
        await ws3.send_str(json.dumps({"type": "ping", "id": 1}))
        # No pop is left over once the call ended: the next message is the pong.
        assert (await recv(ws3, "pong"))["id"] == 1


async def test_supervisor_pop_has_invoice_and_debt_per_currency(
    client: TestClient[Any, Any],
) -> None:
    ids = await _crm(client)
    sup = await add_user(client, "sup", "supervisor")
    async with client.app[SESSIONS]() as db:
        user = await db.get(User, sup.id)
        assert user is not None
        principal = principal_for(user, auth_method="internal")
    builder = PopBuilder(
        client.app[SESSIONS], client.app[POLICIES], region="GR", timezone="Europe/Athens"
    )
    call = {
        "id": "1.1",
        "direction": "inbound",
        "caller_id": "2101234567",
        "called": None,
        "queue": None,
        "started_at": None,
    }
    pop = await builder.build(principal, call)
    # A supervisor sees records of their teams: this person has no team, so nothing is shown.
    assert pop["contact"] is None
    admin = await add_user(client, "admin", "admin")
    async with client.app[SESSIONS]() as db:
        user = await db.get(User, admin.id)
        assert user is not None
        principal = principal_for(user, auth_method="internal")
    pop = await builder.build(principal, call)
    contact = pop["contact"]
    assert contact["id"] == ids["person"]
    assert pop["masked"] == []
    assert contact["last_invoice"]["number"] == "A-2"
    debts = {b["currency"]: b for b in contact["balance_due"]}
    assert debts["EUR"]["amount"] == "120.00"
    assert debts["EUR"]["days_overdue"] >= 29
    assert debts["RON"]["amount"] == "900.00"


async def test_unknown_and_shared_numbers(client: TestClient[Any, Any]) -> None:
    await _crm(client)
    admin = await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    await api.post(
        "/api/persons",
        {"family_name": "Pappas", "phones": [{"kind": "home", "number": "+30 210 123 4567"}]},
    )
    async with client.app[SESSIONS]() as db:
        user = await db.get(User, admin.id)
        assert user is not None
        principal = principal_for(user, auth_method="internal")
    builder = PopBuilder(
        client.app[SESSIONS], client.app[POLICIES], region="GR", timezone="Europe/Athens"
    )
    shared = await builder.build(
        principal, {"id": "2", "direction": "inbound", "caller_id": "+302101234567", "called": None}
    )
    assert shared["contact"] is None
    assert sorted(c["name"] for c in shared["candidates"]) == ["Maria Pappa", "Pappas"]
    unknown = await builder.build(
        principal, {"id": "3", "direction": "inbound", "caller_id": "+302109999990", "called": None}
    )
    assert unknown["contact"] is None
    assert unknown["candidates"] == []
    assert unknown["call"]["customer_number"] == "+302109999990"
    hidden = await builder.build(
        principal, {"id": "4", "direction": "inbound", "caller_id": "anonymous", "called": None}
    )
    assert hidden["contact"] is None


class SubscribedBus(InProcessBus):
    """Tells when someone subscribed."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed = asyncio.Event()

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        sub = super().subscribe(*types, maxsize=maxsize)
        self.subscribed.set()
        return sub


class GatedBuilder:
    """Builds a pop from the call; the pop of a call in ``held`` waits until its gate opens."""

    def __init__(self, *held: str) -> None:
        self.gates = {call_id: asyncio.Event() for call_id in held}

    async def build(self, principal: Principal, call: dict[str, Any]) -> dict[str, Any]:
        gate = self.gates.get(call["id"])
        if gate is not None:
            await gate.wait()
        return {"type": "screen_pop", "call": dict(call), "for": principal.username}


class Consoles:
    """What the dispatcher sent to whom, in order; ``wait_for(n)`` until n messages went out."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple[int, ...], dict[str, Any]]] = []
        self._arrived = asyncio.Condition()

    async def send(self, users: tuple[int, ...], message: dict[str, Any]) -> None:
        async with self._arrived:
            self.sent.append((users, message))
            self._arrived.notify_all()

    async def wait_for(self, n: int) -> None:
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.sent) >= n)


async def agent_principal(uid: int) -> Principal:
    """An agent's principal, as the dispatcher's loader gives it."""
    return Principal(user_id=uid, username=f"u{uid}", roles=frozenset({Role.AGENT}))


async def test_a_slow_pop_delays_neither_other_calls_nor_overtakes_its_own_updates() -> None:
    bus = SubscribedBus()
    builder = GatedBuilder("1.1")
    consoles = Consoles()
    sent = consoles.sent
    dispatcher = PopDispatcher(bus, builder, agent_principal, consoles.send)  # type: ignore[arg-type]
    task = asyncio.create_task(dispatcher.run())
    async with asyncio.timeout(5):
        await bus.subscribed.wait()
    await bus.publish(ringing(7, "+302101234567", "1.1"))
    await bus.publish(
        CallAnswered(pbx="main", call_id="1.1", direction=CallDirection.INBOUND, agent_id="7")
    )
    await bus.publish(ringing(8, "+302101234568", "2.2"))
    # Call 2.2's pop is not held up by call 1.1's slow one...
    await consoles.wait_for(1)
    assert [m["call"]["id"] for _, m in sent] == ["2.2"]
    assert sent[0][0] == (8,)
    # ...and call 1.1's update waits for its pop.
    builder.gates["1.1"].set()
    await consoles.wait_for(3)
    assert [(m["type"], m["call"]["id"] if "call" in m else m["call_id"]) for _, m in sent] == [
        ("screen_pop", "2.2"),
        ("screen_pop", "1.1"),
        ("call_update", "1.1"),
    ]
    assert sent[2][1]["state"] == "answered"
    task.cancel()
    await asyncio.wait([task])
    await bus.close()


async def test_events_of_calls_nobody_has_a_pop_of_are_passed_over() -> None:
    bus = SubscribedBus()
    consoles = Consoles()
    sent = consoles.sent

    def ended(call_id: str, agent: str | None) -> CallEnded:
        now = datetime.now(UTC)
        return CallEnded(
            pbx="main",
            call_id=call_id,
            direction=CallDirection.INBOUND,
            agent_id=agent,
            outcome=CallOutcome.ANSWERED,
            started_at=now,
            ended_at=now,
        )

    dispatcher = PopDispatcher(
        bus,
        GatedBuilder(),  # type: ignore[arg-type]
        agent_principal,
        consoles.send,
    )
    task = asyncio.create_task(dispatcher.run())
    async with asyncio.timeout(5):
        await bus.subscribed.wait()
    # A phone that is no user's rings, is answered and ends: nothing to do for anyone.
    background = ringing(7, "+302101234567", "9.9")
    await bus.publish(dataclasses.replace(background, agent_id="PJSIP/trunk-peer"))
    await bus.publish(
        CallAnswered(pbx="main", call_id="9.9", direction=CallDirection.INBOUND, agent_id=None)
    )
    await bus.publish(ended("9.9", None))
    # Agent 7's call: its pop, then its end (published at once, while the pop may be in hand).
    await bus.publish(ringing(7, "+302101234568", "1.1"))
    await bus.publish(ended("1.1", "7"))
    await consoles.wait_for(2)
    assert [(users, m["type"]) for users, m in sent] == [
        ((7,), "screen_pop"),
        ((7,), "call_update"),
    ]
    assert sent[1][1]["state"] == "ended"
    assert (dispatcher.skipped, dispatcher.handled) == (3, 2)
    # The ended call is forgotten: a late answer of it concerns nobody any more.
    await bus.publish(
        CallAnswered(pbx="main", call_id="1.1", direction=CallDirection.INBOUND, agent_id="7")
    )
    await bus.publish(ringing(8, "+302101234569", "2.2"))
    await consoles.wait_for(3)
    assert (dispatcher.skipped, dispatcher.handled) == (4, 3)
    assert await dispatcher.snapshot_for(await agent_principal(7)) == []
    task.cancel()
    await asyncio.wait([task])
    await bus.close()


async def test_principals_are_kept_only_for_their_ttl() -> None:
    now = [100.0]
    active = {1: True}
    loads: list[int] = []

    async def load(uid: int) -> tuple[Principal | None, None]:
        loads.append(uid)
        if not active.get(uid):
            return None, None  # missing or deactivated
        return Principal(user_id=uid, username=f"u{uid}", roles=frozenset({Role.AGENT})), None

    # No access_epoch (as while it cannot be read): the TTL rule.
    cache = PrincipalCache(load, ttl_s=5.0, clock=lambda: now[0])
    first = await cache.get(1)
    assert first is not None
    assert await cache.get(1) is first
    assert loads == [1]
    # Deactivated: still served until the TTL runs out, never after.
    active[1] = False
    now[0] += 4.9
    assert await cache.get(1) is first
    now[0] += 0.2
    assert await cache.get(1) is None
    assert loads == [1, 1]
    # Nothing is kept for an inactive user: each pop asks again.
    assert await cache.get(1) is None
    assert loads == [1, 1, 1]
    active[1] = True
    assert await cache.get(1) is not None
    cache.forget(1)
    assert await cache.get(1) is not None
    assert loads == [1, 1, 1, 1, 1]


async def test_principals_are_kept_while_the_access_epoch_stands() -> None:
    now = [100.0]
    epoch = [7]
    roles = {1: frozenset({Role.AGENT})}
    readable = [True]

    async def load(uid: int) -> tuple[Principal | None, int]:
        if uid not in roles:
            return None, epoch[0]
        return Principal(user_id=uid, username=f"u{uid}", roles=roles[uid]), epoch[0]

    async def read_epoch() -> int:
        if not readable[0]:
            raise ConnectionError("database unreachable")
        return epoch[0]

    cache = PrincipalCache(load, read_epoch=read_epoch, ttl_s=5.0, clock=lambda: now[0])
    await cache.refresh()
    first = await cache.get(1)
    assert first is not None
    # Long past the TTL, the count has not moved: no read.
    for _ in range(5):
        now[0] += 4.0
        await cache.refresh()
        assert await cache.get(1) is first
    assert cache.loads == 1
    # A role change moves the count: the next pop after the watcher saw it reads again.
    roles[1] = frozenset({Role.SUPERVISOR})
    epoch[0] += 1
    assert await cache.get(1) is first  # the watcher has not read the count yet
    await cache.refresh()
    second = await cache.get(1)
    assert second is not None
    assert second.roles == {Role.SUPERVISOR}
    assert cache.loads == 2
    # A principal read at a newer count than the watcher's last read counts that read too.
    epoch[0] += 1
    cache.forget(1)
    third = await cache.get(1)
    assert await cache.get(1) is third
    assert cache.loads == 3
    # A deactivated (or missing) user: nothing kept.
    del roles[1]
    epoch[0] += 1
    await cache.refresh()
    assert await cache.get(1) is None
    assert await cache.get(1) is None
    assert cache.loads == 5
    # The count cannot be read: principals are served only ttl_s after their read.
    roles[1] = frozenset({Role.AGENT})
    fourth = await cache.get(1)
    assert fourth is not None
    readable[0] = False
    with contextlib.suppress(ConnectionError):
        await cache.refresh()
    now[0] += 4.9
    assert await cache.get(1) is fourth
    now[0] += 0.2
    fifth = await cache.get(1)  # read again (and its count with it)
    assert fifth is not fourth
    assert cache.loads == 7


async def test_the_pop_agrees_with_the_crm_views(client: TestClient[Any, Any]) -> None:
    """What the pop's one statement computes (balance with partial allocations, newest open
    tickets, categories, anniversaries) is what the CRM's own endpoints say."""
    await add_user(client, "admin", "admin")
    api = Api(client)
    await api.as_("admin")
    vip = await api.post("/api/categories", {"name": "VIP"})
    hotels = await api.post("/api/categories", {"name": "Hotels"})
    company = await api.post(
        "/api/companies",
        {
            "code": "OLYMP",
            "name": "Olympus Hotels",
            "phones": [{"kind": "work", "number": "+30 231 555 0100"}],
            "category_ids": [vip["id"], hotels["id"]],
        },
    )
    today = datetime.now(UTC).date()
    person = await api.post(
        "/api/persons",
        {
            "given_name": "Ioana",
            "family_name": "Popescu",
            "phones": [
                {"kind": "mobile", "number": "+40 721 000 111"},
                {"kind": "home", "number": "+40 21 000 1111"},
            ],
            "category_ids": [vip["id"]],
            "companies": [{"company_id": company["id"], "is_primary": False}],
        },
    )
    await api.post(
        f"/api/persons/{person['id']}/dates",
        {"type": "wedding", "date": today.replace(year=2001).isoformat()},
    )
    late = await api.post(
        "/api/invoices",
        {
            "number": "B-1",
            "issued_on": (today - timedelta(days=50)).isoformat(),
            "due_on": (today - timedelta(days=20)).isoformat(),
            "amount": "100.10",
            "currency": "EUR",
            "company_id": company["id"],
        },
    )
    await api.post(
        "/api/invoices",
        {
            "number": "B-2",
            "issued_on": (today - timedelta(days=2)).isoformat(),
            "due_on": (today + timedelta(days=28)).isoformat(),
            "amount": "50.00",
            "currency": "USD",
            "company_id": company["id"],
        },
    )
    await api.post(
        "/api/payments",
        {
            "paid_on": today.isoformat(),
            "amount": "80.00",
            "currency": "EUR",
            "company_id": company["id"],
            "allocations": [{"invoice_id": late["id"], "amount": "60.10"}],
        },
    )
    for n in range(7):
        await api.post(
            "/api/tickets",
            {"subject": f"Issue {n}", "company_id": company["id"], "status": "open"},
        )
    await api.post(
        "/api/tickets", {"subject": "Done", "company_id": company["id"], "status": "closed"}
    )
    admin = await add_user(client, "admin", "admin")
    async with client.app[SESSIONS]() as db:
        user = await db.get(User, admin.id)
        assert user is not None
        principal = principal_for(user, auth_method="internal")
    builder = PopBuilder(client.app[SESSIONS], client.app[POLICIES], region="GR", timezone="UTC")
    call = {"id": "7.1", "direction": "inbound", "called": None, "queue": None}

    pop = await builder.build(principal, {**call, "caller_id": "2315550100"})
    contact = pop["contact"]
    assert (contact["kind"], contact["id"], contact["company"]) == (
        "company",
        company["id"],
        "Olympus Hotels",
    )
    assert contact["categories"] == ["Hotels", "VIP"]
    assert contact["phones"] == [
        {"kind": p["kind"], "number": p["number"], "e164": p["e164"]} for p in company["phones"]
    ]
    crm = (await api.get(f"/api/companies/{company['id']}/balance"))["balances"]
    assert contact["balance_due"] == [
        {
            "currency": b["currency"],
            "amount": b["balance_due"],
            "overdue": b["overdue"],
            "days_overdue": b["days_overdue"],
            "open_invoices": b["open_invoices"],
        }
        for b in crm
    ]
    assert [(b["currency"], b["amount"], b["overdue"]) for b in contact["balance_due"]] == [
        ("EUR", "40.00", "40.00"),
        ("USD", "50.00", "0.00"),
    ]
    assert contact["balance_due"][0]["days_overdue"] == 20
    assert contact["last_invoice"]["number"] == "B-2"
    assert contact["last_invoice"]["amount"] == "50.00"
    tickets = await api.get(
        "/api/tickets", company_id=company["id"], status="open", limit=5, sort="-created_at"
    )
    assert [t["subject"] for t in contact["open_tickets"]] == [
        t["subject"] for t in tickets["items"]
    ]
    assert len(contact["open_tickets"]) == 5
    assert contact["celebrations_today"] == []

    pop = await builder.build(principal, {**call, "caller_id": "0040721000111"})
    contact = pop["contact"]
    assert (contact["kind"], contact["company"], contact["categories"]) == (
        "person",
        "Olympus Hotels",
        ["VIP"],
    )
    assert [p["e164"] for p in contact["phones"]] == ["+40721000111", "+40210001111"]
    assert contact["balance_due"] == []
    assert contact["last_invoice"] is None
    assert [(c["kind"], c["type"], c["years"]) for c in contact["celebrations_today"]] == [
        ("anniversary", "wedding", today.year - 2001)
    ]
