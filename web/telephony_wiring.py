"""Wiring of telephony into the application: one gateway, tracker and runtime per PBX."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.httpapi import ApiRegistry
from crm_core.settings import PbxConnection
from telephony import api as telephony_api
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.ports import GatewayStatus
from telephony.runtime import LiveAgentDirectory, PbxRuntime, RuntimeGateway
from telephony.store import CallStore
from telephony.tracker import CallTracker
from web.health import HEALTH_CHECKS, HealthCheck

__all__ = ["GatewayFactory", "install", "real_gateway", "telephony_ctx"]

log = logging.getLogger(__name__)
GatewayFactory = Callable[[PbxConnection], RuntimeGateway]
GATEWAY_FACTORY: web.AppKey[GatewayFactory] = web.AppKey("gateway_factory")


def real_gateway(pbx: PbxConnection) -> RuntimeGateway:
    """A panoramisk gateway for a configured PBX."""
    return PanoramiskGateway(
        AmiConfig(
            pbx=pbx.name,
            host=pbx.ami_url.host,
            port=pbx.ami_url.port,
            username=pbx.ami_url.username,
            secret=pbx.ami_url.secret.get_secret_value(),
            connect_timeout=pbx.connect_timeout,
            action_timeout=pbx.action_timeout,
        )
    )


def _health_check(runtime: PbxRuntime) -> HealthCheck:
    async def check() -> dict[str, Any]:
        h = runtime.health()
        return {
            "status": "ok" if h.status is GatewayStatus.CONNECTED else "down",
            "detail": f"{h.status.value}: {h.detail}",
            "since": h.since.isoformat() if h.since else None,
        }

    return check


def install(app: web.Application, api: ApiRegistry, factory: GatewayFactory | None) -> None:
    """Declare the telephony endpoints and remember how to make gateways."""
    telephony_api.register(api)
    app[GATEWAY_FACTORY] = factory or real_gateway
    app[telephony_api.RUNTIMES] = {}


async def telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start a runtime per configured PBX; stop them on shutdown (a cleanup context)."""
    settings = app[SETTINGS]
    supervisor = app[SUPERVISOR]
    telephony_api.register_policies(app[POLICIES])
    store = CallStore(app[SESSIONS], region=settings.default_region)
    runtimes = app[telephony_api.RUNTIMES]
    tasks: list[str] = []
    try:
        for pbx in settings.pbx:
            gateway = app[GATEWAY_FACTORY](pbx)
            agents = LiveAgentDirectory(await store.agent_interfaces(pbx.name))
            runtime = PbxRuntime(
                pbx.name,
                gateway,
                CallTracker(pbx.name, agents),
                app[BUS],
                store,
                directory=agents,
            )
            runtimes[pbx.name] = runtime
            await gateway.start()
            for kind, fn in (
                ("events", runtime.run_events),
                ("resync", runtime.run_resyncs),
                ("retry", runtime.run_retries),
            ):
                name = f"pbx:{pbx.name}:{kind}"
                supervisor.start(name, fn)
                tasks.append(name)
            app[HEALTH_CHECKS][f"pbx:{pbx.name}"] = _health_check(runtime)
            log.info("PBX %s: connecting to %s", pbx.name, pbx.ami_url.redacted())
        yield
    finally:
        for name in tasks:
            await supervisor.cancel(name)
        for runtime in runtimes.values():
            await runtime.gateway.stop()
        runtimes.clear()
