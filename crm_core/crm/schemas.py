"""Request and response bodies of the companies and persons API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.attributes import values_out
from crm_core.crm.models import Address, Company, Email, Employment, Person, Phone
from crm_core.crm.schema_base import Id, In, Patch

__all__ = [
    "AddressIn",
    "AddressOut",
    "CompanyIn",
    "CompanyOut",
    "CompanyPatchIn",
    "EmailIn",
    "EmailOut",
    "EmploymentIn",
    "EmploymentOut",
    "PersonIn",
    "PersonOut",
    "PersonPatchIn",
    "PhoneIn",
    "PhoneOut",
]

PhoneKindName = Literal["mobile", "work", "home", "fax"]
EmailKindName = Literal["work", "home", "other"]
AddressKindName = Literal["head_office", "branch", "warehouse", "billing", "shipping", "home"]
CompanyStatusName = Literal["prospect", "active", "inactive"]
CompanyRoleName = Literal["customer", "supplier", "partner", "employee", "prospect"]
Short = Annotated[str, Field(max_length=100)]


class PhoneIn(In):
    """A phone number as written; it is stored with its E.164 form."""

    kind: PhoneKindName = "work"
    number: str = Field(min_length=1, max_length=64)


class EmailIn(In):
    """An e-mail address."""

    kind: EmailKindName = "work"
    address: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AddressIn(In):
    """A postal address."""

    kind: AddressKindName
    street: str = Field(default="", max_length=300)
    city: Short = ""
    postal_code: str = Field(default="", max_length=20)
    region: Short = ""
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class EmploymentIn(In):
    """A person's link to a company."""

    company_id: Id
    job_title: Short = ""
    department: Short = ""
    is_primary: bool = False
    starts_on: date | None = None
    ends_on: date | None = None

    @model_validator(mode="after")
    def _period(self) -> EmploymentIn:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^/\s]+$")]
# {name: value}; each value is checked against the attribute's definition (attributes.py).
Attributes = Annotated[dict[str, Any], Field(max_length=100)]
Note = Annotated[str, Field(max_length=500)]


class _Access(BaseModel):
    territory_id: Id | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    category_ids: list[Id] = Field(default_factory=list, max_length=100)
    external_id: ExternalId | None = None
    lead_source_id: Id | None = None
    lead_source_note: Note = ""
    attributes: Attributes = Field(default_factory=dict)


class CompanyIn(In, _Access):
    """A new company with its contact data."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    vat_number: str | None = Field(default=None, max_length=32)
    trade_register_number: str | None = Field(default=None, max_length=64)
    industry: Short | None = None
    employee_count: int | None = Field(default=None, ge=0, le=10_000_000)
    turnover: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    description: str = Field(default="", max_length=10_000)
    website: str | None = Field(default=None, max_length=300)
    parent_id: Id | None = None
    status: CompanyStatusName = "prospect"
    roles: list[CompanyRoleName] = Field(default_factory=list, max_length=5)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=50)
    emails: list[EmailIn] = Field(default_factory=list, max_length=50)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=50)


class CompanyPatchIn(Patch):
    """Changes to a company; a list given (phones, roles, ...) replaces the whole list."""

    not_null = frozenset(
        {"code", "name", "description", "status", "roles", "category_ids"}
        | {"phones", "emails", "addresses", "lead_source_note", "attributes"}
    )

    code: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    vat_number: str | None = Field(default=None, max_length=32)
    trade_register_number: str | None = Field(default=None, max_length=64)
    industry: Short | None = None
    employee_count: int | None = Field(default=None, ge=0, le=10_000_000)
    turnover: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    description: str | None = Field(default=None, max_length=10_000)
    website: str | None = Field(default=None, max_length=300)
    parent_id: Id | None = None
    status: CompanyStatusName | None = None
    roles: list[CompanyRoleName] | None = Field(default=None, max_length=5)
    territory_id: Id | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    category_ids: list[Id] | None = Field(default=None, max_length=100)
    phones: list[PhoneIn] | None = Field(default=None, max_length=50)
    emails: list[EmailIn] | None = Field(default=None, max_length=50)
    addresses: list[AddressIn] | None = Field(default=None, max_length=50)
    external_id: ExternalId | None = None
    lead_source_id: Id | None = None
    lead_source_note: Note | None = None
    attributes: Attributes | None = None


class PersonIn(In, _Access):
    """A new person with contact data and company links."""

    given_name: Short = ""
    family_name: Short = ""
    nickname: Short | None = None
    salutation: Short | None = None
    title: Short | None = None
    birth_date: date | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    id_card_number: str | None = Field(default=None, max_length=64)
    status: CompanyStatusName = "prospect"
    phones: list[PhoneIn] = Field(default_factory=list, max_length=50)
    emails: list[EmailIn] = Field(default_factory=list, max_length=50)
    addresses: list[AddressIn] = Field(default_factory=list, max_length=50)
    companies: list[EmploymentIn] = Field(default_factory=list, max_length=50)


class PersonPatchIn(Patch):
    """Changes to a person; a list given (phones, companies, ...) replaces the whole list."""

    not_null = frozenset(
        {"given_name", "family_name", "category_ids", "phones", "emails", "addresses"}
        | {"companies", "status", "lead_source_note", "attributes"}
    )

    given_name: Short | None = None
    family_name: Short | None = None
    nickname: Short | None = None
    salutation: Short | None = None
    title: Short | None = None
    birth_date: date | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    id_card_number: str | None = Field(default=None, max_length=64)
    status: CompanyStatusName | None = None
    territory_id: Id | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    category_ids: list[Id] | None = Field(default=None, max_length=100)
    phones: list[PhoneIn] | None = Field(default=None, max_length=50)
    emails: list[EmailIn] | None = Field(default=None, max_length=50)
    addresses: list[AddressIn] | None = Field(default=None, max_length=50)
    companies: list[EmploymentIn] | None = Field(default=None, max_length=50)
    external_id: ExternalId | None = None
    lead_source_id: Id | None = None
    lead_source_note: Note | None = None
    attributes: Attributes | None = None


class PhoneOut(BaseModel):
    """A stored phone number."""

    id: int
    kind: str
    number: str
    e164: str

    @classmethod
    def of(cls, p: Phone) -> PhoneOut:
        """Serialise a phone."""
        return cls(id=p.id, kind=p.kind, number=p.original, e164=p.e164)


class EmailOut(BaseModel):
    """A stored e-mail address."""

    id: int
    kind: str
    address: str

    @classmethod
    def of(cls, e: Email) -> EmailOut:
        """Serialise an e-mail address."""
        return cls(id=e.id, kind=e.kind, address=e.address)


class AddressOut(BaseModel):
    """A stored postal address."""

    id: int
    kind: str
    street: str
    city: str
    postal_code: str
    region: str
    country: str | None

    @classmethod
    def of(cls, a: Address) -> AddressOut:
        """Serialise an address."""
        return cls(
            id=a.id,
            kind=a.kind,
            street=a.street,
            city=a.city,
            postal_code=a.postal_code,
            region=a.region,
            country=a.country,
        )


class EmploymentOut(BaseModel):
    """A person's link to a company."""

    id: int
    company_id: int
    job_title: str
    department: str
    is_primary: bool
    starts_on: date | None
    ends_on: date | None

    @classmethod
    def of(cls, e: Employment) -> EmploymentOut:
        """Serialise a person-company link."""
        return cls(
            id=e.id,
            company_id=e.company_id,
            job_title=e.job_title,
            department=e.department,
            is_primary=e.is_primary,
            starts_on=e.starts_on,
            ends_on=e.ends_on,
        )


