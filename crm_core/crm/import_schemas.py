"""Answers of the import endpoints and bodies of the ERP sync API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from crm_core.crm.finance_schemas import Currency, KindName, Money, Positive, StatusName
from crm_core.crm.schema_base import Day, Id, In

__all__ = [
    "ExternalId",
    "ImportOut",
    "ImportRowError",
    "SyncAllocationIn",
    "SyncBatchIn",
    "SyncBatchInvoice",
    "SyncBatchOut",
    "SyncBatchPayment",
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


class _SyncCustomer(In):
    company_id: Id | None = None
    person_id: Id | None = None

    @model_validator(mode="after")
    def _someone(self) -> _SyncCustomer:
        if self.company_id is None and self.person_id is None:
            raise ValueError("give company_id, person_id or both")
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


class SyncBatchIn(In):
    """Invoices and payments applied in one transaction (invoices first)."""

    invoices: list[SyncBatchInvoice] = Field(default_factory=list, max_length=1000)
    payments: list[SyncBatchPayment] = Field(default_factory=list, max_length=1000)


class SyncItemOut(BaseModel):
    """The outcome of one upsert."""

    type: Literal["invoice", "payment"]
    external_id: str
    id: int
    result: Literal["created", "updated", "unchanged"]


class SyncBatchOut(BaseModel):
    """The outcome of every item of a batch, in the order sent (invoices, then payments)."""

    items: list[SyncItemOut]
