"""Use cases of tickets and activities, and the timeline of a company or person."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import repository as repo
from crm_core.crm.ext_models import ActivityStatusDef
from crm_core.crm.finance_models import Invoice, Payment
from crm_core.crm.models import Company, Person
from crm_core.crm.repository import time_filter
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket, TicketStatus
from crm_core.crm.work_schemas import ActivityIn, ParticipantIn, TicketIn, TimelineItem
from crm_core.db import session_scope, utcnow
from crm_core.errors import InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Team, User
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["ACTIVITY_LIST", "TICKET_LIST", "TIMELINE_MAX_OFFSET", "WorkService"]

TIMELINE_MAX_OFFSET = 10_000

TICKET_LIST = ListSpec(
    sortable={
        "id": Ticket.id,
        "created_at": Ticket.created_at,
        "updated_at": Ticket.updated_at,
        "priority": Ticket.priority,
    },
    default_sort=("-created_at",),
    filters={
        "status": FilterSpec(Ticket.status, "str", ("eq", "in")),
        "priority": FilterSpec(Ticket.priority, "str", ("eq", "in")),
        "person_id": FilterSpec(Ticket.person_id, "int"),
        "company_id": FilterSpec(Ticket.company_id, "int"),
        "assigned_user_id": FilterSpec(Ticket.assigned_user_id, "int"),
        "assigned_team_id": FilterSpec(Ticket.assigned_team_id, "int"),
        "created_at": time_filter(Ticket.created_at),
    },
    search=(Ticket.subject,),
    tiebreak=Ticket.id,
)

ACTIVITY_LIST = ListSpec(
    sortable={
        "id": Activity.id,
        "starts_at": Activity.starts_at,
        "created_at": Activity.created_at,
    },
    default_sort=("-created_at",),
    filters={
        "type": FilterSpec(Activity.type, "str", ("eq", "in")),
        "status": FilterSpec(Activity.status, "str", ("eq", "in")),
        "closed": FilterSpec(
            None,
            "bool",
            description="the status is a closed one (done, cancelled ...)",
            condition=lambda _op, closed: Activity.status.in_(
                select(ActivityStatusDef.name).where(ActivityStatusDef.is_closed == closed)
            ),
        ),
        "responsible_user_id": FilterSpec(Activity.responsible_user_id, "int"),
        "ticket_id": FilterSpec(Activity.ticket_id, "int"),
        "parent_id": FilterSpec(Activity.parent_id, "int"),
        "starts_at": time_filter(Activity.starts_at),
    },
    search=(Activity.subject,),
    tiebreak=Activity.id,
)


async def _check_status(db: AsyncSession, name: str) -> None:
    """``name`` is a defined activity status still in use; a field error otherwise."""
    status = await db.scalar(select(ActivityStatusDef).where(ActivityStatusDef.name == name))
    if status is None or not status.active:
        names = await db.scalars(
            select(ActivityStatusDef.name)
            .where(ActivityStatusDef.active.is_(True))
            .order_by(ActivityStatusDef.position, ActivityStatusDef.id)
        )
        what = "unknown" if status is None else "no longer in use"
        raise _bad("status", f"{what} status {name!r}; use one of: {', '.join(names)}")


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


class WorkService:
    """Tickets and activities of the records in the caller's scope, and timelines."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry, timezone: str
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._tz = ZoneInfo(timezone)

    async def _ref(
        self,
        db: AsyncSession,
        principal: Principal,
        field: str,
        company_id: int | None = None,
        person_id: int | None = None,
    ) -> None:
        try:
            if company_id is not None:
                await repo.get_visible(db, self._policies, principal, Company, company_id)
            if person_id is not None:
                await repo.get_visible(db, self._policies, principal, Person, person_id)
        except NotFound:
            raise _bad(field, f"no such {'company' if company_id else 'person'}") from None

    async def _user(self, db: AsyncSession, field: str, user_id: int | None) -> None:
        if user_id is not None:
            user = await db.get(User, user_id)
            if user is None or not user.is_active:
                raise _bad(field, f"no active user with id {user_id}")

    async def _team(self, db: AsyncSession, field: str, team_id: int | None) -> None:
        if team_id is not None and await db.get(Team, team_id) is None:
            raise _bad(field, f"no team with id {team_id}")

    # -- tickets -----------------------------------------------------------------------------

    async def list_tickets(self, principal: Principal, query: ListQuery) -> Page[Ticket]:
        """Tickets the caller may see."""
        stmt = self._policies.scope(principal, Ticket, select(Ticket))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, TICKET_LIST)

    async def get_ticket(self, principal: Principal, ticket_id: int) -> Ticket:
        """One visible ticket."""
        async with self._sessions() as db:
            return await repo.get_visible(db, self._policies, principal, Ticket, ticket_id)

    async def create_ticket(
        self, principal: Principal, body: TicketIn, ctx: AuditContext
    ) -> Ticket:
        """Open a ticket for a visible person and/or company."""
        async with session_scope(self._sessions) as db:
            await self._ref(db, principal, "company_id", company_id=body.company_id)
            await self._ref(db, principal, "person_id", person_id=body.person_id)
            await self._user(db, "assigned_user_id", body.assigned_user_id)
            await self._team(db, "assigned_team_id", body.assigned_team_id)
            ticket = Ticket(**body.model_dump(), created_by_id=principal.user_id)
            _stamp_status(ticket, body.status)
            db.add(ticket)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="ticket.create",
                principal=principal,
                object_type="ticket",
                object_id=str(ticket.id),
            )
        return await self.get_ticket(principal, ticket.id)

    async def update_ticket(
        self, principal: Principal, ticket_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> Ticket:
        """Change a ticket; resolving or closing it stamps the time."""
        async with session_scope(self._sessions) as db:
            ticket = await repo.get_visible(db, self._policies, principal, Ticket, ticket_id)
            await self._user(db, "assigned_user_id", changes.get("assigned_user_id"))
            await self._team(db, "assigned_team_id", changes.get("assigned_team_id"))
            for key, value in changes.items():
                setattr(ticket, key, value)
            if "status" in changes:
                _stamp_status(ticket, changes["status"])
            ticket.updated_at = utcnow()
            await record_audit(
                db,
                ctx,
                action="ticket.update",
                principal=principal,
                object_type="ticket",
                object_id=str(ticket.id),
                details={"fields": sorted(changes)},
            )
        return await self.get_ticket(principal, ticket_id)

    # -- activities --------------------------------------------------------------------------

    async def list_activities(self, principal: Principal, query: ListQuery) -> Page[Activity]:
        """Activities the caller may see."""
        stmt = self._policies.scope(principal, Activity, select(Activity))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, ACTIVITY_LIST)

    async def get_activity(self, principal: Principal, activity_id: int) -> Activity:
        """One visible activity."""
        async with self._sessions() as db:
            return await repo.get_visible(db, self._policies, principal, Activity, activity_id)

    async def _participants(
        self, db: AsyncSession, principal: Principal, items: list[ParticipantIn]
    ) -> list[ActivityParticipant]:
        out: list[ActivityParticipant] = []
        for i, item in enumerate(items):
            field = f"participants.{i}"
            await self._ref(db, principal, field, item.company_id, item.person_id)
            await self._user(db, field, item.user_id)
            out.append(ActivityParticipant(**item.model_dump()))
        return out

    async def create_activity(
        self, principal: Principal, body: ActivityIn, ctx: AuditContext
    ) -> Activity:
        """Record or plan an activity."""
        async with session_scope(self._sessions) as db:
            values = body.model_dump(exclude={"participants"})
            values["responsible_user_id"] = body.responsible_user_id or principal.user_id
            await _check_status(db, body.status)
            await self._user(db, "responsible_user_id", values["responsible_user_id"])
            try:
                if body.parent_id is not None:
                    await repo.get_visible(db, self._policies, principal, Activity, body.parent_id)
            except NotFound:
                raise _bad("parent_id", f"no activity with id {body.parent_id}") from None
            try:
                if body.ticket_id is not None:
                    await repo.get_visible(db, self._policies, principal, Ticket, body.ticket_id)
            except NotFound:
                raise _bad("ticket_id", f"no ticket with id {body.ticket_id}") from None
            activity = Activity(
                **values, participants=await self._participants(db, principal, body.participants)
            )
            db.add(activity)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="activity.create",
                principal=principal,
                object_type="activity",
                object_id=str(activity.id),
            )
        return await self.get_activity(principal, activity.id)

    async def update_activity(
        self, principal: Principal, activity_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> Activity:
        """Change an activity; a participants list given replaces the stored one."""
        async with session_scope(self._sessions) as db:
            activity = await repo.get_visible(db, self._policies, principal, Activity, activity_id)
            if "status" in changes and changes["status"] != activity.status:
                await _check_status(db, changes["status"])
            await self._user(db, "responsible_user_id", changes.get("responsible_user_id"))
            if "participants" in changes:
                activity.participants = await self._participants(
                    db, principal, changes.pop("participants")
                )
            for key, value in changes.items():
                setattr(activity, key, value)
            if (activity.cost is None) != (activity.cost_currency is None):
                raise _bad("cost_currency", "give cost and cost_currency together")
            if activity.starts_at and activity.ends_at and activity.ends_at < activity.starts_at:
                raise _bad("ends_at", "is before starts_at")
            activity.updated_at = utcnow()
            await record_audit(
                db,
                ctx,
                action="activity.update",
                principal=principal,
                object_type="activity",
                object_id=str(activity.id),
                details={"fields": sorted(changes)},
            )
        return await self.get_activity(principal, activity_id)

    # -- timeline ----------------------------------------------------------------------------

    async def timeline(
        self,
        principal: Principal,
        model: type[Company] | type[Person],
        record_id: int,
        limit: int,
        offset: int,
    ) -> tuple[list[TimelineItem], int]:
        """A visible record's history, newest first: activities, tickets, invoices, payments.

        Each source is read newest first up to ``offset + limit`` rows and the sources are
        merged, so a page is exact whatever the mix.
        """
        want = offset + limit
        is_company = model is Company
        async with self._sessions() as db:
            record: Company | Person
            if is_company:
                record = await repo.get_visible(db, self._policies, principal, Company, record_id)
            else:
                record = await repo.get_visible(db, self._policies, principal, Person, record_id)
            part = ActivityParticipant.company_id if is_company else ActivityParticipant.person_id
            act_key = func.coalesce(Activity.starts_at, Activity.created_at)
            act_stmt = self._policies.scope(
                principal,
                Activity,
                select(Activity).where(
                    Activity.id.in_(
                        select(ActivityParticipant.activity_id).where(part == record_id)
                    )
                ),
            )
            tick_col = Ticket.company_id if is_company else Ticket.person_id
            tick_stmt = self._policies.scope(
                principal, Ticket, select(Ticket).where(tick_col == record_id)
            )
            total = await _count(db, act_stmt) + await _count(db, tick_stmt)
            items: list[TimelineItem] = [
                TimelineItem(
                    kind="activity",
                    id=a.id,
                    at=a.starts_at or a.created_at,
                    title=a.subject,
                    status=a.status,
                )
                for a in await db.scalars(
                    act_stmt.order_by(act_key.desc(), Activity.id.desc()).limit(want)
                )
            ]
            items += [
                TimelineItem(
                    kind="ticket", id=t.id, at=t.created_at, title=t.subject, status=t.status
                )
                for t in await db.scalars(
                    tick_stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(want)
                )
            ]
            if self._policies.policy(type(record)).can(principal, "balances", record):
                inv_col = Invoice.company_id if is_company else Invoice.person_id
                pay_col = Payment.company_id if is_company else Payment.person_id
                inv_stmt = select(Invoice).where(inv_col == record_id)
                pay_stmt = select(Payment).where(pay_col == record_id)
                total += await _count(db, inv_stmt) + await _count(db, pay_stmt)
                items += [
                    TimelineItem(
                        kind="invoice",
                        id=i.id,
                        at=self._day(i.issued_on),
                        title=f"{i.kind} {i.number}",
                        status=i.status,
                        amount=i.amount,
                        currency=i.currency,
                    )
                    for i in await db.scalars(
                        inv_stmt.order_by(Invoice.issued_on.desc(), Invoice.id.desc()).limit(want)
                    )
                ]
                items += [
                    TimelineItem(
                        kind="payment",
                        id=p.id,
                        at=self._day(p.paid_on),
                        title=f"payment {p.reference}".strip(),
                        amount=p.amount,
                        currency=p.currency,
                    )
                    for p in await db.scalars(
                        pay_stmt.order_by(Payment.paid_on.desc(), Payment.id.desc()).limit(want)
                    )
                ]
        items.sort(key=lambda it: (it.at, it.kind, it.id), reverse=True)
        return items[offset:want], total

    def _day(self, day: date) -> datetime:
        """The start of ``day`` in the business time zone, in UTC."""
        return datetime.combine(day, time(0), tzinfo=self._tz).astimezone(UTC)


async def _count(db: AsyncSession, stmt: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _stamp_status(ticket: Ticket, status: str) -> None:
    now = utcnow()
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = ticket.resolved_at or now
        ticket.closed_at = None
    elif status == TicketStatus.CLOSED:
        ticket.resolved_at = ticket.resolved_at or now
        ticket.closed_at = ticket.closed_at or now
    else:
        ticket.resolved_at = None
        ticket.closed_at = None
