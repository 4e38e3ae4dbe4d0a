"""Validation shared by the CRM use cases: contact data, references and record assignment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.crm import phones as phone_rules
from crm_core.crm.ext_models import LeadSource
from crm_core.crm.models import (
    Address,
    Category,
    Company,
    Email,
    Employment,
    Person,
    Phone,
    Territory,
)
from crm_core.crm.policies import granted_territories
from crm_core.crm.schemas import AddressIn, EmailIn, EmploymentIn, PhoneIn
from crm_core.errors import Conflict, InvalidInput
from crm_core.users.models import Team, TeamMember, User
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "build_addresses",
    "build_emails",
    "build_employments",
    "build_phones",
    "check_assignment",
    "check_extras",
    "load_categories",
]


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


def build_phones(items: Sequence[PhoneIn], region: str, field: str = "phones") -> list[Phone]:
    """Phone rows with their E.164 form; InvalidInput names the bad entry."""
    out: list[Phone] = []
    for i, item in enumerate(items):
        try:
            e164 = phone_rules.normalise(item.number, region)
        except ValueError as err:
            raise _bad(f"{field}.{i}.number", str(err)) from None
        out.append(Phone(kind=item.kind, original=item.number.strip(), e164=e164))
    return out


def build_emails(items: Sequence[EmailIn]) -> list[Email]:
    """E-mail rows, lower-cased, without duplicates."""
    seen: set[str] = set()
    out: list[Email] = []
    for item in items:
        address = item.address.strip().lower()
        if address not in seen:
            seen.add(address)
            out.append(Email(kind=item.kind, address=address))
    return out


def build_addresses(items: Sequence[AddressIn]) -> list[Address]:
    """Address rows."""
    return [Address(**item.model_dump()) for item in items]


async def load_categories(db: AsyncSession, ids: Iterable[int]) -> list[Category]:
    """The categories ``ids``; InvalidInput when one does not exist."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = list(await db.scalars(select(Category).where(Category.id.in_(wanted))))
    missing = set(wanted) - {c.id for c in found}
    if missing:
        raise _bad("category_ids", f"no category with id {min(missing)}")
    return found


async def build_employments(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    items: Sequence[EmploymentIn],
) -> list[Employment]:
    """Person-company links to companies the principal may see; at most one primary."""
    if sum(1 for e in items if e.is_primary) > 1:
        raise _bad("companies", "only one company link can be primary")
    ids = sorted({e.company_id for e in items})
    visible: set[int] = set()
    if ids:
        stmt = policies.scope(principal, Company, select(Company.id).where(Company.id.in_(ids)))
        visible = set(await db.scalars(stmt))
    out: list[Employment] = []
    for i, item in enumerate(items):
        if item.company_id not in visible:
            raise _bad(f"companies.{i}.company_id", f"no company with id {item.company_id}")
        out.append(Employment(**item.model_dump()))
    return out


async def check_assignment(db: AsyncSession, principal: Principal, values: dict[str, Any]) -> None:
    """Check ``territory_id``, ``owner_id`` and ``team_id`` in ``values`` exist and may be given.

    Administrators may assign anything. Others may use territories granted to them (or to a user
    who delegates to them), their own teams, and as owner themselves — supervisors also a member
    of the teams they supervise — so nobody can hand a record to a scope they cannot see.
    """
    territory_id = values.get("territory_id")
    if territory_id is not None:
        if await db.get(Territory, territory_id) is None:
            raise _bad("territory_id", f"no territory with id {territory_id}")
        if not principal.is_admin:
            granted = await db.scalar(
                select(Territory.id).where(
                    Territory.id == territory_id,
                    Territory.id.in_(granted_territories(principal)),
                )
            )
            if granted is None:
                raise _bad("territory_id", "this territory is not granted to you")
    team_id = values.get("team_id")
    if team_id is not None:
        if await db.get(Team, team_id) is None:
            raise _bad("team_id", f"no team with id {team_id}")
        if not principal.is_admin and team_id not in principal.team_ids:
            raise _bad("team_id", "you are not a member of this team")
    owner_id = values.get("owner_id")
    if owner_id is not None:
        owner = await db.get(User, owner_id)
        if owner is None or not owner.is_active:
            raise _bad("owner_id", f"no active user with id {owner_id}")
        if not principal.is_admin and owner_id != principal.user_id:
            teams = principal.supervised_team_ids
            member = None
            if teams:
                member = await db.scalar(
                    select(TeamMember.user_id)
                    .where(TeamMember.user_id == owner_id, TeamMember.team_id.in_(teams))
                    .limit(1)
                )
            if member is None:
                raise _bad("owner_id", "you may only assign records to yourself or your team")


async def check_extras(
    db: AsyncSession,
    model: type[Company] | type[Person],
    values: dict[str, Any],
    own_id: int | None,
) -> None:
    """The external id is free and the lead source exists (and is in use)."""
    external_id = values.get("external_id")
    if external_id is not None:
        clash = await db.scalar(select(model.id).where(model.external_id == external_id))
        if clash is not None and clash != own_id:
            raise Conflict(
                f"external_id {external_id!r} is already used",
                details={"field": "external_id"},
            )
    source_id = values.get("lead_source_id")
    if source_id is not None:
        source = await db.get(LeadSource, source_id)
        if source is None:
            raise _bad("lead_source_id", f"no lead source with id {source_id}")
        if not source.active:
            raise _bad("lead_source_id", f"lead source {source.name!r} is no longer in use")
