"""TaskSupervisor: restarts with back-off, status, failures, stopping and no leftover tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from crm_core.supervisor import TaskSupervisor

WAIT = 5.0


@pytest.fixture
async def supervisor() -> AsyncIterator[TaskSupervisor]:
    """A supervisor with tiny back-off; stopped afterwards."""
    sup = TaskSupervisor(min_backoff=0.001, max_backoff=0.004)
    yield sup
    await sup.stop()


async def wait_for(event: asyncio.Event) -> None:
    async with asyncio.timeout(WAIT):
        await event.wait()


def blocking(
    started: asyncio.Event, cancelled: list[str], name: str
) -> Callable[[], Awaitable[None]]:
    """A task body that signals it runs, then waits until cancelled (and records that)."""

    async def run() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    return run


async def test_failing_task_is_restarted_and_status_shows_it(supervisor: TaskSupervisor) -> None:
    calls = 0
    third_run = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError(f"boom {calls}")
        third_run.set()
        await asyncio.Event().wait()

    task = supervisor.start("flaky", flaky)
    assert task.get_name() == "flaky"
    await wait_for(third_run)
    assert calls == 3
    assert supervisor.status() == {
        "flaky": {"state": "running", "restarts": 2, "last_error": "RuntimeError: boom 2"}
    }
    assert not task.done()


async def test_failure_is_logged_with_the_task_name(
    supervisor: TaskSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    again = asyncio.Event()
    calls = 0

    async def fails_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("missing")
        again.set()
        await asyncio.Event().wait()

    with caplog.at_level("ERROR", logger="crm_core.supervisor"):
        supervisor.start("logged", fails_once)
        await wait_for(again)
    records = [r for r in caplog.records if r.name == "crm_core.supervisor"]
    assert len(records) == 1
    assert "logged" in records[0].getMessage()
    assert records[0].exc_info is not None


async def test_without_restart_a_failure_marks_the_task_failed(
    supervisor: TaskSupervisor,
) -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("bad config")

    task = supervisor.start("once", broken, restart=False)
    async with asyncio.timeout(WAIT):
        await task
    assert calls == 1
    assert supervisor.status() == {
        "once": {"state": "failed", "restarts": 0, "last_error": "ValueError: bad config"}
    }


async def test_without_restart_a_return_marks_the_task_finished(
    supervisor: TaskSupervisor,
) -> None:
    async def done() -> None:
        return None

    task = supervisor.start("short", done, restart=False)
    async with asyncio.timeout(WAIT):
        await task
    assert supervisor.status() == {
        "short": {"state": "finished", "restarts": 0, "last_error": None}
    }


async def test_a_returning_task_is_run_again(supervisor: TaskSupervisor) -> None:
    calls = 0
    second_run = asyncio.Event()

    async def returns_first() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            return
        second_run.set()
        await asyncio.Event().wait()

    supervisor.start("returns", returns_first)
    await wait_for(second_run)
    assert calls == 2
    assert supervisor.status()["returns"]["last_error"] is None


async def test_a_restarted_returning_task_is_reported_running(
    supervisor: TaskSupervisor,
) -> None:
    calls = 0
    second_run = asyncio.Event()

    async def returns_first() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            return
        second_run.set()
        await asyncio.Event().wait()

    supervisor.start("returns", returns_first)
    await wait_for(second_run)
    assert supervisor.status()["returns"]["state"] == "running"


async def test_last_error_is_bounded(supervisor: TaskSupervisor) -> None:
    async def loud() -> None:
        raise RuntimeError("x" * 5000)

    task = supervisor.start("loud", loud, restart=False)
    async with asyncio.timeout(WAIT):
        await task
    error = supervisor.status()["loud"]["last_error"]
    assert isinstance(error, str)
    assert error.startswith("RuntimeError: xxx")
    assert len(error) == 500


async def test_starting_a_running_name_twice_raises(supervisor: TaskSupervisor) -> None:
    started = asyncio.Event()
    cancelled: list[str] = []
    supervisor.start("dup", blocking(started, cancelled, "dup"))
    await wait_for(started)
    with pytest.raises(ValueError, match="already running"):
        supervisor.start("dup", blocking(asyncio.Event(), cancelled, "dup2"))
    # Even before its first step has run, a new task's name is taken.
    supervisor.start("fresh", blocking(asyncio.Event(), cancelled, "fresh"))
    with pytest.raises(ValueError, match="already running"):
        supervisor.start("fresh", blocking(asyncio.Event(), cancelled, "fresh2"))
    assert set(supervisor.status()) == {"dup", "fresh"}


async def test_a_finished_name_may_be_started_again(supervisor: TaskSupervisor) -> None:
    async def done() -> None:
        return None

    first = supervisor.start("job", done, restart=False)
    async with asyncio.timeout(WAIT):
        await first
    started = asyncio.Event()
    cancelled: list[str] = []
    second = supervisor.start("job", blocking(started, cancelled, "job"))
    await wait_for(started)
    assert second is not first
    assert supervisor.status()["job"]["state"] == "running"


async def test_stop_cancels_every_task_and_leaves_none_behind() -> None:
    sup = TaskSupervisor(min_backoff=0.001)
    cancelled: list[str] = []
    events = {name: asyncio.Event() for name in ("a", "b", "c")}
    tasks = [sup.start(name, blocking(ev, cancelled, name)) for name, ev in events.items()]
    for ev in events.values():
        await wait_for(ev)

    async def always_fails() -> None:
        raise RuntimeError("nope")

    # A task sleeping in its back-off is stopped too.
    tasks.append(sup.start("backing-off", always_fails))
    await sup.stop()
    assert sorted(cancelled) == ["a", "b", "c"]
    assert all(t.done() for t in tasks)
    assert all(t.cancelled() for t in tasks)
    assert sup.status() == {}
    with pytest.raises(RuntimeError, match="stopping"):
        sup.start("late", always_fails)


async def test_stop_waits_for_cleanup() -> None:
    sup = TaskSupervisor()
    started = asyncio.Event()
    cleaned = False

    async def with_cleanup() -> None:
        nonlocal cleaned
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)
            cleaned = True

    sup.start("cleanup", with_cleanup)
    await wait_for(started)
    await sup.stop()
    assert cleaned


async def test_stop_without_tasks() -> None:
    sup = TaskSupervisor()
    await sup.stop()
    assert sup.status() == {}


async def test_cancel_stops_one_task_only(supervisor: TaskSupervisor) -> None:
    cancelled: list[str] = []
    one, two = asyncio.Event(), asyncio.Event()
    first = supervisor.start("one", blocking(one, cancelled, "one"))
    second = supervisor.start("two", blocking(two, cancelled, "two"))
    await wait_for(one)
    await wait_for(two)
    await supervisor.cancel("one")
    assert first.cancelled()
    assert cancelled == ["one"]
    assert not second.done()
    assert set(supervisor.status()) == {"two"}
    await supervisor.cancel("no-such-task")
    # The name is free again.
    again = asyncio.Event()
    supervisor.start("one", blocking(again, cancelled, "one-again"))
    await wait_for(again)
