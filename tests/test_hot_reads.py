"""Hot-path reads: one-statement principals and reads on the autocommit pool that survive a
connection the server dropped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core.appkeys import SESSIONS, SUPERVISOR
from crm_core.db import (
    READ_POOL_SIZE,
    autocommit_engine,
    create_engine,
    hot_read,
    make_sessionmaker,
    warm_hot_reads,
)
from crm_core.users.auth import load_principal, principal_for
from crm_core.users.models import User
from tests.conftest import add_user, drop_pg_connections


async def pool_opened(client: TestClient[Any, Any]) -> None:
    """Wait until the app has opened its hot-read pool (the task starts with the app)."""
    supervisor = client.app[SUPERVISOR]
    async with asyncio.timeout(30):
        while supervisor.status()["screen-pop-connections"]["state"] == "running":
            await asyncio.sleep(0.01)
    assert supervisor.status()["screen-pop-connections"]["state"] == "finished"


async def test_load_principal_equals_principal_for(client: TestClient[Any, Any]) -> None:
    sessions = client.app[SESSIONS]
    user = await add_user(client, "sup1", "supervisor", "agent", teams=("north", "south"))
    lone = await add_user(client, "agent9", "agent")
    for who in (user, lone):
        async with sessions() as db:
            loaded = await db.get(User, who.id)
            assert loaded is not None
            expected = principal_for(loaded, auth_method="internal")
        got = await hot_read(sessions, lambda conn, uid=who.id: load_principal(conn, uid))
        assert got == expected
    assert got is not None
    assert got.team_ids == frozenset()


async def test_load_principal_of_missing_or_inactive_user_is_none(
    client: TestClient[Any, Any],
) -> None:
    sessions = client.app[SESSIONS]
    user = await add_user(client, "gone", "agent", teams=("north",))
    async with sessions() as db, db.begin():
        loaded = await db.get(User, user.id)
        assert loaded is not None
        loaded.is_active = False
    assert await hot_read(sessions, lambda conn: load_principal(conn, user.id)) is None
    assert await hot_read(sessions, lambda conn: load_principal(conn, 999_999)) is None


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_hot_read_retries_once_on_a_connection_the_server_dropped(db_url: str) -> None:
    # An engine of its own: the app's would also serve its background readers, and open its
    # pool ahead of need, so which connection a read gets would not be this test's to say.
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)

    async def backend_pid(conn: AsyncConnection) -> int:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await hot_read(sessions, backend_pid)
        # The pool keeps that connection; the server now drops it (as a restart or an idle
        # timeout would). The pool does not ping, so the next read meets the dead connection.
        assert await drop_pg_connections(db_url, first) == 1
        second = await hot_read(sessions, backend_pid)
        assert second != first
        # The pool goes on serving reads on live connections.
        assert await hot_read(sessions, backend_pid) > 0
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_session_never_gets_a_connection_the_server_dropped(
    client: TestClient[Any, Any], db_url: str
) -> None:
    """The pool checks a PostgreSQL connection (one round trip) whenever it hands one out."""
    sessions = client.app[SESSIONS]
    async with sessions() as db:
        first = int((await db.execute(text("SELECT pg_backend_pid()"))).scalar_one())
    # Every pooled connection of this database dies (as in a server restart), the checkout's
    # check finds out and the pool opens a fresh one: the session's work succeeds.
    assert await drop_pg_connections(db_url) >= 1
    async with sessions() as db, db.begin():
        second = int((await db.execute(text("SELECT pg_backend_pid()"))).scalar_one())
    assert second != first


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_hot_reads_use_generic_plans_and_sessions_do_not(
    client: TestClient[Any, Any], db_url: str
) -> None:
    """A hot read's prepared statement is planned once per connection (no custom plans for its
    first five runs, each costing ms on the screen pop's statement); sessions keep the default."""
    sessions = client.app[SESSIONS]

    async def mode(conn: AsyncConnection) -> str:
        return str((await conn.execute(text("SHOW plan_cache_mode"))).scalar_one())

    assert await hot_read(sessions, mode) == "force_generic_plan"
    async with sessions() as db:
        assert (await db.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"


async def test_a_hot_read_cancelled_at_any_step_gives_its_connection_back(db_url: str) -> None:
    """A task cancelled in the middle of a hot read (an app stopping while a follower reads)
    must not leave its connection checked out: the garbage collector would find it later, in
    some other code's time, and on SQLite its thread would call into a closed loop."""
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)

    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(text("SELECT 1"))).scalar_one())

    try:
        assert await hot_read(sessions, read) == 1
        for steps in range(40):
            task = asyncio.create_task(hot_read(sessions, read))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A close that was running when the task was cancelled finishes by itself.
            async with asyncio.timeout(10):
                while autocommit_engine(sessions).pool.checkedout():  # type: ignore[attr-defined]
                    await asyncio.sleep(0.01)
        assert await hot_read(sessions, read) == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_hot_read_returns_before_its_connection_is_back_and_dispose_waits_for_it(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    pool = autocommit_engine(sessions).pool

    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(text("SELECT 1"))).scalar_one())

    try:
        assert await hot_read(sessions, read) == 1
        assert pool.checkedout() == 1  # type: ignore[attr-defined]  # being given back
        await asyncio.sleep(0)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        # A read that fails gives its connection back before the error reaches the caller.

        async def fails(conn: AsyncConnection) -> int:
            await read(conn)
            return 1 // 0

        with pytest.raises(ZeroDivisionError):
            await hot_read(sessions, fails)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await hot_read(sessions, read) == 1
    finally:
        # Disposed while the last connection is still being given back: the dispose waits
        # for it (else the garbage collector would find it checked out, with a warning).
        await engine.dispose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_app_opens_the_hot_read_pool_warmed_with_the_pop_statements(
    client: TestClient[Any, Any], db_url: str
) -> None:
    """Each connection the app opens for hot reads has run the screen pop's statements (with and
    without finances) before serving, so no pop pays their first run on a fresh connection."""
    await pool_opened(client)
    sessions = client.app[SESSIONS]
    pool: Any = autocommit_engine(sessions).pool
    # Opened (the app's own background readers may hold one more now and then).
    assert pool.checkedin() + pool.checkedout() >= READ_POOL_SIZE
    together = asyncio.Barrier(READ_POOL_SIZE)

    async def visit(conn: AsyncConnection) -> tuple[int, object]:
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        warmed = (await conn.get_raw_connection()).info.get("callboard_warmed")
        await together.wait()  # all at once: each on a connection of its own
        return pid, warmed

    seen = await asyncio.gather(*(hot_read(sessions, visit) for _ in range(READ_POOL_SIZE)))
    assert len({pid for pid, _ in seen}) == READ_POOL_SIZE
    assert {warmed for _, warmed in seen} == {2}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_warm_up_statement_that_fails_does_not_stop_the_reads(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    warm_hot_reads(sessions, "SELECT 1 / $1::int + 1 / 0", 1)  # fails on the server
    warm_hot_reads(sessions, "SELECT $1::int", 1)

    async def read(conn: AsyncConnection) -> object:
        assert int((await conn.execute(text("SELECT 7"))).scalar_one()) == 7
        return (await conn.get_raw_connection()).info.get("callboard_warmed")

    try:
        assert await hot_read(sessions, read) == 2  # both tried, the reads go on
        assert "could not be warmed up" in caplog.text
        await asyncio.sleep(0)  # the connection is back in the pool
        assert await hot_read(sessions, read) == 2  # once per connection
        assert caplog.text.count("could not be warmed up") == 1
    finally:
        await engine.dispose()
