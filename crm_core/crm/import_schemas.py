"""Answers of the import endpoints and bodies of the ERP sync API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.finance_schemas import Currency, KindName, Money, Positive, StatusName
from crm_core.crm.schema_base import Day, Id, In
from crm_core.crm.schemas import AddressIn, EmailIn, PhoneIn

__all__ = [
    "ExternalId",
    "ImportOut",
    "ImportRowError",
    "SyncAllocationIn",
    "SyncBatchCustomer",
    "SyncBatchIn",
    "SyncBatchInvoice",
    "SyncBatchOut",
    "SyncBatchPayment",
    "SyncCustomerIn",
    "SyncInvoiceIn",
    "SyncItemOut",
    "SyncPaymentIn",
]

# Path-safe: an external id is also a path segment of the single-item endpoints.
ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")]


class ImportRowError(BaseModel):
    """One problem of one row: ``row`` as a spreadsheet shows it (the header is row 1)."""

    row: int
    column: str | None
    message: str


class ImportOut(BaseModel):
    """What an import did (or, in a dry run, would do)."""

    import_id: str
    dry_run: bool
    rows: int
    created: int
    updated: int
    skipped: int
    errors: list[ImportRowError]
    encoding: str | None
    delimiter: str | None


class SyncCustomerIn(In):
    """A customer as the ERP knows it: a company or a person; the external id is in the path.

    Fields left out are left as they are in the CRM; lists given (phones, e-mails, addresses)
    replace the stored ones. A new customer becomes an active CRM contact (a company gets the
    customer role); its code defaults to the external id.
    """

    kind: Literal["company", "person"]
    code: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    vat_number: str | None = Field(default=None, max_length=32)
    given_name: str | None = Field(default=None, max_length=100)
    family_name: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    phones: list[PhoneIn] | None = Field(default=None, max_length=50)
    emails: list[EmailIn] | None = Field(default=None, max_length=50)
    addresses: list[AddressIn] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _kind_fields(self) -> SyncCustomerIn:
        if self.kind == "company":
            if not self.name:
                raise ValueError("a company needs a name")
            wrong = {"given_name", "family_name", "language"} & self.model_fields_set
        else:
            if not ((self.given_name or "").strip() or (self.family_name or "").strip()):
                raise ValueError("a person needs a family name or a given name")
            wrong = {"code", "name", "vat_number"} & self.model_fields_set
        if wrong:
            raise ValueError(f"a {self.kind} has no {', '.join(sorted(wrong))}")
        return self


class _SyncCustomer(In):
    company_id: Id | None = None
    person_id: Id | None = None
    company_external_id: ExternalId | None = None
    person_external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _someone(self) -> _SyncCustomer:
        if self.company_id is not None and self.company_external_id is not None:
            raise ValueError("give company_id or company_external_id, not both")
        if self.person_id is not None and self.person_external_id is not None:
            raise ValueError("give person_id or person_external_id, not both")
        if not any(
            (self.company_id, self.person_id, self.company_external_id, self.person_external_id)
        ):
            raise ValueError(
                "give company_id, person_id, company_external_id or person_external_id"
            )
        return self


class SyncInvoiceIn(_SyncCustomer):
    """An invoice as the ERP knows it; the external id is in the path."""

    number: str = Field(min_length=1, max_length=64)
    kind: KindName = "invoice"
    status: StatusName = "issued"
    issued_on: Day
    due_on: Day | None = None
    amount: Money
    currency: Currency
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _dates(self) -> SyncInvoiceIn:
        if self.due_on is not None and self.due_on < self.issued_on:
            raise ValueError("due_on is before issued_on")
        return self


class SyncAllocationIn(In):
    """The part of a payment that settles one invoice, named by the invoice's external id."""

    invoice_external_id: ExternalId
    amount: Positive


class SyncPaymentIn(_SyncCustomer):
    """A payment as the ERP knows it; the external id is in the path."""

    paid_on: Day
    amount: Positive
    currency: Currency
    reference: str = Field(default="", max_length=100)
    allocations: list[SyncAllocationIn] = Field(default_factory=list, max_length=100)


class SyncBatchInvoice(SyncInvoiceIn):
    """An invoice of a batch, with its external id."""

    external_id: ExternalId


class SyncBatchPayment(SyncPaymentIn):
    """A payment of a batch, with its external id."""

    external_id: ExternalId


class SyncBatchCustomer(SyncCustomerIn):
    """A customer of a batch, with its external id."""

    external_id: ExternalId


class SyncBatchIn(In):
    """Customers, invoices and payments applied in one transaction (in this order)."""

    customers: list[SyncBatchCustomer] = Field(default_factory=list, max_length=1000)
    invoices: list[SyncBatchInvoice] = Field(default_factory=list, max_length=1000)
    payments: list[SyncBatchPayment] = Field(default_factory=list, max_length=1000)


class SyncItemOut(BaseModel):
    """The outcome of one upsert."""

    type: Literal["company", "person", "invoice", "payment"]
    external_id: str
    id: int
    result: Literal["created", "updated", "unchanged"]


class SyncBatchOut(BaseModel):
    """The outcome of every item of a batch, in the order applied (customers, invoices,
    payments)."""

    items: list[SyncItemOut]
