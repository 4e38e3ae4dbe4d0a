"""The CRM domain's tables: companies, persons, their contact data, links, categories and access."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, query_expression, relationship

from crm_core.crm.ext_models import AttributeValue

# Registered with the CRM's tables so that one import of this module brings the whole domain.
from crm_core.crm.finance_models import Invoice, Payment, PaymentAllocation
from crm_core.crm.work_models import Activity, ActivityParticipant, Ticket
from crm_core.db import Base, utcnow

__all__ = [
    "Activity",
    "ActivityParticipant",
    "Address",
    "AddressKind",
    "Category",
    "Company",
    "CompanyRole",
    "CompanyRoleName",
    "CompanyStatus",
    "Delegation",
    "Email",
    "Employment",
    "Invoice",
    "Payment",
    "PaymentAllocation",
    "Person",
    "Phone",
    "PhoneKind",
    "Territory",
    "TerritoryGrant",
    "Ticket",
]


class CompanyStatus(enum.StrEnum):
    """Lifecycle of a company."""

    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"


class CompanyRoleName(enum.StrEnum):
    """What a company is to us; a company may hold several roles."""

    CUSTOMER = "customer"
    SUPPLIER = "supplier"
    PARTNER = "partner"
    EMPLOYEE = "employee"
    PROSPECT = "prospect"


class PhoneKind(enum.StrEnum):
    """Kind of a phone number."""

    MOBILE = "mobile"
    WORK = "work"
    HOME = "home"
    FAX = "fax"


class AddressKind(enum.StrEnum):
    """Kind of a postal address."""

    HEAD_OFFICE = "head_office"
    BRANCH = "branch"
    WAREHOUSE = "warehouse"
    BILLING = "billing"
    SHIPPING = "shipping"
    HOME = "home"


company_categories = Table(
    "company_categories",
    Base.metadata,
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

person_categories = Table(
    "person_categories",
    Base.metadata,
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Territory(Base):
    """A region or target group; records belong to one and roles or users are granted it."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TerritoryGrant(Base):
    """Access to a territory's records, given to a role or to one user (exactly one of them)."""

    __tablename__ = "territory_grants"
    __table_args__ = (CheckConstraint("(role IS NULL) <> (user_id IS NULL)", name="role_or_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territories.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delegation(Base):
    """``from_user`` lends their record access to ``to_user`` from ``starts_at`` to ``ends_at``."""

    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint("from_user_id <> to_user_id", name="not_self"),
        Index("ix_delegations_to_user_id_ends_at", "to_user_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessEpoch(Base):
    """One row counting changes to what decides record visibility: delegations, territory
    grants, team memberships and user roles. Database triggers (migration 0009) add one on every
    write to those tables, in the writer's transaction, whatever code writes them.

    A cache of a user's resolved scope (:class:`crm_core.crm.policies.ScopeCache`) remembers the
    count it was read at; the caller-ID lookup reads the count in the same statement as its rows,
    so a scope cached before a change is noticed by the first lookup after it.
    """

    __tablename__ = "access_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class Category(Base):
    """A group such as VIP or hotels; companies and persons may be in several."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class _Owned:
    """Columns every access-controlled record carries (see ``policies.py``)."""

    territory_id: Mapped[int | None] = mapped_column(
        ForeignKey("territories.id", ondelete="SET NULL"), default=None, index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The ERP's id of the customer (see sync.py); unique when given.
    external_id: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)
    lead_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_sources.id", ondelete="SET NULL"), default=None, index=True
    )
    lead_source_note: Mapped[str] = mapped_column(String(500), default="")
    # Lifecycle as stored: prospect, active or inactive (see ``lifecycle``).
    status: Mapped[str] = mapped_column(String(16), default=CompanyStatus.PROSPECT.value)

    @declared_attr
    def lifecycle(cls) -> Mapped[str | None]:
        """The lifecycle as read: ``status``, except that an active customer without an invoice
        in the configured period reads "inactive"; loaded by queries (repository.lifecycle_of).
        """
        return query_expression()


class Company(_Owned, Base):
    """An account: a customer, supplier, partner ... or several of these at once."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    vat_number: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    trade_register_number: Mapped[str | None] = mapped_column(String(64), default=None)
    industry: Mapped[str | None] = mapped_column(String(100), default=None)
    employee_count: Mapped[int | None] = mapped_column(Integer, default=None)
    turnover: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(300), default=None)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), default=None, index=True
    )

    roles: Mapped[list[CompanyRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CompanyRole.role"
    )
    phones: Mapped[list[Phone]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Phone.id"
    )
    emails: Mapped[list[Email]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Email.id"
    )
    addresses: Mapped[list[Address]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Address.id"
    )
    categories: Mapped[list[Category]] = relationship(
        secondary=company_categories, lazy="selectin", order_by="Category.name"
    )
    attribute_values: Mapped[list[AttributeValue]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AttributeValue.definition_id"
    )


class CompanyRole(Base):
    """One role held by one company."""

    __tablename__ = "company_roles"

    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Person(_Owned, Base):
    """A contact person; may work with several companies (see :class:`Employment`)."""

    __tablename__ = "persons"
    __table_args__ = (
        Index("ix_persons_family_name_given_name", "family_name", "given_name"),
        # Quick search, names starting with the text, walked in order (migration 0008).
        Index("ix_persons_given_name_family_name", "given_name", "family_name"),
        # Quick search (LIKE '%text%'): pg_trgm GIN indexes on PostgreSQL, plain on SQLite.
        *(
            Index(
                f"ix_persons_{col}_trgm",
                col,
                postgresql_using="gin",
                postgresql_ops={col: "gin_trgm_ops"},
            )
            for col in ("given_name", "family_name", "nickname")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    nickname: Mapped[str | None] = mapped_column(String(100), default=None)
    salutation: Mapped[str | None] = mapped_column(String(100), default=None)
    title: Mapped[str | None] = mapped_column(String(100), default=None)
    birth_date: Mapped[date | None] = mapped_column(Date, default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    # Sensitive: only principals with ``crm.sensitive`` see it (see policies.py).
    id_card_number: Mapped[str | None] = mapped_column(String(64), default=None)

    phones: Mapped[list[Phone]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Phone.id"
    )
    emails: Mapped[list[Email]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Email.id"
    )
    addresses: Mapped[list[Address]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Address.id"
    )
    employments: Mapped[list[Employment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Employment.id"
    )
    categories: Mapped[list[Category]] = relationship(
        secondary=person_categories, lazy="selectin", order_by="Category.name"
    )
    attribute_values: Mapped[list[AttributeValue]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AttributeValue.definition_id"
    )

    @property
    def full_name(self) -> str:
        """Given and family name."""
        return " ".join(p for p in (self.given_name, self.family_name) if p)


_ONE_OWNER = "(company_id IS NULL) <> (person_id IS NULL)"


class Phone(Base):
    """A phone number of a company or a person: the text as written and its E.164 form."""

    __tablename__ = "phones"
    __table_args__ = (
        CheckConstraint(_ONE_OWNER, name="one_owner"),
        # Quick search by part of a number: pg_trgm GIN on PostgreSQL, plain on SQLite.
        Index(
            "ix_phones_e164_trgm",
            "e164",
            postgresql_using="gin",
            postgresql_ops={"e164": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=PhoneKind.WORK.value)
    original: Mapped[str] = mapped_column(String(64))
    # The caller-ID lookup is one equality query on this index.
    e164: Mapped[str] = mapped_column(String(20), index=True)


class Email(Base):
    """An e-mail address of a company or a person (stored in lower case)."""

    __tablename__ = "emails"
    __table_args__ = (
        CheckConstraint(_ONE_OWNER, name="one_owner"),
        # Quick search by part of an address: pg_trgm GIN on PostgreSQL, plain on SQLite.
        Index(
            "ix_emails_address_trgm",
            "address",
            postgresql_using="gin",
            postgresql_ops={"address": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="work")
    address: Mapped[str] = mapped_column(String(320), index=True)


class Address(Base):
    """A postal address of a company or a person."""

    __tablename__ = "addresses"
    __table_args__ = (CheckConstraint(_ONE_OWNER, name="one_owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), default=None, index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    street: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str | None] = mapped_column(String(2), default=None)


class Employment(Base):
    """A person's link to a company: job position, department, primary flag, period."""

    __tablename__ = "employments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    job_title: Mapped[str] = mapped_column(String(100), default="")
    department: Mapped[str] = mapped_column(String(100), default="")
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_on: Mapped[date | None] = mapped_column(Date, default=None)
    ends_on: Mapped[date | None] = mapped_column(Date, default=None)
