"""Use cases of the administrator-managed lists: activity statuses, lead sources, custom
attribute definitions and the product catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.ext_models import (
    ActivityStatusDef,
    AttributeDefinition,
    AttributeValue,
    LeadSource,
    Product,
)
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.permissions import Principal

__all__ = ["ATTRIBUTE_LIST", "KINDS", "LEAD_SOURCE_LIST", "PRODUCT_LIST", "STATUS_LIST", "Catalog"]

CatalogModel = ActivityStatusDef | LeadSource | AttributeDefinition | Product


@dataclass(frozen=True)
class Kind:
    """One managed list: its table, what must be unique and how it is audited."""

    model: type[Any]
    noun: str
    unique: tuple[str, ...]


KINDS = {
    "activity_status": Kind(ActivityStatusDef, "activity_status", ("name",)),
    "lead_source": Kind(LeadSource, "lead_source", ("name",)),
    "attribute": Kind(AttributeDefinition, "attribute_definition", ("entity_type", "name")),
    "product": Kind(Product, "product", ("code",)),
}

STATUS_LIST = ListSpec(
    sortable={"position": ActivityStatusDef.position, "name": ActivityStatusDef.name},
    default_sort=("position",),
    filters={
        "active": FilterSpec(ActivityStatusDef.active, "bool"),
        "is_closed": FilterSpec(ActivityStatusDef.is_closed, "bool"),
    },
    tiebreak=ActivityStatusDef.id,
)
LEAD_SOURCE_LIST = ListSpec(
    sortable={"name": LeadSource.name, "id": LeadSource.id},
    default_sort=("name",),
    filters={"active": FilterSpec(LeadSource.active, "bool")},
    search=(LeadSource.name,),
    tiebreak=LeadSource.id,
)
ATTRIBUTE_LIST = ListSpec(
    sortable={"position": AttributeDefinition.position, "name": AttributeDefinition.name},
    default_sort=("position", "name"),
    filters={
        "entity_type": FilterSpec(
            AttributeDefinition.entity_type, "choice", ("eq",), ("company", "person")
        ),
        "type": FilterSpec(
            AttributeDefinition.type,
            "choice",
            ("eq", "in"),
            ("text", "number", "date", "choice", "boolean"),
        ),
    },
    tiebreak=AttributeDefinition.id,
)
PRODUCT_LIST = ListSpec(
    sortable={"code": Product.code, "name": Product.name, "price": Product.price},
    default_sort=("code",),
    filters={
        "active": FilterSpec(Product.active, "bool"),
        "currency": FilterSpec(Product.currency, "str"),
        "code": FilterSpec(Product.code, "str", ("eq", "in", "contains")),
    },
    search=(Product.code, Product.name),
    tiebreak=Product.id,
)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {message}",
        details={"field": field, "fields": [{"field": field, "message": message}]},
    )


class Catalog:
    """The managed lists; reading needs crm.read, changing them crm.admin (route level)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def page(self, kind: str, query: ListQuery, spec: ListSpec) -> Page[Any]:
        """One page of a managed list."""
        async with self._sessions() as db:
            return await paginate(db, select(KINDS[kind].model), query, spec)

    async def get(self, kind: str, item_id: int) -> Any:
        """One entry of a managed list."""
        async with self._sessions() as db:
            return await self._load(db, kind, item_id)

    async def create(
        self, principal: Principal, kind: str, values: dict[str, Any], ctx: AuditContext
    ) -> Any:
        """Add an entry; a taken name or code is a conflict naming the field."""
        k = KINDS[kind]
        async with session_scope(self._sessions) as db:
            await self._unique(db, k, values, None)
            obj = k.model(**values)
            db.add(obj)
            await _flush(db)
            await record_audit(
                db,
                ctx,
                action=f"{k.noun}.create",
                principal=principal,
                object_type=k.noun,
                object_id=str(obj.id),
                details={f: values[f] for f in k.unique},
            )
        return await self.get(kind, obj.id)

    async def update(
        self,
        principal: Principal,
        kind: str,
        item_id: int,
        changes: dict[str, Any],
        ctx: AuditContext,
    ) -> Any:
        """Change an entry; the same values again change nothing and write no audit entry."""
        k = KINDS[kind]
        async with session_scope(self._sessions) as db:
            obj = await self._load(db, kind, item_id)
            changed = {f: v for f, v in changes.items() if getattr(obj, f) != v}
            if not changed:
                return obj
            await self._unique(db, k, {**_current(obj, k), **changed}, obj.id)
            if isinstance(obj, AttributeDefinition) and "choices" in changed:
                await self._choices(db, obj, changed["choices"])
            for key, value in changed.items():
                setattr(obj, key, value)
            if isinstance(obj, Product) and (obj.price is None) != (obj.currency is None):
                raise _bad("currency", "give price and currency together")
            await _flush(db)
            await record_audit(
                db,
                ctx,
                action=f"{k.noun}.update",
                principal=principal,
                object_type=k.noun,
                object_id=str(obj.id),
                details={"fields": sorted(changed)},
            )
        return await self.get(kind, item_id)

    async def delete_attribute(self, principal: Principal, item_id: int, ctx: AuditContext) -> None:
        """Delete an attribute definition and every value stored for it."""
        async with session_scope(self._sessions) as db:
            obj = await self._load(db, "attribute", item_id)
            await record_audit(
                db,
                ctx,
                action="attribute_definition.delete",
                principal=principal,
                object_type="attribute_definition",
                object_id=str(obj.id),
                details={"entity_type": obj.entity_type, "name": obj.name},
            )
            await db.delete(obj)

    async def _load(self, db: AsyncSession, kind: str, item_id: int) -> Any:
        k = KINDS[kind]
        obj = await db.get(k.model, item_id)
        if obj is None:
            raise NotFound(f"{k.noun.replace('_', ' ')} {item_id} not found")
        return obj

    async def _unique(
        self, db: AsyncSession, k: Kind, values: dict[str, Any], own_id: int | None
    ) -> None:
        conds = [getattr(k.model, f) == values[f] for f in k.unique]
        clash = await db.scalar(select(k.model.id).where(*conds))
        if clash is not None and clash != own_id:
            field = k.unique[-1]
            raise Conflict(f"{field} {values[field]!r} is taken", details={"field": field})

    async def _choices(self, db: AsyncSession, defn: AttributeDefinition, new: list[str]) -> None:
        if defn.type != "choice":
            if new:
                raise _bad("choices", "only a choice attribute has choices")
            return
        if not new:
            raise _bad("choices", "a choice attribute needs choices")
        gone = sorted(set(map(str, defn.choices)) - set(new))
        if gone:
            used = await db.scalar(
                select(AttributeValue.value_text)
                .where(AttributeValue.definition_id == defn.id, AttributeValue.value_text.in_(gone))
                .limit(1)
            )
            if used is not None:
                raise Conflict(
                    f"choice {used!r} is still used by records; change them first",
                    details={"field": "choices"},
                )


def _current(obj: Any, k: Kind) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in k.unique}


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict("the entry clashes with another one (name or code taken)") from err
