"""One AMI owner per PBX among several processes, elected through a lease in the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_core.appkeys import BUS
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.adapters.redis_lease import RedisLease, redis_client
from telephony.api import RUNTIMES
from telephony.events import CallAnswered
from telephony.leader import Leadership, LocalLease
from telephony.ports import GatewayStatus, OriginateSpec
from telephony.runtime import PbxRuntime
from telephony.sim.server import PbxSimulator, start_simulator
from tests.conftest import AppMaker, add_user, login

SPEED = 20.0
TTL = 0.3
# Tests that need one leader for their whole length: a busy machine must not stall renewals
# (every TTL / 3) long enough to hand the lease over mid-test.
STABLE_TTL = 3.0


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = await start_simulator("127.0.0.1", 0, speed=SPEED)
    try:
        yield simulator
    finally:
        await simulator.close()


def _leader_of(gateway: PanoramiskGateway, lease: RedisLease) -> Leadership:
    async def elected() -> None:
        await gateway.start()

    async def deposed() -> None:
        await gateway.stop()

    return Leadership("sim", lease, ttl_s=TTL, on_elected=elected, on_deposed=deposed)


async def test_one_process_connects_and_another_takes_over(
    sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    client = redis_client(redis_url)
    key = f"{redis_prefix}pbx-leader:sim"
    config = AmiConfig(port=sim.port, username="crm", secret="crmsecret")
    gateways = [PanoramiskGateway(config), PanoramiskGateway(config)]
    leases = [RedisLease(client, key, f"process-{i}", TTL) for i in (1, 2)]
    leaders = [_leader_of(g, lease) for g, lease in zip(gateways, leases, strict=True)]
    tasks = [asyncio.create_task(le.run()) for le in leaders]
    try:
        async with asyncio.timeout(10):
            waits = [asyncio.create_task(le.wait_leader()) for le in leaders]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        first = 0 if leaders[0].is_leader else 1
        other = 1 - first
        assert [le.is_leader for le in leaders].count(True) == 1
        async with asyncio.timeout(10):
            await gateways[first].wait_status(GatewayStatus.CONNECTED)
        assert gateways[other].health().status is GatewayStatus.DOWN
        assert await leases[other].holder() == f"process-{first + 1}"
        logins = [a for a in sim.actions_seen if a.get("Action") == "Login"]
        assert len(logins) == 1
        # The leader dies: it stops renewing and never releases; its lease expires.
        tasks[first].cancel()
        await asyncio.gather(tasks[first], return_exceptions=True)
        assert gateways[first].health().status is GatewayStatus.DOWN
        async with asyncio.timeout(10):
            await leaders[other].wait_leader()
            await gateways[other].wait_status(GatewayStatus.CONNECTED)
        assert await leases[other].holder() == f"process-{other + 1}"
        # A graceful stop releases the lease at once.
        tasks[other].cancel()
        await asyncio.gather(tasks[other], return_exceptions=True)
        await leaders[other].release()
        assert await leases[other].holder() is None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for gateway in gateways:
            await gateway.stop()
        await client.aclose()


async def test_embedded_process_is_always_leader() -> None:
    lease = LocalLease("me")
    started: list[str] = []

    async def elected() -> None:
        started.append("up")

    async def deposed() -> None:
        started.append("down")

    leadership = Leadership("main", lease, ttl_s=TTL, on_elected=elected, on_deposed=deposed)
    task = asyncio.create_task(leadership.run())
    async with asyncio.timeout(5):
        await leadership.wait_leader()
    assert (leadership.leader, await lease.holder()) == ("me", "me")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert started == ["up", "down"]


async def test_follower_serves_live_calls_from_the_bus(
    make_client: AppMaker, sim: PbxSimulator, redis_url: str, redis_prefix: str
) -> None:
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "pbx_leader_ttl_seconds": STABLE_TTL,
        "pbx": [{"name": "sim", "ami_url": f"ami://crm:crmsecret@127.0.0.1:{sim.port}"}],
    }
    apps = [await make_client(**settings), await make_client(**settings)]
    runtimes: list[PbxRuntime] = [a.app[RUNTIMES]["sim"] for a in apps]
    async with asyncio.timeout(10):
        while not any(r.is_leader for r in runtimes):
            leaderships = [r.leadership for r in runtimes if r.leadership is not None]
            waits = [asyncio.create_task(le.wait_leader()) for le in leaderships]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
    lead = 0 if runtimes[0].is_leader else 1
    follower, leader = apps[1 - lead], runtimes[lead]
    assert not runtimes[1 - lead].is_leader
    # The follower knows the leader once it has read the lease (at the latest one renewal period
    # after a Redis hiccup, which a loaded machine sometimes shows as a connect timeout).
    follows = runtimes[1 - lead].leadership
    assert follows is not None
    assert leader.leadership is not None
    async with asyncio.timeout(10):
        await follows.wait_holder(leader.leadership.leader or "")
    await add_user(follower, "sup", "supervisor")
    csrf = {"X-CSRF-Token": (await login(follower, "sup"))["csrf_token"]}
    body = await (await follower.get("/readyz")).json()
    check = body["checks"]["pbx:sim"]
    assert check["status"] == "ok"
    assert check["is_leader"] is False
    assert leader.leadership is not None
    assert check["leader"] == leader.leadership.leader
    async with follower.app[BUS].subscribe(CallAnswered) as sub:
        await leader.gateway.originate(
            OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000003")
        )
        async with asyncio.timeout(20):
            answered = await sub.get()  # from the leader, over Redis
    assert isinstance(answered, CallAnswered)
    mirror = runtimes[1 - lead]
    async with asyncio.timeout(20):
        await mirror.wait_mirrored(lambda s: any(c.answered_at for c in s.calls))
    items = (await (await follower.get("/api/calls/active")).json())["items"]
    assert [c["call_id"] for c in items] == [answered.call_id]
    assert items[0]["state"] in {"up", "bridged"}
    assert items[0]["answered_at"] is not None
    # Acting on the call needs the PBX connection: the follower has the leader do it
    # (tests/telephony/test_forwarding.py tests that in depth).
    resp = await follower.post(
        f"/api/calls/active/{answered.call_id}/recording", json={"action": "start"}, headers=csrf
    )
    assert resp.status == 200, await resp.text()
