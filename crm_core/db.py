"""Database engine, sessions and the declarative base shared by every package's models."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from crm_core.bus.events import utcnow
from crm_core.errors import ServiceUnavailable

__all__ = [
    "READ_POOL_SIZE",
    "Base",
    "UtcDateTime",
    "autocommit_engine",
    "create_engine",
    "hot_read",
    "make_sessionmaker",
    "open_hot_reads",
    "ping",
    "session_scope",
    "utcnow",
    "warm_hot_reads",
]

log = logging.getLogger(__name__)

# Constraint names are fixed so that migrations can refer to them on PostgreSQL and SQLite alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every model; one metadata for the whole schema."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime()}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _ping_on_checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Check a pooled PostgreSQL connection before it is handed out, in one round trip.

    SQLAlchemy's own ``pool_pre_ping`` for asyncpg wraps its ping in ``BEGIN``/``ROLLBACK``
    (three round trips per checkout, for every session of the platform). A dead connection
    raises ``DisconnectionError`` here, which makes the pool discard it (and every older one) and
    check out a fresh connection, as pre-ping does.
    """
    try:
        await_only(record.driver_connection.fetchval("SELECT 1"))
    except Exception as err:
        raise DisconnectionError(f"pooled connection is dead: {err!r}") from err


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout;
    PostgreSQL connections are checked (one round trip) whenever the pool hands one out."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800)
        # asyncpg: the one-round-trip check below; another driver: SQLAlchemy's own ping.
        kwargs["pool_pre_ping"] = parsed.get_driver_name() != "asyncpg"
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif not kwargs["pool_pre_ping"]:
        event.listen(engine.sync_engine.pool, "checkout", _ping_on_checkout)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


# Connections the read engine keeps (and more, up to 5, while busier).
READ_POOL_SIZE = 5
_READ_ENGINES: weakref.WeakKeyDictionary[Engine, AsyncEngine] = weakref.WeakKeyDictionary()
# Statements run once (NULL arguments) on each new connection of a read engine, before its first
# hot read: (driver SQL, number of parameters). See warm_hot_reads.
_WARM_UP: weakref.WeakKeyDictionary[Engine, list[tuple[str, int]]] = weakref.WeakKeyDictionary()
_WARMED = "callboard_warmed"  # key in a pooled connection's ``info``: how many were run there
# Connections of a read engine being given back after a hot read returned (see hot_read).
_RELEASING: weakref.WeakKeyDictionary[Engine, set[asyncio.Task[None]]] = weakref.WeakKeyDictionary()


def _read_engine(engine: AsyncEngine) -> AsyncEngine:
    """A small ``AUTOCOMMIT`` engine beside ``engine`` (same URL), disposed with it; no
    pre-ping (see :func:`autocommit_engine`).

    With asyncpg its connections plan every prepared statement generically
    (``plan_cache_mode=force_generic_plan``): hot reads are indexed point reads whose plan does
    not depend on the values, and PostgreSQL's default re-plans each statement for its first
    five runs on every connection, which costs milliseconds on the screen pop's statement
    (measured: 3-9 ms binds inside the benchmark's window) where the cached plan binds in 0.2.
    """
    found = _READ_ENGINES.get(engine.sync_engine)
    if found is not None:
        return found
    connect_args: dict[str, Any] = {}
    if engine.url.get_driver_name() == "asyncpg":
        connect_args["server_settings"] = {"plan_cache_mode": "force_generic_plan"}
    read = create_async_engine(
        engine.url,
        connect_args=connect_args,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_size=READ_POOL_SIZE,
        max_overflow=5,
        pool_recycle=1800,
    )
    _READ_ENGINES[engine.sync_engine] = read
    _RELEASING[read.sync_engine] = set()

    def dispose_too(_engine: Engine) -> None:
        # Runs inside AsyncEngine.dispose()'s greenlet, so the sync dispose may await: first
        # the connections hot reads are still giving back, so none outlives its pool.
        _READ_ENGINES.pop(engine.sync_engine, None)
        releasing = _RELEASING.pop(read.sync_engine, set())
        if releasing:
            await_only(asyncio.wait(releasing))
        read.sync_engine.dispose()

    event.listen(engine.sync_engine, "engine_disposed", dispose_too)
    return read


