"""Bodies of bank accounts and branches of companies, products held and contracts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from crm_core.crm.catalog_schemas import Currency
from crm_core.crm.codes import check_bic, normalise_iban
from crm_core.crm.ext_models import BankAccount, Branch, BranchPhone, Contract, HeldProduct
from crm_core.crm.schema_base import Day, Id, In, Patch
from crm_core.crm.schemas import PhoneIn

__all__ = [
    "BankAccountIn",
    "BankAccountOut",
    "BankAccountPatchIn",
    "BranchIn",
    "BranchOut",
    "BranchPatchIn",
    "ContractIn",
    "ContractOut",
    "ContractPatchIn",
    "HeldProductIn",
    "HeldProductOut",
    "HeldProductPatchIn",
]

Iban = Annotated[str, Field(min_length=15, max_length=50), AfterValidator(normalise_iban)]
Bic = Annotated[str, Field(min_length=8, max_length=11), AfterValidator(check_bic)]
BankName = Annotated[str, Field(max_length=200)]
Short = Annotated[str, Field(max_length=100)]
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
BranchCode = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=3)]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
ContractStatusName = Literal["draft", "active", "expired", "terminated"]


# -- bank accounts -----------------------------------------------------------------------------


class BankAccountIn(In):
    """A company's bank account; the IBAN is stored without spaces, its checksum verified."""

    iban: Iban
    bank_name: BankName = ""
    bic: Bic | None = None
    currency: Currency
    is_primary: bool = False


class BankAccountPatchIn(Patch):
    """Changes to a bank account."""

    not_null = frozenset({"iban", "bank_name", "currency", "is_primary"})

    iban: Iban | None = None
    bank_name: BankName | None = None
    bic: Bic | None = None
    currency: Currency | None = None
    is_primary: bool | None = None


class BankAccountOut(BaseModel):
    """A bank account."""

    id: int
    company_id: int
    iban: str
    bank_name: str
    bic: str | None
    currency: str
    is_primary: bool

    @classmethod
    def of(cls, a: BankAccount) -> BankAccountOut:
        """Serialise a bank account."""
        return cls(
            id=a.id,
            company_id=a.company_id,
            iban=a.iban,
            bank_name=a.bank_name,
            bic=a.bic,
            currency=a.currency,
            is_primary=a.is_primary,
        )


# -- branches ----------------------------------------------------------------------------------


class BranchIn(In):
    """A company's branch (sub-unit)."""

    name: str = Field(min_length=1, max_length=200)
    code: BranchCode
    street: str = Field(default="", max_length=300)
    city: Short = ""
    postal_code: str = Field(default="", max_length=20)
    region: Short = ""
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    email: Email | None = None
    manager_person_id: Id | None = None
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)


class BranchPatchIn(Patch):
    """Changes to a branch; ``phones`` given replaces the list."""

    not_null = frozenset({"name", "code", "street", "city", "postal_code", "region", "phones"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: BranchCode | None = None
    street: str | None = Field(default=None, max_length=300)
    city: Short | None = None
    postal_code: str | None = Field(default=None, max_length=20)
    region: Short | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    email: Email | None = None
    manager_person_id: Id | None = None
    phones: list[PhoneIn] | None = Field(default=None, max_length=20)


class BranchPhoneOut(BaseModel):
    """A branch's phone number."""

    id: int
    kind: str
    number: str
    e164: str

    @classmethod
    def of(cls, p: BranchPhone) -> BranchPhoneOut:
        """Serialise a branch phone."""
        return cls(id=p.id, kind=p.kind, number=p.original, e164=p.e164)


class BranchOut(BaseModel):
    """A branch."""

    id: int
    company_id: int
    name: str
    code: str
    street: str
    city: str
    postal_code: str
    region: str
    country: str | None
    email: str | None
    manager_person_id: int | None
    phones: list[BranchPhoneOut]
    created_at: datetime

    @classmethod
    def of(cls, b: Branch) -> BranchOut:
        """Serialise a branch."""
        return cls(
            id=b.id,
            company_id=b.company_id,
            name=b.name,
            code=b.code,
            street=b.street,
            city=b.city,
            postal_code=b.postal_code,
            region=b.region,
            country=b.country,
            email=b.email,
            manager_person_id=b.manager_person_id,
            phones=[BranchPhoneOut.of(p) for p in b.phones],
            created_at=b.created_at,
        )


# -- products held -----------------------------------------------------------------------------


class HeldProductIn(In):
    """A product held by a person or a company (exactly one of them)."""

    product_id: Id
    company_id: Id | None = None
    person_id: Id | None = None
    quantity: Quantity = Decimal(1)
    acquired_on: Day | None = None
    is_active: bool = True

    @model_validator(mode="after")
    def _one_owner(self) -> HeldProductIn:
        if (self.company_id is None) == (self.person_id is None):
            raise ValueError("give company_id or person_id (one of them)")
        return self


class HeldProductPatchIn(Patch):
    """Changes to a product held."""

    not_null = frozenset({"quantity", "is_active"})

    quantity: Quantity | None = None
    acquired_on: Day | None = None
    is_active: bool | None = None


class HeldProductOut(BaseModel):
    """A product held."""

    id: int
    product_id: int
    company_id: int | None
    person_id: int | None
    quantity: Decimal
    acquired_on: date | None
    is_active: bool

    @classmethod
    def of(cls, h: HeldProduct) -> HeldProductOut:
        """Serialise a product held."""
        return cls(
            id=h.id,
            product_id=h.product_id,
            company_id=h.company_id,
            person_id=h.person_id,
            quantity=h.quantity,
            acquired_on=h.acquired_on,
            is_active=h.is_active,
        )


# -- contracts ---------------------------------------------------------------------------------


class ContractIn(In):
    """A new contract with a company and/or person, optionally for a catalogue product."""

    number: str = Field(min_length=1, max_length=64)
    company_id: Id | None = None
    person_id: Id | None = None
    product_id: Id | None = None
    starts_on: Day
    ends_on: Day | None = None
    value: Money | None = None
    currency: Currency | None = None
    status: ContractStatusName = "active"
    renewal_on: Day | None = None
    description: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> ContractIn:
        if self.company_id is None and self.person_id is None:
            raise ValueError("give company_id, person_id or both")
        return self


class ContractPatchIn(Patch):
    """Changes to a contract (dates and value are checked together with the stored ones)."""

    not_null = frozenset({"number", "starts_on", "status", "description"})

    number: str | None = Field(default=None, min_length=1, max_length=64)
    product_id: Id | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    value: Money | None = None
    currency: Currency | None = None
    status: ContractStatusName | None = None
    renewal_on: Day | None = None
    description: str | None = Field(default=None, max_length=5000)


class ContractOut(BaseModel):
    """A contract."""

    id: int
    number: str
    company_id: int | None
    person_id: int | None
    product_id: int | None
    starts_on: date
    ends_on: date | None
    value: Decimal | None
    currency: str | None
    status: str
    renewal_on: date | None
    description: str
    created_at: datetime

    @classmethod
    def of(cls, c: Contract) -> ContractOut:
        """Serialise a contract."""
        return cls(
            id=c.id,
            number=c.number,
            company_id=c.company_id,
            person_id=c.person_id,
            product_id=c.product_id,
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            value=c.value,
            currency=c.currency,
            status=c.status,
            renewal_on=c.renewal_on,
            description=c.description,
            created_at=c.created_at,
        )
