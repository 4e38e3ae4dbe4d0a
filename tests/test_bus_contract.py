"""One contract suite for every event bus (in-process and Redis), plus Redis-only fan-out tests."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from crm_core.adapters.redis import RedisBus
from crm_core.bus.events import Event
from crm_core.bus.fanout import Subscription, SubscriptionClosed, SubscriptionGap
from crm_core.bus.memory import InProcessBus
from crm_core.bus.ports import EventBus
from crm_core.errors import ServiceUnavailable
from crm_core.supervisor import TaskSupervisor

WAIT = 5.0  # upper bound of every wait for an event; a passing test never waits this long


class Lane(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Leg:
    number: str
    answered_at: datetime | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class BusPing(Event):
    event_name = "test.bus_ping"
    n: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class BusPong(Event):
    event_name = "test.bus_pong"
    n: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class BusOther(Event):
    event_name = "test.bus_other"
    text: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class BusRich(Event):
    event_name = "test.bus_rich"
    started_at: datetime
    lane: Lane
    level: Level
    tags: tuple[str, ...]
    pair: tuple[int, str]
    note: str | None = None
    legs: tuple[Leg, ...] = ()
    first: Leg | None = None


T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def ping(n: int) -> BusPing:
    """A ping with a fixed timestamp, so that two pings with the same ``n`` are equal."""
    return BusPing(n=n, occurred_at=T0)


def pong(n: int) -> BusPong:
    return BusPong(n=n, occurred_at=T0)


async def next_item(sub: Subscription, timeout: float = WAIT) -> Event:
    """The subscription's next event (SubscriptionGap/Closed propagate), bounded in time."""
    async with asyncio.timeout(timeout):
        return await sub.get()


async def next_events(sub: Subscription, count: int) -> list[Event]:
    return [await next_item(sub) for _ in range(count)]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[EventBus]:
    """A started bus of each implementation; closed (and its supervisor stopped) afterwards."""
    if request.param == "memory":
        memory = InProcessBus()
        await memory.start()
        yield memory
        await memory.close()
        return
    supervisor = TaskSupervisor()
    redis_bus = RedisBus(redis_url, prefix=redis_prefix, supervisor=supervisor)
    try:
        await redis_bus.start()
        yield redis_bus
    finally:
        await redis_bus.close()
        await supervisor.stop()


BusMaker = Callable[..., Awaitable[RedisBus]]


@pytest.fixture
async def make_redis_bus(redis_url: str) -> AsyncIterator[BusMaker]:
    """Start extra RedisBus instances ("processes"); all are closed afterwards."""
    made: list[tuple[RedisBus, TaskSupervisor]] = []

    async def make(
        prefix: str,
        *,
        url: str | None = None,
        supervisor: TaskSupervisor | None = None,
        **kw: float,
    ) -> RedisBus:
        sup = supervisor or TaskSupervisor()
        made_bus = RedisBus(url or redis_url, prefix=prefix, supervisor=sup, **kw)
        made.append((made_bus, sup))
        await made_bus.start()
        return made_bus

    yield make
    for made_bus, sup in made:
        await made_bus.close()
        await sup.stop()


# --- the contract, for every bus ----------------------------------------------------------------


async def test_subscriber_receives_an_equal_event(bus: EventBus) -> None:
    sub = bus.subscribe()
    event = ping(1)
    assert await bus.publish(event) is True
    received = await next_item(sub)
    assert received == event
    assert type(received) is BusPing
    assert bus.health()["status"] == "ok"


async def test_subscription_filters_by_type(bus: EventBus) -> None:
    pings = bus.subscribe(BusPing)
    pongs = bus.subscribe(BusPong)
    both = bus.subscribe(BusPing, BusPong)
    everything = bus.subscribe()
    sent: list[Event] = [ping(1), BusOther(text="x", occurred_at=T0), pong(2), ping(3)]
    for event in sent:
        assert await bus.publish(event)
    # Each queue is filled in publish order, so an unwanted event would show up in between.
    assert await next_events(pings, 2) == [ping(1), ping(3)]
    assert await next_events(pongs, 1) == [pong(2)]
    assert await next_events(both, 3) == [ping(1), pong(2), ping(3)]
    assert await next_events(everything, 4) == sent
    # A final marker is the next thing the filtered subscribers see: nothing else was queued.
    assert await bus.publish(pong(99))
    assert await next_item(pongs) == pong(99)
    assert await next_item(both) == pong(99)


async def test_every_subscriber_gets_every_event(bus: EventBus) -> None:
    subs = [bus.subscribe(BusPing) for _ in range(3)]
    sent = [ping(i) for i in range(10)]
    for event in sent:
        assert await bus.publish(event)
    for sub in subs:
        assert await next_events(sub, 10) == sent


async def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    leaving = bus.subscribe(BusPing)
    staying = bus.subscribe(BusPing)
    assert await bus.publish(ping(1))
    assert await next_item(leaving) == ping(1)
    leaving.unsubscribe()
    assert await bus.publish(ping(2))
    assert await next_item(staying) == ping(1)
    assert await next_item(staying) == ping(2)
    with pytest.raises(SubscriptionClosed):
        await next_item(leaving)
    assert [e async for e in leaving] == []


