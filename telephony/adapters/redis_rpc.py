"""Requests to a PBX's leader over Redis: a queue per PBX, a body key with a TTL, a reply list.

Keys (``prefix`` is the deployment's Redis prefix, ``id`` 32 random hex digits)::

    {prefix}pbx-rpc:{pbx}:queue        list of request ids, oldest first (the leader BLPOPs it)
    {prefix}pbx-rpc:{pbx}:req:{id}     the request body, expiring at the request's deadline
    {prefix}pbx-rpc:{pbx}:reply:{id}   the reply body (a list, so the follower can BLPOP it)

The deadline is the body key's TTL, so Redis's clock decides it (processes on several hosts need
no common clock). The leader takes a body with GET + PTTL + DEL in one script: a body already
gone (expired, or withdrawn by a follower that gave up) is dropped unseen, so a request is
carried out at most once and never after its deadline, e.g. by a new leader after a failover.
The reply key is derived from the id, never read from the body: a request cannot make the
leader write anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telephony.errors import AmiTimeout, PbxUnavailable
from telephony.ports import ForwardedHandler

__all__ = ["RedisLeaderChannel"]

log = logging.getLogger(__name__)

# How long the follower still waits for a reply after the deadline (the leader may have taken
# the request just before it), and how long an unread reply stays.
REPLY_GRACE_S = 1.0
REPLY_TTL_MS = 30_000
# The queue outlives its newest request by this much, so that a leader taking over late still
# finds the ids of the requests it missed and logs them as dropped.
QUEUE_TTL_MS = 60_000
_ID = re.compile(r"^[0-9a-f]{32}$")

# Store the body with its deadline (ms), queue its id; the queue expires some time (ms) after
# its newest request, so an abandoned queue disappears by itself.
_ENQUEUE = """
redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
redis.call('rpush', KEYS[2], ARGV[3])
local keep = tonumber(ARGV[2]) + tonumber(ARGV[4])
if redis.call('pttl', KEYS[2]) < keep then
  redis.call('pexpire', KEYS[2], keep)
end
return 1
"""
# Take a body and the milliseconds it has left, or nothing if it is gone.
_TAKE = """
local body = redis.call('get', KEYS[1])
if not body then
  return false
end
local left = redis.call('pttl', KEYS[1])
redis.call('del', KEYS[1])
return {body, left}
"""


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class RedisLeaderChannel:
    """The :class:`~telephony.ports.LeaderChannel` over one Redis client."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        poll_s: float = 1.0,
        max_in_flight: int = 32,
    ) -> None:
        # poll_s bounds each blocking read: it must stay below the client's socket timeout.
        self._client = client
        self._prefix = prefix
        self._poll_s = poll_s
        self._max_in_flight = max_in_flight

    def _key(self, pbx: str, kind: str, request_id: str = "") -> str:
        tail = f":{request_id}" if request_id else ""
        return f"{self._prefix}pbx-rpc:{pbx}:{kind}{tail}"

    async def request(self, pbx: str, body: str, *, ttl_s: float) -> str:
        """Queue ``body`` for the PBX's leader; wait for its reply until the deadline (+ grace)."""
        request_id = secrets.token_hex(16)
        body_key, reply_key = self._key(pbx, "req", request_id), self._key(pbx, "reply", request_id)
        ttl_ms = max(int(ttl_s * 1000), 1)
        try:
            await self._client.eval(
                _ENQUEUE,
                2,
                body_key,
                self._key(pbx, "queue"),
                body,
                str(ttl_ms),
                request_id,
                str(QUEUE_TTL_MS),
            )
        except (RedisError, OSError) as err:
            raise PbxUnavailable(
                f"cannot reach the process that holds PBX {pbx!r}: Redis failed: {err}"
            ) from err
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ttl_ms / 1000 + REPLY_GRACE_S
        answered = False
        try:
            while (left := give_up - loop.time()) > 0:
                # Never 0 (it would block for ever) and never past the socket timeout.
                popped = await self._client.blpop(
                    [reply_key], timeout=max(min(left, self._poll_s), 0.01)
                )
                if popped is not None:
                    answered = True
                    return _text(popped[1])
        except (RedisError, OSError) as err:
            raise PbxUnavailable(
                f"lost the way to the process that holds PBX {pbx!r}: Redis failed: {err}"
            ) from err
        finally:
            if not answered:
                # Withdraw it: a leader that comes late must not carry it out.
                with contextlib.suppress(RedisError, OSError):
                    await self._client.delete(body_key)
        raise AmiTimeout(
            f"no Callboard process holding PBX {pbx!r} answered within {ttl_s:.1f} s "
            "(it may have stopped; another takes over within the leader lease time): retry"
        )

    async def serve(self, pbx: str, handle: ForwardedHandler) -> None:
        """Take the PBX's requests in order and answer each in its own task, until cancelled."""
        queue = self._key(pbx, "queue")
        slots = asyncio.Semaphore(self._max_in_flight)
        async with asyncio.TaskGroup() as tasks:
            while True:
                # At most max_in_flight at once; the rest wait in Redis (and may expire there).
                await slots.acquire()
                try:
                    taken = await self._take(pbx, queue)
                except BaseException:
                    slots.release()
                    raise
                if taken is None:
                    slots.release()
                    continue
                request_id, body, left_s = taken
                tasks.create_task(
                    self._answer(pbx, request_id, body, left_s, handle, slots),
                    name=f"pbx:{pbx}:forwarded:{request_id[:8]}",
                )

    async def _take(self, pbx: str, queue: str) -> tuple[str, str, float] | None:
        """The next live request (id, body, seconds left), or None after a quiet poll."""
        try:
            popped = await self._client.blpop([queue], timeout=self._poll_s)
            if popped is None:
                return None
            request_id = _text(popped[1])
            if not _ID.match(request_id):
                log.warning(
                    "PBX %s: malformed forwarded request id %r ignored", pbx, request_id[:64]
                )
                return None
            found = await self._client.eval(_TAKE, 1, self._key(pbx, "req", request_id))
        except (RedisError, OSError) as err:
            log.warning("PBX %s: reading forwarded requests from Redis failed: %s", pbx, err)
            await asyncio.sleep(self._poll_s)  # back off; the loop retries
            return None
        if found is None:
            log.warning(
                "PBX %s: forwarded request %s dropped: past its deadline (or withdrawn)",
                pbx,
                request_id,
            )
            return None
        body, left_ms = found
        return request_id, _text(body), max(int(left_ms), 0) / 1000

    async def _answer(
        self,
        pbx: str,
        request_id: str,
        body: str,
        left_s: float,
        handle: ForwardedHandler,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            try:
                reply = await handle(request_id, body, left_s)
            except Exception:
                # The handler answers every error itself; this is a bug, the follower times out.
                log.exception("PBX %s: forwarded request %s failed unanswered", pbx, request_id)
                return
            reply_key = self._key(pbx, "reply", request_id)
            try:
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.rpush(reply_key, reply)
                    pipe.pexpire(reply_key, REPLY_TTL_MS)
                    await pipe.execute()
            except (RedisError, OSError) as err:
                log.warning("PBX %s: reply to request %s lost: %s", pbx, request_id, err)
        finally:
            slots.release()
