"""Wiring of the screen pop: a dispatcher following call events, pops in the console snapshot.

The dispatcher needs the agent's principal for every pop. It is read in one statement together
with the ``access_epoch`` count (:func:`crm_core.users.auth.load_principal_at_epoch`), and kept
by :class:`PrincipalCache` while that count has not moved: database triggers move it on every
change of a user's name, language, active flag, roles or teams (migrations 0009 and 0010). A
watcher task reads the count every ``EPOCH_POLL_S`` seconds, so such a change reaches pops within
about a second, with no read per pop. When the count could not be read for ``PRINCIPAL_TTL_S``
seconds (database unreachable), a principal is kept only ``PRINCIPAL_TTL_S`` after it was read,
as before the count existed. Nothing is kept for a user who is missing or inactive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.crm.models import AccessEpoch
from crm_core.db import READ_POOL_SIZE, hot_read, open_hot_reads, warm_hot_reads
from crm_core.users.auth import load_principal_at_epoch
from crm_core.users.permissions import Principal
from screenpop.dispatcher import PopDispatcher
from screenpop.service import PopBuilder
from web.ws import HUB

__all__ = [
    "EPOCH_POLL_S",
    "POPS",
    "PRINCIPALS",
    "PRINCIPAL_TTL_S",
    "PrincipalCache",
    "screenpop_ctx",
]

log = logging.getLogger(__name__)
POPS = web.AppKey("screen_pops", PopDispatcher)
PRINCIPAL_TTL_S = 5.0
EPOCH_POLL_S = 1.0
_READ_EPOCH = select(AccessEpoch.n).where(AccessEpoch.id == 1)

# A principal (None: missing or inactive) and the access_epoch count read with it.
PrincipalLoad = Callable[[int], Awaitable[tuple[Principal | None, int | None]]]


class PrincipalCache:
    """Principals by user id, kept while ``access_epoch`` stands where it stood when each was
    read, or — when the count is not known to be current — ``ttl_s`` seconds after the read."""

    def __init__(
        self,
        load: PrincipalLoad,
        *,
        read_epoch: Callable[[], Awaitable[int]] | None = None,
        ttl_s: float = PRINCIPAL_TTL_S,
        poll_s: float = EPOCH_POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._read_epoch = read_epoch
        self._ttl_s = ttl_s
        self._poll_s = poll_s
        self._clock = clock
        # user id -> (expiry by the TTL, the epoch it was read at, the principal)
        self._kept: dict[int, tuple[float, int | None, Principal]] = {}
        self._epoch: int | None = None  # the highest count seen
        self._epoch_at = float("-inf")  # when it was read (the clock before the read)
        self.loads = 0

    async def get(self, user_id: int) -> Principal | None:
        """The user's principal, from the cache while still right; None for a missing/inactive
        user."""
        now = self._clock()
        kept = self._kept.get(user_id)
        if kept is not None:
            expires, epoch, known = kept
            if epoch is not None and now - self._epoch_at <= self._ttl_s:
                if epoch == self._epoch:
                    return known  # nothing changed since it was read
            elif now < expires:
                return known
        # The expiry counts from before the read, so nothing is served longer than ttl_s
        # after the database said so.
        principal, epoch = await self._load(user_id)
        self.loads += 1
        if epoch is not None:
            self.note_epoch(epoch, now)
        if principal is None:
            self._kept.pop(user_id, None)
        else:
            self._kept[user_id] = (now + self._ttl_s, epoch, principal)
        return principal

    def note_epoch(self, epoch: int, read_at: float) -> None:
        """The count was ``epoch`` at ``read_at`` (it only grows): principals read at a lower
        count are read again when next asked for."""
        if self._epoch is None or epoch >= self._epoch:
            self._epoch = epoch
            self._epoch_at = max(self._epoch_at, read_at)

    async def refresh(self) -> None:
        """Read the count once (the watcher does it every ``poll_s``)."""
        if self._read_epoch is not None:
            read_at = self._clock()
            self.note_epoch(await self._read_epoch(), read_at)

    async def watch(self) -> None:
        """Read the count every ``poll_s`` seconds, forever (a supervised task). A failed read
        is logged once per outage; meanwhile the TTL rule applies."""
        failing = False
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if not failing:
                    log.warning("screen pop: access_epoch unreadable, principals expire: %s", err)
                failing = True
            else:
                if failing:
                    log.info("screen pop: access_epoch readable again")
                failing = False
            await asyncio.sleep(self._poll_s)

    def forget(self, user_id: int | None = None) -> None:
        """Drop one user's principal (or all): the next pop reads it again."""
        if user_id is None:
            self._kept.clear()
        else:
            self._kept.pop(user_id, None)


PRINCIPALS = web.AppKey("screen_pop_principals", PrincipalCache)


async def screenpop_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the pop dispatcher; the hub gives reconnecting consoles their open pops."""
    settings = app[SETTINGS]
    sessions = app[SESSIONS]

    async def load_principal(user_id: int) -> tuple[Principal | None, int | None]:
        # One statement on an autocommit connection (no session, no BEGIN/ROLLBACK, no ping).
        return await hot_read(sessions, lambda conn: load_principal_at_epoch(conn, user_id))

    async def read_epoch() -> int:
        async def read(conn: Any) -> int:
            return int((await conn.execute(_READ_EPOCH)).scalar_one())

        return await hot_read(sessions, read)

    builder = PopBuilder(
        sessions, app[POLICIES], region=settings.default_region, timezone=settings.default_timezone
    )
    # Every connection of the hot-read pool runs the pop's statements once before it serves,
    # and the pool's connections are opened now, in the background: a pop never meets a
    # connection on which its statement costs ~20 ms the first time.
    for sql, count in builder.statements_to_warm(sessions.kw["bind"].dialect):
        warm_hot_reads(sessions, sql, count)
    hub = app[HUB]

    async def send_here(user_ids: tuple[int, ...], message: dict[str, Any]) -> int:
        # This process's sockets only: every process's dispatcher follows the same events.
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
        return hub.deliver(user_ids, text)

    principals = PrincipalCache(load_principal, read_epoch=read_epoch)
    dispatcher = PopDispatcher(app[BUS], builder, principals.get, send_here)
    app[POPS] = dispatcher
    app[PRINCIPALS] = principals

    async def snapshot(principal: Principal) -> list[dict[str, Any]]:
        # A console that connects is about to get pops: read its user's principal now, so that
        # the first pop does not wait for that read (a failure only means the pop reads it).
        try:
            await principals.get(principal.user_id)
        except Exception as err:
            log.warning(
                "screen pop: principal of user %s not read ahead: %s", principal.user_id, err
            )
        return await dispatcher.snapshot_for(principal)

    hub.snapshot(snapshot)
    app[SUPERVISOR].start("screen-pop-principals", principals.watch)
    app[SUPERVISOR].start(
        "screen-pop-connections", lambda: open_hot_reads(sessions, READ_POOL_SIZE), restart=False
    )
    app[SUPERVISOR].start("screen-pop", dispatcher.run)
    yield
    await app[SUPERVISOR].cancel("screen-pop")
    await app[SUPERVISOR].cancel("screen-pop-principals")
    await app[SUPERVISOR].cancel("screen-pop-connections")
