"""Import I/O: the file is read in a worker thread, and a dry run writes nothing while it runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from crm_core.appkeys import POLICIES, SESSIONS
from crm_core.bus.events import Event
from crm_core.crm.import_files import Table
from crm_core.crm.import_mapping import parse_mapping
from crm_core.crm.importing import ImportOptions, ImportService
from crm_core.crm.models import Company, Territory
from crm_core.db import session_scope
from crm_core.users.audit import AuditContext
from crm_core.users.models import Role
from crm_core.users.permissions import Principal
from tests.conftest import add_user


class _WritingBus:
    """Stands in for the bus: at the first progress push, writes through another session."""

    def __init__(self, client: TestClient[Any, Any], write: bool) -> None:
        self.client = client
        self.write = write
        self.wrote = False
        self.pushes = 0

    async def publish(self, event: Event) -> bool:
        self.pushes += 1
        if self.write and not self.wrote:
            self.wrote = True
            async with session_scope(self.client.app[SESSIONS]) as db:
                db.add(Territory(name="written while the dry run ran"))
        return True


def _table(rows: int, threads: set[int]) -> Table:
    def gen() -> Iterator[tuple[int, list[Any]]]:
        for i in range(rows):
            threads.add(threading.get_ident())
            yield i + 2, [f"C{i}", f"Company {i}", f"+30 210 000 {i:04d}"]

    return Table(["code", "name", "phone"], gen(), rows)


async def _run(client: TestClient[Any, Any], dry_run: bool, threads: set[int]) -> Any:
    admin = await add_user(client, "admin", "admin")
    principal = Principal(user_id=admin.id, username="admin", roles=frozenset({Role.ADMIN}))
    # A real import holds its write transaction (SQLite: the write lock) to the end, so only
    # the dry run's bus writes meanwhile.
    bus = _WritingBus(client, write=dry_run)
    service = ImportService(
        client.app[SESSIONS],
        client.app[POLICIES],
        bus,
        "GR",
        progress_every=5,  # type: ignore[arg-type]
    )
    table = _table(12, threads)
    mapping = parse_mapping(
        '{"code": "code", "name": "name", "phone": "phone"}', "companies", table
    )
    report = await service.run(
        principal, table, mapping, ImportOptions(dry_run=dry_run), AuditContext(method="TEST")
    )
    assert bus.pushes >= 2  # progress pushes came while rows were being imported
    assert bus.wrote == dry_run
    return report


async def test_dry_run_writes_nothing_and_lets_others_write(client: TestClient[Any, Any]) -> None:
    threads: set[int] = set()
    report = await _run(client, True, threads)
    assert (report.rows, report.created, report.errors) == (12, 12, [])
    # the rows were read off the event loop's thread
    assert threads
    assert threading.get_ident() not in threads
    async with client.app[SESSIONS]() as db:
        assert await db.scalar(select(func.count()).select_from(Company)) == 0
        names = list(await db.scalars(select(Territory.name)))
    assert names == ["written while the dry run ran"]


async def test_real_import_still_writes(client: TestClient[Any, Any]) -> None:
    threads: set[int] = set()
    report = await _run(client, False, threads)
    assert (report.created, report.errors) == (12, [])
    async with client.app[SESSIONS]() as db:
        assert await db.scalar(select(func.count()).select_from(Company)) == 12
