"""The caller-ID lookup's scope cache: every change of grants, delegations, teams or roles counts
from the next lookup, delegations start and end by the clock, and an unchanged scope is not read
again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.crm import repository as repo
from crm_core.crm.phones import normalise
from crm_core.crm.scope_cache import ScopeCache
from crm_core.db import autocommit_engine, hot_read
from crm_core.users.auth import load_principal, load_principal_at_epoch
from tests.conftest import AppMaker
from tests.crm.helpers import PHONES, AccessWorld, access_world


async def _seen_by_lookup(w: AccessWorld) -> set[str]:
    """Which of ``PHONES`` the signed-in user's caller-ID lookup finds."""
    seen = set()
    for key, number in PHONES.items():
        found = await w.api.get("/api/lookup/phone", number=number)
        if found["candidates"]:
            seen.add(key)
    return seen


def _cache(client: TestClient[Any, Any]) -> ScopeCache:
    return ScopeCache.for_engine(autocommit_engine(client.app[SESSIONS]))


async def test_every_kind_of_scope_change_counts_from_the_next_lookup(
    make_client: AppMaker,
) -> None:
    client = await make_client(default_region="GR")
    w = await access_world(client)
    api, users = w.api, w.users
    south = w.territories["south"]
    cache = _cache(client)

    async def as_agent1() -> set[str]:
        await api.as_("agent1")
        return await _seen_by_lookup(w)

    assert await as_agent1() == {"north_co", "north_p"}
    loads = cache.loads
    assert await as_agent1() == {"north_co", "north_p"}
    assert cache.loads == loads  # nothing changed: the cached scope served every lookup

    # A territory grant, then its removal.
    await api.as_("admin")
    grant = await api.post(f"/api/territories/{south}/grants", {"user_id": users["agent1"]})
    assert await as_agent1() == {"north_co", "north_p", "south_co", "south_p"}
    assert cache.loads == loads + 1
    await api.as_("admin")
    await api.delete(f"/api/territories/{south}/grants/{grant['id']}")
    assert await as_agent1() == {"north_co", "north_p"}

    # A delegation in force, then its end by its owner.
    now = datetime.now(UTC)
    period = {
        "to_user_id": users["agent1"],
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    await api.as_("agent2")
    lent = await api.post("/api/delegations", period)
    assert await as_agent1() == {"north_co", "north_p", "team_p"}
    await api.as_("agent2")
    await api.delete(f"/api/delegations/{lent['id']}")
    assert await as_agent1() == {"north_co", "north_p"}

    # A supervisor's delegation lends the team; the team membership and the role then change.
    await api.as_("sup1")
    await api.post("/api/delegations", period)
    assert await as_agent1() == {"north_co", "north_p", "team_p"}
    await api.as_("admin")
    await api.patch(f"/api/users/{users['sup1']}", {"team_ids": []})
    assert await as_agent1() == {"north_co", "north_p"}
    await api.as_("admin")
    await api.patch(f"/api/users/{users['sup1']}", {"team_ids": [w.team_alpha]})
    assert await as_agent1() == {"north_co", "north_p", "team_p"}
    await api.as_("admin")
    await api.patch(f"/api/users/{users['sup1']}", {"roles": ["agent"]})
    assert await as_agent1() == {"north_co", "north_p"}


async def test_delegations_start_and_end_by_the_clock(client: TestClient[Any, Any]) -> None:
    """No write happens between the lookups: the cached scope expires at the next start or end
    of a delegation to its user."""
    w = await access_world(client)
    sessions = client.app[SESSIONS]
    start = datetime.now(UTC) + timedelta(days=1)
    await w.api.as_("agent2")
    await w.api.post(
        "/api/delegations",
        {
            "to_user_id": w.users["agent1"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=8)).isoformat(),
        },
    )
    clock = [start - timedelta(hours=1)]
    cache = ScopeCache(clock=lambda: clock[0])
    cache.install(autocommit_engine(sessions))
    policies = client.app[POLICIES]
    teo = normalise(PHONES["team_p"], "GR")

    async def lookup(conn: AsyncConnection) -> list[int]:
        principal = await load_principal(conn, w.users["agent1"])
        assert principal is not None
        return [c.id for c in await repo.lookup_phone(conn, policies, principal, teo)]

    assert await hot_read(sessions, lookup) == []
    clock[0] = start  # the delegation starts
    assert await hot_read(sessions, lookup) == [w.persons["team"]]
    clock[0] = start + timedelta(hours=7)
    assert await hot_read(sessions, lookup) == [w.persons["team"]]
    clock[0] = start + timedelta(hours=8)  # ... and ends
    assert await hot_read(sessions, lookup) == []
    assert cache.loads == 3


