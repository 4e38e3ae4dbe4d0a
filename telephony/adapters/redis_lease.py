"""A lease in Redis: ``SET key token NX PX ttl``, renewed and released only by its holder."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telephony.errors import PbxUnavailable

__all__ = ["RedisLease", "redis_client"]

log = logging.getLogger(__name__)

# Compare-and-act scripts: only the holder's token may extend or delete the key.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def redis_client(url: str, *, timeout: float = 3.0) -> aioredis.Redis:
    """A Redis client for leases (connects lazily)."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    return client


class RedisLease:
    """One process's claim on ``key``; expires ``ttl_s`` after the last renewal."""

    def __init__(self, client: aioredis.Redis, key: str, holder_id: str, ttl_s: float) -> None:
        self._client = client
        self.key = key
        self.holder_id = holder_id
        self._ttl_ms = max(int(ttl_s * 1000), 1)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours)."""
        try:
            if await self._client.set(self.key, self.holder_id, nx=True, px=self._ttl_ms):
                return True
            return await self.renew()
        except (RedisError, OSError) as err:
            raise PbxUnavailable(f"leader election in Redis failed: {err}") from err

    async def renew(self) -> bool:
        """Extend the lease if this process still holds it."""
        try:
            renewed = await self._client.eval(
                _RENEW, 1, self.key, self.holder_id, str(self._ttl_ms)
            )
        except (RedisError, OSError) as err:
            raise PbxUnavailable(f"leader lease renewal in Redis failed: {err}") from err
        return bool(renewed)

    async def release(self) -> None:
        """Delete the lease if this process holds it (a graceful shutdown)."""
        try:
            await self._client.eval(_RELEASE, 1, self.key, self.holder_id)
        except (RedisError, OSError) as err:
            log.warning("could not release %s (it expires by itself): %s", self.key, err)

    async def holder(self) -> str | None:
        """The holder's id, if anybody holds the lease."""
        try:
            value = await self._client.get(self.key)
        except (RedisError, OSError) as err:
            raise PbxUnavailable(f"leader lookup in Redis failed: {err}") from err
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
