"""One AMI owner per PBX among several processes: lease-based leader election.

Every ``callboard serve`` process runs :meth:`Leadership.run` for each PBX. The process that
holds the PBX's lease (Redis ``SET NX PX``, see ``adapters/redis_lease.py``) connects to the PBX
and runs the call tracker; the others only serve the API and WebSockets from the events the
leader publishes on the shared bus (:mod:`telephony.mirror`). The leader renews its lease every
``ttl / 3``; if it dies (or cannot reach Redis for a whole ``ttl``), the lease expires and another
process takes over, reconnects and resynchronises from ``Status``/``QueueStatus``. Without Redis
(embedded mode) :class:`LocalLease` makes the only process the leader.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

from telephony.errors import TelephonyError
from telephony.ports import Lease

__all__ = ["Leadership", "LocalLease", "holder_id"]

log = logging.getLogger(__name__)


def holder_id() -> str:
    """An id for this process that an operator can recognise: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LocalLease:
    """The lease of a process alone (no Redis): always held."""

    def __init__(self, holder: str | None = None) -> None:
        self.holder_id = holder or holder_id()
        self._held = False

    async def acquire(self) -> bool:
        """Always succeeds."""
        self._held = True
        return True

    async def renew(self) -> bool:
        """Always succeeds while held."""
        return self._held

    async def release(self) -> None:
        """Give it up."""
        self._held = False

    async def holder(self) -> str | None:
        """This process, while it holds the lease."""
        return self.holder_id if self._held else None


class Leadership:
    """Elect, lead, renew; start and stop the PBX connection with the leadership."""

    def __init__(
        self,
        name: str,
        lease: Lease,
        *,
        ttl_s: float,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self.lease = lease
        self._ttl_s = ttl_s
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.is_leader = False
        self.leader: str | None = None  # the holder last seen (this process or another)
        self._changed = asyncio.Event()

    async def wait_leader(self, leader: bool = True) -> None:
        """Wait until this process is (or is not) the leader."""
        await self._wait_until(lambda: self.is_leader is leader)

    async def wait_holder(self, holder: str) -> None:
        """Wait until this process knows ``holder`` as the leader (a follower reads the lease's
        holder after each attempt to take it, so after a failed read it knows one period later)."""
        await self._wait_until(lambda: self.leader == holder)

    async def _wait_until(self, check: Callable[[], bool]) -> None:
        while not check():
            self._changed.clear()
            await self._changed.wait()

    def _set(self, leader: bool, holder: str | None) -> None:
        self.is_leader, self.leader = leader, holder
        self._changed.set()

    async def run(self) -> None:
        """Run the election loop forever (a supervised task); cancel it to stop leading.

        Cancelling does not release the lease (a crashed process cannot either): the lease
        expires after its TTL. A graceful shutdown calls :meth:`release` afterwards.
        """
        period = self._ttl_s / 3
        try:
            while True:
                if not await self._step(self.lease.acquire):
                    self._set(False, await self._holder())
                    await asyncio.sleep(period)
                    continue
                self._set(True, self.lease.holder_id)
                log.info("PBX %s: this process (%s) is the leader", self.name, self.leader)
                await self._on_elected()
                while True:
                    await asyncio.sleep(period)
                    if not await self._step(self.lease.renew):
                        break
                log.warning("PBX %s: leadership lost; disconnecting", self.name)
                self._set(False, await self._holder())
                await self._on_deposed()
        finally:
            if self.is_leader:
                self._set(False, None)
                await self._on_deposed()

    async def _step(self, action: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await action()
        except TelephonyError as err:
            log.warning("PBX %s: leader election: %s", self.name, err)
            return False

    async def _holder(self) -> str | None:
        try:
            return await self.lease.holder()
        except TelephonyError:
            return None

    async def release(self) -> None:
        """Give the lease up so that another process takes over at once (graceful stop)."""
        await self.lease.release()
