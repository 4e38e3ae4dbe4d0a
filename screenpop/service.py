"""The screen pop: who is calling, what they owe, what is open — built for one agent's eyes.

The caller is found with one indexed query on the E.164 column, inside the agent's record scope.
The snapshot applies the CRM's field masking for that agent: without ``crm.balances`` the balance
due and the last invoice are withheld (``masked`` names them).

A pop is built in one session with few statements: the record is read once, without its
collections; what the pop shows of them (phones, categories), the employer, last invoice, open
tickets and last activity are read as columns by statements built once (bind parameters), not as
records with their own collections; the balance is computed from the record already found visible
(:meth:`FinanceService.balance_of`), not looked up again. A record found by the number's lookup
is not scoped a second time (that lookup ran within the agent's scope in the same session); a
contact an agent chose is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Integer, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import raiseload

from crm_core.crm import repository as repo
from crm_core.crm.celebrations import business_day, celebrations_for
from crm_core.crm.finance import FinanceService
from crm_core.crm.finance_models import Invoice
from crm_core.crm.models import (
    Category,
    Company,
    Employment,
    Person,
    Phone,
    company_categories,
    person_categories,
)
from crm_core.crm.phones import try_normalise
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket, TicketStatus
from crm_core.errors import NotFound
from crm_core.users.models import User
from crm_core.users.permissions import PolicyRegistry, Principal
from telephony.models import CallDirection

__all__ = ["POP_VERSION", "PopBuilder"]

POP_VERSION = 1
OPEN_TICKETS = (TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value)
# The pop reads a record's own columns; what it shows of its collections (phones, categories) is
# read as columns below. Touching a collection of the record raises instead of loading it.
_PERSON = select(Person).options(raiseload("*")).where(Person.id == bindparam("id"))
_COMPANY = select(Company).options(raiseload("*")).where(Company.id == bindparam("id"))


def _statements(is_person: bool) -> dict[str, Any]:
    """The pop's reads of one person's (or company's) data, built once with bind parameters."""
    owner: BindParameter[int] = bindparam("id", type_=Integer)
    phone_owner = Phone.person_id if is_person else Phone.company_id
    links = person_categories if is_person else company_categories
    link_owner = links.c.person_id if is_person else links.c.company_id
    invoice_owner = Invoice.person_id if is_person else Invoice.company_id
    ticket_owner = Ticket.person_id if is_person else Ticket.company_id
    part = ActivityParticipant.person_id if is_person else ActivityParticipant.company_id
    return {
        "phones": select(Phone.kind, Phone.original, Phone.e164)
        .where(phone_owner == owner)
        .order_by(Phone.id),
        "categories": select(Category.name)
        .join(links, links.c.category_id == Category.id)
        .where(link_owner == owner)
        .order_by(Category.name),
        "employers": select(Employment.is_primary, Company.name)
        .outerjoin(Company, Company.id == Employment.company_id)
        .where(Employment.person_id == owner)
        .order_by(Employment.id),
        "last_invoice": select(
            Invoice.number,
            Invoice.issued_on,
            Invoice.due_on,
            Invoice.amount,
            Invoice.currency,
            Invoice.status,
        )
        .where(invoice_owner == owner)
        .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
        .limit(1),
        "tickets": select(
            Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at
        )
        .where(ticket_owner == owner, Ticket.status.in_(OPEN_TICKETS))
        .order_by(Ticket.created_at.desc())
        .limit(5),
        "activity": select(
            Activity.type,
            Activity.subject,
            Activity.notes,
            Activity.starts_at,
            Activity.created_at,
            User.display_name,
        )
        .join(ActivityParticipant, ActivityParticipant.activity_id == Activity.id)
        .outerjoin(User, User.id == Activity.responsible_user_id)
        .where(
            and_(
                part == owner,
                or_(Activity.starts_at.is_not(None), Activity.created_at.is_not(None)),
            )
        )
        .order_by(Activity.starts_at.desc().nulls_last(), Activity.id.desc())
        .limit(1),
    }


_READS = {True: _statements(True), False: _statements(False)}


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
                # A number's match was found within the agent's scope by this very session: its
                # record is read without applying the scope again; a chosen record is checked.
                pop["contact"], masked = await self._contact(
                    db, principal, found[0], scoped=chosen is not None
                )
                if masked:
                    pop["masked"] = ["balance_due", "last_invoice"]
            else:
                pop["candidates"] = [
                    {"kind": c.type, "id": c.id, "name": c.display_name, "phone_kind": c.phone_kind}
                    for c in found
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

    async def _record(
        self, db: AsyncSession, principal: Principal, cand: repo.Candidate, *, scoped: bool
    ) -> Person | Company:
        """The candidate's record; if ``scoped``, only if visible (as ``repo.get_visible``) —
        otherwise the caller has just found it within the principal's scope, in this session."""
        record: Person | Company | None
        if cand.type == "person":
            persons = self._policies.scope(principal, Person, _PERSON) if scoped else _PERSON
            record = await db.scalar(persons, {"id": cand.id})
        else:
            companies = self._policies.scope(principal, Company, _COMPANY) if scoped else _COMPANY
            record = await db.scalar(companies, {"id": cand.id})
        if record is None:
            raise NotFound(f"{cand.type} {cand.id} not found")
        return record

    async def _contact(
        self, db: AsyncSession, principal: Principal, cand: repo.Candidate, *, scoped: bool
    ) -> tuple[dict[str, Any], bool]:
        """The contact snapshot of a candidate and whether its finances are masked."""
        record = await self._record(db, principal, cand, scoped=scoped)
        reads = _READS[isinstance(record, Person)]
        key = {"id": record.id}
        company_name: str | None = None
        salutation: str | None = None
        if isinstance(record, Person):
            salutation = record.salutation
            jobs = (await db.execute(reads["employers"], key)).all()
            job = next((j for j in jobs if j.is_primary), None) or (jobs[0] if jobs else None)
            company_name = job.name if job is not None else None
        else:
            company_name = record.name
        phones = (await db.execute(reads["phones"], key)).all()
        masked, balances = await self._finance.balance_of(
            db, principal, record, self._finance.today()
        )
        last_invoice: dict[str, Any] | None = None
        if not masked:
            invoice = (await db.execute(reads["last_invoice"], key)).first()
            if invoice is not None:
                last_invoice = {
                    "number": invoice.number,
                    "date": invoice.issued_on.isoformat(),
                    "due_date": invoice.due_on.isoformat() if invoice.due_on else None,
                    "amount": str(invoice.amount),
                    "currency": invoice.currency,
                    "status": invoice.status,
                }
        tickets = (await db.execute(reads["tickets"], key)).all()
        activity = (await db.execute(reads["activity"], key)).first()
        last_activity = None
        if activity is not None:
            last_activity = {
                "type": activity.type,
                "subject": activity.subject,
                "notes": activity.notes,
                "at": _iso(activity.starts_at or activity.created_at),
                "user": activity.display_name,
            }
        categories = (await db.scalars(reads["categories"], key)).all()
        contact = {
            "id": record.id,
            "kind": cand.type,
            "name": cand.display_name,
            "company": company_name,
            "salutation": salutation,
            "phones": [{"kind": p.kind, "number": p.original, "e164": p.e164} for p in phones],
            "last_invoice": last_invoice,
            "balance_due": None
            if masked
            else [
                {
                    "currency": b.currency,
                    "amount": str(b.balance_due),
                    "overdue": str(b.overdue),
                    "days_overdue": b.days_overdue,
                    "open_invoices": b.open_invoices,
                }
                for b in balances
                if b.balance_due or b.overdue
            ],
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
            "categories": list(categories),
        }
        return contact, masked
