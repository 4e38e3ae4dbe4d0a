"""The screen pop: who is calling, what they owe, what is open — built for one agent's eyes.

The caller is found with one indexed query on the E.164 column, inside the agent's record scope.
The snapshot applies the CRM's field masking for that agent: without ``crm.balances`` the balance
due and the last invoice are withheld (``masked`` names them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import repository as repo
from crm_core.crm.celebrations import business_day, celebrations_for
from crm_core.crm.finance import FinanceService
from crm_core.crm.finance_models import Invoice
from crm_core.crm.models import Company, Person
from crm_core.crm.phones import try_normalise
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket, TicketStatus
from crm_core.users.models import User
from crm_core.users.permissions import PolicyRegistry, Principal
from telephony.models import CallDirection

__all__ = ["POP_VERSION", "PopBuilder"]

POP_VERSION = 1
OPEN_TICKETS = (TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


class PopBuilder:
    """Builds screen-pop messages for a call and an agent."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        *,
        region: str,
        timezone: str,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._region = region
        self._timezone = timezone
        self._finance = FinanceService(sessions, policies, timezone)

    def customer_number(
        self, direction: str, caller_id: str | None, called: str | None
    ) -> str | None:
        """The customer's side of the call: the caller inbound, the called party otherwise."""
        raw = caller_id if direction == CallDirection.INBOUND.value else called
        return raw if raw else None

    async def build(
        self,
        principal: Principal,
        call: dict[str, Any],
        *,
        chosen: tuple[str, int, str] | None = None,
    ) -> dict[str, Any]:
        """The pop for ``call`` (id, direction, caller_id, called, queue, started_at) as JSON.

        ``chosen`` (kind, id, name) is the contact an agent linked the call to: the pop shows that
        record (if the agent may see it) instead of looking the number up.
        """
        number = self.customer_number(call["direction"], call.get("caller_id"), call.get("called"))
        e164 = try_normalise(number, self._region) if number else None
        pop: dict[str, Any] = {
            "type": "screen_pop",
            "version": POP_VERSION,
            "call": {**call, "customer_number": e164 or number},
            "contact": None,
            "candidates": [],
            "masked": [],
        }
        if e164 is None and chosen is None:
            return pop
        async with self._sessions() as db:
            if chosen is not None:
                kind, record_id, name = chosen
                found = [repo.Candidate(kind, record_id, name, "")]
            else:
                assert e164 is not None
                found = await repo.lookup_phone(db, self._policies, principal, e164)
            if len(found) == 1:
                pop["contact"] = await self._contact(db, principal, found[0])
            else:
                pop["candidates"] = [
                    {"kind": c.type, "id": c.id, "name": c.display_name, "phone_kind": c.phone_kind}
                    for c in found
                ]
        contact = pop["contact"]
        if contact is not None:
            model: type[Company] | type[Person] = Person if contact["kind"] == "person" else Company
            _as_of, masked, balances = await self._finance.balance(principal, model, contact["id"])
            if masked:
                pop["masked"] = ["balance_due", "last_invoice"]
                contact["balance_due"] = None
                contact["last_invoice"] = None
            else:
                contact["balance_due"] = [
                    {
                        "currency": b.currency,
                        "amount": str(b.balance_due),
                        "overdue": str(b.overdue),
                        "days_overdue": b.days_overdue,
                        "open_invoices": b.open_invoices,
                    }
                    for b in balances
                    if b.balance_due or b.overdue
                ]
        return pop

    async def _celebrations(
        self, db: AsyncSession, record: Person | Company
    ) -> list[dict[str, Any]]:
        if not isinstance(record, Person):
            return []
        day = business_day(datetime.now(UTC), self._timezone)
        found = await celebrations_for(db, [record.id], day)
        return [
            {"kind": c.kind, "name": c.name, "years": c.years, "type": c.type, "label": c.label}
            for c in found.get(record.id, [])
        ]

    async def _contact(
        self, db: AsyncSession, principal: Principal, cand: repo.Candidate
    ) -> dict[str, Any]:
        is_person = cand.type == "person"
        record: Person | Company
        if is_person:
            record = await repo.get_visible(db, self._policies, principal, Person, cand.id)
        else:
            record = await repo.get_visible(db, self._policies, principal, Company, cand.id)
        company_name: str | None = None
        salutation: str | None = None
        if isinstance(record, Person):
            salutation = record.salutation
            primary = next((e for e in record.employments if e.is_primary), None)
            employment = primary or (record.employments[0] if record.employments else None)
            if employment is not None:
                company = await db.get(Company, employment.company_id)
                company_name = company.name if company is not None else None
        else:
            company_name = record.name
        owner = Invoice.person_id if is_person else Invoice.company_id
        invoice = await db.scalar(
            select(Invoice)
            .where(owner == record.id)
            .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
            .limit(1)
        )
        ticket_owner = Ticket.person_id if is_person else Ticket.company_id
        tickets = await db.scalars(
            select(Ticket)
            .where(ticket_owner == record.id, Ticket.status.in_(OPEN_TICKETS))
            .order_by(Ticket.created_at.desc())
            .limit(5)
        )
        part = ActivityParticipant.person_id if is_person else ActivityParticipant.company_id
        activity = await db.scalar(
            select(Activity)
            .join(ActivityParticipant, ActivityParticipant.activity_id == Activity.id)
            .where(
                and_(
                    part == record.id,
                    or_(Activity.starts_at.is_not(None), Activity.created_at.is_not(None)),
                )
            )
            .order_by(Activity.starts_at.desc().nulls_last(), Activity.id.desc())
            .limit(1)
        )
        last_activity = None
        if activity is not None:
            user = (
                await db.get(User, activity.responsible_user_id)
                if (activity.responsible_user_id)
                else None
            )
            last_activity = {
                "type": activity.type,
                "subject": activity.subject,
                "notes": activity.notes,
                "at": _iso(activity.starts_at or activity.created_at),
                "user": user.display_name if user is not None else None,
            }
        return {
            "id": record.id,
            "kind": cand.type,
            "name": cand.display_name,
            "company": company_name,
            "salutation": salutation,
            "phones": [
                {"kind": p.kind, "number": p.original, "e164": p.e164} for p in record.phones
            ],
            "last_invoice": None
            if invoice is None
            else {
                "number": invoice.number,
                "date": invoice.issued_on.isoformat(),
                "due_date": invoice.due_on.isoformat() if invoice.due_on else None,
                "amount": str(invoice.amount),
                "currency": invoice.currency,
                "status": invoice.status,
            },
            "balance_due": [],
            "open_tickets": [
                {
                    "id": t.id,
                    "subject": t.subject,
                    "status": t.status,
                    "priority": t.priority,
                    "created_at": _iso(t.created_at),
                }
                for t in tickets
            ],
            "last_activity": last_activity,
            "celebrations_today": await self._celebrations(db, record),
            "categories": [c.name for c in record.categories],
        }
