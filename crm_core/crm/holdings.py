"""Use cases of products held and contracts of persons and companies.

Both belong to a person or company and are visible with it (their policy is the invoices' one,
``CustomerRecordPolicy``); a company or person with contracts cannot be deleted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm import repository as repo
from crm_core.crm.ext_models import Contract, HeldProduct, Product
from crm_core.crm.models import Company, Person
from crm_core.crm.parts import audit_part, bad_field, flush_or_conflict, noun_of
from crm_core.crm.parts_schemas import ContractIn, HeldProductIn
from crm_core.db import session_scope, utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext
from crm_core.users.permissions import PolicyRegistry, Principal

__all__ = ["CONTRACT_LIST", "HELD_PRODUCT_LIST", "HoldingsService"]


def _date_filter(column: Any) -> FilterSpec:
    """A ``__gte``/``__lte`` filter on a date column (``YYYY-MM-DD``)."""

    def condition(op: str, raw: str) -> Any:
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(
                f"query parameter '{column.key}__{op}' must be a date written YYYY-MM-DD",
                details={"parameter": f"{column.key}__{op}"},
            ) from None
        return column >= value if op == "gte" else column <= value

    return FilterSpec(column, "str", ("gte", "lte"), condition=condition)


HELD_PRODUCT_LIST = ListSpec(
    sortable={"id": HeldProduct.id, "acquired_on": HeldProduct.acquired_on},
    default_sort=("id",),
    filters={
        "company_id": FilterSpec(HeldProduct.company_id, "int"),
        "person_id": FilterSpec(HeldProduct.person_id, "int"),
        "product_id": FilterSpec(HeldProduct.product_id, "int"),
        "is_active": FilterSpec(HeldProduct.is_active, "bool"),
    },
    tiebreak=HeldProduct.id,
)
CONTRACT_LIST = ListSpec(
    sortable={
        "id": Contract.id,
        "number": Contract.number,
        "starts_on": Contract.starts_on,
        "ends_on": Contract.ends_on,
        "renewal_on": Contract.renewal_on,
    },
    default_sort=("-starts_on",),
    filters={
        "company_id": FilterSpec(Contract.company_id, "int"),
        "person_id": FilterSpec(Contract.person_id, "int"),
        "product_id": FilterSpec(Contract.product_id, "int"),
        "status": FilterSpec(
            Contract.status, "choice", ("eq", "in"), ("draft", "active", "expired", "terminated")
        ),
        "renewal_on": _date_filter(Contract.renewal_on),
        "ends_on": _date_filter(Contract.ends_on),
        "number": FilterSpec(Contract.number, "str", ("eq", "contains")),
    },
    tiebreak=Contract.id,
)


class HoldingsService:
    """Products held and contracts of the persons and companies in the caller's scope."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], policies: PolicyRegistry
    ) -> None:
        self._sessions = sessions
        self._policies = policies

    async def list_owned(
        self, principal: Principal, model: type[HeldProduct] | type[Contract], query: ListQuery
    ) -> Page[Any]:
        """Products held or contracts of visible persons and companies."""
        spec = HELD_PRODUCT_LIST if model is HeldProduct else CONTRACT_LIST
        stmt = self._policies.scope(principal, model, select(model))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, spec)

    async def get_owned(
        self, principal: Principal, model: type[HeldProduct] | type[Contract], item_id: int
    ) -> Any:
        """One product held or contract of a visible person or company."""
        async with self._sessions() as db:
            if model is HeldProduct:
                return await repo.get_visible(db, self._policies, principal, HeldProduct, item_id)
            return await repo.get_visible(db, self._policies, principal, Contract, item_id)

    async def create_owned(
        self, principal: Principal, body: HeldProductIn | ContractIn, ctx: AuditContext
    ) -> Any:
        """Record a product held or a contract of a visible person or company."""
        async with session_scope(self._sessions) as db:
            try:
                if body.company_id is not None:
                    await repo.get_visible(db, self._policies, principal, Company, body.company_id)
            except NotFound:
                raise bad_field("company_id", f"no company with id {body.company_id}") from None
            try:
                if body.person_id is not None:
                    await repo.get_visible(db, self._policies, principal, Person, body.person_id)
            except NotFound:
                raise bad_field("person_id", f"no person with id {body.person_id}") from None
            values = body.model_dump()
            obj: HeldProduct | Contract
            if isinstance(body, HeldProductIn):
                await _product(db, body.product_id, new=True)
                obj = HeldProduct(**values)
            else:
                await _product(db, body.product_id, new=True)
                await _number_free(db, body.number, None)
                obj = Contract(**values)
                _check_contract(obj)
            db.add(obj)
            await flush_or_conflict(db)
            await audit_part(db, ctx, principal, f"{noun_of(type(obj))}.create", obj, None)
        return await self.get_owned(principal, type(obj), obj.id)

    async def update_owned(
        self,
        principal: Principal,
        model: type[HeldProduct] | type[Contract],
        item_id: int,
        changes: dict[str, Any],
        ctx: AuditContext,
    ) -> Any:
        """Change a product held or a contract."""
        async with session_scope(self._sessions) as db:
            obj: HeldProduct | Contract
            if model is HeldProduct:
                obj = await repo.get_visible(db, self._policies, principal, HeldProduct, item_id)
            else:
                obj = await repo.get_visible(db, self._policies, principal, Contract, item_id)
            if isinstance(obj, Contract):
                if changes.get("product_id") not in (None, obj.product_id):
                    await _product(db, changes["product_id"], new=True)
                if changes.get("number") not in (None, obj.number):
                    await _number_free(db, changes["number"], obj.id)
            for key, value in changes.items():
                setattr(obj, key, value)
            if isinstance(obj, Contract):
                _check_contract(obj)
            obj.updated_at = utcnow()
            await flush_or_conflict(db)
            await audit_part(db, ctx, principal, f"{noun_of(model)}.update", obj, None)
        return await self.get_owned(principal, model, item_id)

    async def delete_owned(
        self,
        principal: Principal,
        model: type[HeldProduct] | type[Contract],
        item_id: int,
        ctx: AuditContext,
    ) -> None:
        """Delete a product held or a contract."""
        async with session_scope(self._sessions) as db:
            obj: HeldProduct | Contract
            if model is HeldProduct:
                obj = await repo.get_visible(db, self._policies, principal, HeldProduct, item_id)
            else:
                obj = await repo.get_visible(db, self._policies, principal, Contract, item_id)
            await audit_part(db, ctx, principal, f"{noun_of(model)}.delete", obj, None)
            await db.delete(obj)


async def _product(db: AsyncSession, product_id: int | None, *, new: bool) -> None:
    if product_id is None:
        return
    product = await db.get(Product, product_id)
    if product is None:
        raise bad_field("product_id", f"no product with id {product_id}")
    if new and not product.active:
        raise bad_field("product_id", f"product {product.code!r} is no longer sold")


async def _number_free(db: AsyncSession, number: str, own_id: int | None) -> None:
    clash = await db.scalar(select(Contract.id).where(Contract.number == number))
    if clash is not None and clash != own_id:
        raise Conflict(f"contract number {number!r} exists", details={"field": "number"})


def _check_contract(c: Contract) -> None:
    if c.ends_on is not None and c.ends_on < c.starts_on:
        raise bad_field("ends_on", "is before starts_on")
    if c.renewal_on is not None and c.renewal_on < c.starts_on:
        raise bad_field("renewal_on", "is before starts_on")
    if (c.value is None) != (c.currency is None):
        raise bad_field("currency", "give value and currency together")
