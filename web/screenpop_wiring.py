"""Wiring of the screen pop: a dispatcher following call events, pops in the console snapshot.

The dispatcher needs the agent's principal for every pop. It is read in one statement
(:func:`crm_core.users.auth.load_principal`), and kept for ``PRINCIPAL_TTL_S`` seconds after it
was read: a change of roles or teams, or a deactivation, takes effect on pops within that time
(nothing is kept for a user who is missing or inactive, and nothing is served past its expiry).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.db import hot_read
from crm_core.users.auth import load_principal as load_principal_of
from crm_core.users.permissions import Principal
from screenpop.dispatcher import PopDispatcher
from screenpop.service import PopBuilder
from web.ws import HUB

__all__ = ["POPS", "PRINCIPAL_TTL_S", "PrincipalCache", "screenpop_ctx"]

POPS = web.AppKey("screen_pops", PopDispatcher)
PRINCIPAL_TTL_S = 5.0


class PrincipalCache:
    """Principals by user id, each kept ``ttl_s`` seconds after it was loaded."""

    def __init__(
        self,
        load: Callable[[int], Awaitable[Principal | None]],
        *,
        ttl_s: float = PRINCIPAL_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._kept: dict[int, tuple[float, Principal]] = {}

    async def get(self, user_id: int) -> Principal | None:
        """The user's principal, from the cache while fresh; None for a missing/inactive user."""
        kept = self._kept.get(user_id)
        if kept is not None and self._clock() < kept[0]:
            return kept[1]
        # The expiry counts from before the read, so nothing is served longer than ttl_s
        # after the database said so.
        expires = self._clock() + self._ttl_s
        principal = await self._load(user_id)
        if principal is None:
            self._kept.pop(user_id, None)
        else:
            self._kept[user_id] = (expires, principal)
        return principal

    def forget(self, user_id: int | None = None) -> None:
        """Drop one user's principal (or all): the next pop reads it again."""
        if user_id is None:
            self._kept.clear()
        else:
            self._kept.pop(user_id, None)


async def screenpop_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the pop dispatcher; the hub gives reconnecting consoles their open pops."""
    settings = app[SETTINGS]
    sessions = app[SESSIONS]

    async def load_principal(user_id: int) -> Principal | None:
        # One statement on an autocommit connection (no session, no BEGIN/ROLLBACK, no ping):
        # under load the session's round trips were most of a pop's time.
        return await hot_read(sessions, lambda conn: load_principal_of(conn, user_id))

    builder = PopBuilder(
        sessions, app[POLICIES], region=settings.default_region, timezone=settings.default_timezone
    )
    hub = app[HUB]

    async def send_here(user_ids: tuple[int, ...], message: dict[str, Any]) -> int:
        # This process's sockets only: every process's dispatcher follows the same events.
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
        return hub.deliver(user_ids, text)

    principals = PrincipalCache(load_principal)
    dispatcher = PopDispatcher(app[BUS], builder, principals.get, send_here)
    app[POPS] = dispatcher
    hub.snapshot(dispatcher.snapshot_for)
    app[SUPERVISOR].start("screen-pop", dispatcher.run)
    yield
    await app[SUPERVISOR].cancel("screen-pop")
