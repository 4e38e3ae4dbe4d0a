"""Request and response bodies of invoices, payments and balances."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.finance_models import Invoice, Payment, PaymentAllocation
from crm_core.crm.schema_base import Day, Id, In, Patch

__all__ = [
    "AllocationIn",
    "AllocationOut",
    "BalanceOut",
    "CurrencyBalance",
    "InvoiceIn",
    "InvoiceOut",
    "InvoicePatchIn",
    "PaymentIn",
    "PaymentOut",
]

Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
KindName = Literal["invoice", "pro_forma", "order"]
StatusName = Literal["draft", "issued", "paid", "cancelled"]


class _Customer(In):
    company_id: Id | None = None
    person_id: Id | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _someone(self) -> _Customer:
        if self.company_id is None and self.person_id is None:
            raise ValueError("give company_id, person_id or both")
        return self


class InvoiceIn(_Customer):
    """A new invoice, pro-forma invoice or order."""

    number: str = Field(min_length=1, max_length=64)
    kind: KindName = "invoice"
    status: StatusName = "issued"
    issued_on: Day
    due_on: Day | None = None
    amount: Money
    currency: Currency
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _dates(self) -> InvoiceIn:
        if self.due_on is not None and self.due_on < self.issued_on:
            raise ValueError("due_on is before issued_on")
        return self


class InvoicePatchIn(Patch):
    """Changes to an invoice's status, due date or description."""

    not_null = frozenset({"status", "description"})

    status: StatusName | None = None
    due_on: Day | None = None
    description: str | None = Field(default=None, max_length=2000)


class AllocationIn(In):
    """The part of a payment that settles one invoice."""

    invoice_id: Id
    amount: Positive


class PaymentIn(_Customer):
    """A payment received, optionally allocated to invoices of the same currency."""

    paid_on: Day
    amount: Positive
    currency: Currency
    reference: str = Field(default="", max_length=100)
    allocations: list[AllocationIn] = Field(default_factory=list, max_length=100)


class InvoiceOut(BaseModel):
    """An invoice with what is paid and still due (in its own currency)."""

    id: int
    number: str
    kind: str
    status: str
    issued_on: date
    due_on: date | None
    amount: Decimal
    currency: str
    paid_amount: Decimal
    balance_due: Decimal
    company_id: int | None
    person_id: int | None
    external_id: str | None
    description: str
    created_at: datetime

    @classmethod
    def of(cls, inv: Invoice) -> InvoiceOut:
        """Serialise an invoice."""
        paid = inv.paid_amount
        return cls(
            id=inv.id,
            number=inv.number,
            kind=inv.kind,
            status=inv.status,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
            amount=inv.amount,
            currency=inv.currency,
            paid_amount=paid,
            balance_due=inv.amount - paid,
            company_id=inv.company_id,
            person_id=inv.person_id,
            external_id=inv.external_id,
            description=inv.description,
            created_at=inv.created_at,
        )


class AllocationOut(BaseModel):
    """An allocation of a payment to an invoice."""

    invoice_id: int
    amount: Decimal

    @classmethod
    def of(cls, a: PaymentAllocation) -> AllocationOut:
        """Serialise an allocation."""
        return cls(invoice_id=a.invoice_id, amount=a.amount)


class PaymentOut(BaseModel):
    """A payment and its allocations."""

    id: int
    paid_on: date
    amount: Decimal
    currency: str
    unallocated: Decimal
    company_id: int | None
    person_id: int | None
    reference: str
    external_id: str | None
    allocations: list[AllocationOut]

    @classmethod
    def of(cls, p: Payment) -> PaymentOut:
        """Serialise a payment."""
        allocated = sum((a.amount for a in p.allocations), Decimal("0.00"))
        return cls(
            id=p.id,
            paid_on=p.paid_on,
            amount=p.amount,
            currency=p.currency,
            unallocated=p.amount - allocated,
            company_id=p.company_id,
            person_id=p.person_id,
            reference=p.reference,
            external_id=p.external_id,
            allocations=[AllocationOut.of(a) for a in p.allocations],
        )


class CurrencyBalance(BaseModel):
    """Debt in one currency; amounts of different currencies are never added up."""

    currency: str
    invoiced: Decimal
    paid: Decimal
    balance_due: Decimal
    overdue: Decimal
    days_overdue: int
    open_invoices: int
    unallocated_payments: Decimal


class BalanceOut(BaseModel):
    """Balance due per currency of a company or person, as of a day in the business time zone.

    Without the ``crm.balances`` right the amounts are withheld: ``masked`` is true and
    ``balances`` is empty.
    """

    as_of: date
    masked: bool
    balances: list[CurrencyBalance]
