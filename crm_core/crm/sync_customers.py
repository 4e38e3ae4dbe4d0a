"""The ERP sync of customers: an idempotent upsert of a company or person by external id.

Fields the ERP leaves out stay as they are; lists it sends (phones, e-mails, addresses) replace the
stored ones when their content differs. The same payload again is ``unchanged`` and writes no
audit entry. A new ERP customer becomes an active CRM contact (a company gets the customer role).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.crm import rules
from crm_core.crm.import_schemas import SyncCustomerIn, SyncItemOut
from crm_core.crm.models import Company, CompanyRole, CompanyRoleName, CompanyStatus, Person
from crm_core.db import utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["upsert_customer"]

_CUSTOMER_FIELDS = {
    "company": ("code", "name", "vat_number"),
    "person": ("given_name", "family_name", "language"),
}


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


async def upsert_customer(
    db: AsyncSession,
    policies: PolicyRegistry,
    region: str,
    principal: Principal,
    external_id: str,
    body: SyncCustomerIn,
    ctx: AuditContext,
) -> SyncItemOut:
    """Create or update the company or person ``external_id`` (see the module docstring)."""
    model: type[Company] | type[Person] = Company if body.kind == "company" else Person
    other: type[Company] | type[Person] = Person if body.kind == "company" else Company
    if await db.scalar(select(other.id).where(other.external_id == external_id)):
        raise Conflict(
            f"external id {external_id!r} belongs to a {other.__name__.lower()}",
            details={"field": "kind"},
        )
    record: Company | Person | None = await db.scalar(
        select(model).where(model.external_id == external_id)
    )
    if record is not None:
        visible = await db.scalar(
            policies.scope(principal, model, select(model.id).where(model.id == record.id))
        )
        if visible is None:
            raise NotFound(f"{body.kind} {external_id!r} not found")
    sent = body.model_fields_set
    values = {k: getattr(body, k) for k in _CUSTOMER_FIELDS[body.kind] if k in sent}
    for key in ("given_name", "family_name", "name", "code"):
        if values.get(key) is None:
            values.pop(key, None)  # these cannot be cleared; null means "not sent"
        elif key != "code":
            values[key] = values[key].strip()
    if body.kind == "company" and record is None and "code" not in values:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", external_id):
            raise _bad("code", "give a code: the external id cannot serve as one")
        values["code"] = external_id
    if "code" in values:
        clash = await db.scalar(select(Company.id).where(Company.code == values["code"]))
        if clash is not None and (record is None or clash != record.id):
            raise Conflict(f"company code {values['code']!r} is taken", details={"field": "code"})
    lists: dict[str, list[Any]] = {}
    if body.phones is not None:
        lists["phones"] = rules.build_phones(body.phones, region)
    if body.emails is not None:
        lists["emails"] = rules.build_emails(body.emails)
    if body.addresses is not None:
        lists["addresses"] = rules.build_addresses(body.addresses)
    result: Literal["created", "updated"]
    if record is None:
        extra: dict[str, Any] = {"status": CompanyStatus.ACTIVE.value}
        if model is Company:
            extra["roles"] = [CompanyRole(role=CompanyRoleName.CUSTOMER.value)]
        if not principal.is_admin:
            extra["owner_id"] = principal.user_id
        record = model(**values, **lists, **extra, external_id=external_id)
        db.add(record)
        result = "created"
        changed = sorted([*values, *lists])
    else:
        changed = sorted(k for k, v in values.items() if getattr(record, k) != v)
        changed += sorted(
            k for k, rows in lists.items() if _rows(getattr(record, k)) != _rows(rows)
        )
        if not changed:
            return SyncItemOut(
                type=body.kind, external_id=external_id, id=record.id, result="unchanged"
            )
        for key in changed:
            setattr(record, key, values[key] if key in values else lists[key])
        record.updated_at = utcnow()
        result = "updated"
    await _flush(db)
    await record_audit(
        db,
        ctx,
        action=f"{body.kind}.sync.{result}",
        principal=principal,
        object_type=body.kind,
        object_id=str(record.id),
        details={"external_id": external_id, "fields": changed},
    )
    return SyncItemOut(type=body.kind, external_id=external_id, id=record.id, result=result)


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    """Contact rows compared by content (not by id)."""
    out: list[tuple[Any, ...]] = []
    for r in rows:
        cols = [
            c.key for c in r.__table__.columns if c.key not in ("id", "company_id", "person_id")
        ]
        out.append(tuple(getattr(r, c) for c in cols))
    return out


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict("the customer clashes with another record (code or external_id)") from err