async def test_context_manager_unsubscribes_on_exit(bus: EventBus) -> None:
    async with bus.subscribe(BusPing) as sub:
        assert await bus.publish(ping(1))
        assert await next_item(sub) == ping(1)
    witness = bus.subscribe(BusPing)
    assert await bus.publish(ping(2))
    assert await next_item(witness) == ping(2)
    with pytest.raises(SubscriptionClosed):
        await next_item(sub)


async def test_slow_subscriber_gets_a_gap_then_new_events(bus: EventBus) -> None:
    slow = bus.subscribe(BusPing, maxsize=2)
    fast = bus.subscribe(BusPing, maxsize=100)
    first = [ping(i) for i in range(5)]
    for event in first:
        assert await bus.publish(event)
    # The fast subscriber loses nothing; once it has all five, so has the slow one's queue.
    assert await next_events(fast, 5) == first
    with pytest.raises(SubscriptionGap):
        await next_item(slow)
    assert await bus.publish(ping(5))
    assert await next_item(slow) == ping(5)
    assert await next_item(fast) == ping(5)


async def test_gap_is_reported_once(bus: EventBus) -> None:
    slow = bus.subscribe(maxsize=1)
    witness = bus.subscribe()
    for i in range(4):
        assert await bus.publish(ping(i))
    assert await next_events(witness, 4) == [ping(i) for i in range(4)]
    with pytest.raises(SubscriptionGap):
        await next_item(slow)
    # Events while the gap was unread were dropped; the next read is a fresh event, not a gap.
    assert await bus.publish(ping(4))
    assert await next_item(slow) == ping(4)
    assert await next_item(witness) == ping(4)


async def test_maxsize_must_be_positive(bus: EventBus) -> None:
    with pytest.raises(ValueError, match="maxsize"):
        bus.subscribe(maxsize=0)


async def test_close_ends_iteration(bus: EventBus) -> None:
    sub = bus.subscribe(BusPing)
    got_one = asyncio.Event()
    seen: list[Event] = []

    async def read() -> None:
        async for event in sub:
            seen.append(event)
            got_one.set()

    reader = asyncio.create_task(read())
    try:
        assert await bus.publish(ping(1))
        async with asyncio.timeout(WAIT):
            await got_one.wait()
        idle = bus.subscribe()
        await bus.close()
        async with asyncio.timeout(WAIT):
            await reader  # the blocked reader wakes up and its loop ends
    finally:
        reader.cancel()
    assert seen == [ping(1)]
    assert [e async for e in idle] == []
    with pytest.raises(SubscriptionClosed):
        await sub.get()


async def test_publish_after_close_returns_false(bus: EventBus) -> None:
    await bus.close()
    assert await bus.publish(ping(1)) is False
    assert bus.health()["status"] == "down"


async def test_rich_event_fields_survive(bus: EventBus) -> None:
    sub = bus.subscribe(BusRich)
    event = BusRich(
        occurred_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        started_at=datetime(2024, 3, 1, 1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
        lane=Lane.OUTBOUND,
        level=Level.HIGH,
        tags=("a", "β", ""),
        pair=(42, "answer"),
        note=None,
        legs=(Leg(number="100"), Leg(number="+302101234567", answered_at=datetime.now(UTC))),
        first=Leg(number="100"),
    )
    assert await bus.publish(event)
    received = await next_item(sub)
    assert received == event
    assert isinstance(received, BusRich)
    assert type(received.lane) is Lane
    assert type(received.level) is Level
    assert type(received.legs) is tuple
    assert all(type(leg) is Leg for leg in received.legs)
    assert received.started_at.utcoffset() == timedelta(hours=2)


# --- Redis only ---------------------------------------------------------------------------------


@pytest.mark.redis
async def test_buses_with_the_same_prefix_see_each_others_events(
    make_redis_bus: BusMaker, redis_prefix: str
) -> None:
    first = await make_redis_bus(redis_prefix)
    second = await make_redis_bus(redis_prefix)
    on_first = first.subscribe(BusPing)
    on_second = second.subscribe(BusPing)
    assert await first.publish(ping(1))
    assert await second.publish(ping(2))
    for sub in (on_first, on_second):
        received = await next_events(sub, 2)
        assert sorted(e.n for e in received if isinstance(e, BusPing)) == [1, 2]


@pytest.mark.redis
async def test_different_prefixes_are_isolated(make_redis_bus: BusMaker, redis_prefix: str) -> None:
    mine = await make_redis_bus(redis_prefix)
    theirs = await make_redis_bus(f"{redis_prefix}other:")
    on_mine = mine.subscribe()
    on_theirs = theirs.subscribe()
    assert await theirs.publish(ping(1))
    assert await mine.publish(ping(2))
    # Redis delivers in PUBLISH order: had n=1 crossed over, it would come first.
    assert await next_item(on_mine) == ping(2)
    assert await next_item(on_theirs) == ping(1)
    assert await theirs.publish(ping(3))
    assert await next_item(on_theirs) == ping(3)


def _with_client_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}client_name={name}"


