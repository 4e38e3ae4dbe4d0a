"""The benchmark's baseline: panoramisk alone, counting the events of a stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from panoramisk import Manager

__all__ = ["panoramisk_count_events"]


async def panoramisk_count_events(port: int, end_marker: str) -> tuple[int, float]:
    """Log in with plain panoramisk, count events until UserEvent ``end_marker``; (n, seconds)."""
    done = asyncio.get_running_loop().create_future()
    count = 0
    started = 0.0

    def on_event(_manager: Any, message: Any) -> None:
        nonlocal count, started
        name = message.get("Event")
        if name == "FullyBooted":
            started = time.perf_counter()
            return
        if name == "UserEvent" and message.get("UserEvent") == end_marker:
            if not done.done():
                done.set_result(time.perf_counter())
            return
        count += 1

    manager = Manager(
        host="127.0.0.1",
        port=port,
        username="bench",
        secret="bench",  # noqa: S106 — the local benchmark server accepts anything
        ping_delay=3600,
        reconnect_timeout=3600,
    )
    manager.register_event("*", on_event)
    await manager.connect()
    try:
        ended = await asyncio.wait_for(done, timeout=300)
    finally:
        manager.close()
    return count, ended - started
