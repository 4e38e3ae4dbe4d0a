"""Use cases of invoices and payments, and the balance due per currency of a company or person."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, literal, null, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm import repository as repo
from crm_core.crm.finance_models import (
    MONEY,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
)
from crm_core.crm.finance_schemas import CurrencyBalance, InvoiceIn, PaymentIn
from crm_core.crm.models import Company, Person
from crm_core.db import session_scope, utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "CENT",
    "INVOICE_LIST",
    "OWED_STATUSES",
    "PAYMENT_LIST",
    "FinanceService",
    "balances_by_currency",
    "cents",
    "day_of",
]

F = TypeVar("F", Invoice, Payment)
ZERO = Decimal("0.00")
CENT = Decimal(1).scaleb(-(MONEY.scale or 0))
# Only these are owed: drafts are not sent yet, cancelled ones never will be.
OWED_STATUSES = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)

INVOICE_LIST = ListSpec(
    sortable={
        "id": Invoice.id,
        "number": Invoice.number,
        "issued_on": Invoice.issued_on,
        "due_on": Invoice.due_on,
        "amount": Invoice.amount,
    },
    default_sort=("-issued_on",),
    filters={
        "company_id": FilterSpec(Invoice.company_id, "int"),
        "person_id": FilterSpec(Invoice.person_id, "int"),
        "kind": FilterSpec(
            Invoice.kind, "choice", ("eq", "in"), tuple(k.value for k in InvoiceKind)
        ),
        "status": FilterSpec(
            Invoice.status, "choice", ("eq", "in"), tuple(s.value for s in InvoiceStatus)
        ),
        "currency": FilterSpec(Invoice.currency, "str"),
        "number": FilterSpec(Invoice.number, "str", ("eq", "contains")),
        "external_id": FilterSpec(Invoice.external_id, "str"),
    },
    tiebreak=Invoice.id,
)

PAYMENT_LIST = ListSpec(
    sortable={"id": Payment.id, "paid_on": Payment.paid_on, "amount": Payment.amount},
    default_sort=("-paid_on",),
    filters={
        "company_id": FilterSpec(Payment.company_id, "int"),
        "person_id": FilterSpec(Payment.person_id, "int"),
        "currency": FilterSpec(Payment.currency, "str"),
        "external_id": FilterSpec(Payment.external_id, "str"),
    },
    tiebreak=Payment.id,
)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


class FinanceService:
    """Invoices and payments of the companies and persons in the caller's scope."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry, timezone: str
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._tz = ZoneInfo(timezone)

    def today(self) -> date:
        """Today in the business time zone."""
        return datetime.now(self._tz).date()

    async def _check_customer(
        self, db: AsyncSession, principal: Principal, body: InvoiceIn | PaymentIn
    ) -> None:
        try:
            if body.company_id is not None:
                await repo.get_visible(db, self._policies, principal, Company, body.company_id)
        except NotFound:
            raise _bad("company_id", f"no company with id {body.company_id}") from None
        try:
            if body.person_id is not None:
                await repo.get_visible(db, self._policies, principal, Person, body.person_id)
        except NotFound:
            raise _bad("person_id", f"no person with id {body.person_id}") from None

    async def _external_id_free(
        self, db: AsyncSession, model: type[F], external_id: str | None
    ) -> None:
        if external_id is None:
            return
        if await db.scalar(select(model.id).where(model.external_id == external_id)) is not None:
            raise Conflict(
                f"external_id {external_id!r} is already used", details={"field": "external_id"}
            )

    # -- invoices ----------------------------------------------------------------------------

    async def list_invoices(self, principal: Principal, query: ListQuery) -> Page[Invoice]:
        """Invoices of visible companies and persons."""
        stmt = self._policies.scope(principal, Invoice, select(Invoice))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, INVOICE_LIST)

    async def get_invoice(self, principal: Principal, invoice_id: int) -> Invoice:
        """One visible invoice."""
        async with self._sessions() as db:
            return await repo.get_visible(db, self._policies, principal, Invoice, invoice_id)

    async def create_invoice(
        self, principal: Principal, body: InvoiceIn, ctx: AuditContext
    ) -> Invoice:
        """Record an invoice, pro-forma invoice or order."""
        async with session_scope(self._sessions) as db:
            await self._check_customer(db, principal, body)
            clash = await db.scalar(
                select(Invoice.id).where(Invoice.kind == body.kind, Invoice.number == body.number)
            )
            if clash is not None:
                raise Conflict(
                    f"{body.kind} number {body.number!r} exists", details={"field": "number"}
                )
            await self._external_id_free(db, Invoice, body.external_id)
            invoice = Invoice(**body.model_dump(), allocations=[])
            db.add(invoice)
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="invoice.create",
                principal=principal,
                object_type="invoice",
                object_id=str(invoice.id),
                details={"number": invoice.number, "kind": invoice.kind},
            )
        return await self.get_invoice(principal, invoice.id)

    async def update_invoice(
        self, principal: Principal, invoice_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> Invoice:
        """Change an invoice's status, due date or description."""
        async with session_scope(self._sessions) as db:
            invoice = await repo.get_visible(db, self._policies, principal, Invoice, invoice_id)
            if changes.get("due_on") is not None and changes["due_on"] < invoice.issued_on:
                raise _bad("due_on", "is before issued_on")
            for key, value in changes.items():
                setattr(invoice, key, value)
            invoice.updated_at = utcnow()
            await record_audit(
                db,
                ctx,
                action="invoice.update",
                principal=principal,
                object_type="invoice",
                object_id=str(invoice.id),
                details={"fields": sorted(changes)},
            )
        return await self.get_invoice(principal, invoice_id)

    # -- payments ----------------------------------------------------------------------------

    async def list_payments(self, principal: Principal, query: ListQuery) -> Page[Payment]:
        """Payments of visible companies and persons."""
        stmt = self._policies.scope(principal, Payment, select(Payment))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, PAYMENT_LIST)

    async def get_payment(self, principal: Principal, payment_id: int) -> Payment:
        """One visible payment."""
        async with self._sessions() as db:
            return await repo.get_visible(db, self._policies, principal, Payment, payment_id)

    async def create_payment(
        self, principal: Principal, body: PaymentIn, ctx: AuditContext
    ) -> Payment:
        """Record a payment and allocate it to invoices of the same currency."""
        total = sum((a.amount for a in body.allocations), ZERO)
        if total > body.amount:
            raise _bad("allocations", "the allocations exceed the payment's amount")
        async with session_scope(self._sessions) as db:
            await self._check_customer(db, principal, body)
            await self._external_id_free(db, Payment, body.external_id)
            allocations: list[PaymentAllocation] = []
            pending: dict[int, Decimal] = defaultdict(lambda: ZERO)
            for i, item in enumerate(body.allocations):
                field = f"allocations.{i}.invoice_id"
                try:
                    invoice = await repo.get_visible(
                        db, self._policies, principal, Invoice, item.invoice_id
                    )
                except NotFound:
                    raise _bad(field, f"no invoice with id {item.invoice_id}") from None
                if invoice.currency != body.currency:
                    raise _bad(field, f"the invoice is in {invoice.currency}, not {body.currency}")
                if invoice.kind != InvoiceKind.INVOICE or invoice.status not in OWED_STATUSES:
                    raise _bad(field, "only issued invoices can be paid")
                pending[invoice.id] += item.amount
                if invoice.paid_amount + pending[invoice.id] > invoice.amount:
                    raise _bad(f"allocations.{i}.amount", "more than the invoice's balance due")
                allocations.append(PaymentAllocation(invoice_id=invoice.id, amount=item.amount))
            payment = Payment(**body.model_dump(exclude={"allocations"}), allocations=allocations)
            db.add(payment)
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="payment.create",
                principal=principal,
                object_type="payment",
                object_id=str(payment.id),
                details={"allocations": len(allocations)},
            )
        return await self.get_payment(principal, payment.id)

    # -- balance -----------------------------------------------------------------------------

    async def balance(
        self, principal: Principal, model: type[Company] | type[Person], record_id: int
    ) -> tuple[date, bool, list[CurrencyBalance]]:
        """(as of, masked, balances per currency) of a visible company or person."""
        today = self.today()
        async with self._sessions() as db:
            record: Company | Person
            if model is Company:
                record = await repo.get_visible(db, self._policies, principal, Company, record_id)
            else:
                record = await repo.get_visible(db, self._policies, principal, Person, record_id)
            masked, balances = await self.balance_of(db, principal, record, today)
            return today, masked, balances

    async def balance_of(
        self, db: AsyncSession, principal: Principal, record: Company | Person, today: date
    ) -> tuple[bool, list[CurrencyBalance]]:
        """(masked, balances per currency) of a record the caller has already found visible.

        For callers that hold the record in an open session (the screen pop): no second lookup.
        """
        if not self._policies.policy(type(record)).can(principal, "balances", record):
            return True, []
        rows = await db.execute(balances_by_currency(isinstance(record, Company), record.id, today))
        balances = []
        for row in rows:
            oldest = day_of(row.oldest_due)
            balances.append(
                CurrencyBalance(
                    currency=row.currency,
                    invoiced=cents(row.invoiced),
                    paid=cents(row.paid),
                    balance_due=cents(row.balance_due),
                    overdue=cents(row.overdue),
                    days_overdue=(today - oldest).days if oldest else 0,
                    open_invoices=int(row.open_invoices),
                    unallocated_payments=cents(row.unallocated),
                )
            )
        return False, balances

    @staticmethod
    async def _flush(db: AsyncSession) -> None:
        try:
            await db.flush()
        except IntegrityError as err:
            raise Conflict("the record clashes with another one (number or external_id)") from err


