"""Request and response bodies of territories, grants, delegations, categories, lookup, search."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.models import Category, Company, Delegation, Person, Territory, TerritoryGrant
from crm_core.crm.repository import Candidate
from crm_core.crm.schema_base import Id, In, Timestamp

__all__ = [
    "CandidateOut",
    "CategoryIn",
    "CategoryOut",
    "DelegationIn",
    "DelegationOut",
    "GrantIn",
    "GrantListOut",
    "GrantOut",
    "LookupOut",
    "SearchHit",
    "SearchOut",
    "TerritoryIn",
    "TerritoryOut",
]

RoleName = Literal["admin", "supervisor", "campaign_manager", "agent"]


class TerritoryIn(In):
    """A new territory."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class TerritoryOut(BaseModel):
    """A territory."""

    id: int
    name: str
    description: str

    @classmethod
    def of(cls, t: Territory) -> TerritoryOut:
        """Serialise a territory."""
        return cls(id=t.id, name=t.name, description=t.description)


class GrantIn(In):
    """Access to a territory for a role or for one user (exactly one of them)."""

    role: RoleName | None = None
    user_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> GrantIn:
        if (self.role is None) == (self.user_id is None):
            raise ValueError("give either role or user_id")
        return self


class GrantOut(BaseModel):
    """A territory grant."""

    id: int
    territory_id: int
    role: str | None
    user_id: int | None

    @classmethod
    def of(cls, g: TerritoryGrant) -> GrantOut:
        """Serialise a grant."""
        return cls(id=g.id, territory_id=g.territory_id, role=g.role, user_id=g.user_id)


class GrantListOut(BaseModel):
    """The grants of one territory."""

    items: list[GrantOut]


class DelegationIn(In):
    """Lend one's record access to another user for a period (admins may set ``from_user_id``)."""

    to_user_id: Id
    starts_at: Timestamp
    ends_at: Timestamp
    from_user_id: Id | None = None
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _period(self) -> DelegationIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class DelegationOut(BaseModel):
    """A delegation of record access."""

    id: int
    from_user_id: int
    to_user_id: int
    starts_at: datetime
    ends_at: datetime
    note: str

    @classmethod
    def of(cls, d: Delegation) -> DelegationOut:
        """Serialise a delegation."""
        return cls(
            id=d.id,
            from_user_id=d.from_user_id,
            to_user_id=d.to_user_id,
            starts_at=d.starts_at,
            ends_at=d.ends_at,
            note=d.note,
        )


class CategoryIn(In):
    """A new category."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class CategoryOut(BaseModel):
    """A category."""

    id: int
    name: str
    description: str

    @classmethod
    def of(cls, c: Category) -> CategoryOut:
        """Serialise a category."""
        return cls(id=c.id, name=c.name, description=c.description)


class CandidateOut(BaseModel):
    """A person or company whose phone matched."""

    type: Literal["person", "company"]
    id: int
    display_name: str
    phone_kind: str

    @classmethod
    def of(cls, c: Candidate) -> CandidateOut:
        """Serialise a lookup candidate."""
        kind: Literal["person", "company"] = "person" if c.type == "person" else "company"
        return cls(type=kind, id=c.id, display_name=c.display_name, phone_kind=c.phone_kind)


class LookupOut(BaseModel):
    """Caller-ID lookup: the number as given, its E.164 form, every visible match."""

    number: str
    e164: str
    candidates: list[CandidateOut]


class SearchHit(BaseModel):
    """One quick-search result."""

    type: Literal["person", "company"]
    id: int
    display_name: str
    code: str | None = None

    @classmethod
    def company(cls, c: Company) -> SearchHit:
        """A company hit."""
        return cls(type="company", id=c.id, display_name=c.name, code=c.code)

    @classmethod
    def person(cls, p: Person) -> SearchHit:
        """A person hit."""
        return cls(type="person", id=p.id, display_name=p.full_name)


class SearchOut(BaseModel):
    """Quick-search results: companies first, in name order; then persons, those whose name
    (family, given, "given family" or "family given") starts with the text before those that
    only contain it or match by nickname, e-mail or phone, each group in name order.

    Persons are chosen among a bounded number of candidates per kind of match (name, e-mail,
    phone), taken in the caller's scope; ``truncated`` says when more persons matched than
    were examined."""

    items: list[SearchHit]
    truncated: bool = Field(
        description="True when more persons match than the search examined: the items are "
        "not necessarily the first in order of all matches; refine the text (more letters, "
        "given and family name, more digits) to narrow them."
    )
