"""Each user's resolved record scope, remembered between caller-ID lookups and checked, never
trusted: the lookup reads the ``access_epoch`` count in the same statement as its rows.

A non-administrator's scope (:class:`~crm_core.crm.policies.ResolvedScope`: the owners, granted
territories and teams whose records they see) depends on delegations, territory grants, team
memberships and user roles. Reading those in every lookup is most of the lookup's cost, yet they
change a few times a day. So the lookup runs with the scope as values and asks the database, in
the same statement and snapshot, for ``access_epoch.n``, which triggers on those four tables move
in every writer's transaction (migration 0009). When the count is the one the scope was read at,
the rows are exactly those the scope's sub-queries would have given; when not, the scope is read
again and the lookup re-run (:func:`crm_core.crm.repository.lookup_phone`).

Delegations also start and end by the clock without any write: an entry is good only until the
next start or end of a delegation to its user (``valid_until``), read with it.

The principal's own roles and supervised teams are part of the key, since the principal carries
them (loaded afresh per request or pop). One cache per engine (:meth:`ScopeCache.of`), so two
applications in one process, on two databases, never share entries.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.crm.models import AccessEpoch, Delegation
from crm_core.crm.policies import ResolvedScope, resolve_scope
from crm_core.db import UtcDateTime, utcnow
from crm_core.users.permissions import Principal

__all__ = ["CachedScope", "ScopeCache"]

# Enough for every agent of a large site; past it the oldest entry goes first.
MAX_USERS = 10_000


@dataclass(frozen=True)
class CachedScope:
    """A user's scope as read at ``epoch``, good until ``valid_until`` (the next start or end
    of a delegation to them; ``None``: none ahead)."""

    epoch: int
    valid_until: datetime | None
    scope: ResolvedScope


_user: Any = bindparam("user")
_now = bindparam("now", type_=UtcDateTime())
# The count first, then the next delegation boundary: read before the scope, so a change that
# lands in between makes the cached count older than the scope (noticed, re-read), never newer.
_EPOCH_AND_NEXT = select(
    select(AccessEpoch.n).where(AccessEpoch.id == 1).scalar_subquery().label("epoch"),
    select(func.min(Delegation.starts_at))
    .where(Delegation.to_user_id == _user, Delegation.starts_at > _now)
    .scalar_subquery()
    .label("next_start"),
    select(func.min(Delegation.ends_at))
    .where(Delegation.to_user_id == _user, Delegation.ends_at > _now)
    .scalar_subquery()
    .label("next_end"),
)

_CACHES: weakref.WeakKeyDictionary[Engine, ScopeCache] = weakref.WeakKeyDictionary()


def _key(principal: Principal) -> tuple[int, frozenset[Any], frozenset[int]]:
    return (principal.user_id, frozenset(principal.roles), principal.supervised_team_ids)


class ScopeCache:
    """Resolved scopes by user, roles and supervised teams (see the module docstring)."""

    def __init__(
        self, *, max_users: int = MAX_USERS, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._entries: dict[tuple[int, frozenset[Any], frozenset[int]], CachedScope] = {}
        self._max = max_users
        self._clock = clock
        self.loads = 0  # scopes read from the database (a figure for tests and benchmarks)

    @classmethod
    def of(cls, conn: AsyncConnection) -> ScopeCache:
        """The cache of the engine ``conn`` belongs to (made on first use, gone with it)."""
        return cls.for_engine(conn.engine)

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> ScopeCache:
        """The cache of ``engine`` (made on first use, gone with it)."""
        found = _CACHES.get(engine.sync_engine)
        if found is None:
            found = _CACHES[engine.sync_engine] = cls()
        return found

    def install(self, engine: AsyncEngine) -> None:
        """Make this the cache of ``engine`` (a test's cache with its own clock)."""
        _CACHES[engine.sync_engine] = self

    def get(self, principal: Principal) -> CachedScope | None:
        """The cached scope, if any and not past its ``valid_until``."""
        found = self._entries.get(_key(principal))
        if found is None:
            return None
        if found.valid_until is not None and self._clock() >= found.valid_until:
            self.forget(principal)
            return None
        return found

    def forget(self, principal: Principal) -> None:
        """Drop ``principal``'s entry (its count no longer matches the database's)."""
        self._entries.pop(_key(principal), None)

    async def load(self, conn: AsyncConnection, principal: Principal) -> CachedScope:
        """Read ``principal``'s scope, its count and its end of validity; remember them."""
        now = self._clock()
        row = (await conn.execute(_EPOCH_AND_NEXT, {"user": principal.user_id, "now": now})).one()
        scope = await resolve_scope(conn, principal, now=now)
        bounds = [b for b in (row.next_start, row.next_end) if b is not None]
        entry = CachedScope(int(row.epoch), min(bounds) if bounds else None, scope)
        key = _key(principal)
        self._entries.pop(key, None)
        if len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = entry
        self.loads += 1
        return entry