def _allocated(to: ColumnElement[bool]) -> Any:
    """What the allocations matching ``to`` add up to (0 when none), as a scalar sub-query."""
    return select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).where(to).scalar_subquery()


def balances_by_currency(company: bool, record_id: Any, today: Any) -> Select[Any]:
    """The balance rule, in SQL, once: one row per currency of the company's (``company``) or
    person's invoices and payments, amounts of different currencies never added up.

    Columns: ``currency``; ``invoiced`` (owed invoices: issued or paid, not pro-forma or orders);
    ``paid`` (what payments allocated to them cover); ``balance_due`` (the rest); ``overdue``
    (the rest of those past their due day on ``today``); ``oldest_due`` (the earliest due day
    among them); ``open_invoices`` (owed invoices not fully covered); ``unallocated`` (payments
    not allocated to any invoice). ``record_id`` and ``today`` are values or SQL expressions
    (the screen pop's statement passes its bind parameters). Used by
    :meth:`FinanceService.balance_of` and by the screen pop's one statement.
    """
    inv_owner = Invoice.company_id if company else Invoice.person_id
    pay_owner = Payment.company_id if company else Payment.person_id
    covered = _allocated(PaymentAllocation.invoice_id == Invoice.id)
    owed = (
        select(
            Invoice.currency.label("currency"),
            Invoice.amount.label("amount"),
            covered.label("paid"),
            Invoice.due_on.label("due_on"),
        )
        .where(
            inv_owner == record_id,
            Invoice.kind == InvoiceKind.INVOICE.value,
            # One bind per value (no list parameter expanded per execution): the statement
            # compiles to a fixed SQL text, which the screen pop runs as it is.
            Invoice.status.in_([literal(s, Invoice.status.type) for s in OWED_STATUSES]),
        )
        .subquery()
    )
    due = owed.c.amount - owed.c.paid
    late = and_(due > 0, owed.c.due_on < today)
    allocated = _allocated(PaymentAllocation.payment_id == Payment.id)
    parts = union_all(
        select(
            owed.c.currency.label("currency"),
            owed.c.amount.label("invoiced"),
            owed.c.paid.label("paid"),
            case((late, due), else_=0).label("overdue"),
            case((late, owed.c.due_on)).label("oldest_due"),
            case((due > 0, 1), else_=0).label("open"),
            literal(0).label("unallocated"),
        ),
        select(
            Payment.currency,
            literal(0),
            literal(0),
            literal(0),
            null(),
            literal(0),
            Payment.amount - allocated,
        ).where(pay_owner == record_id),
    ).subquery()
    return (
        select(
            parts.c.currency,
            func.sum(parts.c.invoiced).label("invoiced"),
            func.sum(parts.c.paid).label("paid"),
            (func.sum(parts.c.invoiced) - func.sum(parts.c.paid)).label("balance_due"),
            func.sum(parts.c.overdue).label("overdue"),
            func.min(parts.c.oldest_due).label("oldest_due"),
            func.sum(parts.c.open).label("open_invoices"),
            func.sum(parts.c.unallocated).label("unallocated"),
        )
        .group_by(parts.c.currency)
        .order_by(parts.c.currency)
    )


def cents(value: Any) -> Decimal:
    """An amount read back from SQL, to the cent (SQLite computes with binary floats:
    120.0, 0.30000000000000004); shared with the screen pop's statement."""
    return Decimal(str(value)).quantize(CENT)


def day_of(value: Any) -> date | None:
    """A day read back from SQL: a ``date`` on PostgreSQL, ISO text on SQLite and in JSON."""
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10]) if value else None
