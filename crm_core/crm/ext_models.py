"""CRM extensions: activity statuses, lead sources, custom attributes, bank accounts, branches,
the product catalogue, products held and contracts."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

__all__ = [
    "ActivityStatusDef",
    "AttributeDefinition",
    "AttributeType",
    "AttributeValue",
    "BankAccount",
    "Branch",
    "BranchPhone",
    "Contract",
    "ContractStatus",
    "HeldProduct",
    "LeadSource",
    "Product",
]

_ONE_OWNER = "(company_id IS NULL) <> (person_id IS NULL)"


class ActivityStatusDef(Base):
    """An activity status the administrators manage; activities refer to it by name."""

    __tablename__ = "activity_statuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadSource(Base):
    """Where a contact came from (trade fair, web site, referral ...); administrators manage it."""

    __tablename__ = "lead_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttributeType(enum.StrEnum):
    """Value type of a custom attribute."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    BOOLEAN = "boolean"


class AttributeDefinition(Base):
    """An administrator-defined attribute of companies or of persons."""

    __tablename__ = "attribute_definitions"
    __table_args__ = (
        UniqueConstraint("entity_type", "name", name="uq_attribute_definitions_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttributeValue(Base):
    """One custom attribute's value of one company or person, in the column of its type.

    Each type has its own column so that filtering and sorting compare typed values in SQL, each
    column indexed together with the definition.
    """

    __tablename__ = "attribute_values"
    __table_args__ = (
        CheckConstraint(_ONE_OWNER, name="one_owner"),
        UniqueConstraint("definition_id", "company_id", name="uq_attribute_values_company"),
        UniqueConstraint("definition_id", "person_id", name="uq_attribute_values_person"),
        Index("ix_attribute_values_text", "definition_id", "value_text"),
        Index("ix_attribute_values_number", "definition_id", "value_number"),
        Index("ix_attribute_values_date", "definition_id", "value_date"),
        Index("ix_attribute_values_bool", "definition_id", "value_bool"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("attribute_definitions.id", ondelete="CASCADE")
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    value_text: Mapped[str | None] = mapped_column(String(500), default=None)
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(24, 6), default=None)
    value_date: Mapped[date | None] = mapped_column(Date, default=None)
    value_bool: Mapped[bool | None] = mapped_column(Boolean, default=None)

    definition: Mapped[AttributeDefinition] = relationship(lazy="joined")


class BankAccount(Base):
    """A company's bank account."""

    __tablename__ = "bank_accounts"
    __table_args__ = (UniqueConstraint("company_id", "iban", name="uq_bank_accounts_iban"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    iban: Mapped[str] = mapped_column(String(34))
    bank_name: Mapped[str] = mapped_column(String(200), default="")
    bic: Mapped[str | None] = mapped_column(String(11), default=None)
    currency: Mapped[str] = mapped_column(String(3))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Branch(Base):
    """A company's sub-unit (shop, office, plant) with its address and contact data."""

    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("company_id", "code", name="uq_branches_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32))
    street: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    manager_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[BranchPhone]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BranchPhone.id"
    )


class BranchPhone(Base):
    """A phone number of a branch: the text as written and its E.164 form."""

    __tablename__ = "branch_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="work")
    original: Mapped[str] = mapped_column(String(64))
    e164: Mapped[str] = mapped_column(String(20), index=True)


class Product(Base):
    """An entry of the product catalogue."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeldProduct(Base):
    """A product a person or company holds (has bought, rents, subscribes to)."""

    __tablename__ = "held_products"
    __table_args__ = (
        CheckConstraint(_ONE_OWNER, name="one_owner"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3), default=Decimal(1))
    acquired_on: Mapped[date | None] = mapped_column(Date, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContractStatus(enum.StrEnum):
    """Where a contract stands."""

    DRAFT = "draft"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class Contract(Base):
    """A contract with a person or company, optionally for a catalogue product."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("company_id IS NOT NULL OR person_id IS NOT NULL", name="has_customer"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="RESTRICT"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="RESTRICT"), default=None, index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), default=None, index=True
    )
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date, default=None)
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    status: Mapped[str] = mapped_column(String(16), default=ContractStatus.ACTIVE.value)
    renewal_on: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
