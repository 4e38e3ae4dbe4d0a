"""Callbacks: a call to make back at a local time of the contact, for me, someone, or anyone.

Times are agreed in the contact's time zone and stored in UTC. A local time that does not exist
(the clocks go forward) is refused with the reason; a local time that happens twice (the clocks go
back) means its first occurrence. The due notice is durable: a callback is due and not yet notified
in the database until one process claims it with a conditional update, then pushes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.bus.events import utcnow
from crm_core.bus.ports import EventBus
from crm_core.crm import repository as repo
from crm_core.crm.models import Company, Person
from crm_core.crm.phones import normalise
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm_core.push import push_to_users
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Role, TeamMember, User
from crm_core.users.permissions import Permission, PolicyRegistry, Principal, grant
from dialer.console_models import Callback, CallbackStatus
from dialer.wrapup import CallAccess
from telephony.records import CallRecordRow

__all__ = [
    "CALLBACKS_USE",
    "CallbackNotifier",
    "CallbackRequest",
    "CallbackService",
    "LocalTime",
    "callback_scope",
    "local_to_utc",
    "valid_zone",
]

log = logging.getLogger(__name__)

CALLBACKS_USE = Permission.define(
    "callbacks.use", "schedule and work callbacks (one's own, one's team's)"
)
grant(Role.AGENT, CALLBACKS_USE)
grant(Role.SUPERVISOR, CALLBACKS_USE)
grant(Role.ADMIN, CALLBACKS_USE)

PAST_GRACE = timedelta(minutes=5)
UNSET: Any = object()


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details={"field": field})


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA time zone ``name``; a clear 400 for anything else."""
    if name not in _zones():
        raise _bad(field, f"{name[:64]!r} is not an IANA time zone name such as Europe/Athens")
    return ZoneInfo(name)


@dataclass(frozen=True)
class LocalTime:
    """A wall-clock time resolved to UTC."""

    utc: datetime
    ambiguous: bool


def _wall(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)


def local_to_utc(local: datetime, zone: ZoneInfo, field: str = "due_local") -> LocalTime:
    """Resolve a naive wall-clock time in ``zone``: refuse a gap, take an overlap's first time."""
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return LocalTime(first.astimezone(UTC), False)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != local:
        after = local
        while _wall(after, zone) != after:  # the first wall-clock minute after the gap
            after += timedelta(minutes=1)
        raise InvalidInput(
            f"{field}: {local:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go "
            f"forward then); choose a time from {after:%H:%M} on",
            details={"field": field, "reason": "nonexistent_local_time"},
        )
    return LocalTime(first.astimezone(UTC), True)


def phone_zone(e164: str | None) -> str | None:
    """The time zone of a number when the number says it unambiguously."""
    if e164 is None:
        return None
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    if len(zones) == 1 and zones[0] in _zones():
        return str(zones[0])
    return None


def callback_scope(principal: Principal, stmt: Select[Any]) -> Select[Any]:
    """Callbacks the caller may see: theirs, their team's open ones; supervisors their teams'."""
    if principal.is_admin:
        return stmt
    conds: list[Any] = [
        Callback.assigned_user_id == principal.user_id,
        Callback.created_by_id == principal.user_id,
    ]
    if principal.team_ids:
        conds.append(
            and_(Callback.assigned_user_id.is_(None), Callback.team_id.in_(principal.team_ids))
        )
    if principal.supervised_team_ids:
        teams = principal.supervised_team_ids
        conds.append(Callback.team_id.in_(teams))
        conds.append(
            Callback.assigned_user_id.in_(
                select(TeamMember.user_id).where(TeamMember.team_id.in_(teams))
            )
        )
    if Role.SUPERVISOR in principal.roles:
        conds.append(and_(Callback.assigned_user_id.is_(None), Callback.team_id.is_(None)))
    return stmt.where(or_(*conds))


@dataclass(frozen=True)
class CallbackRequest:
    """What the console asks for; ``assigned_user_id`` is UNSET for "me", None for anyone."""

    due_local: datetime
    phone: str | None = None
    time_zone: str | None = None
    person_id: int | None = None
    company_id: int | None = None
    call_id: str | None = None
    campaign_id: int | None = None
    assigned_user_id: Any = UNSET
    notes: str = ""


