"""Use cases of the agent console on a call: disposition (with a callback), the call's contact,
a ticket or a follow-up from the call, and "my day"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.bus.events import utcnow
from crm_core.bus.ports import EventBus
from crm_core.crm import repository as repo
from crm_core.crm.celebrations import CelebrationEntry, CelebrationService
from crm_core.crm.models import Company, Person
from crm_core.crm.work import WorkService
from crm_core.crm.work_models import Activity, ActivityStatus, ActivityType, Ticket
from crm_core.crm.work_schemas import ActivityIn, ParticipantIn, TicketIn
from crm_core.db import session_scope
from crm_core.errors import Conflict
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import User
from crm_core.users.permissions import PolicyRegistry, Principal
from dialer.callbacks import (
    CALLBACKS_USE,
    UNSET,
    CallbackRequest,
    CallbackService,
    callback_scope,
    day_bounds,
)
from dialer.console_models import Callback, CallbackStatus
from dialer.console_ports import PopUpdates
from dialer.dispositions import DispositionResult, DispositionService
from dialer.events import CallWrappedUp
from dialer.wrapup import (
    CALLS_WRAPUP,
    CallAccess,
    CallRef,
    apply_wrapup,
    call_activity,
    touch,
    wrapup_for,
)
from telephony.records import CallRecordRow

__all__ = ["ConsoleService", "LinkResult", "Today"]

log = logging.getLogger(__name__)
TODAY_LIMIT = 200


@dataclass(frozen=True)
class LinkResult:
    """The contact a call was linked to."""

    kind: str
    id: int
    name: str
    on_record: bool
    told: int


@dataclass(frozen=True)
class Today:
    """My day."""

    day: str
    time_zone: str
    callbacks: list[Callback]
    tasks: list[Activity]
    celebrations: list[CelebrationEntry]


class ConsoleService:
    """What an agent does on a call from the console."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        access: CallAccess,
        pops: PopUpdates,
        dispositions: DispositionService,
        callbacks: CallbackService,
        *,
        timezone: str,
        bus: EventBus | None = None,
    ) -> None:
        self._bus = bus
        self._sessions = sessions
        self._policies = policies
        self._access = access
        self._pops = pops
        self._dispositions = dispositions
        self._callbacks = callbacks
        self._timezone = timezone
        self._work = WorkService(sessions, policies, timezone)

    async def dispose(
        self,
        principal: Principal,
        call_id: str,
        *,
        code: str,
        notes: str,
        campaign_id: int | None,
        callback: dict[str, Any] | None,
        ctx: AuditContext,
    ) -> tuple[DispositionResult, Callback | None]:
        """Save the disposition, and the callback given with it, in one transaction."""
        cb: Callback | None = None
        for attempt in (1, 2):
            try:
                async with session_scope(self._sessions) as db:
                    result = await self._dispositions.dispose(
                        principal,
                        call_id,
                        code=code,
                        notes=notes,
                        campaign_id=campaign_id,
                        ctx=ctx,
                        db=db,
                    )
                    cb = None
                    if callback is not None:
                        principal.require(CALLBACKS_USE)
                        cb = await self._callbacks.schedule(
                            principal,
                            CallbackRequest(
                                due_local=datetime.strptime(
                                    callback["due_local"], "%Y-%m-%dT%H:%M"
                                ),
                                phone=callback.get("phone"),
                                time_zone=callback.get("time_zone"),
                                call_id=call_id,
                                campaign_id=result.wrapup.campaign_id,
                                assigned_user_id=callback.get("assigned_user_id", UNSET),
                                notes=callback.get("notes", ""),
                            ),
                            ctx,
                            db,
                        )
                break
            except IntegrityError:
                # Two first wrap-ups of the same call raced for its row: the second one retries.
                if attempt == 2:
                    raise
        if cb is not None:
            self._callbacks.woke()
        await self._publish(result.stored)
        return result, cb

    async def _publish(self, event: CallWrappedUp | None) -> None:
        if self._bus is not None and event is not None:
            await self._bus.publish(event)

    async def _record(
        self, db: AsyncSession, principal: Principal, kind: str, contact_id: int
    ) -> Person | Company:
        if kind == "person":
            return await repo.get_visible(db, self._policies, principal, Person, contact_id)
        return await repo.get_visible(db, self._policies, principal, Company, contact_id)

    async def link_contact(
        self, principal: Principal, call_id: str, kind: str, contact_id: int, ctx: AuditContext
    ) -> LinkResult:
        """Make ``kind``/``contact_id`` the call's contact (a record in the caller's scope)."""
        principal.require(CALLS_WRAPUP)
        async with session_scope(self._sessions) as db:
            call = await self._access.find(db, principal, call_id)
            record = await self._record(db, principal, kind, contact_id)  # 404 outside scope
            name = record.name if isinstance(record, Company) else record.full_name
            row = await wrapup_for(db, call)
            row.person_id = contact_id if kind == "person" else None
            row.company_id = contact_id if kind == "company" else None
            row.linked_by_id = principal.user_id
            touch(row)
            await db.flush()
            stored = await apply_wrapup(db, row)
            await record_audit(
                db,
                ctx,
                action="call.link_contact",
                principal=principal,
                object_type="call",
                object_id=call_id,
                details={"kind": kind, "id": contact_id},
            )
        await self._publish(stored)
        told = await self._pops.link_contact(
            call_id, {"kind": kind, "id": contact_id, "name": name}
        )
        log.info("call %s linked to %s %s by %s", call_id, kind, contact_id, principal.username)
        return LinkResult(kind, contact_id, name, stored is not None, len(told))

    @staticmethod
    def _contact_of(call: CallRef) -> tuple[str, int]:
        if call.contact is None:
            raise Conflict(
                "the call has no contact yet: link it to one of the candidates first",
                details={"reason": "no_contact"},
            )
        return call.contact

    async def _call_and_parent(
        self, principal: Principal, call_id: str
    ) -> tuple[CallRef, Activity | None]:
        principal.require(CALLS_WRAPUP)
        async with self._sessions() as db:
            call = await self._access.find(db, principal, call_id)
            record = (
                await db.get(CallRecordRow, call.record_id) if call.record_id is not None else None
            )
            parent = await call_activity(db, call_id, record) if record is not None else None
        return call, parent

    async def ticket(
        self, principal: Principal, call_id: str, values: dict[str, Any], ctx: AuditContext
    ) -> Ticket:
        """Open a ticket for the call's contact; the call activity points at it."""
        call, _parent = await self._call_and_parent(principal, call_id)
        kind, cid = self._contact_of(call)
        body = TicketIn(
            **values,
            channel="call",
            person_id=cid if kind == "person" else None,
            company_id=cid if kind == "company" else None,
        )
        ticket = await self._work.create_ticket(principal, body, ctx)
        async with session_scope(self._sessions) as db:
            row = await wrapup_for(db, call)
            row.ticket_id = ticket.id
            touch(row)
            await db.flush()
            stored = await apply_wrapup(db, row)
        await self._publish(stored)
        return ticket

    async def activity(
        self, principal: Principal, call_id: str, values: dict[str, Any], ctx: AuditContext
    ) -> Activity:
        """Plan a follow-up of the call for its contact (child of the call activity)."""
        call, parent = await self._call_and_parent(principal, call_id)
        kind, cid = self._contact_of(call)
        body = ActivityIn(
            type=values["type"],
            subject=values["subject"],
            notes=values["notes"],
            starts_at=values.get("due_at"),
            ends_at=values.get("ends_at"),
            priority=values["priority"],
            status="planned",
            responsible_user_id=values.get("responsible_user_id"),
            parent_id=parent.id if parent is not None else None,
            call_id=call_id,
            participants=[
                ParticipantIn(person_id=cid) if kind == "person" else ParticipantIn(company_id=cid)
            ],
        )
        return await self._work.create_activity(principal, body, ctx)

    async def my_day(
        self, principal: Principal, now: datetime | None = None
    ) -> tuple[date, ZoneInfo, tuple[datetime, datetime]]:
        """My day now in my time zone (else the business one), and its bounds in UTC."""
        now = now or utcnow()
        async with self._sessions() as db:
            user = await db.get(User, principal.user_id)
        zone_name = (user.timezone if user is not None else None) or self._timezone
        try:
            zone = ZoneInfo(zone_name)
        except (ValueError, KeyError):
            zone = ZoneInfo(self._timezone)
        day = now.astimezone(zone).date()
        return day, zone, day_bounds(day, zone)

    async def today(self, principal: Principal, now: datetime | None = None) -> Today:
        """Callbacks and tasks due today in my time zone, and today's celebrations."""
        now = now or utcnow()
        day, zone, (start, end) = await self.my_day(principal, now)
        async with self._sessions() as db:
            callbacks: list[Callback] = []
            if principal.has(CALLBACKS_USE):
                callbacks = list(
                    await db.scalars(
                        callback_scope(principal, select(Callback))
                        .where(
                            Callback.status == CallbackStatus.SCHEDULED.value,
                            Callback.due_at >= start,
                            Callback.due_at < end,
                        )
                        .order_by(Callback.due_at, Callback.id)
                        .limit(TODAY_LIMIT)
                    )
                )
            tasks = list(
                await db.scalars(
                    select(Activity)
                    .where(
                        Activity.type == ActivityType.TASK.value,
                        Activity.responsible_user_id == principal.user_id,
                        Activity.status.not_in(
                            (ActivityStatus.DONE.value, ActivityStatus.CANCELLED.value)
                        ),
                        or_(
                            and_(Activity.starts_at >= start, Activity.starts_at < end),
                            # A task with only an end time is due then.
                            and_(
                                Activity.starts_at.is_(None),
                                Activity.ends_at >= start,
                                Activity.ends_at < end,
                            ),
                        ),
                    )
                    .order_by(Activity.starts_at, Activity.ends_at, Activity.id)
                    .limit(TODAY_LIMIT)
                )
            )
        celebrations = CelebrationService(self._sessions, self._policies, self._timezone)
        entries, _total = await celebrations.on_day(
            principal, celebrations.day_of(now), TODAY_LIMIT, 0
        )
        return Today(day.isoformat(), zone.key, callbacks, tasks, entries)
