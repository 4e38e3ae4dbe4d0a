"""Finished calls of one PBX stored off the AMI event path, in order, then published.

``CallEnded`` goes to a queue that a writer task empties in order, storing each call and then
publishing its ``CallEnded`` (so a follower of that event still finds the record); the calls
queued one after the other are stored together (one statement on PostgreSQL), one by one if
that fails. Events of the same call or agent that come after it (the agent's wrap-up) join the
same queue (:meth:`CallRecordWriter.take` decides), so they are still published after
it; the others — another agent's call ringing — are published at once by the runtime and do not
wait for the database. A call that cannot be stored (database down) is kept in ``unsaved`` for
the runtime's retries; :meth:`CallRecordWriter.drain` stores what is queued on stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from crm_core.bus.events import Event
from crm_core.bus.ports import EventBus
from telephony.events import CallEnded
from telephony.store import CallStore

__all__ = ["CALL_BATCH_MAX", "DRAIN_TIMEOUT_S", "CallRecordWriter"]

log = logging.getLogger(__name__)
# The most finished calls the writer stores together (one statement on PostgreSQL).
CALL_BATCH_MAX = 100
# On stop, how long the queued call records may take to store (the supervisor waits 10 s).
DRAIN_TIMEOUT_S = 8.0


def _order_keys(event: Event) -> tuple[str, ...]:
    """What an event must stay in order with: its call and its agent."""
    call_id = getattr(event, "call_id", None)
    agent_id = getattr(event, "agent_id", None)
    keys = (f"call:{call_id}" if call_id else "", f"agent:{agent_id}" if agent_id else "")
    return tuple(k for k in keys if k)


class CallRecordWriter:
    """The call-record queue of one PBX and the task that empties it (started on first use)."""

    def __init__(self, name: str, store: CallStore, bus: EventBus) -> None:
        self.name = name
        self.store = store
        self._bus = bus
        # Calls that failed to store, for the runtime's retries.
        self.unsaved: list[CallEnded] = []
        # Finished calls waiting to be stored, then published, and the events that must follow
        # them (same call or agent); how many are queued per key.
        self._to_store: asyncio.Queue[Event] = asyncio.Queue()
        self.held: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    def take(self, event: Event) -> bool:
        """Queue ``event`` when it must wait: a finished call (published once stored), or an
        event of the same call or agent as one queued (it follows through the same queue, so
        its order holds). False: nothing to wait for, the caller publishes it now."""
        keys = _order_keys(event)
        if not isinstance(event, CallEnded) and not any(k in self.held for k in keys):
            return False
        self._queue(event, keys)
        return True

    def _queue(self, event: Event, keys: tuple[str, ...]) -> None:
        """Queue an event for the writer (started on first use, restarted if it ended)."""
        for key in keys:
            self.held[key] = self.held.get(key, 0) + 1
        self._to_store.put_nowait(event)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(
                self._write_calls(), name=f"pbx:{self.name}:call-records"
            )

    async def _write_calls(self) -> None:
        """Store the queued calls (a failure is kept for the retries), then publish their ends;
        publish the events queued behind them, in order."""
        while True:
            taken = deque(await self._next_batch())
            try:
                ended = [e for e in taken if isinstance(e, CallEnded)]
                if ended:
                    await self._save_batch(ended)
                while taken:
                    event = taken.popleft()
                    try:
                        await self._bus.publish(event)
                    except Exception:
                        log.exception("PBX %s: %s not published", self.name, event.event_name)
                    finally:
                        self._written(event)
            finally:
                # Only when cancelled before publishing them: they count as done for flush().
                for event in taken:
                    self._written(event)

    async def _next_batch(self) -> list[Event]:
        """The next queued event; after a finished call, the calls that follow it right now
        (up to CALL_BATCH_MAX), and the first other event after them if any (it is taken too,
        and published after them)."""
        taken = [await self._to_store.get()]
        if isinstance(taken[0], CallEnded):
            while len(taken) < CALL_BATCH_MAX and not self._to_store.empty():
                event = self._to_store.get_nowait()
                taken.append(event)
                if not isinstance(event, CallEnded):
                    break
        return taken

    async def _save_batch(self, events: list[CallEnded]) -> None:
        """Store the calls together; if that fails, one by one, so that one bad record keeps
        no other from being stored (a failed one is kept for the retries)."""
        if len(events) > 1:
            try:
                await self.store.save_many(events)
            except Exception:
                log.warning(
                    "PBX %s: %d call records not stored together; storing them one by one",
                    self.name,
                    len(events),
                    exc_info=True,
                )
            else:
                return
        for event in events:
            await self.save(event)

    def _written(self, event: Event) -> None:
        """Account for a queued event that has been through the writer."""
        for key in _order_keys(event):
            left = self.held[key] - 1
            if left:
                self.held[key] = left
            else:
                del self.held[key]
        self._to_store.task_done()

    async def flush(self) -> None:
        """Wait until every call queued so far has been through one store attempt."""
        await self._to_store.join()

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """On stop: store what is queued, retry what failed once more, then stop the writer."""
        flushed = False
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush()
                flushed = True
                await self.retry()
        except TimeoutError:
            log.error(
                "PBX %s: %d call records still queued at stop", self.name, self._to_store.qsize()
            )
        for event in self.unsaved:
            log.error("call %s on %s: not stored at stop", event.call_id, self.name)
        if flushed and self.task is not None:
            # Idle now (a later CallEnded starts a new one); a writer still busy carries on.
            writer, self.task = self.task, None
            writer.cancel()
            await asyncio.wait([writer])

    async def save(self, event: CallEnded) -> None:
        """Store one call; if that fails, keep it in ``unsaved`` (it must not be lost)."""
        try:
            await self.store.save(event)
        except Exception:
            # Kept for the runtime's retries (PbxRuntime.run_retries).
            log.exception("call %s on %s not stored yet; will retry", event.call_id, self.name)
            self.unsaved.append(event)

    async def retry(self) -> None:
        """Try once more to store each call that failed."""
        pending, self.unsaved = self.unsaved, []
        for event in pending:
            await self.save(event)
