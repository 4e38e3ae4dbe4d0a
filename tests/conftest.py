"""Shared fixtures: a real PostgreSQL database and Redis key prefix per run, SQLite per test.

Each run creates its own PostgreSQL database (``callboard_test_<random>``) and drops it at the end;
each test gets its own Redis key prefix and its keys are deleted afterwards. Nothing else on the
servers is touched. Override the servers with CALLBOARD_TEST_PG_URL (an asyncpg URL of a maintenance
database) and CALLBOARD_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from crm_core.appkeys import USERS
from crm_core.db import create_engine
from crm_core.migrate import upgrade
from crm_core.models import metadata
from crm_core.settings import Settings, load_settings
from crm_core.users.models import User
from crm_core.users.passwords import PasswordHashing
from web.app import Overrides, create_app

PG_ADMIN_URL = os.environ.get(
    "CALLBOARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CALLBOARD_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# Browser tests save their screenshots here (tests/browser/conftest.py, ``screenshot``).
SCREENSHOTS = ARTIFACTS / "screenshots"
_RUN_STARTED = time.time()
REDIS_URL = os.environ.get("CALLBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
# Cheap argon2 parameters: the tests exercise the logic, not the cost.
FAST_HASHING = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print where the screenshots of this run are (saved by any worker process)."""
    shots = (
        sorted(p for p in SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= _RUN_STARTED)
        if SCREENSHOTS.is_dir()
        else []
    )
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}) in {SCREENSHOTS}:")
        for path in shots:
            terminalreporter.write_line(f"  {path}")


def run_in_thread(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine function to completion on its own loop in another thread.

    Session fixtures may be first requested from inside a test's running loop, where
    ``asyncio.run`` is not allowed.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fn())).result()  # type: ignore[arg-type]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@contextlib.contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (asyncpg DSN ``postgresql://…``), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _asyncpg_dsn(PG_ADMIN_URL)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        run_in_thread(lambda: run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as err:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is not usable: {err}; start it "
            "(scripts/test does) or set CALLBOARD_TEST_PG_URL"
        )
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        run_in_thread(lambda: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test run, dropped at the end."""
    with scratch_pg_database("callboard_test") as dsn:
        url = dsn.replace("postgresql://", "postgresql+asyncpg://")

        async def migrate() -> None:
            engine = create_engine(url)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
            await _snapshot_seeds(url)

        run_in_thread(migrate)
        yield url


@pytest.fixture(scope="module")
def bench_db() -> Iterator[str]:
    """A PostgreSQL database of its own for a benchmark (it loads contacts; others expect none)."""
    with scratch_pg_database("callboard_bench") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    run_in_thread(migrate)
    return path


# Rows the migrations seed (reference data such as activity statuses), per database: restored
# after each test's TRUNCATE so that every PostgreSQL test starts from a freshly migrated state.
_PG_SEEDS: dict[str, list[tuple[str, list[asyncpg.Record]]]] = {}


async def _snapshot_seeds(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        seeds = []
        for t in metadata.sorted_tables:
            rows = await conn.fetch(f'SELECT * FROM "{t.name}"')  # noqa: S608 - our table names
            if rows:
                seeds.append((t.name, rows))
        _PG_SEEDS[url] = seeds
    finally:
        await conn.close()


async def _truncate_pg(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        for name, rows in _PG_SEEDS.get(url, []):
            columns = list(rows[0].keys())
            await conn.copy_records_to_table(
                name, records=[tuple(r) for r in rows], columns=columns
            )
            if "id" in columns:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "  # noqa: S608
                    f'(SELECT max(id) FROM "{name}"))'
                )
    finally:
        await conn.close()


async def drop_pg_connections(url: str, *pids: int) -> int:
    """Terminate backends of ``url``'s database from outside, as a server restart or an idle
    timeout would: the given ``pids``, or every other backend of that database; how many were
    terminated (a pid that was not a backend does not count)."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        if pids:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM unnest($1::int[]) AS pid",
                    list(pids),
                )
            )
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A migrated, empty database: SQLite (embedded mode) and PostgreSQL (production)."""
    if request.param == "sqlite":
        path = tmp_path / "callboard.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url: str = request.getfixturevalue("pg_url")
        yield url
        await _truncate_pg(url)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test; its keys are deleted afterwards."""
    prefix = f"cbtest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def redis_url() -> str:
    """The test Redis server."""
    return REDIS_URL


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: no environment, the given database, a fixed secret key."""
    values: dict[str, Any] = {"database_url": db_url, "secret_key": SECRET, "bus_wire_check": True}
    values.update(overrides)
    return load_settings(environ={}, overrides=values)


AppMaker = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    db_url: str, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> AppMaker:
    """Start the real application on ``db_url`` and return an HTTP client for it."""

    async def make(
        *, setup: Callable[[web.Application], None] | None = None, **overrides: Any
    ) -> TestClient[Any, Any]:
        ov = overrides.pop("_overrides", None) or Overrides(hashing=FAST_HASHING)
        app = create_app(make_settings(db_url, **overrides), overrides=ov)
        if setup is not None:
            setup(app)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: AppMaker) -> TestClient[Any, Any]:
    """A client of the application with default settings."""
    return await make_client()


async def add_user(
    client: TestClient[Any, Any],
    username: str,
    *roles: str,
    password: str = "pw-" + "x" * 8,
    teams: tuple[str, ...] = (),
) -> User:
    """Create (or reset) a user in the running app."""
    return await client.app[USERS].ensure_user(
        username=username,
        password=password,
        roles=roles,
        display_name=username.title(),
        team_names=teams,
    )


async def login(
    client: TestClient[Any, Any], username: str, password: str = "pw-" + "x" * 8
) -> dict[str, Any]:
    """Sign in through the API; return the answer (with csrf_token)."""
    resp = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    leaked = [
        t
        for t in asyncio.all_tasks()
        if t not in before and t is not asyncio.current_task() and not t.done()
    ]
    if leaked:
        for t in leaked:
            t.cancel()
        pytest.fail(f"test left tasks running: {[t.get_name() for t in leaked]}")
