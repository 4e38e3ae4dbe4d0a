"""The ERP sync use cases: idempotent upserts of customers, invoices and payments by external id.

An ERP pushes the current state of a customer or document under its own id; the same payload
twice changes nothing (``unchanged``, and no audit entry), a changed payload updates the stored
record, and a batch is applied in one transaction — all of it or nothing. A new ERP customer
becomes an active CRM contact. Invoices and payments name their customer by CRM id or by the
customer's external id, and payments name the invoices they settle by the invoices' external ids.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.finance_models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
)
from crm_core.crm.import_schemas import (
    SyncBatchIn,
    SyncBatchOut,
    SyncCustomerIn,
    SyncInvoiceIn,
    SyncItemOut,
    SyncPaymentIn,
)
from crm_core.crm.models import Company, Person
from crm_core.crm.sync_customers import upsert_customer
from crm_core.db import session_scope, utcnow
from crm_core.errors import CallboardError, Conflict, InvalidInput, NotFound
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import Role
from crm_core.users.permissions import Permission, PolicyRegistry, Principal, grant

__all__ = ["CRM_SYNC", "SyncService"]

log = logging.getLogger(__name__)

CRM_SYNC = Permission.define(
    "crm.sync",
    "push customers, invoices and payments from an ERP (idempotent upserts by external id)",
)
grant(Role.ADMIN, CRM_SYNC)

ZERO = Decimal("0.00")
_OWED = (InvoiceStatus.ISSUED.value, InvoiceStatus.PAID.value)
_INVOICE_FIELDS = (
    "number",
    "kind",
    "status",
    "issued_on",
    "due_on",
    "amount",
    "currency",
    "company_id",
    "person_id",
    "description",
)
_PAYMENT_FIELDS = ("paid_on", "amount", "currency", "company_id", "person_id", "reference")
_BY_EXTERNAL = {"company_external_id", "person_external_id"}


def _bad(field: str, message: str, **extra: Any) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}], **extra},
    )


class SyncService:
    """Upserts of the ERP's invoices and payments, within the caller's scope."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        region: str = "US",
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._region = region

    async def invoice(
        self, principal: Principal, external_id: str, body: SyncInvoiceIn, ctx: AuditContext
    ) -> SyncItemOut:
        """Create or update the invoice ``external_id``."""
        async with session_scope(self._sessions) as db:
            return await self._invoice(db, principal, external_id, body, ctx)

    async def payment(
        self, principal: Principal, external_id: str, body: SyncPaymentIn, ctx: AuditContext
    ) -> SyncItemOut:
        """Create or update the payment ``external_id`` and its allocations."""
        async with session_scope(self._sessions) as db:
            return await self._payment(db, principal, external_id, body, ctx)

    async def customer(
        self, principal: Principal, external_id: str, body: SyncCustomerIn, ctx: AuditContext
    ) -> SyncItemOut:
        """Create or update the company or person ``external_id``."""
        async with session_scope(self._sessions) as db:
            return await upsert_customer(
                db, self._policies, self._region, principal, external_id, body, ctx
            )

    async def batch(
        self, principal: Principal, body: SyncBatchIn, ctx: AuditContext
    ) -> SyncBatchOut:
        """Customers, invoices, then payments, in one transaction; an error names the item and
        undoes all."""
        for name, items in (
            ("customers", body.customers),
            ("invoices", body.invoices),
            ("payments", body.payments),
        ):
            ids = [i.external_id for i in items]
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise _bad(name, f"external id(s) given twice: {', '.join(twice)}")
        out: list[SyncItemOut] = []
        async with session_scope(self._sessions) as db:
            for i, cust in enumerate(body.customers):
                cdata = SyncCustomerIn.model_validate(
                    cust.model_dump(exclude={"external_id"}, exclude_unset=True)
                )
                out.append(
                    await _named(
                        f"customers.{i}",
                        cust.external_id,
                        upsert_customer(
                            db,
                            self._policies,
                            self._region,
                            principal,
                            cust.external_id,
                            cdata,
                            ctx,
                        ),
                    )
                )
            for i, inv in enumerate(body.invoices):
                data = SyncInvoiceIn.model_validate(inv.model_dump(exclude={"external_id"}))
                out.append(
                    await _named(
                        f"invoices.{i}",
                        inv.external_id,
                        self._invoice(db, principal, inv.external_id, data, ctx),
                    )
                )
            for i, pay in enumerate(body.payments):
                pdata = SyncPaymentIn.model_validate(pay.model_dump(exclude={"external_id"}))
                out.append(
                    await _named(
                        f"payments.{i}",
                        pay.external_id,
                        self._payment(db, principal, pay.external_id, pdata, ctx),
                    )
                )
        return SyncBatchOut(items=out)

    # -- one item ----------------------------------------------------------------------------

    async def _customer(
        self, db: AsyncSession, principal: Principal, body: SyncInvoiceIn | SyncPaymentIn
    ) -> dict[str, Any]:
        """The document's fields with its customer as CRM ids (external ids resolved)."""
        values = body.model_dump(exclude=_BY_EXTERNAL)
        for model, key in ((Company, "company"), (Person, "person")):
            ext = getattr(body, f"{key}_external_id")
            if ext is not None:
                stmt = select(model.id).where(model.external_id == ext)
                found = await db.scalar(self._policies.scope(principal, model, stmt))
                if found is None:
                    raise _bad(f"{key}_external_id", f"no {key} with external id {ext!r}")
                values[f"{key}_id"] = found
                continue
            rid = values[f"{key}_id"]
            if rid is not None:
                stmt = select(model.id).where(model.id == rid)
                if await db.scalar(self._policies.scope(principal, model, stmt)) is None:
                    raise _bad(f"{key}_id", f"no {key} with id {rid}")
        return values

    async def _existing(
        self,
        db: AsyncSession,
        principal: Principal,
        model: type[Invoice] | type[Payment],
        external_id: str,
    ) -> Any:
        obj: Invoice | Payment | None = await db.scalar(
            select(model).where(model.external_id == external_id)
        )
        if obj is None:
            return None
        visible = await db.scalar(
            self._policies.scope(principal, model, select(model.id).where(model.id == obj.id))
        )
        if visible is None:
            raise NotFound(f"{model.__name__.lower()} {external_id!r} not found")
        return obj

    async def _invoice(
        self,
        db: AsyncSession,
        principal: Principal,
        external_id: str,
        body: SyncInvoiceIn,
        ctx: AuditContext,
    ) -> SyncItemOut:
        values = await self._customer(db, principal, body)
        invoice: Invoice | None = await self._existing(db, principal, Invoice, external_id)
        clash = await db.scalar(
            select(Invoice.id).where(Invoice.kind == body.kind, Invoice.number == body.number)
        )
        if clash is not None and (invoice is None or clash != invoice.id):
            raise Conflict(
                f"{body.kind} number {body.number!r} exists", details={"field": "number"}
            )
        if invoice is None:
            invoice = Invoice(**values, external_id=external_id, allocations=[])
            db.add(invoice)
            result: Literal["created", "updated"] = "created"
        else:
            changed = sorted(k for k in _INVOICE_FIELDS if getattr(invoice, k) != values[k])
            if not changed:
                return SyncItemOut(
                    type="invoice", external_id=external_id, id=invoice.id, result="unchanged"
                )
            if body.amount < invoice.paid_amount:
                raise _bad("amount", "is less than what payments already cover")
            for key in changed:
                setattr(invoice, key, values[key])
            invoice.updated_at = utcnow()
            result = "updated"
        await _flush(db)
        await record_audit(
            db,
            ctx,
            action=f"invoice.sync.{result}",
            principal=principal,
            object_type="invoice",
            object_id=str(invoice.id),
            details={"external_id": external_id},
        )
        return SyncItemOut(type="invoice", external_id=external_id, id=invoice.id, result=result)

    async def _payment(
        self,
        db: AsyncSession,
        principal: Principal,
        external_id: str,
        body: SyncPaymentIn,
        ctx: AuditContext,
    ) -> SyncItemOut:
        customer = await self._customer(db, principal, body)
        total = sum((a.amount for a in body.allocations), ZERO)
        if total > body.amount:
            raise _bad("allocations", "the allocations exceed the payment's amount")
        payment: Payment | None = await self._existing(db, principal, Payment, external_id)
        wanted = sorted({a.invoice_external_id for a in body.allocations})
        invoices: dict[str, Invoice] = {}
        if wanted:
            stmt = select(Invoice).where(Invoice.external_id.in_(wanted))
            for inv in await db.scalars(self._policies.scope(principal, Invoice, stmt)):
                invoices[str(inv.external_id)] = inv
        unknown = [w for w in wanted if w not in invoices]
        if unknown:
            raise _bad(
                "allocations",
                f"unknown invoice external id(s): {', '.join(unknown)}",
                unknown=unknown,
            )
        own_id = payment.id if payment is not None else None
        pending: dict[int, Decimal] = {}
        allocations: list[tuple[int, Decimal]] = []
        for i, item in enumerate(body.allocations):
            inv = invoices[item.invoice_external_id]
            field = f"allocations.{i}.invoice_external_id"
            if inv.currency != body.currency:
                raise _bad(field, f"the invoice is in {inv.currency}, not {body.currency}")
            if inv.kind != InvoiceKind.INVOICE or inv.status not in _OWED:
                raise _bad(field, "only issued invoices can be paid")
            others = sum((a.amount for a in inv.allocations if a.payment_id != own_id), ZERO)
            pending[inv.id] = pending.get(inv.id, ZERO) + item.amount
            if others + pending[inv.id] > inv.amount:
                raise _bad(f"allocations.{i}.amount", "more than the invoice's balance due")
            allocations.append((inv.id, item.amount))
        values = {k: v for k, v in customer.items() if k != "allocations"}
        if payment is None:
            payment = Payment(
                **values,
                external_id=external_id,
                allocations=[PaymentAllocation(invoice_id=i, amount=a) for i, a in allocations],
            )
            db.add(payment)
            result: Literal["created", "updated"] = "created"
        else:
            changed = [k for k in _PAYMENT_FIELDS if getattr(payment, k) != values[k]]
            stored = sorted((a.invoice_id, a.amount) for a in payment.allocations)
            if not changed and stored == sorted(allocations):
                return SyncItemOut(
                    type="payment", external_id=external_id, id=payment.id, result="unchanged"
                )
            for key in changed:
                setattr(payment, key, values[key])
            if stored != sorted(allocations):
                payment.allocations = [
                    PaymentAllocation(invoice_id=i, amount=a) for i, a in allocations
                ]
            result = "updated"
        await _flush(db)
        await record_audit(
            db,
            ctx,
            action=f"payment.sync.{result}",
            principal=principal,
            object_type="payment",
            object_id=str(payment.id),
            details={"external_id": external_id, "allocations": len(allocations)},
        )
        return SyncItemOut(type="payment", external_id=external_id, id=payment.id, result=result)


async def _named(where: str, external_id: str, work: Any) -> SyncItemOut:
    """Run one batch item; its error names the item (``invoices.2.amount``)."""
    try:
        item: SyncItemOut = await work
    except CallboardError as err:
        field = str(err.details.get("field", ""))
        err.message = f"{where} ({external_id}): {err.message}"
        err.details = {**err.details, "field": f"{where}.{field}" if field else where}
        raise
    return item


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict("the record clashes with another one (number or external_id)") from err
