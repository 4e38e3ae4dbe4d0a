"""Tables of a person's typed dates and of person-person and company-company relationships."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, utcnow

__all__ = [
    "BUILTIN_DATE_TYPES",
    "CompanyLink",
    "CompanyLinkKind",
    "PersonDate",
    "PersonDateType",
    "PersonLink",
    "RelationshipType",
]

# Types every installation knows; administrators add more in ``person_date_types``.
BUILTIN_DATE_TYPES: dict[str, str] = {
    "wedding": "Wedding anniversary",
    "engagement": "Engagement",
    "child_birth": "Child's birth",
    "work_anniversary": "Work anniversary",
    "memorial": "Memorial",
    "other": "Other",
}


class CompanyLinkKind(enum.StrEnum):
    """What links two companies (parent/subsidiary is ``companies.parent_id``)."""

    PARTNER = "partner"
    # company_a is followed (serviced, sold to) through the partner company_b.
    FOLLOWED_THROUGH = "followed_through"


class PersonDateType(Base):
    """An administrator-defined kind of personal date, beside the built-in ones."""

    __tablename__ = "person_date_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonDate(Base):
    """A typed anniversary of a person: a wedding, a child's birth ..."""

    __tablename__ = "person_dates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    date: Mapped[date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RelationshipType(Base):
    """A person-person relationship and its inverse (parent/child, spouse/spouse ...)."""

    __tablename__ = "relationship_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    inverse_name: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonLink(Base):
    """``person_a`` is the type's ``name`` of ``person_b``; ``person_b`` its ``inverse_name``."""

    __tablename__ = "person_links"
    __table_args__ = (
        CheckConstraint("person_a_id <> person_b_id", name="not_self"),
        UniqueConstraint("person_a_id", "person_b_id", "type_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_a_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    person_b_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    type_id: Mapped[int] = mapped_column(
        ForeignKey("relationship_types.id", ondelete="RESTRICT"), index=True
    )
    since: Mapped[date | None] = mapped_column(Date, default=None)
    until: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CompanyLink(Base):
    """A partner link between two companies, or a customer followed through a partner."""

    __tablename__ = "company_links"
    __table_args__ = (
        CheckConstraint("company_a_id <> company_b_id", name="not_self"),
        UniqueConstraint("company_a_id", "company_b_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_a_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    company_b_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    since: Mapped[date | None] = mapped_column(Date, default=None)
    until: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
