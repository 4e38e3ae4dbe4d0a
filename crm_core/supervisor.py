"""One supervisor that owns every long-running background task of a process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["TaskSupervisor"]

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    name: str
    task: asyncio.Task[None]
    restarts: int = 0
    last_error: str | None = None
    state: str = "running"
    started_at: float = field(default_factory=time.monotonic)


class TaskSupervisor:
    """Starts named tasks, restarts them with back-off when they fail, and stops them all."""

    def __init__(self, *, min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self._entries: dict[str, _Entry] = {}
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stopping = False

    def start(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        restart: bool = True,
    ) -> asyncio.Task[None]:
        """Run ``factory()`` as task ``name``; with ``restart`` it is run again after a failure."""
        if self._stopping:
            raise RuntimeError("supervisor is stopping")
        if name in self._entries and not self._entries[name].task.done():
            raise ValueError(f"task {name!r} is already running")
        task = asyncio.create_task(self._run(name, factory, restart), name=name)
        self._entries[name] = _Entry(name, task)
        return task

    async def _run(self, name: str, factory: Callable[[], Awaitable[None]], restart: bool) -> None:
        backoff = self._min_backoff
        while True:
            began = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                entry = self._entries[name]
                entry.last_error = f"{type(err).__name__}: {err}"[:500]
                if not restart:
                    entry.state = "failed"
                    log.exception("task %s failed", name)
                    return
                entry.state = "restarting"
                entry.restarts += 1
                if time.monotonic() - began > 60:
                    backoff = self._min_backoff
                log.exception("task %s failed; restarting in %.1f s", name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                entry.state = "running"
                continue
            self._entries[name].state = "finished"
            if not restart:
                return
            log.warning("task %s returned; restarting in %.1f s", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            self._entries[name].state = "running"

    async def cancel(self, name: str, timeout: float = 10.0) -> None:
        """Cancel task ``name`` (if running) and wait for it to end."""
        entry = self._entries.pop(name, None)
        if entry is None or entry.task.done():
            return
        entry.task.cancel()
        _, pending = await asyncio.wait([entry.task], timeout=timeout)
        if pending:
            log.error("task %s did not stop within %.0f s", name, timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel every task and wait for them to finish."""
        self._stopping = True
        tasks = [e.task for e in self._entries.values() if not e.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.error("task %s did not stop within %.0f s", task.get_name(), timeout)
        self._entries.clear()

    def status(self) -> dict[str, dict[str, object]]:
        """Per task: state, restarts, last error."""
        return {
            name: {"state": e.state, "restarts": e.restarts, "last_error": e.last_error}
            for name, e in self._entries.items()
        }
