"""Redis adapters: the connection, the pub/sub event bus and the rate-limit counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from crm_core.bus.events import Event, EventDecodeError, decode_event, encode_event
from crm_core.bus.fanout import FanOut, Subscription
from crm_core.errors import ServiceUnavailable
from crm_core.settings import redact_url
from crm_core.supervisor import TaskSupervisor

__all__ = ["RedisBus", "RedisConnection", "RedisCounters", "connect_redis", "ping_redis"]

log = logging.getLogger(__name__)


async def connect_redis(url: str, *, timeout: float = 3.0) -> aioredis.Redis:
    """Connect and ping; raise ServiceUnavailable saying where Redis was expected."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=15
    )
    try:
        await client.ping()
    except (RedisError, OSError) as err:
        await client.aclose()
        raise ServiceUnavailable(f"Redis at {redact_url(url)} is unreachable: {err}") from err
    return client


async def ping_redis(client: aioredis.Redis, url: str) -> None:
    """Ping; raise ServiceUnavailable naming the server."""
    try:
        await client.ping()
    except (RedisError, OSError) as err:
        raise ServiceUnavailable(f"Redis at {redact_url(url)} is unreachable: {err}") from err


class RedisBus:
    """Event bus over Redis pub/sub: every process with the same prefix sees every event."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        supervisor: TaskSupervisor,
        reconnect_delay: float = 0.5,
    ) -> None:
        self._url = url
        self.channel = f"{prefix}bus"
        self._supervisor = supervisor
        self._fanout = FanOut()
        self._client: aioredis.Redis | None = None
        self._connected = asyncio.Event()
        self._reconnect_delay = reconnect_delay
        self._last_error: str | None = None
        self._task_name = f"redis-bus:{self.channel}:{id(self)}"
        # Survives restarts of the listener task, so a restart also tells subscribers to resync.
        self._listened_before = False

    async def start(self) -> None:
        """Connect, then listen in a supervised task; returns once the subscription is live."""
        self._client = await connect_redis(self._url)
        self._supervisor.start(self._task_name, self._listen)
        await self._connected.wait()

    async def _listen(self) -> None:
        assert self._client is not None
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if self._listened_before:
                    log.info("event bus (re)subscribed to Redis %s", redact_url(self._url))
                    # Whatever was published while we were away is gone: subscribers resync.
                    self._fanout.mark_gap()
                self._listened_before = True
                self._last_error = None
                self._connected.set()
                while True:
                    msg = await pubsub.get_message(timeout=5.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    self._dispatch(msg["data"])
            except (RedisError, OSError) as err:
                self._connected.clear()
                self._last_error = str(err) or type(err).__name__
                log.warning(
                    "event bus lost Redis %s (%s); retrying in %.1f s",
                    redact_url(self._url),
                    self._last_error,
                    self._reconnect_delay,
                )
                self._fanout.mark_gap()
                await asyncio.sleep(self._reconnect_delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, raw: bytes | str) -> None:
        try:
            event = decode_event(raw)
        except EventDecodeError as err:
            log.warning("dropped a bus message that is not a known event: %s", err)
            return
        except Exception:  # never let one bad message end the listener
            log.exception("dropped a bus message that could not be decoded")
            return
        self._fanout.deliver(event)

    async def close(self) -> None:
        """End subscriptions, the listener and the connection."""
        self._fanout.close()
        await self._supervisor.cancel(self._task_name)
        self._connected.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, event: Event) -> bool:
        """Publish to every process; False (logged) when Redis cannot be reached."""
        if self._client is None:
            return False
        payload = encode_event(event)
        try:
            await self._client.publish(self.channel, payload)
        except (RedisError, OSError) as err:
            log.warning("event %s not published: Redis unreachable (%s)", event.event_name, err)
            self._fanout.mark_gap()
            return False
        return True

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """Subscribe to ``types`` (all events when none are given)."""
        return self._fanout.add(types, maxsize)

    def health(self) -> dict[str, str]:
        """Connected or not, with the last error."""
        if self._connected.is_set():
            return {"status": "ok", "detail": f"subscribed to {self.channel}"}
        return {"status": "down", "detail": self._last_error or "not connected"}


class RedisCounters:
    """Expiring counters in Redis (INCR + EXPIRE), shared by every process."""

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str) -> tuple[int, int]:
        """(count, seconds until it resets) for ``key``."""
        k = self._prefix + key
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(k)
                pipe.ttl(k)
                raw, ttl = await pipe.execute()
        except (RedisError, OSError) as err:
            raise ServiceUnavailable(f"Redis is unreachable: {err}") from err
        count = int(raw) if raw is not None else 0
        return count, max(int(ttl), 0) if count else 0

    async def incr(self, key: str, window: int) -> int:
        """Add one to ``key``; the count resets ``window`` seconds after its first increment."""
        k = self._prefix + key
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(k)
                pipe.expire(k, window, nx=True)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as err:
            raise ServiceUnavailable(f"Redis is unreachable: {err}") from err
        return int(count)

    async def reset(self, key: str) -> None:
        """Forget ``key``."""
        try:
            await self._client.delete(self._prefix + key)
        except (RedisError, OSError) as err:
            raise ServiceUnavailable(f"Redis is unreachable: {err}") from err


class RedisConnection:
    """One Redis client of the process, with the helpers the app needs."""

    def __init__(self, client: aioredis.Redis, url: str, prefix: str) -> None:
        self.client = client
        self.url = url
        self.prefix = prefix

    @classmethod
    async def open(cls, url: str, prefix: str) -> RedisConnection:
        """Connect; raise ServiceUnavailable naming the server when it cannot be reached."""
        return cls(await connect_redis(url), url, prefix)

    async def ping(self) -> None:
        """Raise ServiceUnavailable when Redis does not answer."""
        await ping_redis(self.client, self.url)

    def counters(self) -> RedisCounters:
        """Expiring counters under this prefix."""
        return RedisCounters(self.client, prefix=self.prefix)

    def bus(self, supervisor: TaskSupervisor) -> RedisBus:
        """A pub/sub event bus under this prefix."""
        return RedisBus(self.url, prefix=self.prefix, supervisor=supervisor)

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()
