"""Use cases of companies and persons: validate, check access, change, audit — one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import with_expression

from crm_core.crm import attributes as attrs
from crm_core.crm import repository as repo
from crm_core.crm import rules
from crm_core.crm import search as quick_search
from crm_core.crm.celebrations import business_day
from crm_core.crm.ext_models import Contract
from crm_core.crm.models import Company, CompanyRole, Invoice, Payment, Person
from crm_core.crm.phones import normalise
from crm_core.crm.schemas import CompanyIn, PersonIn
from crm_core.db import hot_read, session_scope, utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.listing import Page
from crm_core.settings import Settings
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["CrmService"]

_ASSIGNMENT = ("territory_id", "owner_id", "team_id")
_EXTRAS = ("external_id", "lead_source_id", "lead_source_note", "attributes")
Rec = TypeVar("Rec", Company, Person)
_MAX_PARENT_DEPTH = 50


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


async def _no_ledger(db: AsyncSession, inv_col: Any, pay_col: Any, record_id: int) -> None:
    """Refuse to delete a customer with invoices, payments or contracts: they must stay whole."""
    for col in (inv_col, pay_col):
        if await db.scalar(select(col).where(col == record_id).limit(1)) is not None:
            raise Conflict("this record has invoices or payments and cannot be deleted")
    col = Contract.company_id if inv_col is Invoice.company_id else Contract.person_id
    if await db.scalar(select(col).where(col == record_id).limit(1)) is not None:
        raise Conflict("this record has contracts and cannot be deleted")


class CrmService:
    """Companies and persons with their contact data, seen through the caller's scope."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        region: str,
        *,
        inactive_after_days: int = repo.DEFAULT_INACTIVE_DAYS,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._region = region
        self._inactive_days = inactive_after_days
        self._timezone = timezone
        self._clock = clock

    @classmethod
    def configured(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyRegistry,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> CrmService:
        """The service as ``settings`` configure it (phone region, inactivity period, business
        time zone); ``clock`` (an aware "now") is for tests."""
        return cls(
            sessions,
            policies,
            settings.default_region,
            inactive_after_days=settings.crm_inactive_after_days,
            timezone=settings.default_timezone,
            clock=clock,
        )

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory (for read-only reports built on :meth:`scoped_select`)."""
        return self._sessions

    @property
    def inactive_after_days(self) -> int:
        """The period without invoices after which an active record reads as inactive."""
        return self._inactive_days

    def business_day(self) -> date:
        """Today in the business time zone: the day the lifecycle is read on (invoice dates are
        business days, so the UTC date would move the period by a day around midnight)."""
        return business_day(self._clock(), self._timezone)

    # -- loading with the derived lifecycle -----------------------------------------------------

    def scoped_select(
        self,
        principal: Principal,
        model: type[Company] | type[Person],
        today: date | None = None,
    ) -> Select[Any]:
        """``SELECT model`` narrowed to the caller's scope, with the derived lifecycle loaded
        (read on ``today``, by default :meth:`business_day`)."""
        expr = repo.lifecycle_of(model, today or self.business_day(), self._inactive_days)
        stmt = select(model).options(with_expression(model.lifecycle, expr))
        return self._policies.scope(principal, model, stmt)

    async def _get(
        self, db: AsyncSession, principal: Principal, model: type[Rec], record_id: int
    ) -> Rec:
        obj: Rec | None = await db.scalar(
            self.scoped_select(principal, model).where(model.id == record_id)
        )
        if obj is None:
            raise NotFound(f"{model.__name__.lower()} {record_id} not found")
        return obj

    def sees_sensitive(self, principal: Principal, person: Person) -> bool:
        """True when ``principal`` may see ``person``'s sensitive fields."""
        return self._policies.policy(Person).can(principal, "sensitive", person)

    # -- companies ---------------------------------------------------------------------------

    async def list_companies(self, principal: Principal, params: dict[str, str]) -> Page[Company]:
        """Companies in the caller's scope, filtered, sorted and paged (``attr.*`` too)."""
        today = self.business_day()
        stmt = self.scoped_select(principal, Company, today)
        async with self._sessions() as db:
            return await repo.page_records(db, stmt, Company, params, self._inactive_days, today)

    async def get_company(self, principal: Principal, company_id: int) -> Company:
        """One company in the caller's scope."""
        async with self._sessions() as db:
            return await self._get(db, principal, Company, company_id)

    async def create_company(
        self, principal: Principal, body: CompanyIn, ctx: AuditContext
    ) -> Company:
        """Create a company with its phones, e-mails, addresses, roles and categories."""
        values = body.model_dump(
            exclude={"phones", "emails", "addresses", "roles", "category_ids", "attributes"}
        )
        if values["owner_id"] is None and not principal.is_admin:
            values["owner_id"] = principal.user_id
        async with session_scope(self._sessions) as db:
            await rules.check_assignment(db, principal, values)
            await self._check_code(db, body.code, None)
            await rules.check_extras(db, Company, values, None)
            if body.parent_id is not None:
                await self._check_parent(db, principal, None, body.parent_id)
            company = Company(
                **values,
                attribute_values=await attrs.apply_values(
                    db, "company", [], body.attributes, creating=True
                ),
                roles=[CompanyRole(role=r) for r in sorted(set(body.roles))],
                phones=rules.build_phones(body.phones, self._region),
                emails=rules.build_emails(body.emails),
                addresses=rules.build_addresses(body.addresses),
                categories=await rules.load_categories(db, body.category_ids),
            )
            db.add(company)
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="company.create",
                principal=principal,
                object_type="company",
                object_id=str(company.id),
                details={"code": company.code},
            )
        return await self.get_company(principal, company.id)

    async def update_company(
        self, principal: Principal, company_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> Company:
        """Change a company; lists given replace the stored ones."""
        async with session_scope(self._sessions) as db:
            company = await repo.get_visible(db, self._policies, principal, Company, company_id)
            self._policies.authorize(principal, "update", company)
            await self._reassign(db, principal, company, changes)
            await self._apply_extras(db, company, changes)
            if "code" in changes and changes["code"] != company.code:
                await self._check_code(db, changes["code"], company.id)
            if changes.get("parent_id") is not None:
                await self._check_parent(db, principal, company.id, changes["parent_id"])
            await self._apply_common(db, company, changes)
            if "roles" in changes:
                company.roles = [CompanyRole(role=r) for r in sorted(set(changes["roles"]))]
            for name in (
                "code",
                "name",
                "vat_number",
                "trade_register_number",
                "industry",
                "employee_count",
                "turnover",
                "description",
                "website",
                "parent_id",
                "status",
            ):
                if name in changes:
                    setattr(company, name, changes[name])
            company.updated_at = utcnow()
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="company.update",
                principal=principal,
                object_type="company",
                object_id=str(company.id),
                details={"fields": sorted(changes)},
            )
        return await self.get_company(principal, company_id)

    async def delete_company(
        self, principal: Principal, company_id: int, ctx: AuditContext
    ) -> None:
        """Delete a company with its contact data and person links."""
        async with session_scope(self._sessions) as db:
            company = await repo.get_visible(db, self._policies, principal, Company, company_id)
            self._policies.authorize(principal, "delete", company)
            await _no_ledger(db, Invoice.company_id, Payment.company_id, company_id)
            await record_audit(
                db,
                ctx,
                action="company.delete",
                principal=principal,
                object_type="company",
                object_id=str(company.id),
                details={"code": company.code, "name": company.name},
            )
            await db.delete(company)

    async def _check_code(self, db: AsyncSession, code: str, own_id: int | None) -> None:
        clash = await db.scalar(select(Company.id).where(Company.code == code))
        if clash is not None and clash != own_id:
            raise Conflict(f"company code {code!r} is taken", details={"field": "code"})

    async def _check_parent(
        self, db: AsyncSession, principal: Principal, own_id: int | None, parent_id: int
    ) -> None:
        try:
            parent = await repo.get_visible(db, self._policies, principal, Company, parent_id)
        except NotFound:
            raise _bad("parent_id", f"no company with id {parent_id}") from None
        seen = {own_id}
        node: Company | None = parent
        for _ in range(_MAX_PARENT_DEPTH):
            if node is None:
                return
            if node.id in seen:
                raise _bad("parent_id", "a company cannot be its own parent or ancestor")
            seen.add(node.id)
            node = await db.get(Company, node.parent_id) if node.parent_id else None
        raise _bad("parent_id", "the parent chain is too deep")

    # -- persons -----------------------------------------------------------------------------

    async def list_persons(self, principal: Principal, params: dict[str, str]) -> Page[Person]:
        """Persons in the caller's scope, filtered, sorted and paged (``attr.*`` too)."""
        today = self.business_day()
        stmt = self.scoped_select(principal, Person, today)
        async with self._sessions() as db:
            return await repo.page_records(db, stmt, Person, params, self._inactive_days, today)

    async def get_person(self, principal: Principal, person_id: int) -> Person:
        """One person in the caller's scope."""
        async with self._sessions() as db:
            return await self._get(db, principal, Person, person_id)

    async def create_person(
        self, principal: Principal, body: PersonIn, ctx: AuditContext
    ) -> Person:
        """Create a person with contact data, company links and categories."""
        if not (body.given_name.strip() or body.family_name.strip()):
            raise _bad("family_name", "give a family name or a given name")
        values = body.model_dump(
            exclude={"phones", "emails", "addresses", "companies", "category_ids", "attributes"}
        )
        values["given_name"] = body.given_name.strip()
        values["family_name"] = body.family_name.strip()
        if values["owner_id"] is None and not principal.is_admin:
            values["owner_id"] = principal.user_id
        self._check_birth_date(body.birth_date)
        async with session_scope(self._sessions) as db:
            await rules.check_assignment(db, principal, values)
            await rules.check_extras(db, Person, values, None)
            person = Person(
                **values,
                attribute_values=await attrs.apply_values(
                    db, "person", [], body.attributes, creating=True
                ),
                phones=rules.build_phones(body.phones, self._region),
                emails=rules.build_emails(body.emails),
                addresses=rules.build_addresses(body.addresses),
                employments=await rules.build_employments(
                    db, self._policies, principal, body.companies
                ),
                categories=await rules.load_categories(db, body.category_ids),
            )
            db.add(person)
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="person.create",
                principal=principal,
                object_type="person",
                object_id=str(person.id),
            )
        return await self.get_person(principal, person.id)

    async def update_person(
        self, principal: Principal, person_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> Person:
        """Change a person; lists given replace the stored ones."""
        async with session_scope(self._sessions) as db:
            person = await repo.get_visible(db, self._policies, principal, Person, person_id)
            self._policies.authorize(principal, "update", person)
            await self._reassign(db, principal, person, changes)
            await self._apply_extras(db, person, changes)
            await self._apply_common(db, person, changes)
            if "birth_date" in changes:
                self._check_birth_date(changes["birth_date"])
            for name in ("given_name", "family_name"):
                if name in changes:
                    changes[name] = changes[name].strip()
            for name in (
                "given_name",
                "family_name",
                "nickname",
                "salutation",
                "title",
                "birth_date",
                "language",
                "id_card_number",
                "status",
            ):
                if name in changes:
                    setattr(person, name, changes[name])
            if not (person.given_name or person.family_name):
                raise _bad("family_name", "give a family name or a given name")
            if "companies" in changes:
                person.employments = await rules.build_employments(
                    db, self._policies, principal, changes["companies"]
                )
            person.updated_at = utcnow()
            await self._flush(db)
            await record_audit(
                db,
                ctx,
                action="person.update",
                principal=principal,
                object_type="person",
                object_id=str(person.id),
                details={"fields": sorted(changes)},
            )
        return await self.get_person(principal, person_id)

    async def delete_person(self, principal: Principal, person_id: int, ctx: AuditContext) -> None:
        """Delete a person with contact data and company links."""
        async with session_scope(self._sessions) as db:
            person = await repo.get_visible(db, self._policies, principal, Person, person_id)
            self._policies.authorize(principal, "delete", person)
            await _no_ledger(db, Invoice.person_id, Payment.person_id, person_id)
            await record_audit(
                db,
                ctx,
                action="person.delete",
                principal=principal,
                object_type="person",
                object_id=str(person.id),
            )
            await db.delete(person)

    @staticmethod
    def _check_birth_date(value: Any) -> None:
        if value is not None and (value > utcnow().date() or value.year < 1900):
            raise _bad("birth_date", "must be between 1900-01-01 and today")

    # -- shared ------------------------------------------------------------------------------

    async def _reassign(
        self,
        db: AsyncSession,
        principal: Principal,
        obj: Company | Person,
        changes: dict[str, Any],
    ) -> None:
        moved = {
            k: changes[k] for k in _ASSIGNMENT if k in changes and changes[k] != getattr(obj, k)
        }
        if not moved:
            return
        self._policies.authorize(principal, "reassign", obj)
        await rules.check_assignment(db, principal, moved)
        for key, value in moved.items():
            setattr(obj, key, value)

    async def _apply_extras(
        self, db: AsyncSession, obj: Company | Person, changes: dict[str, Any]
    ) -> None:
        extras = {k: changes[k] for k in _EXTRAS if k in changes and k != "attributes"}
        if "lead_source_id" in extras and extras["lead_source_id"] == obj.lead_source_id:
            del extras["lead_source_id"]  # keeping a retired source is fine
        await rules.check_extras(db, type(obj), extras, obj.id)
        for key, value in extras.items():
            setattr(obj, key, value)
        if "attributes" in changes:
            entity = "company" if isinstance(obj, Company) else "person"
            obj.attribute_values = await attrs.apply_values(
                db, entity, list(obj.attribute_values), changes["attributes"], creating=False
            )

    async def _apply_common(
        self, db: AsyncSession, obj: Company | Person, changes: dict[str, Any]
    ) -> None:
        if "phones" in changes:
            obj.phones = rules.build_phones(changes["phones"], self._region)
        if "emails" in changes:
            obj.emails = rules.build_emails(changes["emails"])
        if "addresses" in changes:
            obj.addresses = rules.build_addresses(changes["addresses"])
        if "category_ids" in changes:
            obj.categories = await rules.load_categories(db, changes["category_ids"])

    @staticmethod
    async def _flush(db: AsyncSession) -> None:
        try:
            await db.flush()
        except IntegrityError as err:
            # A concurrent insert won the race for a unique value (the code was checked first).
            raise Conflict("the record clashes with another one (company code?)") from err

    # -- lookup and search -------------------------------------------------------------------

    async def lookup_phone(
        self, principal: Principal, number: str
    ) -> tuple[str, list[repo.Candidate]]:
        """The E.164 form of ``number`` and the visible persons/companies having it."""
        try:
            e164 = normalise(number, self._region)
        except ValueError as err:
            raise _bad("number", str(err)) from None

        async def read(conn: AsyncConnection) -> list[repo.Candidate]:
            return await repo.lookup_phone(conn, self._policies, principal, e164)

        return e164, await hot_read(self._sessions, read)

    async def search(
        self, principal: Principal, text: str, limit: int
    ) -> quick_search.SearchResult:
        """Visible companies and persons matching ``text`` by name, code, e-mail or phone, and
        whether more persons matched than were examined (see :mod:`crm_core.crm.search`)."""
        text = text.strip()
        if not text:
            raise _bad("q", "give something to search for")
        async with self._sessions() as db:
            return await quick_search.search_records(
                db, self._policies, principal, text[:200], self._region, limit
            )
