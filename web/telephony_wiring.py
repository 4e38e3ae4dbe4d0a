"""Wiring of telephony into the application: one gateway, tracker and runtime per PBX."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from crm_core.appkeys import BUS, POLICIES, SESSIONS, SETTINGS, SUPERVISOR
from crm_core.httpapi import ApiRegistry
from crm_core.settings import PbxConnection
from crm_core.supervisor import TaskSupervisor
from telephony import api as telephony_api
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.adapters.redis_lease import RedisLease, redis_client
from telephony.adapters.redis_rpc import RedisLeaderChannel
from telephony.forwarding import ForwardingGateway, LeaderLink
from telephony.forwarding_server import ForwardingServer
from telephony.leader import Leadership, LocalLease, holder_id
from telephony.models import DialplanLocations
from telephony.ports import GatewayStatus, Lease
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


_SEED_STATES = {
    "waiting": "from the bus, waiting for a leader to load the calls and agents from",
    "asking": "from the bus, loading the leader's calls and agents",
    "seeded": "loaded from the leader, then from the bus",
    "failed": "from the bus only: the leader's calls and agents could not be loaded",
}


def _health_check(runtime: PbxRuntime) -> HealthCheck:
    async def check() -> dict[str, Any]:
        leadership = runtime.leadership
        leader = leadership.leader if leadership is not None else None
        if not runtime.is_leader:
            # Another process owns the AMI connection; this one serves from the bus, its mirror
            # seeded with the leader's snapshot (a failure keeps it as it was: still "ok").
            seed = runtime.mirror_seed
            view = _SEED_STATES[seed.state] + (f" ({seed.detail})" if seed.detail else "")
            return {
                "status": "ok",
                "detail": (
                    f"follower: the PBX connection is held by {leader or 'nobody yet'}, "
                    f"which carries out the actions asked of this process; live view {view}"
                ),
                "leader": leader,
                "is_leader": False,
                "mirror": seed.state,
                "mirror_since": seed.at.isoformat() if seed.at else None,
            }
        h = runtime.health()
        detail = f"{h.status.value}: {h.detail}"
        if h.lost_events:
            detail += f"; {h.lost_events} events lost to overflow (state resynced)"
        return {
            "status": "ok" if h.status is GatewayStatus.CONNECTED else "down",
            "detail": detail,
            "since": h.since.isoformat() if h.since else None,
            "leader": leader,
            "is_leader": True,
        }

    return check


def install(app: web.Application, api: ApiRegistry, factory: GatewayFactory | None) -> None:
    """Declare the telephony endpoints and remember how to make gateways."""
    telephony_api.register(api)
    app[GATEWAY_FACTORY] = factory or real_gateway
    app[telephony_api.RUNTIMES] = {}


async def telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start a runtime per configured PBX; stop them on shutdown (a cleanup context).

    With Redis, the processes elect one leader per PBX (a lease in Redis): only the leader
    connects to the PBX; the others serve the API from the bus (see ``telephony/leader.py``)
    and forward PBX actions to the leader (see ``telephony/forwarding.py``).
    """
    settings = app[SETTINGS]
    supervisor = app[SUPERVISOR]
    telephony_api.register_policies(app[POLICIES])
    store = CallStore(app[SESSIONS], region=settings.default_region)
    runtimes = app[telephony_api.RUNTIMES]
    tasks: list[str] = []
    redis = redis_client(settings.redis_url.get_secret_value()) if settings.redis_url else None
    channel = RedisLeaderChannel(redis, settings.redis_prefix) if redis is not None else None
    me = holder_id()
    leaderships: list[Leadership] = []
    try:
        for pbx in settings.pbx:
            connection = app[GATEWAY_FACTORY](pbx)
            link = (
                LeaderLink(channel, pbx.name, action_timeout_s=pbx.action_timeout)
                if channel is not None
                else None
            )
            # With other processes: actions go to the leader whenever it is not this one.
            gateway = ForwardingGateway(connection, link) if link is not None else connection
            agents = LiveAgentDirectory(await store.agent_interfaces(pbx.name))
            runtime = PbxRuntime(
                pbx.name,
                gateway,
                CallTracker(pbx.name, agents),
                app[BUS],
                store,
                directory=agents,
                locations=DialplanLocations(
                    number_context=pbx.context,
                    agent_context=pbx.agent_context,
                    transfer_queue_context=pbx.transfer_queue_context,
                    transfer_agent_context=pbx.transfer_agent_context,
                ),
                wrap_up_s=settings.wrap_up_seconds,
            )
            runtime.leader_link = link
            runtimes[pbx.name] = runtime
            lease: Lease = (
                RedisLease(
                    redis,
                    f"{settings.redis_prefix}pbx-leader:{pbx.name}",
                    me,
                    settings.pbx_leader_ttl_seconds,
                )
                if redis is not None
                else LocalLease(me)
            )
            server = (
                ForwardingServer(runtime, connection, app[SESSIONS], channel)
                if channel is not None
                else None
            )
            elected, deposed = _lead(runtime, supervisor, server)
            leadership = Leadership(
                pbx.name,
                lease,
                ttl_s=settings.pbx_leader_ttl_seconds,
                on_elected=elected,
                on_deposed=deposed,
            )
            runtime.leadership = leadership
            if isinstance(gateway, ForwardingGateway):
                gateway.leadership = leadership
            leaderships.append(leadership)
            for kind, fn in (("mirror", runtime.run_mirror), ("leader", leadership.run)):
                name = f"pbx:{pbx.name}:{kind}"
                supervisor.start(name, fn)
                tasks.append(name)
            app[HEALTH_CHECKS][f"pbx:{pbx.name}"] = _health_check(runtime)
            log.info("PBX %s: %s", pbx.name, pbx.ami_url.redacted())
        yield
    finally:
        for name in tasks:
            await supervisor.cancel(name)
        for leadership in leaderships:
            await leadership.release()
        for runtime in runtimes.values():
            await runtime.gateway.stop()
        runtimes.clear()
        if redis is not None:
            await redis.aclose()


def _lead(
    runtime: PbxRuntime, supervisor: TaskSupervisor, server: ForwardingServer | None
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """What to do when this process becomes (or stops being) the PBX's leader."""
    kinds = ["events", "resync", "retry", "wrapup"]
    runs: list[Callable[[], Awaitable[None]]] = [
        runtime.run_events,
        runtime.run_resyncs,
        runtime.run_retries,
        runtime.run_wrap_up,
    ]
    if server is not None:
        kinds.append("forwarded")
        runs.append(server.run)
    names = [f"pbx:{runtime.name}:{kind}" for kind in kinds]

    async def elected() -> None:
        await runtime.gateway.start()
        for name, fn in zip(names, runs, strict=True):
            supervisor.start(name, fn)

    async def deposed() -> None:
        for name in names:
            await supervisor.cancel(name)
        await runtime.gateway.stop()

    return elected, deposed