async def test_writes_to_the_scope_tables_move_the_count(client: TestClient[Any, Any]) -> None:
    """Inserts, updates and deletes on each of the four tables, written as plain SQL (as an
    administrator's script or another program would), each move ``access_epoch``."""
    w = await access_world(client)
    engine = autocommit_engine(client.app[SESSIONS])
    agent1, agent2 = w.users["agent1"], w.users["agent2"]
    now = datetime.now(UTC)
    writes = [
        (
            "INSERT INTO delegations (from_user_id, to_user_id, starts_at, ends_at, note, "
            "created_at) VALUES (:a, :b, :s, :e, '', :s)",
            {"a": agent2, "b": agent1, "s": now, "e": now + timedelta(hours=1)},
        ),
        ("UPDATE delegations SET note = 'x' WHERE to_user_id = :b", {"b": agent1}),
        ("DELETE FROM delegations WHERE to_user_id = :b", {"b": agent1}),
        (
            "INSERT INTO territory_grants (territory_id, user_id, created_at) VALUES (:t, :b, :s)",
            {"t": w.territories["south"], "b": agent1, "s": now},
        ),
        ("UPDATE territory_grants SET role = NULL WHERE user_id = :b", {"b": agent1}),
        ("DELETE FROM territory_grants WHERE user_id = :b", {"b": agent1}),
        (
            "INSERT INTO team_members (team_id, user_id) VALUES (:t, :b)",
            {"t": w.team_alpha, "b": agent1},
        ),
        ("UPDATE team_members SET user_id = :b WHERE user_id = :b", {"b": agent1}),
        ("DELETE FROM team_members WHERE user_id = :b", {"b": agent1}),
        ("INSERT INTO user_roles (user_id, role) VALUES (:b, 'supervisor')", {"b": agent1}),
        (
            "UPDATE user_roles SET role = 'supervisor' WHERE user_id = :b AND role = 'supervisor'",
            {"b": agent1},
        ),
        ("DELETE FROM user_roles WHERE user_id = :b AND role = 'supervisor'", {"b": agent1}),
    ]
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT n FROM access_epoch"))).scalar_one()
        for sql, params in writes:
            await conn.execute(text(sql), params)
            moved = (await conn.execute(text("SELECT n FROM access_epoch"))).scalar_one()
            assert moved > count, sql
            count = moved


async def test_what_a_principal_reads_from_users_moves_the_count(
    client: TestClient[Any, Any],
) -> None:
    """A user's name, language and active flag (what a principal holds besides roles and teams)
    move ``access_epoch``, as deleting a user does; a sign-in, a password or a display name
    does not (or every sign-in would throw the cached scopes and principals away)."""
    w = await access_world(client)
    engine = autocommit_engine(client.app[SESSIONS])
    agent1 = w.users["agent1"]
    now = datetime.now(UTC)
    moving = [
        ("UPDATE users SET language = 'el' WHERE id = :u", {"u": agent1}),
        ("UPDATE users SET is_active = false WHERE id = :u", {"u": agent1}),
        ("UPDATE users SET username = 'agent1-renamed' WHERE id = :u", {"u": agent1}),
    ]
    still = [
        ("UPDATE users SET last_login_at = :t WHERE id = :u", {"u": agent1, "t": now}),
        (
            "UPDATE users SET display_name = 'A. Gent', updated_at = :t WHERE id = :u",
            {"u": agent1, "t": now},
        ),
        (
            "UPDATE users SET password_hash = 'x', password_changed_at = :t WHERE id = :u",
            {"u": agent1, "t": now},
        ),
    ]
    async with engine.connect() as conn:

        async def count() -> int:
            return int((await conn.execute(text("SELECT n FROM access_epoch"))).scalar_one())

        before = await count()
        for sql, params in still:
            await conn.execute(text(sql), params)
            assert await count() == before, sql
        for sql, params in moving:
            await conn.execute(text(sql), params)
            moved = await count()
            assert moved > before, sql
            before = moved
        await conn.execute(text("DELETE FROM user_roles WHERE user_id = :u"), {"u": agent1})
        before = await count()
        await conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": agent1})
        assert await count() > before
        principal, epoch = await load_principal_at_epoch(conn, agent1)
        assert (principal, epoch) == (None, await count())
