"""The application factory: builds every part from a frozen Settings object."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.adapters.redis import RedisConnection
from crm_core.appkeys import API, AUTH, BUS, ENGINE, POLICIES, SESSIONS, SETTINGS, SUPERVISOR, USERS
from crm_core.bus.memory import InProcessBus
from crm_core.bus.ports import EventBus
from crm_core.crm import api as crm_api
from crm_core.db import create_engine, make_sessionmaker, ping
from crm_core.httpapi import ApiRegistry
from crm_core.migrate import check_migrated
from crm_core.settings import Settings
from crm_core.supervisor import TaskSupervisor
from crm_core.users import api as users_api
from crm_core.users.auth import AuthService, LoginLimits
from crm_core.users.counters import Counters, MemoryCounters
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import default_policies
from crm_core.users.service import UserService
from dialer import api as dialer_api
from web import console_wiring, health, pages, screenpop_wiring, telephony_wiring, ws
from web.middleware import build_middlewares
from web.openapi import build_openapi

__all__ = ["OPENAPI", "REDIS", "Overrides", "create_app"]

log = logging.getLogger(__name__)

REDIS = web.AppKey("redis", RedisConnection)
OPENAPI = web.AppKey("openapi", dict[str, Any])
SESSION_PURGE_INTERVAL = 3600.0


@dataclass(frozen=True)
class Overrides:
    """Replacements for real parts, for tests and the embedded demo."""

    engine: AsyncEngine | None = None
    bus: EventBus | None = None
    counters: Counters | None = None
    hashing: PasswordHashing | None = None
    check_migrations: bool = True
    gateway_factory: telephony_wiring.GatewayFactory | None = None


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI description of this API."""
    return web.json_response(request.app[OPENAPI])


def create_app(settings: Settings, *, overrides: Overrides | None = None) -> web.Application:
    """Build the aiohttp application; resources start and stop with its cleanup contexts."""
    ov = overrides or Overrides()
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    api = ApiRegistry()
    app[API] = api
    health.register(api)
    users_api.register(api)
    crm_api.register(api)
    ws.install(app, api)
    pages.install(app, api)
    telephony_wiring.install(app, api, ov.gateway_factory)
    dialer_api.register(api)
    console_wiring.install(app, api)
    api.route(
        "GET",
        "/api/openapi.json",
        summary="This API's OpenAPI description",
        tag="meta",
        auth="public",
    )(openapi_json)
    api.install(app.router)
    app[OPENAPI] = build_openapi(api)
    app[health.HEALTH_CHECKS] = {}
    app.middlewares.extend(build_middlewares(app))

    async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SUPERVISOR] = TaskSupervisor()
        yield
        await app[SUPERVISOR].stop()

    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = ov.engine or create_engine(settings.database_url.get_secret_value())
        try:
            await ping(engine)
            if ov.check_migrations:
                await check_migrated(engine)
        except BaseException:
            if ov.engine is None:
                await engine.dispose()
            raise
        app[ENGINE] = engine
        app[SESSIONS] = make_sessionmaker(engine)
        log.info("database ready: %s", settings.database_url_redacted())
        yield
        if ov.engine is None:
            await engine.dispose()

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url is None:
            yield
            return
        conn = await RedisConnection.open(
            settings.redis_url.get_secret_value(), settings.redis_prefix
        )
        app[REDIS] = conn

        async def redis_check() -> dict[str, Any]:
            await conn.ping()
            return {"status": "ok", "detail": settings.redis_url_redacted()}

        app[health.HEALTH_CHECKS]["redis"] = redis_check
        log.info("Redis ready: %s", settings.redis_url_redacted())
        yield
        await conn.close()

    async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
        bus: EventBus
        if ov.bus is not None:
            bus = ov.bus
        elif REDIS in app:
            bus = app[REDIS].bus(app[SUPERVISOR])
        else:
            bus = InProcessBus(check_wire_format=settings.bus_wire_check)
        await bus.start()
        app[BUS] = bus
        yield
        await bus.close()

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        hashing = ov.hashing or PasswordHashing()
        counters = ov.counters or (app[REDIS].counters() if REDIS in app else MemoryCounters())
        policies = default_policies(extra=crm_api.policies())
        app[POLICIES] = policies
        app[AUTH] = AuthService(
            app[SESSIONS],
            secret_key=settings.require_secret_key(),
            counters=counters,
            hashing=hashing,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            limits=LoginLimits(
                per_account=settings.login_max_failures_per_account,
                per_address=settings.login_max_failures_per_address,
                window_seconds=settings.login_window_seconds,
            ),
        )
        app[USERS] = UserService(app[SESSIONS], hashing=hashing, policies=policies)
        app[health.HEALTH_CHECKS].update(health.default_checks(app))

        async def purge_sessions() -> None:
            while True:
                removed = await app[AUTH].purge_expired()
                if removed:
                    log.info("removed %d expired sessions", removed)
                await asyncio.sleep(SESSION_PURGE_INTERVAL)

        app[SUPERVISOR].start("purge-expired-sessions", purge_sessions)
        yield

    app.cleanup_ctx.extend([supervisor_ctx, database_ctx, redis_ctx, bus_ctx, services_ctx])
    # Pops subscribe before the PBX runtimes start publishing call events.
    app.cleanup_ctx.append(screenpop_wiring.screenpop_ctx)
    app.cleanup_ctx.append(console_wiring.console_ctx)
    app.cleanup_ctx.append(telephony_wiring.telephony_ctx)
    return app
