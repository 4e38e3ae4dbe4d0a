"""Invoices, payments and their allocations: the ERP side that screen pops and debt lists show."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

__all__ = ["Invoice", "InvoiceKind", "InvoiceStatus", "Payment", "PaymentAllocation"]

MONEY = Numeric(18, 2)
_SOMEONE = "company_id IS NOT NULL OR person_id IS NOT NULL"


class InvoiceKind(enum.StrEnum):
    """What the document is; only invoices are owed (pro-formas and orders are not)."""

    INVOICE = "invoice"
    PRO_FORMA = "pro_forma"
    ORDER = "order"


class InvoiceStatus(enum.StrEnum):
    """State of an invoice as the ERP reports it; drafts and cancelled ones are not owed."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    CANCELLED = "cancelled"


class Invoice(Base):
    """An invoice, pro-forma invoice or order of a company and/or a person."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(_SOMEONE, name="has_customer"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        UniqueConstraint("kind", "number", name="uq_invoices_kind_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default=InvoiceKind.INVOICE.value)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.ISSUED.value)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="RESTRICT"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="RESTRICT"), default=None, index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="invoice", lazy="selectin", order_by="PaymentAllocation.id"
    )

    @property
    def paid_amount(self) -> Decimal:
        """What payments allocated to this invoice cover."""
        return sum((a.amount for a in self.allocations), Decimal("0.00"))


class Payment(Base):
    """A payment received from a company and/or person, allocated to invoices."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_SOMEONE, name="has_customer"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="RESTRICT"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="RESTRICT"), default=None, index=True
    )
    reference: Mapped[str] = mapped_column(String(100), default="")
    external_id: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="PaymentAllocation.id",
    )


class PaymentAllocation(Base):
    """The part of a payment that settles one invoice (same currency)."""

    __tablename__ = "payment_allocations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(MONEY)

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    invoice: Mapped[Invoice] = relationship(back_populates="allocations")
