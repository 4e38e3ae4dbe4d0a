"""Use cases of personal dates, relationship types and person/company links.

A link is made only between records the caller sees, and a record's links are listed only where
the other side is visible too: a link to a hidden record is left out, never shown half-blank.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from crm_core.crm import repository as repo
from crm_core.crm.models import Company, Person
from crm_core.crm.people_models import (
    BUILTIN_DATE_TYPES,
    CompanyLink,
    CompanyLinkKind,
    PersonDate,
    PersonDateType,
    PersonLink,
    RelationshipType,
)
from crm_core.crm.people_schemas import (
    CompanyLinkIn,
    CompanyLinkOut,
    DateTypeIn,
    DateTypeOut,
    PersonDateIn,
    PersonLinkIn,
    PersonLinkOut,
    RelationshipTypeIn,
)
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["PeopleService"]


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


class PeopleService:
    """Anniversaries and relationships of the records in the caller's scope."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry
    ) -> None:
        self._sessions = sessions
        self._policies = policies

    def _visible(self, principal: Principal, model: type[Person] | type[Company]) -> Any:
        return self._policies.scope(principal, model, select(model.id))

    async def _ref(
        self,
        db: AsyncSession,
        principal: Principal,
        model: type[Person] | type[Company],
        field: str,
        rid: int,
    ) -> None:
        try:
            if model is Person:
                await repo.get_visible(db, self._policies, principal, Person, rid)
            else:
                await repo.get_visible(db, self._policies, principal, Company, rid)
        except NotFound:
            raise _bad(field, f"no {model.__name__.lower()} with id {rid}") from None

    async def _audit(
        self,
        db: AsyncSession,
        ctx: AuditContext,
        principal: Principal,
        action: str,
        obj: str,
        oid: int,
    ) -> None:
        await record_audit(
            db, ctx, action=action, principal=principal, object_type=obj, object_id=str(oid)
        )

    # -- date types and personal dates -------------------------------------------------------

    async def date_types(self) -> list[DateTypeOut]:
        """Built-in and administrator-defined kinds of personal date."""
        out = [DateTypeOut(name=k, label=v, builtin=True) for k, v in BUILTIN_DATE_TYPES.items()]
        async with self._sessions() as db:
            for t in await db.scalars(select(PersonDateType).order_by(PersonDateType.name)):
                out.append(DateTypeOut(name=t.name, label=t.label, builtin=False, id=t.id))
        return out

    async def create_date_type(
        self, principal: Principal, body: DateTypeIn, ctx: AuditContext
    ) -> DateTypeOut:
        """Add a kind of personal date (administrators)."""
        if body.name in BUILTIN_DATE_TYPES:
            raise Conflict(f"{body.name!r} is a built-in type", details={"field": "name"})
        async with session_scope(self._sessions) as db:
            t = PersonDateType(name=body.name, label=body.label)
            db.add(t)
            try:
                await db.flush()
            except IntegrityError:
                raise Conflict(f"a type {body.name!r} exists", details={"field": "name"}) from None
            await self._audit(
                db, ctx, principal, "person_date_type.create", "person_date_type", t.id
            )
            return DateTypeOut(name=t.name, label=t.label, builtin=False, id=t.id)

    async def dates(self, principal: Principal, person_id: int) -> list[PersonDate]:
        """A visible person's anniversaries in calendar order."""
        async with self._sessions() as db:
            await repo.get_visible(db, self._policies, principal, Person, person_id)
            rows = await db.scalars(
                select(PersonDate)
                .where(PersonDate.person_id == person_id)
                .order_by(PersonDate.date, PersonDate.id)
            )
            return list(rows)

    async def add_date(
        self, principal: Principal, person_id: int, body: PersonDateIn, ctx: AuditContext
    ) -> PersonDate:
        """Record an anniversary of a visible person; the type must be known."""
        async with session_scope(self._sessions) as db:
            await repo.get_visible(db, self._policies, principal, Person, person_id)
            if body.type not in BUILTIN_DATE_TYPES:
                known = await db.scalar(
                    select(PersonDateType.id).where(PersonDateType.name == body.type)
                )
                if known is None:
                    raise _bad("type", f"unknown date type {body.type!r}")
            pd = PersonDate(person_id=person_id, type=body.type, date=body.date, label=body.label)
            db.add(pd)
            await db.flush()
            await self._audit(db, ctx, principal, "person_date.create", "person", person_id)
            return pd

    async def delete_date(
        self, principal: Principal, person_id: int, date_id: int, ctx: AuditContext
    ) -> None:
        """Remove an anniversary of a visible person."""
        async with session_scope(self._sessions) as db:
            await repo.get_visible(db, self._policies, principal, Person, person_id)
            pd = await db.get(PersonDate, date_id)
            if pd is None or pd.person_id != person_id:
                raise NotFound(f"date {date_id} not found")
            await db.delete(pd)
            await self._audit(db, ctx, principal, "person_date.delete", "person", person_id)

    # -- relationship types ------------------------------------------------------------------

    async def relationship_types(self) -> list[RelationshipType]:
        """Every person-person relationship type."""
        async with self._sessions() as db:
            return list(await db.scalars(select(RelationshipType).order_by(RelationshipType.name)))

    async def create_relationship_type(
        self, principal: Principal, body: RelationshipTypeIn, ctx: AuditContext
    ) -> RelationshipType:
        """Add a relationship type with its inverse (administrators)."""
        async with session_scope(self._sessions) as db:
            t = RelationshipType(name=body.name, inverse_name=body.inverse_name)
            db.add(t)
            try:
                await db.flush()
            except IntegrityError:
                raise Conflict(f"a type {body.name!r} exists", details={"field": "name"}) from None
            await self._audit(
                db, ctx, principal, "relationship_type.create", "relationship_type", t.id
            )
            return t

    async def delete_relationship_type(
        self, principal: Principal, type_id: int, ctx: AuditContext
    ) -> None:
        """Remove an unused relationship type (409 while links use it)."""
        async with session_scope(self._sessions) as db:
            t = await db.get(RelationshipType, type_id)
            if t is None:
                raise NotFound(f"relationship type {type_id} not found")
            used = await db.scalar(select(PersonLink.id).where(PersonLink.type_id == type_id))
            if used is not None:
                raise Conflict("links use this relationship type; delete them first")
            await db.delete(t)
            await self._audit(
                db, ctx, principal, "relationship_type.delete", "relationship_type", type_id
            )

    # -- person links ------------------------------------------------------------------------

    async def person_links(self, principal: Principal, person_id: int) -> list[PersonLinkOut]:
        """A visible person's links to other visible persons, from that person's side."""
        other = aliased(Person)
        visible = self._visible(principal, Person)
        async with self._sessions() as db:
            await repo.get_visible(db, self._policies, principal, Person, person_id)
            stmt = (
                select(PersonLink, RelationshipType, other)
                .join(RelationshipType, RelationshipType.id == PersonLink.type_id)
                .join(
                    other,
                    or_(
                        and_(
                            PersonLink.person_a_id == person_id, other.id == PersonLink.person_b_id
                        ),
                        and_(
                            PersonLink.person_b_id == person_id, other.id == PersonLink.person_a_id
                        ),
                    ),
                )
                .where(other.id.in_(visible))
                .order_by(PersonLink.id)
            )
            rows = (await db.execute(stmt)).all()
        out: list[PersonLinkOut] = []
        for link, rtype, person in rows:
            # Seen from A, B is the inverse; seen from B, A is the type's name.
            relation = rtype.inverse_name if link.person_a_id == person_id else rtype.name
            out.append(
                PersonLinkOut(
                    id=link.id,
                    person_id=person_id,
                    other_person_id=person.id,
                    other_name=person.full_name,
                    relation=relation,
                    type_id=rtype.id,
                    since=link.since,
                    until=link.until,
                )
            )
        return out

    async def create_person_link(
        self, principal: Principal, body: PersonLinkIn, ctx: AuditContext
    ) -> int:
        """Link two visible persons; return the link's id."""
        async with session_scope(self._sessions) as db:
            await self._ref(db, principal, Person, "person_a_id", body.person_a_id)
            await self._ref(db, principal, Person, "person_b_id", body.person_b_id)
            if await db.get(RelationshipType, body.type_id) is None:
                raise _bad("type_id", f"no relationship type with id {body.type_id}")
            link = PersonLink(**body.model_dump())
            db.add(link)
            try:
                await db.flush()
            except IntegrityError:
                raise Conflict(
                    "these persons are linked so already", details={"field": "type_id"}
                ) from None
            await self._audit(db, ctx, principal, "person_link.create", "person_link", link.id)
            return link.id

    async def delete_person_link(
        self, principal: Principal, link_id: int, ctx: AuditContext
    ) -> None:
        """Remove a link; both persons must be visible (404 otherwise)."""
        async with session_scope(self._sessions) as db:
            link = await db.get(PersonLink, link_id)
            if link is None or not await self._both_visible(
                db, principal, Person, link.person_a_id, link.person_b_id
            ):
                raise NotFound(f"person link {link_id} not found")
            await db.execute(delete(PersonLink).where(PersonLink.id == link_id))
            await self._audit(db, ctx, principal, "person_link.delete", "person_link", link_id)

    async def _both_visible(
        self,
        db: AsyncSession,
        principal: Principal,
        model: type[Person] | type[Company],
        a: int,
        b: int,
    ) -> bool:
        stmt = self._policies.scope(principal, model, select(model.id).where(model.id.in_((a, b))))
        return len(set(await db.scalars(stmt))) == 2

    # -- company links -----------------------------------------------------------------------

    async def company_links(self, principal: Principal, company_id: int) -> list[CompanyLinkOut]:
        """A visible company's links to other visible companies, from that company's side."""
        other = aliased(Company)
        visible = self._visible(principal, Company)
        async with self._sessions() as db:
            await repo.get_visible(db, self._policies, principal, Company, company_id)
            stmt = (
                select(CompanyLink, other)
                .join(
                    other,
                    or_(
                        and_(
                            CompanyLink.company_a_id == company_id,
                            other.id == CompanyLink.company_b_id,
                        ),
                        and_(
                            CompanyLink.company_b_id == company_id,
                            other.id == CompanyLink.company_a_id,
                        ),
                    ),
                )
                .where(other.id.in_(visible))
                .order_by(CompanyLink.id)
            )
            rows = (await db.execute(stmt)).all()
        out: list[CompanyLinkOut] = []
        for link, company in rows:
            relation = link.kind
            if link.kind == CompanyLinkKind.FOLLOWED_THROUGH and link.company_b_id == company_id:
                relation = "follows"  # the partner follows the other company
            out.append(
                CompanyLinkOut(
                    id=link.id,
                    company_id=company_id,
                    other_company_id=company.id,
                    other_name=company.name,
                    kind=link.kind,
                    relation=relation,
                    since=link.since,
                    until=link.until,
                    note=link.note,
                )
            )
        return out

    async def create_company_link(
        self, principal: Principal, body: CompanyLinkIn, ctx: AuditContext
    ) -> int:
        """Link two visible companies; return the link's id."""
        async with session_scope(self._sessions) as db:
            await self._ref(db, principal, Company, "company_a_id", body.company_a_id)
            await self._ref(db, principal, Company, "company_b_id", body.company_b_id)
            link = CompanyLink(**body.model_dump())
            db.add(link)
            try:
                await db.flush()
            except IntegrityError:
                raise Conflict(
                    "these companies are linked so already", details={"field": "kind"}
                ) from None
            await self._audit(db, ctx, principal, "company_link.create", "company_link", link.id)
            return link.id

    async def delete_company_link(
        self, principal: Principal, link_id: int, ctx: AuditContext
    ) -> None:
        """Remove a link; both companies must be visible (404 otherwise)."""
        async with session_scope(self._sessions) as db:
            link = await db.get(CompanyLink, link_id)
            if link is None or not await self._both_visible(
                db, principal, Company, link.company_a_id, link.company_b_id
            ):
                raise NotFound(f"company link {link_id} not found")
            await db.execute(delete(CompanyLink).where(CompanyLink.id == link_id))
            await self._audit(db, ctx, principal, "company_link.delete", "company_link", link_id)
