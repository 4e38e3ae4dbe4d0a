"""Writing imported rows: finding the stored duplicates of a row, creating and updating records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.crm import rules
from crm_core.crm.import_mapping import Kind
from crm_core.crm.models import Company, CompanyRole, Email, Person, Phone
from crm_core.crm.schemas import CompanyIn, PersonIn
from crm_core.db import utcnow
from crm_core.errors import InvalidInput
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["create_record", "find_matches", "update_record"]

_SCALARS = {
    "companies": (
        "name",
        "vat_number",
        "trade_register_number",
        "industry",
        "employee_count",
        "turnover",
        "description",
        "website",
        "status",
    ),
    "persons": (
        "given_name",
        "family_name",
        "nickname",
        "salutation",
        "title",
        "birth_date",
        "language",
        "id_card_number",
    ),
}


async def find_matches(
    db: AsyncSession,
    kind: Kind,
    body: CompanyIn | PersonIn,
    phones: list[Phone],
    emails: list[Email],
) -> set[int]:
    """Ids of stored records sharing a phone, e-mail, code or tax number with the row."""
    companies = kind == "companies"
    phone_owner = Phone.company_id if companies else Phone.person_id
    email_owner = Email.company_id if companies else Email.person_id
    found: set[int] = set()
    if phones:
        found |= set(
            await db.scalars(
                select(phone_owner).where(
                    Phone.e164.in_([p.e164 for p in phones]), phone_owner.is_not(None)
                )
            )
        )
    if emails:
        found |= set(
            await db.scalars(
                select(email_owner).where(
                    Email.address.in_([e.address for e in emails]), email_owner.is_not(None)
                )
            )
        )
    if isinstance(body, CompanyIn):
        found |= set(await db.scalars(select(Company.id).where(Company.code == body.code)))
        vat = (body.vat_number or "").strip()
        if vat:
            found |= set(await db.scalars(select(Company.id).where(Company.vat_number == vat)))
    return {i for i in found if i is not None}


async def create_record(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    body: CompanyIn | PersonIn,
    phones: list[Phone],
    emails: list[Email],
) -> None:
    lists = {"phones", "emails", "addresses", "category_ids", "roles", "companies", "attributes"}
    values = body.model_dump(exclude=lists)
    if values["owner_id"] is None:
        values["owner_id"] = principal.user_id
    await rules.check_assignment(db, principal, values)
    record: Company | Person
    if isinstance(body, CompanyIn):
        record = Company(
            **values,
            roles=[CompanyRole(role=r) for r in sorted(set(body.roles))],
            phones=phones,
            emails=emails,
        )
    else:
        values["given_name"] = body.given_name.strip()
        values["family_name"] = body.family_name.strip()
        record = Person(
            **values,
            phones=phones,
            emails=emails,
            employments=await rules.build_employments(db, policies, principal, body.companies),
        )
    db.add(record)


async def update_record(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    kind: Kind,
    body: CompanyIn | PersonIn,
    phones: list[Phone],
    emails: list[Email],
    record_id: int,
) -> None:
    """Fill in the mapped, non-empty cells; add phones, e-mails, roles and links."""
    model: type[Company] | type[Person] = Company if isinstance(body, CompanyIn) else Person
    record = await db.scalar(
        policies.scope(principal, model, select(model).where(model.id == record_id))
    )
    if record is None:
        raise InvalidInput("matches a record outside your scope; ask its owner or an administrator")
    policies.authorize(principal, "update", record)
    moved: dict[str, Any] = {
        k: getattr(body, k)
        for k in ("territory_id", "owner_id", "team_id")
        if k in body.model_fields_set and getattr(body, k) != getattr(record, k)
    }
    if moved:
        policies.authorize(principal, "reassign", record)
        await rules.check_assignment(db, principal, moved)
    for key, value in moved.items():
        setattr(record, key, value)
    for name in _SCALARS[kind]:
        if name in body.model_fields_set:
            setattr(record, name, getattr(body, name))
    have_phones = {p.e164 for p in record.phones}
    record.phones.extend(p for p in phones if p.e164 not in have_phones)
    have_emails = {e.address for e in record.emails}
    record.emails.extend(e for e in emails if e.address not in have_emails)
    if isinstance(record, Company) and isinstance(body, CompanyIn):
        have_roles = {r.role for r in record.roles}
        record.roles.extend(
            CompanyRole(role=r) for r in sorted(set(body.roles)) if r not in have_roles
        )
    elif isinstance(record, Person) and isinstance(body, PersonIn) and body.companies:
        linked = {e.company_id for e in record.employments}
        new = [e for e in body.companies if e.company_id not in linked]
        if new:
            rows = await rules.build_employments(db, policies, principal, new)
            if any(e.is_primary for e in record.employments):
                for row in rows:
                    row.is_primary = False
            record.employments.extend(rows)
    record.updated_at = utcnow()