async def _kill_pubsub_connections(redis_url: str, client_name: str) -> int:
    """Kill, server-side, the pub/sub connections named ``client_name`` (and no other client)."""
    admin = aioredis.Redis.from_url(redis_url)
    try:
        clients = await admin.client_list()
        ids = [c["id"] for c in clients if c.get("name") == client_name and c.get("sub") != "0"]
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)  # CLIENT KILL ID <id>
        return len(ids)
    finally:
        await admin.aclose()


async def _publish_until_delivered(bus: RedisBus, sub: Subscription, start: int) -> BusPing:
    """Publish pings until one arrives (publishes while resubscribing are lost); skip gaps."""
    n = start
    async with asyncio.timeout(WAIT * 2):
        while True:
            assert await bus.publish(ping(n))
            try:
                event = await next_item(sub, timeout=0.2)
            except SubscriptionGap:
                continue
            except TimeoutError:
                n += 1
                continue
            assert isinstance(event, BusPing)
            return event


@pytest.mark.redis
async def test_lost_pubsub_connection_gives_a_gap_then_events_again(
    make_redis_bus: BusMaker, redis_url: str, redis_prefix: str
) -> None:
    name = f"cbtest-{uuid.uuid4().hex[:12]}"
    bus = await make_redis_bus(
        redis_prefix, url=_with_client_name(redis_url, name), reconnect_delay=0.05
    )
    sub = bus.subscribe(BusPing)
    other = bus.subscribe(BusPing)
    assert await bus.publish(ping(0))
    assert await next_item(sub) == ping(0)
    assert await next_item(other) == ping(0)

    assert await _kill_pubsub_connections(redis_url, name) == 1

    with pytest.raises(SubscriptionGap):
        await next_item(sub)
    with pytest.raises(SubscriptionGap):
        await next_item(other)
    received = await _publish_until_delivered(bus, sub, start=1)
    assert received.n >= 1
    # ``other`` may still have the gap of the resubscription to read first.
    await _publish_until_delivered(bus, other, start=500)
    # Delivery is back for both: a later event reaches each of them, with no further gap.
    assert await bus.publish(ping(1000))
    for each in (sub, other):
        async with asyncio.timeout(WAIT):
            while (event := await each.get()) != ping(1000):
                assert isinstance(event, BusPing)
    assert bus.health()["status"] == "ok"


@pytest.mark.redis
async def test_foreign_messages_on_the_channel_are_dropped(
    make_redis_bus: BusMaker, redis_url: str, redis_prefix: str
) -> None:
    bus = await make_redis_bus(redis_prefix)
    sub = bus.subscribe()
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.publish(bus.channel, "not json at all")
        await raw.publish(bus.channel, '{"event": "test.bus_never_registered", "data": {}}')
        await raw.publish(bus.channel, '{"event": "test.bus_ping", "data": {"n": "NaN"}}')
    finally:
        await raw.aclose()
    assert await bus.publish(ping(1))
    assert await next_item(sub) == ping(1)


@pytest.mark.redis
async def test_malformed_envelope_does_not_lose_events_silently(
    make_redis_bus: BusMaker, redis_url: str, redis_prefix: str
) -> None:
    supervisor = TaskSupervisor(min_backoff=0.05, max_backoff=0.05)
    bus = await make_redis_bus(redis_prefix, supervisor=supervisor)
    sub = bus.subscribe(BusPing)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await raw.publish(bus.channel, '{"event": [], "data": {}}')
    finally:
        await raw.aclose()
    assert await bus.publish(ping(1))
    # Either n=1 arrives, or the subscriber is told that it missed something.
    async with asyncio.timeout(WAIT * 2):
        n = 2
        while True:
            try:
                event = await next_item(sub, timeout=0.2)
            except SubscriptionGap:
                return
            except TimeoutError:
                assert await bus.publish(ping(n))
                n += 1
                continue
            assert event == ping(1)
            return


@pytest.mark.redis
async def test_close_stops_the_listener(make_redis_bus: BusMaker, redis_prefix: str) -> None:
    supervisor = TaskSupervisor()
    bus = await make_redis_bus(redis_prefix, supervisor=supervisor)
    assert [s["state"] for s in supervisor.status().values()] == ["running"]
    await bus.close()
    assert supervisor.status() == {}
    assert bus.health()["status"] == "down"


@pytest.mark.redis
async def test_unreachable_redis_is_reported_without_the_password() -> None:
    supervisor = TaskSupervisor()
    bus = RedisBus(
        "redis://:Hidden-Pass-123@127.0.0.1:1/0", prefix="cbtest-nowhere:", supervisor=supervisor
    )
    try:
        with pytest.raises(ServiceUnavailable) as info:
            await bus.start()
    finally:
        await bus.close()
        await supervisor.stop()
    assert "127.0.0.1:1" in str(info.value)
    assert "Hidden-Pass-123" not in str(info.value)
    assert await bus.publish(ping(1)) is False


async def test_subscription_after_close_ends_at_once(bus: EventBus) -> None:
    await bus.close()
    sub = bus.subscribe(BusPing)
    seen = [event async for event in sub]
    assert seen == []
