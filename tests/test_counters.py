"""Expiring counters: one contract suite over MemoryCounters and RedisCounters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from crm_core.adapters.redis import RedisConnection, RedisCounters
from crm_core.errors import ServiceUnavailable
from crm_core.users.counters import Counters, MemoryCounters


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Case:
    """A counters implementation and how to let one of its windows run out."""

    counters: Counters
    clock: FakeClock | None = None

    async def let_expire(self, key: str, window: int) -> None:
        """Return once the window of ``key`` is over."""
        if self.clock is not None:
            self.clock.advance(window)
            return
        # Real Redis expiry: poll until the key is gone, bounded in time.
        async with asyncio.timeout(window + 5):
            while (await self.counters.get(key))[0] != 0:
                await asyncio.sleep(0.05)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def case(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[Case]:
    if request.param == "memory":
        clock = FakeClock()
        yield Case(MemoryCounters(clock=clock), clock)
        return
    conn = await RedisConnection.open(redis_url, redis_prefix)
    try:
        yield Case(conn.counters())
    finally:
        await conn.close()


async def test_unknown_key_is_zero(case: Case) -> None:
    assert await case.counters.get("never-touched") == (0, 0)


async def test_incr_counts_and_reports_time_left(case: Case) -> None:
    assert [await case.counters.incr("login:alice", 60) for _ in range(3)] == [1, 2, 3]
    count, left = await case.counters.get("login:alice")
    assert count == 3
    assert 0 < left <= 60


async def test_keys_are_independent(case: Case) -> None:
    await case.counters.incr("a", 60)
    await case.counters.incr("a", 60)
    assert await case.counters.incr("b", 60) == 1
    assert (await case.counters.get("a"))[0] == 2
    assert (await case.counters.get("b"))[0] == 1
    assert await case.counters.get("c") == (0, 0)


async def test_window_starts_at_first_increment(case: Case) -> None:
    await case.counters.incr("k", 60)
    # A later increment with another window neither extends nor restarts the first one.
    assert await case.counters.incr("k", 3600) == 2
    count, left = await case.counters.get("k")
    assert count == 2
    assert 0 < left <= 60


async def test_count_resets_when_the_window_is_over(case: Case) -> None:
    assert await case.counters.incr("short", 1) == 1
    assert await case.counters.incr("short", 1) == 2
    await case.let_expire("short", 1)
    assert await case.counters.get("short") == (0, 0)
    # A new window starts from one.
    assert await case.counters.incr("short", 60) == 1
    count, left = await case.counters.get("short")
    assert count == 1
    assert left > 1


async def test_reset_forgets_the_key(case: Case) -> None:
    for _ in range(3):
        await case.counters.incr("r", 60)
    await case.counters.incr("other", 60)
    await case.counters.reset("r")
    assert await case.counters.get("r") == (0, 0)
    assert (await case.counters.get("other"))[0] == 1
    assert await case.counters.incr("r", 60) == 1
    await case.counters.reset("no-such-key")  # forgetting an unknown key is fine
    assert await case.counters.get("no-such-key") == (0, 0)


# --- MemoryCounters only ------------------------------------------------------------------------


async def test_memory_window_boundary() -> None:
    clock = FakeClock()
    counters = MemoryCounters(clock=clock)
    await counters.incr("k", 10)
    clock.advance(9.9)
    assert await counters.get("k") == (1, 1)  # never reports 0 seconds while counting
    clock.advance(0.1)
    assert await counters.get("k") == (0, 0)


async def test_memory_time_left_counts_down() -> None:
    clock = FakeClock()
    counters = MemoryCounters(clock=clock)
    await counters.incr("k", 900)
    assert await counters.get("k") == (1, 900)
    clock.advance(300)
    await counters.incr("k", 900)
    assert await counters.get("k") == (2, 600)


async def test_memory_full_table_drops_expired_then_oldest_windows() -> None:
    clock = FakeClock()
    counters = MemoryCounters(clock=clock, max_keys=10)
    for i in range(10):
        await counters.incr(f"k{i}", 100)
        clock.advance(1)
    # The table is full of live windows: the oldest tenth (k0) makes room for k10.
    assert await counters.incr("k10", 100) == 1
    assert await counters.get("k0") == (0, 0)
    assert [(await counters.get(f"k{i}"))[0] for i in range(1, 11)] == [1] * 10
    # Once windows are over, they are purged rather than live ones.
    clock.advance(95)  # k1..k5 are over (started at 1..5 with window 100)
    assert await counters.incr("k11", 100) == 1
    assert [(await counters.get(f"k{i}"))[0] for i in range(6, 12)] == [1] * 6


# --- RedisCounters only -------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_counters_are_shared_between_connections(
    redis_url: str, redis_prefix: str
) -> None:
    first = await RedisConnection.open(redis_url, redis_prefix)
    second = await RedisConnection.open(redis_url, redis_prefix)
    try:
        await first.counters().incr("shared", 60)
        assert await second.counters().incr("shared", 60) == 2
        assert (await first.counters().get("shared"))[0] == 2
    finally:
        await first.close()
        await second.close()


@pytest.mark.redis
async def test_redis_counters_keep_to_their_prefix(redis_url: str, redis_prefix: str) -> None:
    conn = await RedisConnection.open(redis_url, redis_prefix)
    other = RedisCounters(conn.client, prefix=f"{redis_prefix}other:")
    try:
        await conn.counters().incr("k", 60)
        assert await other.get("k") == (0, 0)
        assert await conn.client.get(f"{redis_prefix}k") == b"1"
    finally:
        await conn.close()


@pytest.mark.redis
async def test_unreachable_redis_raises_service_unavailable(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0), socket_connect_timeout=1
    )
    counters = RedisCounters(client, prefix=redis_prefix)
    try:
        with pytest.raises(ServiceUnavailable):
            await counters.get("k")
        with pytest.raises(ServiceUnavailable):
            await counters.incr("k", 60)
        with pytest.raises(ServiceUnavailable):
            await counters.reset("k")
    finally:
        await client.aclose()
