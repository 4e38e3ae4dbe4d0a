"""Use cases of a company's bank accounts and branches.

They live under their company: they are seen and changed by whoever sees the company, and a part
of another company is "not found" under this one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import repository as repo
from crm_core.crm import rules
from crm_core.crm.ext_models import BankAccount, Branch, BranchPhone, Contract, HeldProduct
from crm_core.crm.models import Company, Person
from crm_core.crm.parts_schemas import BankAccountIn, BranchIn
from crm_core.db import session_scope, utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = [
    "BANK_ACCOUNT_LIST",
    "BRANCH_LIST",
    "PartsService",
    "audit_part",
    "bad_field",
    "flush_or_conflict",
    "noun_of",
]


BANK_ACCOUNT_LIST = ListSpec(
    sortable={"id": BankAccount.id, "iban": BankAccount.iban},
    default_sort=("id",),
    filters={"currency": FilterSpec(BankAccount.currency, "str")},
    tiebreak=BankAccount.id,
)
BRANCH_LIST = ListSpec(
    sortable={"name": Branch.name, "code": Branch.code, "id": Branch.id},
    default_sort=("name",),
    filters={"city": FilterSpec(Branch.city, "str", ("eq", "contains"))},
    search=(Branch.name, Branch.code, Branch.city),
    tiebreak=Branch.id,
)


def bad_field(field: str, message: str) -> InvalidInput:
    """A 400 naming ``field``."""
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


class PartsService:
    """Bank accounts and branches of the companies in the caller's scope."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry, region: str
    ) -> None:
        self._sessions = sessions
        self._policies = policies
        self._region = region

    # -- company parts (bank accounts, branches) --------------------------------------------

    async def list_parts(
        self,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        query: ListQuery,
    ) -> Page[Any]:
        """The bank accounts or branches of a visible company."""
        spec = BANK_ACCOUNT_LIST if model is BankAccount else BRANCH_LIST
        async with self._sessions() as db:
            await repo.get_visible(db, self._policies, principal, Company, company_id)
            stmt = select(model).where(model.company_id == company_id)
            return await paginate(db, stmt, query, spec)

    async def get_part(
        self,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        part_id: int,
    ) -> Any:
        """One bank account or branch of a visible company."""
        async with self._sessions() as db:
            return await self._part(db, principal, model, company_id, part_id)

    async def _part(
        self,
        db: AsyncSession,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        part_id: int,
    ) -> Any:
        await repo.get_visible(db, self._policies, principal, Company, company_id)
        obj = await db.scalar(
            select(model).where(model.id == part_id, model.company_id == company_id)
        )
        if obj is None:
            raise NotFound(f"{noun_of(model)} {part_id} not found")
        return obj

    async def create_part(
        self,
        principal: Principal,
        company_id: int,
        body: BankAccountIn | BranchIn,
        ctx: AuditContext,
    ) -> Any:
        """Add a bank account or branch to a visible company."""
        model: type[BankAccount] | type[Branch] = (
            BankAccount if isinstance(body, BankAccountIn) else Branch
        )
        async with session_scope(self._sessions) as db:
            await repo.get_visible(db, self._policies, principal, Company, company_id)
            values = body.model_dump(exclude={"phones"})
            await self._check_part(db, principal, model, company_id, values, None)
            obj: BankAccount | Branch
            if isinstance(body, BranchIn):
                phones = rules.build_phones(body.phones, self._region)
                obj = Branch(
                    **values,
                    company_id=company_id,
                    phones=[
                        BranchPhone(kind=p.kind, original=p.original, e164=p.e164) for p in phones
                    ],
                )
            else:
                obj = BankAccount(**values, company_id=company_id)
            db.add(obj)
            await flush_or_conflict(db)
            if isinstance(obj, BankAccount) and obj.is_primary:
                await self._only_primary(db, obj)
            await audit_part(db, ctx, principal, f"{noun_of(model)}.create", obj, company_id)
        return await self.get_part(principal, model, company_id, obj.id)

    async def update_part(
        self,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        part_id: int,
        changes: dict[str, Any],
        ctx: AuditContext,
    ) -> Any:
        """Change a bank account or branch."""
        async with session_scope(self._sessions) as db:
            obj = await self._part(db, principal, model, company_id, part_id)
            await self._check_part(db, principal, model, company_id, changes, obj.id)
            if "phones" in changes:
                phones = rules.build_phones(changes.pop("phones"), self._region)
                obj.phones = [
                    BranchPhone(kind=p.kind, original=p.original, e164=p.e164) for p in phones
                ]
            for key, value in changes.items():
                setattr(obj, key, value)
            if isinstance(obj, Branch):
                obj.updated_at = utcnow()
            await flush_or_conflict(db)
            if isinstance(obj, BankAccount) and obj.is_primary:
                await self._only_primary(db, obj)
            await audit_part(db, ctx, principal, f"{noun_of(model)}.update", obj, company_id)
        return await self.get_part(principal, model, company_id, part_id)

    async def delete_part(
        self,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        part_id: int,
        ctx: AuditContext,
    ) -> None:
        """Delete a bank account or branch."""
        async with session_scope(self._sessions) as db:
            obj = await self._part(db, principal, model, company_id, part_id)
            await audit_part(db, ctx, principal, f"{noun_of(model)}.delete", obj, company_id)
            await db.delete(obj)

    async def _check_part(
        self,
        db: AsyncSession,
        principal: Principal,
        model: type[BankAccount] | type[Branch],
        company_id: int,
        values: dict[str, Any],
        own_id: int | None,
    ) -> None:
        key = "iban" if model is BankAccount else "code"
        if values.get(key) is not None:
            clash = await db.scalar(
                select(model.id).where(
                    model.company_id == company_id, getattr(model, key) == values[key]
                )
            )
            if clash is not None and clash != own_id:
                raise Conflict(
                    f"this company already has {key} {values[key]!r}", details={"field": key}
                )
        manager = values.get("manager_person_id")
        if manager is not None:
            try:
                await repo.get_visible(db, self._policies, principal, Person, manager)
            except NotFound:
                raise bad_field("manager_person_id", f"no person with id {manager}") from None

    async def _only_primary(self, db: AsyncSession, account: BankAccount) -> None:
        """One primary account per company: the one just marked wins."""
        await db.execute(
            update(BankAccount)
            .where(BankAccount.company_id == account.company_id, BankAccount.id != account.id)
            .values(is_primary=False)
        )


async def audit_part(
    db: AsyncSession,
    ctx: AuditContext,
    principal: Principal,
    action: str,
    obj: Any,
    company_id: int | None,
) -> None:
    """Audit a change of a bank account, branch, product held or contract."""
    details: dict[str, Any] = {}
    if company_id is not None:
        details["company_id"] = company_id
    await record_audit(
        db,
        ctx,
        action=action,
        principal=principal,
        object_type=action.rsplit(".", 1)[0],
        object_id=str(obj.id),
        details=details,
    )


def noun_of(model: type[Any]) -> str:
    """The audit noun of a part's model."""
    return {
        BankAccount: "bank_account",
        Branch: "branch",
        HeldProduct: "held_product",
        Contract: "contract",
    }[model]


async def flush_or_conflict(db: AsyncSession) -> None:
    """Flush; a unique clash becomes a 409."""
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict("the record clashes with another one (number, code or IBAN)") from err