class _RecordOut(BaseModel):
    id: int
    territory_id: int | None
    owner_id: int | None
    team_id: int | None
    category_ids: list[int]
    phones: list[PhoneOut]
    emails: list[EmailOut]
    addresses: list[AddressOut]
    external_id: str | None
    lead_source_id: int | None
    lead_source_note: str
    status: str
    lifecycle: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _record(obj: Company | Person) -> dict[str, Any]:
    return {
        "external_id": obj.external_id,
        "lead_source_id": obj.lead_source_id,
        "lead_source_note": obj.lead_source_note,
        "status": obj.status,
        # Loaded by the list/get queries; a record read elsewhere shows its stored status.
        "lifecycle": obj.lifecycle or obj.status,
        "attributes": values_out(obj.attribute_values),
        "id": obj.id,
        "territory_id": obj.territory_id,
        "owner_id": obj.owner_id,
        "team_id": obj.team_id,
        "category_ids": [c.id for c in obj.categories],
        "phones": [PhoneOut.of(p) for p in obj.phones],
        "emails": [EmailOut.of(e) for e in obj.emails],
        "addresses": [AddressOut.of(a) for a in obj.addresses],
        "created_at": obj.created_at,
        "updated_at": obj.updated_at,
    }


class CompanyOut(_RecordOut):
    """A company with its contact data."""

    code: str
    name: str
    vat_number: str | None
    trade_register_number: str | None
    industry: str | None
    employee_count: int | None
    turnover: Decimal | None
    description: str
    website: str | None
    parent_id: int | None
    roles: list[str]

    @classmethod
    def of(cls, c: Company) -> CompanyOut:
        """Serialise a company."""
        return cls(
            **_record(c),
            code=c.code,
            name=c.name,
            vat_number=c.vat_number,
            trade_register_number=c.trade_register_number,
            industry=c.industry,
            employee_count=c.employee_count,
            turnover=c.turnover,
            description=c.description,
            website=c.website,
            parent_id=c.parent_id,
            roles=[r.role for r in c.roles],
        )


class PersonOut(_RecordOut):
    """A person; ``masked`` lists the sensitive fields hidden from the caller (shown as null)."""

    given_name: str
    family_name: str
    full_name: str
    nickname: str | None
    salutation: str | None
    title: str | None
    birth_date: date | None
    language: str | None
    id_card_number: str | None
    companies: list[EmploymentOut]
    masked: list[str]

    @classmethod
    def of(cls, p: Person, *, sensitive: bool) -> PersonOut:
        """Serialise a person, masking sensitive fields unless ``sensitive``."""
        masked = [] if sensitive else ["id_card_number"]
        return cls(
            **_record(p),
            given_name=p.given_name,
            family_name=p.family_name,
            full_name=p.full_name,
            nickname=p.nickname,
            salutation=p.salutation,
            title=p.title,
            birth_date=p.birth_date,
            language=p.language,
            id_card_number=p.id_card_number if sensitive else None,
            companies=[EmploymentOut.of(e) for e in p.employments],
            masked=masked,
        )
