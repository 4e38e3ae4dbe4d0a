"""Request and response bodies of personal dates, celebrations and relationships."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from crm_core.crm.schema_base import Day, Id, In

__all__ = [
    "CelebrationOut",
    "CelebrationsOut",
    "CompanyLinkIn",
    "CompanyLinkOut",
    "CompanyLinksOut",
    "DateTypeIn",
    "DateTypeOut",
    "DateTypesOut",
    "PersonDateIn",
    "PersonDateOut",
    "PersonDatesOut",
    "PersonLinkIn",
    "PersonLinkOut",
    "PersonLinksOut",
    "RelationshipTypeIn",
    "RelationshipTypeOut",
    "RelationshipTypesOut",
]

TypeName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
RelationName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
CompanyLinkKindName = Literal["partner", "followed_through"]


class _Period(In):
    since: Day | None = None
    until: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.since and self.until and self.until < self.since:
            raise ValueError("until is before since")
        return self


class DateTypeIn(In):
    """A new kind of personal date."""

    name: TypeName
    label: str = Field(default="", max_length=100)


class DateTypeOut(BaseModel):
    """A kind of personal date; built-in ones have no id."""

    name: str
    label: str
    builtin: bool
    id: int | None = None


class DateTypesOut(BaseModel):
    """Every kind of personal date."""

    items: list[DateTypeOut]


class PersonDateIn(In):
    """An anniversary of a person."""

    type: TypeName
    date: Day
    label: str = Field(default="", max_length=200)


class PersonDateOut(BaseModel):
    """An anniversary of a person."""

    id: int
    person_id: int
    type: str
    date: dt.date
    label: str


class PersonDatesOut(BaseModel):
    """A person's anniversaries, in calendar order."""

    items: list[PersonDateOut]


class CelebrationOut(BaseModel):
    """A person celebrating on the day: a birthday, a name day or an anniversary."""

    person_id: int
    display_name: str
    kind: Literal["birthday", "name_day", "anniversary"]
    date: dt.date | None = Field(
        description="the original date (birth date, wedding ...); null for name days"
    )
    years: int | None = Field(description="years since the original date; null for name days")
    name: str | None = Field(description="name days: the calendar name celebrated")
    type: str | None = Field(description="anniversaries: the date type")
    label: str | None = Field(description="anniversaries: the label")
    person_date_id: int | None


class CelebrationsOut(BaseModel):
    """Celebrations of the day, paged."""

    day: dt.date
    items: list[CelebrationOut]
    total: int
    limit: int
    offset: int


class RelationshipTypeIn(In):
    """A person-person relationship type: ``name`` is what person A is to person B."""

    name: RelationName
    inverse_name: RelationName


class RelationshipTypeOut(BaseModel):
    """A relationship type."""

    id: int
    name: str
    inverse_name: str


class RelationshipTypesOut(BaseModel):
    """Every relationship type."""

    items: list[RelationshipTypeOut]


class PersonLinkIn(_Period):
    """Person A is the type's ``name`` of person B (B is its ``inverse_name`` of A)."""

    person_a_id: Id
    person_b_id: Id
    type_id: Id

    @model_validator(mode="after")
    def _two(self) -> PersonLinkIn:
        if self.person_a_id == self.person_b_id:
            raise ValueError("a person cannot be linked to themself")
        return self


class PersonLinkOut(BaseModel):
    """A person link seen from one person: what the other person is to them."""

    id: int
    person_id: int
    other_person_id: int
    other_name: str
    relation: str
    type_id: int
    since: dt.date | None
    until: dt.date | None


class PersonLinksOut(BaseModel):
    """A person's links to persons the caller may see."""

    items: list[PersonLinkOut]


class CompanyLinkIn(_Period):
    """Companies A and B are partners, or A is followed through the partner B."""

    company_a_id: Id
    company_b_id: Id
    kind: CompanyLinkKindName
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _two(self) -> CompanyLinkIn:
        if self.company_a_id == self.company_b_id:
            raise ValueError("a company cannot be linked to itself")
        return self


class CompanyLinkOut(BaseModel):
    """A company link seen from one company: ``partner``, ``followed_through`` or ``follows``."""

    id: int
    company_id: int
    other_company_id: int
    other_name: str
    kind: str
    relation: str
    since: dt.date | None
    until: dt.date | None
    note: str


class CompanyLinksOut(BaseModel):
    """A company's links to companies the caller may see."""

    items: list[CompanyLinkOut]
