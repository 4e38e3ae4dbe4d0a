"""A consumer too slow for the AMI stream: the gateway's queue overflows, nothing that matters is
lost — the runtime resynchronises from Status/QueueStatus, every call ends exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_core.appkeys import SESSIONS
from crm_core.bus.memory import InProcessBus
from telephony.adapters.ami import AmiConfig, PanoramiskGateway
from telephony.events import CallEnded, CallStarted
from telephony.ports import GatewayStatus, OriginateSpec
from telephony.protocol import AmiMessage
from telephony.records import CallRecordRow
from telephony.runtime import PbxRuntime
from telephony.sim import start_simulator
from telephony.store import CallStore
from telephony.tracker import CallTracker

from .replay import DIRECTORY

SPEED = 5.0  # the long call (…3, 120 s) must outlast the test: 24 s here


async def test_overflow_resyncs_and_records_every_call_once(client: TestClient[Any, Any]) -> None:
    sim = await start_simulator(speed=SPEED)
    config = AmiConfig(port=sim.port, username="crm", secret="crmsecret", queue_size=40)
    gateway = PanoramiskGateway(config)
    bus = InProcessBus()
    store = CallStore(client.app[SESSIONS], region="GR")
    runtime = PbxRuntime("sim", gateway, CallTracker("sim", DIRECTORY), bus, store)
    short_done = asyncio.Event()
    hangups: Counter[str] = Counter()

    def count(message: AmiMessage, _cls: str) -> None:
        # Wait until the three short calls (…2) have no channel left on the PBX.
        if message.event != "Hangup":
            return
        if "0210000002" in (message.get("Channel") or ""):
            hangups[message.get("Linkedid") or ""] += 1
        gone = message.get("Channel")
        live = {c.linkedid for c in sim.pbx.channels.values() if c.name != gone}
        if len(hangups) == 3 and not live & set(hangups):
            short_done.set()

    sim.pbx.listeners.append(count)
    tasks: list[asyncio.Task[None]] = []
    try:
        await gateway.start()
        await gateway.wait_status(GatewayStatus.CONNECTED)
        # Nobody reads the gateway's events yet: 3 short calls and a long one overflow the queue.
        await gateway.originate(
            OriginateSpec(channel="Local/1001@agents", context="customers", exten="0210000003")
        )
        for seat in ("1002", "1003", "1004"):
            await gateway.originate(
                OriginateSpec(
                    channel=f"Local/{seat}@agents", context="customers", exten="0210000002"
                )
            )
        async with asyncio.timeout(30):
            await short_done.wait()
        assert gateway.lost_events > 0
        (long_call,) = {c.linkedid for c in sim.pbx.channels.values()}
        async with bus.subscribe(CallStarted, CallEnded) as sub:
            tasks = [
                asyncio.create_task(runtime.run_events()),
                asyncio.create_task(runtime.run_resyncs()),
            ]
            started: set[str] = set()
            ended: list[CallEnded] = []
            async with asyncio.timeout(30):
                # Once the gap is resynced, every call seen ends but the long one (…3), still up.
                # (A call that starts and ends inside the gap is never seen: only CDRs know.)
                while (
                    runtime.synced_session < 2
                    or long_call not in started
                    or {e.call_id for e in ended} != started - {long_call}
                ):
                    event = await sub.get()
                    if isinstance(event, CallStarted):
                        started.add(event.call_id)
                    elif isinstance(event, CallEnded):
                        ended.append(event)
            assert runtime.tracker.open_calls() == (long_call,)
            assert len(started) >= 2
            assert any(e.vanished for e in ended)  # closed by the resync after the gap
            agent = next(
                leg.channels[0]
                for c in runtime.snapshot().calls
                for leg in c.legs
                if leg.agent_id == "agent-1001"
            )
            await gateway.hangup(agent)
            async with asyncio.timeout(30):
                while len(ended) < len(started):
                    event = await sub.get()
                    if isinstance(event, CallEnded):
                        ended.append(event)
        assert sorted(e.call_id for e in ended) == sorted(started)
        assert not runtime.tracker.open_calls()
        assert gateway.health().sessions >= 2  # the gap started a new sync epoch
        async with client.app[SESSIONS]() as db:
            rows = list(await db.scalars(select(CallRecordRow.call_id)))
        assert sorted(rows) == sorted(started)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gateway.stop()
        await bus.close()
        await sim.close()
