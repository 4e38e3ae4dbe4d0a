"""Liveness (/healthz) and readiness (/readyz) with a status per part."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, ENGINE, SETTINGS
from crm_core.db import ping
from crm_core.errors import ServiceUnavailable
from crm_core.httpapi import ApiRegistry, json_ok

__all__ = ["HEALTH_CHECKS", "HealthCheck", "register"]

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
HEALTH_CHECKS = web.AppKey("health_checks", dict[str, HealthCheck])
CHECK_TIMEOUT = 3.0


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and serving."""
    return json_ok({"status": "ok"})


async def _timed(check: HealthCheck) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = await check()
    except TimeoutError:
        result = {"status": "down", "detail": f"no answer within {CHECK_TIMEOUT:.0f} s"}
    except ServiceUnavailable as err:
        result = {"status": "down", "detail": err.message}
    result.setdefault("latency_ms", round((time.monotonic() - started) * 1000, 1))
    return result


async def readyz(request: web.Request) -> web.Response:
    """Every part this process needs, with its status; 503 when any is down."""
    checks = request.app[HEALTH_CHECKS]
    names = list(checks)
    results = await asyncio.gather(*(_timed(checks[n]) for n in names))
    parts = dict(zip(names, results, strict=True))
    ok = all(r["status"] == "ok" for r in results)
    return json_ok(
        {"status": "ok" if ok else "unavailable", "checks": parts}, status=200 if ok else 503
    )


def default_checks(app: web.Application) -> dict[str, HealthCheck]:
    """Database and event bus checks (Redis and PBX checks are added when configured)."""
    settings = app[SETTINGS]

    async def database() -> dict[str, Any]:
        await ping(app[ENGINE])
        kind = "sqlite" if settings.is_sqlite else "postgresql"
        return {"status": "ok", "detail": kind}

    async def bus() -> dict[str, Any]:
        return dict(app[BUS].health())

    return {"database": database, "event_bus": bus}


def register(api: ApiRegistry) -> None:
    """Declare the health endpoints."""
    api.route(
        "GET", "/healthz", summary="Liveness: the process is up", tag="health", auth="public"
    )(healthz)
    api.route(
        "GET",
        "/readyz",
        summary="Readiness of the database, Redis and each PBX",
        tag="health",
        auth="public",
        errors=(503,),
    )(readyz)
