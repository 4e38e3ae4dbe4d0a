"""Queries of the CRM: list specifications, scoped loading, caller-ID lookup and quick search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Select, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm import phones as phone_rules
from crm_core.crm.finance_models import Invoice, Payment
from crm_core.crm.models import (
    Company,
    CompanyRole,
    CompanyRoleName,
    CompanyStatus,
    Email,
    Employment,
    Person,
    Phone,
    company_categories,
    person_categories,
)
from crm_core.crm.work_models import Activity, Ticket
from crm_core.errors import InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListSpec
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "COMPANY_LIST",
    "PERSON_LIST",
    "Candidate",
    "get_visible",
    "lookup_phone",
    "search_records",
    "time_filter",
]

# Every scoped CRM record; one visibility check serves them all.
R = TypeVar("R", Company, Person, Invoice, Payment, Ticket, Activity)

_ACCESS_FILTERS = ("territory_id", "owner_id", "team_id")


def time_filter(column: Any) -> FilterSpec:
    """A ``__gte``/``__lte`` date-time filter that refuses years the database cannot store.

    ``listing`` accepts any ISO date-time, and ``0001-01-01T00:00+05:00`` overflows when it is
    turned into UTC; the kernel should refuse it itself (reported), this keeps our lists safe.
    """

    def condition(op: str, value: datetime) -> ColumnElement[bool]:
        if not 1900 <= value.year <= 9000:
            raise InvalidInput(
                f"query parameter '{column.key}__{op}' must be between the years 1900 and 9000",
                details={"parameter": f"{column.key}__{op}"},
            )
        return column >= value if op == "gte" else column <= value  # type: ignore[no-any-return]

    return FilterSpec(column, "datetime", ("gte", "lte"), condition=condition)


def _access_filters(model: type[Company] | type[Person]) -> dict[str, FilterSpec]:
    return {name: FilterSpec(getattr(model, name), "int", ("eq", "in")) for name in _ACCESS_FILTERS}


COMPANY_LIST = ListSpec(
    sortable={
        "id": Company.id,
        "code": Company.code,
        "name": Company.name,
        "created_at": Company.created_at,
        "updated_at": Company.updated_at,
    },
    default_sort=("name",),
    filters={
        **_access_filters(Company),
        "status": FilterSpec(
            Company.status, "choice", ("eq", "in"), tuple(s.value for s in CompanyStatus)
        ),
        "role": FilterSpec(
            None,
            "choice",
            ("eq",),
            tuple(r.value for r in CompanyRoleName),
            condition=lambda _op, role: Company.id.in_(
                select(CompanyRole.company_id).where(CompanyRole.role == role)
            ),
        ),
        "category_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Company.id.in_(
                select(company_categories.c.company_id).where(
                    company_categories.c.category_id == cid
                )
            ),
        ),
        "code": FilterSpec(Company.code, "str", ("eq", "in", "contains")),
        "vat_number": FilterSpec(Company.vat_number, "str"),
        "industry": FilterSpec(Company.industry, "str", ("eq", "contains")),
        "parent_id": FilterSpec(Company.parent_id, "int"),
        "created_at": time_filter(Company.created_at),
    },
    search=(Company.name, Company.code, Company.vat_number),
    tiebreak=Company.id,
)

PERSON_LIST = ListSpec(
    sortable={
        "id": Person.id,
        "family_name": Person.family_name,
        "given_name": Person.given_name,
        "birth_date": Person.birth_date,
        "created_at": Person.created_at,
        "updated_at": Person.updated_at,
    },
    default_sort=("family_name", "given_name"),
    filters={
        **_access_filters(Person),
        "company_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Person.id.in_(
                select(Employment.person_id).where(Employment.company_id == cid)
            ),
        ),
        "category_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, cid: Person.id.in_(
                select(person_categories.c.person_id).where(person_categories.c.category_id == cid)
            ),
        ),
        "family_name": FilterSpec(Person.family_name, "str", ("eq", "contains")),
        "language": FilterSpec(Person.language, "str"),
        "created_at": time_filter(Person.created_at),
    },
    search=(Person.given_name, Person.family_name, Person.nickname),
    tiebreak=Person.id,
)


async def get_visible(
    db: AsyncSession, policies: PolicyRegistry, principal: Principal, model: type[R], record_id: int
) -> R:
    """The record if ``principal`` may see it; NotFound otherwise (no difference is shown)."""
    stmt = policies.scope(principal, model, select(model).where(model.id == record_id))
    obj: R | None = await db.scalar(stmt)
    if obj is None:
        raise NotFound(f"{model.__name__.lower()} {record_id} not found")
    return obj


@dataclass(frozen=True)
class Candidate:
    """A record whose phone matched a caller ID."""

    type: str
    id: int
    display_name: str
    phone_kind: str


async def lookup_phone(
    db: AsyncSession, policies: PolicyRegistry, principal: Principal, e164: str
) -> list[Candidate]:
    """Persons and companies visible to ``principal`` having ``e164``: one statement, indexed."""
    persons_q = cast(
        "Select[Any]",
        select(
            literal("person").label("type"),
            Person.id.label("id"),
            Person.given_name.label("a"),
            Person.family_name.label("b"),
            Phone.kind.label("kind"),
        )
        .join(Phone, Phone.person_id == Person.id)
        .where(Phone.e164 == e164),
    )
    companies_q = cast(
        "Select[Any]",
        select(
            literal("company").label("type"),
            Company.id.label("id"),
            Company.name.label("a"),
            literal("").label("b"),
            Phone.kind.label("kind"),
        )
        .join(Phone, Phone.company_id == Company.id)
        .where(Phone.e164 == e164),
    )
    persons = policies.scope(principal, Person, persons_q)
    companies = policies.scope(principal, Company, companies_q)
    rows = (await db.execute(union_all(persons, companies))).all()
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for row in sorted(rows, key=lambda r: (r.type != "person", r.id)):
        if (row.type, row.id) in seen:
            continue
        seen.add((row.type, row.id))
        name = " ".join(p for p in (row.a, row.b) if p)
        out.append(Candidate(row.type, row.id, name, row.kind))
    return out


def _phone_match(owner: Any, fk: Any, text: str, region: str) -> ColumnElement[bool] | None:
    """``owner`` has a phone equal to ``text`` in E.164, or containing its significant digits."""
    if not phone_rules.looks_like_phone(text):
        return None
    conds: list[ColumnElement[bool]] = []
    e164 = phone_rules.try_normalise(text, region)
    if e164 is not None:
        conds.append(Phone.e164 == e164)
    digits = phone_rules.digits_for_search(text)
    if len(digits) >= 4:
        conds.append(Phone.e164.contains(digits, autoescape=True))
    if not conds:
        return None
    return owner.in_(select(fk).where(or_(*conds)))  # type: ignore[no-any-return]


def _contains(col: Any, needle: str) -> ColumnElement[bool]:
    return func.lower(col).contains(needle, autoescape=True)


def _person_match(text: str, region: str) -> ColumnElement[bool]:
    needle = text.lower()
    conds = [
        _contains(Person.given_name + " " + Person.family_name, needle),
        _contains(Person.family_name + " " + Person.given_name, needle),
        _contains(Person.nickname, needle),
        Person.id.in_(
            select(Email.person_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = _phone_match(Person.id, Phone.person_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


def _company_match(text: str, region: str) -> ColumnElement[bool]:
    needle = text.lower()
    conds = [
        _contains(Company.name, needle),
        _contains(Company.code, needle),
        _contains(Company.vat_number, needle),
        Company.id.in_(
            select(Email.company_id).where(Email.address.contains(needle, autoescape=True))
        ),
    ]
    phone = _phone_match(Company.id, Phone.company_id, text, region)
    if phone is not None:
        conds.append(phone)
    return or_(*conds)


async def search_records(
    db: AsyncSession,
    policies: PolicyRegistry,
    principal: Principal,
    text: str,
    region: str,
    limit: int,
) -> tuple[list[Company], list[Person]]:
    """Companies and persons visible to ``principal`` matching ``text`` (at most ``limit`` each)."""
    cstmt: Select[Any] = policies.scope(
        principal, Company, select(Company).where(_company_match(text, region))
    )
    pstmt: Select[Any] = policies.scope(
        principal, Person, select(Person).where(_person_match(text, region))
    )
    companies = list(
        (await db.scalars(cstmt.order_by(Company.name, Company.id).limit(limit))).unique()
    )
    persons = list(
        (
            await db.scalars(
                pstmt.order_by(Person.family_name, Person.given_name, Person.id).limit(limit)
            )
        ).unique()
    )
    return companies, persons