def autocommit_engine(factory: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """An engine for hot single-statement reads (the caller-ID lookup), in ``AUTOCOMMIT`` mode
    on PostgreSQL.

    Every statement runs on its own, without ``BEGIN``/``ROLLBACK`` round trips: use it only
    for reads that need no common snapshot, through Core (``engine.connect()``). On PostgreSQL
    it is a small engine of its own (5 + 5 connections, opened lazily, disposed with
    ``factory``'s engine) **without pre-ping**: the ping would cost three round trips
    (SQLAlchemy wraps the asyncpg ping in ``BEGIN``/``ROLLBACK``) where the read costs one.
    A connection the server dropped therefore fails the statement with a ``DBAPIError`` whose
    ``connection_invalidated`` is true (the pool then discards it and every older connection):
    callers retry once on that (:meth:`crm_core.crm.service.CrmService.lookup_phone` does).
    On SQLite: ``factory``'s own engine. The driver opens a transaction only before a write, so
    a read already runs without one; switching the isolation level per checkout would cost two
    thread hops and, worse, open a window where a task cancelled between the checkout and the
    switch leaves its connection checked out for the garbage collector to find.
    ``factory`` must be bound to one engine.
    """
    bind = factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("autocommit_engine needs a session factory bound to one AsyncEngine")
    if bind.dialect.name == "postgresql":
        return _read_engine(bind)
    return bind


T = TypeVar("T")


async def hot_read(
    factory: async_sessionmaker[AsyncSession], read: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """Run ``read`` on a connection of :func:`autocommit_engine` (no ``BEGIN``/``ROLLBACK``, no
    pre-ping): for hot paths made of a few single-statement reads that need no common snapshot
    (caller-ID lookup, screen pop, the pop's principal).

    The pool does not ping, so a connection the server dropped fails once (``DBAPIError`` with
    ``connection_invalidated``) and the pool discards it: ``read`` then runs once more on a fresh
    connection. ``read`` must therefore only read — or be one idempotent statement, atomic by
    itself in ``AUTOCOMMIT``, that does nothing more when run again (the call store's batch).
    """
    engine = autocommit_engine(factory)
    try:
        return await _read_once(engine, read)
    except DBAPIError as err:
        if not err.connection_invalidated:
            raise
    return await _read_once(engine, read)


async def _read_once(engine: AsyncEngine, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """``read`` on a connection of ``engine``. On PostgreSQL's read engine the connection goes
    back to the pool in a task of its own once ``read`` has succeeded: the caller has its
    result without waiting for that task to be scheduled (on a busy loop, up to ~2 ms of the
    screen pop's latency). The engine's dispose waits for such tasks (see ``_read_engine``).
    Elsewhere, and whenever ``read`` fails or is cancelled, the connection is given back before
    this returns, as ``async with`` does."""
    releasing = _RELEASING.get(engine.sync_engine)
    if releasing is None:
        async with engine.connect() as conn:
            return await read(conn)
    conn = engine.connect()
    await conn.start()
    try:
        await _warm(engine, conn)
        result = await read(conn)
    except BaseException as err:
        await conn.__aexit__(type(err), err, err.__traceback__)
        raise
    task = asyncio.create_task(conn.close())
    releasing.add(task)
    task.add_done_callback(partial(_released, releasing))
    return result


async def _warm(engine: AsyncEngine, conn: AsyncConnection) -> None:
    """Run the statements registered for ``engine`` that this connection has not run yet."""
    statements = _WARM_UP.get(engine.sync_engine)
    if not statements:
        return
    info = conn.info  # the pooled DBAPI connection's own (no greenlet hop, as get_raw_connection)
    done = info.get(_WARMED, 0)
    for sql, count in statements[done:]:
        try:
            await conn.exec_driver_sql(sql, (None,) * count)
        except DBAPIError as err:
            if err.connection_invalidated:
                raise  # hot_read tries once more on a fresh connection
            # Only a warm-up: the reads go on (and pay the statement's first run themselves).
            log.warning("hot reads: a statement could not be warmed up: %s", _short(err))
        info[_WARMED] = done = done + 1


def warm_hot_reads(factory: async_sessionmaker[AsyncSession], sql: str, count: int) -> None:
    """Have every connection of ``factory``'s read engine (PostgreSQL) run ``sql`` — driver SQL
    with ``count`` positional parameters, a read that accepts NULL for each — once, before its
    first hot read.

    On a new connection the first run of a large statement costs what later runs do not: the
    server parses it and loads its catalog caches, asyncpg describes it, the generic plan is
    built. For the screen pop's statement that is ~20 ms (measured: prepare 10-14 ms, first
    run 7.6 ms, later runs 0.6 ms); a pop that met a connection the pool had just opened took
    that long. Now whoever opens the connection pays it, and :func:`open_hot_reads` opens them
    ahead of need. SQLite: nothing to do.
    """
    bind = _postgres_bind(factory)
    if bind is None:
        return
    statements = _WARM_UP.setdefault(_read_engine(bind).sync_engine, [])
    if (sql, count) not in statements:
        statements.append((sql, count))


async def open_hot_reads(factory: async_sessionmaker[AsyncSession], connections: int) -> None:
    """Open (and warm, see :func:`warm_hot_reads`) up to ``connections`` connections of the read
    engine at once, so that hot reads find them ready. SQLite: nothing to do."""
    if _postgres_bind(factory) is None:
        return
    together = asyncio.Barrier(connections)

    async def hold(conn: AsyncConnection) -> None:
        # Each waits for the others, so that each reads on a connection of its own (not for
        # long: a pool kept busy by others makes do with fewer).
        with contextlib.suppress(asyncio.BrokenBarrierError, TimeoutError):
            async with asyncio.timeout(5):
                await together.wait()

    await asyncio.gather(*(hot_read(factory, hold) for _ in range(connections)))


def _postgres_bind(factory: async_sessionmaker[AsyncSession]) -> AsyncEngine | None:
    bind = factory.kw.get("bind")
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        return bind
    return None


def _released(releasing: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
    releasing.discard(task)
    if not task.cancelled() and (err := task.exception()) is not None:
        log.warning("a hot read's connection could not be given back to its pool: %r", err)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed on success, rolled back on any error."""
    async with factory() as session, session.begin():
        yield session


def describe_engine(engine: AsyncEngine) -> str:
    """Where the engine points, password hidden."""
    return engine.url.render_as_string(hide_password=True)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raise ServiceUnavailable naming the database when it cannot be reached."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as err:  # any driver error means "unreachable" to the caller
        raise ServiceUnavailable(
            f"database at {describe_engine(engine)} is unreachable: {_short(err)}"
        ) from err


def _short(err: BaseException) -> str:
    text_ = str(err).strip().splitlines()
    first = text_[0] if text_ else type(err).__name__
    return first[:300]