class CallbackService:
    """Schedules, lists and closes callbacks."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        access: CallAccess,
        *,
        region: str,
        timezone: str,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._access = access
        self._region = region
        self._timezone = timezone
        self._clock = clock
        self._wake = wake

    async def _assignee(self, db: AsyncSession, principal: Principal, user_id: int) -> None:
        user = await db.get(User, user_id)
        if user is None or not user.is_active:
            raise _bad("assigned_user_id", f"no active user with id {user_id}")
        if principal.is_admin or user_id == principal.user_id:
            return
        teams = (
            principal.supervised_team_ids if Role.SUPERVISOR in principal.roles else frozenset()
        ) | principal.team_ids
        member = await db.scalar(
            select(TeamMember.user_id)
            .where(TeamMember.user_id == user_id, TeamMember.team_id.in_(teams))
            .limit(1)
        )
        if member is None:
            raise PermissionDenied(
                "you may schedule callbacks only for yourself or members of your teams",
                details={"field": "assigned_user_id"},
            )

    async def _contact(
        self, db: AsyncSession, principal: Principal, person_id: int | None, company_id: int | None
    ) -> Person | Company | None:
        try:
            if person_id is not None:
                return await repo.get_visible(db, self._policies, principal, Person, person_id)
            if company_id is not None:
                return await repo.get_visible(db, self._policies, principal, Company, company_id)
        except NotFound:
            field = "person_id" if person_id is not None else "company_id"
            raise _bad(field, f"no such {field.removesuffix('_id')}") from None
        return None

    async def schedule(
        self, principal: Principal, req: CallbackRequest, ctx: AuditContext, db: AsyncSession
    ) -> Callback:
        """Create a callback in ``db``'s transaction (the caller commits, then :meth:`woke`)."""
        principal.require(CALLBACKS_USE)
        if req.person_id is not None and req.company_id is not None:
            raise _bad("company_id", "give person_id or company_id, not both")
        person_id, company_id = req.person_id, req.company_id
        call_number: str | None = None
        if req.call_id is not None:
            call = await self._access.find(db, principal, req.call_id)
            if person_id is None and company_id is None and call.contact is not None:
                kind, cid = call.contact
                person_id, company_id = (cid, None) if kind == "person" else (None, cid)
            if call.record_id is not None:
                record = await db.get(CallRecordRow, call.record_id)
                call_number = record.customer_e164 if record is not None else None
        contact = await self._contact(db, principal, person_id, company_id)
        raw_phone = req.phone or call_number
        if raw_phone is None and contact is not None and contact.phones:
            raw_phone = contact.phones[0].e164 or contact.phones[0].original
        if not raw_phone:
            raise _bad("phone", "give the number to call back")
        try:
            e164 = normalise(raw_phone, self._region)
        except ValueError as err:
            raise _bad("phone", f"invalid number: {err}") from None
        zone_name = req.time_zone or phone_zone(e164) or self._timezone
        zone = valid_zone(zone_name)
        resolved = local_to_utc(req.due_local, zone)
        if resolved.utc < self._clock() - PAST_GRACE:
            raise _bad(
                "due_local",
                f"{req.due_local:%Y-%m-%d %H:%M} in {zone.key} is in the past",
            )
        assigned: int | None
        if req.assigned_user_id is UNSET:
            assigned = principal.user_id
        else:
            assigned = req.assigned_user_id
            if assigned is not None:
                await self._assignee(db, principal, assigned)
        team_id = min(principal.team_ids) if assigned is None and principal.team_ids else None
        row = Callback(
            status=CallbackStatus.SCHEDULED.value,
            due_at=resolved.utc,
            due_local=f"{req.due_local:%Y-%m-%dT%H:%M}",
            time_zone=zone.key,
            person_id=person_id,
            company_id=company_id,
            phone=e164,
            call_id=req.call_id,
            campaign_id=req.campaign_id,
            assigned_user_id=assigned,
            team_id=team_id,
            created_by_id=principal.user_id,
            notes=req.notes,
        )
        db.add(row)
        await db.flush()
        await record_audit(
            db,
            ctx,
            action="callback.create",
            principal=principal,
            object_type="callback",
            object_id=str(row.id),
            details={"due_at": row.due_at.isoformat(), "assigned_user_id": assigned},
        )
        return row

    def woke(self) -> None:
        """Tell the notifier that a new callback exists (after the commit)."""
        if self._wake is not None:
            self._wake()

    async def create(
        self, principal: Principal, req: CallbackRequest, ctx: AuditContext
    ) -> Callback:
        """Schedule a callback in its own transaction."""
        async with session_scope(self._sessions) as db:
            row = await self.schedule(principal, req, ctx, db)
        self.woke()
        return row

    async def list_visible(
        self,
        principal: Principal,
        *,
        mine: bool,
        status: str | None,
        day: tuple[datetime, datetime] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Callback], int]:
        """Callbacks in scope, soonest first."""
        principal.require(CALLBACKS_USE)
        stmt = callback_scope(principal, select(Callback))
        if mine:
            stmt = stmt.where(Callback.assigned_user_id == principal.user_id)
        if status is not None:
            stmt = stmt.where(Callback.status == status)
        if day is not None:
            stmt = stmt.where(Callback.due_at >= day[0], Callback.due_at < day[1])
        async with self._sessions() as db:
            total = await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            rows = list(
                await db.scalars(
                    stmt.order_by(Callback.due_at, Callback.id).limit(limit).offset(offset)
                )
            )
        return rows, total

    async def close(
        self, principal: Principal, callback_id: int, status: CallbackStatus, ctx: AuditContext
    ) -> Callback:
        """Mark a callback done or cancelled (a visible one; others are not found)."""
        principal.require(CALLBACKS_USE)
        async with session_scope(self._sessions) as db:
            row: Callback | None = await db.scalar(
                callback_scope(principal, select(Callback)).where(Callback.id == callback_id)
            )
            if row is None:
                raise NotFound(f"no callback {callback_id}")
            if row.status != CallbackStatus.SCHEDULED.value:
                raise Conflict(
                    f"the callback is {row.status} already", details={"status": row.status}
                )
            row.status = status.value
            row.closed_at = self._clock()
            row.closed_by_id = principal.user_id
            row.updated_at = self._clock()
            await record_audit(
                db,
                ctx,
                action=f"callback.{'done' if status is CallbackStatus.DONE else 'cancel'}",
                principal=principal,
                object_type="callback",
                object_id=str(row.id),
            )
        return row


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and ends in ``zone``."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


