"""Simulated inbound traffic for the demo and load tests: callers arriving into queues."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = ["InboundTraffic", "TrafficPlan"]

log = logging.getLogger(__name__)

PlaceCall = Callable[[str, str, float], Awaitable[str]]


@dataclass(frozen=True)
class TrafficPlan:
    """How callers arrive: a Poisson process of ``calls_per_minute`` into ``queues``."""

    calls_per_minute: float
    caller_ids: Sequence[str]
    queues: Sequence[str] = ("support",)
    patience_s: tuple[float, float] = (20.0, 90.0)  # uniform range before a caller abandons

    def __post_init__(self) -> None:
        if self.calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        if not self.caller_ids:
            raise ValueError("caller_ids must not be empty")
        if not self.queues:
            raise ValueError("queues must not be empty")


class InboundTraffic:
    """Places inbound calls on a simulator following a plan, until cancelled."""

    def __init__(self, place: PlaceCall, plan: TrafficPlan, *, seed: int | None = None) -> None:
        self._place = place
        self._plan = plan
        self._rng = random.Random(seed)
        self.placed = 0

    def next_gap(self) -> float:
        """Seconds until the next caller (exponentially distributed)."""
        return self._rng.expovariate(self._plan.calls_per_minute / 60.0)

    def next_call(self) -> tuple[str, str, float]:
        """Caller id, queue and patience of the next caller."""
        lo, hi = self._plan.patience_s
        return (
            self._rng.choice(list(self._plan.caller_ids)),
            self._rng.choice(list(self._plan.queues)),
            self._rng.uniform(lo, hi),
        )

    async def run(self) -> None:
        """Place calls forever (run it supervised; cancel to stop)."""
        while True:
            await asyncio.sleep(self.next_gap())
            caller, queue, patience = self.next_call()
            try:
                call_id = await self._place(caller, queue, patience)
            except Exception:
                log.exception("simulated inbound call from %s failed", caller)
                continue
            self.placed += 1
            log.debug("simulated inbound call %s from %s into %s", call_id, caller, queue)
