"""Wiring of the screen pop: a dispatcher following call events, pops in the console snapshot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.users.auth import principal_for
from crm_core.users.models import User
from crm_core.users.permissions import Principal
from screenpop.dispatcher import PopDispatcher
from screenpop.service import PopBuilder
from web.ws import HUB

__all__ = ["POPS", "screenpop_ctx"]

POPS = web.AppKey("screen_pops", PopDispatcher)


async def screenpop_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the pop dispatcher; the hub gives reconnecting consoles their open pops."""
    settings = app[SETTINGS]
    sessions = app[SESSIONS]

    async def load_principal(user_id: int) -> Principal | None:
        async with sessions() as db:
            user = await db.get(User, user_id)
            if user is None or not user.is_active:
                return None
            return principal_for(user, auth_method="internal")

    builder = PopBuilder(
        sessions, app[POLICIES], region=settings.default_region, timezone=settings.default_timezone
    )
    hub = app[HUB]

    async def send_here(user_ids: tuple[int, ...], message: dict[str, Any]) -> int:
        # This process's sockets only: every process's dispatcher follows the same events.
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
        return hub.deliver(user_ids, text)

    dispatcher = PopDispatcher(app[BUS], builder, load_principal, send_here)
    app[POPS] = dispatcher
    hub.snapshot(dispatcher.snapshot_for)
    app[SUPERVISOR].start("screen-pop", dispatcher.run)
    yield
    await app[SUPERVISOR].cancel("screen-pop")