class CallbackNotifier:
    """Pushes ``callback_due`` to the assignee (or the team) once a callback falls due."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        serialise: Callable[[Callback], dict[str, Any]],
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_s: float = 30.0,
        batch: int = 100,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._serialise = serialise
        self._clock = clock
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look again now (a callback was scheduled)."""
        self._wake.set()

    async def _recipients(self, db: AsyncSession, row: Callback) -> tuple[int, ...]:
        if row.assigned_user_id is not None:
            return (row.assigned_user_id,)
        if row.team_id is not None:
            members = await db.scalars(
                select(TeamMember.user_id).where(TeamMember.team_id == row.team_id)
            )
            return tuple(sorted(set(members)))
        return (row.created_by_id,) if row.created_by_id is not None else ()

    async def notify_due(self, now: datetime | None = None) -> int:
        """Claim and push every callback due by ``now`` and not notified yet; how many."""
        now = now or self._clock()
        sent = 0
        while True:
            async with self._sessions() as db:
                ids = list(
                    await db.scalars(
                        select(Callback.id)
                        .where(
                            Callback.notified_at.is_(None),
                            Callback.status == CallbackStatus.SCHEDULED.value,
                            Callback.due_at <= now,
                        )
                        .order_by(Callback.due_at, Callback.id)
                        .limit(self._batch)
                    )
                )
            if not ids:
                return sent
            messages: list[tuple[tuple[int, ...], dict[str, Any]]] = []
            async with session_scope(self._sessions) as db:
                for cid in ids:
                    # The conditional update is the claim: one process, one notice.
                    claimed = await db.execute(
                        update(Callback)
                        .where(Callback.id == cid, Callback.notified_at.is_(None))
                        .values(notified_at=now)
                    )
                    if getattr(claimed, "rowcount", 0) != 1:
                        continue
                    row = await db.get(Callback, cid)
                    if row is None:
                        continue
                    users = await self._recipients(db, row)
                    messages.append(
                        (users, {"type": "callback_due", "callback": self._serialise(row)})
                    )
            for users, message in messages:
                if users:
                    await push_to_users(self._bus, users, message)
                    sent += 1
                log.info("callback %s due: told users %s", message["callback"]["id"], users)

    async def next_due(self) -> datetime | None:
        """When the next callback falls due (None when none is waiting)."""
        async with self._sessions() as db:
            due: datetime | None = await db.scalar(
                select(Callback.due_at)
                .where(
                    Callback.notified_at.is_(None),
                    Callback.status == CallbackStatus.SCHEDULED.value,
                )
                .order_by(Callback.due_at)
                .limit(1)
            )
        return due

    async def run(self, also: Callable[[], Any] | None = None) -> None:
        """Notify due callbacks forever (a supervised task); ``also`` runs on every round."""
        while True:
            self._wake.clear()
            await self.notify_due()
            if also is not None:
                await also()
            wait = self._poll_s
            due = await self.next_due()
            if due is not None:
                wait = max(0.5, min(wait, (due - self._clock()).total_seconds()))
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
