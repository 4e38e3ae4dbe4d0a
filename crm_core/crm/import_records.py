"""Writing imported rows: finding the stored duplicates of a row, creating and updating records.

Custom attribute cells are typed by the attribute's own rules (``attributes.typed``, the check
of the API's bodies) and stored through ``attributes.merge_values``, so an imported value is
exactly what ``POST``/``PATCH`` would have stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.crm import attributes as attrs
from crm_core.crm import rules
from crm_core.crm.ext_models import AttributeDefinition, AttributeType
from crm_core.crm.import_mapping import ATTR_PREFIX, Kind
from crm_core.crm.models import Company, CompanyRole, Email, Person, Phone
from crm_core.crm.schemas import CompanyIn, PersonIn
from crm_core.db import utcnow
from crm_core.errors import InvalidInput
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "Definitions",
    "check_external_id",
    "create_record",
    "find_matches",
    "typed_attributes",
    "update_record",
]

Definitions = dict[str, AttributeDefinition]
# How spreadsheets write yes/no; XLSX boolean cells arrive as "true"/"false" (cell_text).
_BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "false": False,
    "no": False,
    "0": False,
}

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
        "lead_source_note",
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
        "lead_source_note",
    ),
}


def _attr_error(name: str, message: str) -> InvalidInput:
    # Named as mapped (attr.<name>); the field is the body's, so the row error finds its column.
    return InvalidInput(f"{ATTR_PREFIX}{name}: {message}", details={"field": f"attributes.{name}"})


def typed_attributes(defs: Definitions, cells: dict[str, str]) -> dict[str, Any]:
    """The attribute cells of a row as the API takes them; InvalidInput names a bad one.

    Every value is checked here, before de-duplication, so a dry run reports it whatever the
    row turns out to be. A boolean may be written true/false, yes/no or 1/0.
    """
    out: dict[str, Any] = {}
    for name, text in sorted(cells.items()):
        defn = defs[name]  # the mapping was checked against the definitions before any row
        raw: Any = text
        if defn.type == AttributeType.BOOLEAN:
            raw = _BOOLEANS.get(text.strip().lower(), text)
        try:
            attrs.typed(defn, raw)
        except ValueError as err:
            if defn.type == AttributeType.BOOLEAN:
                raise _attr_error(name, "must be true or false (or yes/no, 1/0)") from None
            raise _attr_error(name, str(err)) from None
        out[name] = raw
    return out


async def check_external_id(db: AsyncSession, kind: Kind, external_id: str | None) -> None:
    """Refuse an external id that a record of the other kind has: to the ERP sync one external
    id is one customer, a company or a person (``PUT /api/sync/customers/{external_id}``)."""
    if external_id is None:
        return
    other: type[Company] | type[Person] = Person if kind == "companies" else Company
    clash = await db.scalar(select(other.id).where(other.external_id == external_id))
    if clash is not None:
        noun = other.__name__.lower()
        raise InvalidInput(
            f"external_id {external_id!r} is already used by {noun} {clash}; "
            "an external id names one customer, a company or a person",
            details={"field": "external_id"},
        )


async def find_matches(
    db: AsyncSession,
    kind: Kind,
    body: CompanyIn | PersonIn,
    phones: list[Phone],
    emails: list[Email],
) -> set[int]:
    """Ids of stored records sharing a phone, e-mail, external id, code or tax number with the
    row."""
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
    if body.external_id is not None:
        model: type[Company] | type[Person] = Company if companies else Person
        found |= set(
            await db.scalars(select(model.id).where(model.external_id == body.external_id))
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
    attributes: dict[str, Any],
    defs: Definitions,
) -> None:
    """Add a new record from the row (``attributes`` as :func:`typed_attributes` returned)."""
    lists = {"phones", "emails", "addresses", "category_ids", "roles", "companies", "attributes"}
    values = body.model_dump(exclude=lists)
    if values["owner_id"] is None:
        values["owner_id"] = principal.user_id
    await rules.check_assignment(db, principal, values)
    model: type[Company] | type[Person] = Company if isinstance(body, CompanyIn) else Person
    await rules.check_extras(db, model, values, None)
    for name, defn in sorted(defs.items()):
        if defn.required and name not in attributes:
            raise _attr_error(
                name, f"a new {model.__name__.lower()} needs a value (a required attribute)"
            )
    values["attribute_values"] = attrs.merge_values(defs, [], attributes, creating=True)
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
    attributes: dict[str, Any],
    defs: Definitions,
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
    if body.external_id is not None and record.external_id not in (None, body.external_id):
        # Matched by phone, e-mail, code or tax number: probably another ERP customer.
        raise InvalidInput(
            f"matches {model.__name__.lower()} {record.id} (same phone, e-mail, tax number or "
            f"code), whose external id is {record.external_id!r}, not {body.external_id!r}; "
            "an import does not change an external id — fix the row or the stored record",
            details={"field": "external_id"},
        )
    extras: dict[str, Any] = {
        k: getattr(body, k) for k in ("external_id", "lead_source_id") if k in body.model_fields_set
    }
    if "lead_source_id" in extras and extras["lead_source_id"] == record.lead_source_id:
        del extras["lead_source_id"]  # keeping a retired source is fine (as in PATCH)
    await rules.check_extras(db, model, extras, record.id)
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
    for key, value in extras.items():
        setattr(record, key, value)
    if attributes:
        record.attribute_values = attrs.merge_values(
            defs, list(record.attribute_values), attributes, creating=False
        )
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
