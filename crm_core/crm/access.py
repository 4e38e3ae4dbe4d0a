"""Use cases of territories, territory grants, delegations and categories."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.crm.access_schemas import CategoryIn, DelegationIn, GrantIn, TerritoryIn
from crm_core.crm.models import Category, Delegation, Territory, TerritoryGrant
from crm_core.crm.policies import CRM_ADMIN
from crm_core.crm.repository import time_filter
from crm_core.db import session_scope
from crm_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.models import User
from crm_core.users.permissions import Principal

__all__ = ["CATEGORY_LIST", "DELEGATION_LIST", "TERRITORY_LIST", "AccessService"]

TERRITORY_LIST = ListSpec(
    sortable={"id": Territory.id, "name": Territory.name},
    default_sort=("name",),
    search=(Territory.name,),
    tiebreak=Territory.id,
)
CATEGORY_LIST = ListSpec(
    sortable={"id": Category.id, "name": Category.name},
    default_sort=("name",),
    search=(Category.name,),
    tiebreak=Category.id,
)
DELEGATION_LIST = ListSpec(
    sortable={
        "id": Delegation.id,
        "starts_at": Delegation.starts_at,
        "ends_at": Delegation.ends_at,
    },
    default_sort=("-starts_at",),
    filters={
        "from_user_id": FilterSpec(Delegation.from_user_id, "int"),
        "to_user_id": FilterSpec(Delegation.to_user_id, "int"),
        "ends_at": time_filter(Delegation.ends_at),
    },
    tiebreak=Delegation.id,
)


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput("name: must not be blank", details={"field": "name"})
    return name


class AccessService:
    """Who may see which records: territories and their grants, delegations; and categories."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_territories(self, principal: Principal, query: ListQuery) -> Page[Territory]:
        """Every territory (names are not secret; records are)."""
        async with self._sessions() as db:
            return await paginate(db, select(Territory), query, TERRITORY_LIST)

    async def create_territory(
        self, principal: Principal, body: TerritoryIn, ctx: AuditContext
    ) -> Territory:
        """Create a territory."""
        name = _name(body.name)
        async with session_scope(self._sessions) as db:
            if await db.scalar(select(Territory.id).where(Territory.name == name)) is not None:
                raise Conflict(f"a territory named {name!r} exists", details={"field": "name"})
            territory = Territory(name=name, description=body.description)
            db.add(territory)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="territory.create",
                principal=principal,
                object_type="territory",
                object_id=str(territory.id),
            )
            return territory

    async def list_grants(self, principal: Principal, territory_id: int) -> list[TerritoryGrant]:
        """The grants of one territory."""
        async with self._sessions() as db:
            await self._territory(db, territory_id)
            rows = await db.scalars(
                select(TerritoryGrant)
                .where(TerritoryGrant.territory_id == territory_id)
                .order_by(TerritoryGrant.id)
            )
            return list(rows)

    async def add_grant(
        self, principal: Principal, territory_id: int, body: GrantIn, ctx: AuditContext
    ) -> TerritoryGrant:
        """Grant a territory to a role or a user."""
        async with session_scope(self._sessions) as db:
            await self._territory(db, territory_id)
            if body.user_id is not None and await db.get(User, body.user_id) is None:
                raise InvalidInput(f"no user with id {body.user_id}", details={"field": "user_id"})
            same = select(TerritoryGrant.id).where(TerritoryGrant.territory_id == territory_id)
            same = same.where(
                TerritoryGrant.role == body.role
                if body.role is not None
                else TerritoryGrant.user_id == body.user_id
            )
            if await db.scalar(same) is not None:
                raise Conflict("this grant exists already")
            grant = TerritoryGrant(territory_id=territory_id, role=body.role, user_id=body.user_id)
            db.add(grant)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="territory.grant",
                principal=principal,
                object_type="territory",
                object_id=str(territory_id),
                details={"role": body.role, "user_id": body.user_id},
            )
            return grant

    async def remove_grant(
        self, principal: Principal, territory_id: int, grant_id: int, ctx: AuditContext
    ) -> None:
        """Withdraw a territory grant."""
        async with session_scope(self._sessions) as db:
            grant = await db.get(TerritoryGrant, grant_id)
            if grant is None or grant.territory_id != territory_id:
                raise NotFound(f"grant {grant_id} not found")
            await record_audit(
                db,
                ctx,
                action="territory.revoke",
                principal=principal,
                object_type="territory",
                object_id=str(territory_id),
                details={"role": grant.role, "user_id": grant.user_id},
            )
            await db.delete(grant)

    async def _territory(self, db: AsyncSession, territory_id: int) -> Territory:
        territory = await db.get(Territory, territory_id)
        if territory is None:
            raise NotFound(f"territory {territory_id} not found")
        return territory

    # -- delegations -------------------------------------------------------------------------

    async def list_delegations(self, principal: Principal, query: ListQuery) -> Page[Delegation]:
        """Delegations from or to the caller (administrators: all)."""
        stmt = select(Delegation)
        if not principal.has(CRM_ADMIN):
            stmt = stmt.where(
                or_(
                    Delegation.from_user_id == principal.user_id,
                    Delegation.to_user_id == principal.user_id,
                )
            )
        async with self._sessions() as db:
            return await paginate(db, stmt, query, DELEGATION_LIST)

    async def create_delegation(
        self, principal: Principal, body: DelegationIn, ctx: AuditContext
    ) -> Delegation:
        """Lend the caller's access (or, for administrators, anyone's) to another user."""
        from_user = body.from_user_id or principal.user_id
        if from_user != principal.user_id and not principal.has(CRM_ADMIN):
            raise PermissionDenied("only an administrator may delegate another user's access")
        if from_user == body.to_user_id:
            raise InvalidInput(
                "a user cannot delegate to themselves", details={"field": "to_user_id"}
            )
        async with session_scope(self._sessions) as db:
            for field, uid in (("from_user_id", from_user), ("to_user_id", body.to_user_id)):
                user = await db.get(User, uid)
                if user is None or not user.is_active:
                    raise InvalidInput(f"no active user with id {uid}", details={"field": field})
            delegation = Delegation(
                from_user_id=from_user,
                to_user_id=body.to_user_id,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                note=body.note,
            )
            db.add(delegation)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="delegation.create",
                principal=principal,
                object_type="delegation",
                object_id=str(delegation.id),
                details={"from_user_id": from_user, "to_user_id": body.to_user_id},
            )
            return delegation

    async def delete_delegation(
        self, principal: Principal, delegation_id: int, ctx: AuditContext
    ) -> None:
        """End a delegation: its giver or an administrator."""
        async with session_scope(self._sessions) as db:
            delegation = await db.get(Delegation, delegation_id)
            mine = delegation is not None and principal.user_id in (
                delegation.from_user_id,
                delegation.to_user_id,
            )
            if delegation is None or not (mine or principal.has(CRM_ADMIN)):
                raise NotFound(f"delegation {delegation_id} not found")
            if delegation.from_user_id != principal.user_id and not principal.has(CRM_ADMIN):
                raise PermissionDenied("only the user who delegated may end a delegation")
            await record_audit(
                db,
                ctx,
                action="delegation.delete",
                principal=principal,
                object_type="delegation",
                object_id=str(delegation.id),
            )
            await db.delete(delegation)

    # -- categories --------------------------------------------------------------------------

    async def list_categories(self, principal: Principal, query: ListQuery) -> Page[Category]:
        """Every category."""
        async with self._sessions() as db:
            return await paginate(db, select(Category), query, CATEGORY_LIST)

    async def create_category(
        self, principal: Principal, body: CategoryIn, ctx: AuditContext
    ) -> Category:
        """Create a category."""
        name = _name(body.name)
        async with session_scope(self._sessions) as db:
            if await db.scalar(select(Category.id).where(Category.name == name)) is not None:
                raise Conflict(f"a category named {name!r} exists", details={"field": "name"})
            category = Category(name=name, description=body.description)
            db.add(category)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="category.create",
                principal=principal,
                object_type="category",
                object_id=str(category.id),
            )
            return category
