"""Record-level access to companies and persons: territories, owners, teams and delegations.

Who sees a record (``scope``):

- administrators: every record;
- everyone else: the records they own, the records of the territories granted to one of their
  roles or to them personally (``territory_grants``), and — for supervisors — the records of their
  teams;
- a delegate additionally gets all of the above *of the delegator* (owned records, the
  delegator's territory grants and supervised teams) while the delegation is in force. The
  administrator's global view is not delegated, and delegations do not chain.

Visibility depends on grants and delegations stored in the database, so it is decided in SQL by
:meth:`RecordPolicy.scope`; services load every record through it (a record outside the scope is
"not found"). :meth:`RecordPolicy.can` then decides what may be done to a record already known to
be visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    any_,
    bindparam,
    false,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crm_core.crm.ext_models import Contract, HeldProduct
from crm_core.crm.models import (
    Activity,
    ActivityParticipant,
    Company,
    Delegation,
    Invoice,
    Payment,
    Person,
    TerritoryGrant,
    Ticket,
)
from crm_core.db import UtcDateTime, utcnow
from crm_core.users.models import Role, TeamMember, UserRole
from crm_core.users.permissions import (
    Permission,
    Policy,
    Principal,
    grant,
)

__all__ = [
    "CRM_ADMIN",
    "CRM_BALANCES",
    "CRM_DELETE",
    "CRM_FINANCE",
    "CRM_READ",
    "CRM_SENSITIVE",
    "CRM_WRITE",
    "ActivityPolicy",
    "CustomerRecordPolicy",
    "RecordPolicy",
    "ResolvedScope",
    "TicketPolicy",
    "crm_policies",
    "cte_condition",
    "delegators",
    "granted_territories",
    "resolve_scope",
    "resolved_condition",
    "scope_cte",
    "scope_params",
    "visible_condition",
]

CRM_READ = Permission.define("crm.read", "see companies and persons (within one's scope)")
CRM_WRITE = Permission.define("crm.write", "create and change companies and persons in scope")
CRM_DELETE = Permission.define("crm.delete", "delete companies and persons in scope")
CRM_SENSITIVE = Permission.define("crm.sensitive", "see sensitive fields such as ID-card numbers")
CRM_BALANCES = Permission.define(
    "crm.balances", "see invoices, payments and balances due of records in scope"
)
CRM_FINANCE = Permission.define(
    "crm.finance", "record invoices and payments (the ERP side); reading them needs crm.balances"
)
CRM_ADMIN = Permission.define(
    "crm.admin", "manage territories, territory grants, categories and others' delegations"
)

grant(
    Role.ADMIN,
    CRM_READ,
    CRM_WRITE,
    CRM_DELETE,
    CRM_SENSITIVE,
    CRM_BALANCES,
    CRM_FINANCE,
    CRM_ADMIN,
)
grant(Role.SUPERVISOR, CRM_READ, CRM_WRITE, CRM_DELETE, CRM_SENSITIVE, CRM_BALANCES)
# Agents see what a customer owes (the screen pop shows it), not ID-card numbers.
grant(Role.AGENT, CRM_READ, CRM_WRITE, CRM_BALANCES)
grant(Role.CAMPAIGN_MANAGER, CRM_READ)


def _lenders(user: Any, now: Any) -> Select[Any]:
    """Ids of the users whose delegation to ``user`` is in force at ``now`` (values or binds)."""
    return select(Delegation.from_user_id).where(
        Delegation.to_user_id == user,
        Delegation.starts_at <= now,
        Delegation.ends_at > now,
    )


def _granted(user: Any, role_granted: ColumnElement[bool], lenders: Select[Any]) -> Any:
    """Condition on ``TerritoryGrant``: granted to ``user``, to one of their roles
    (``role_granted``), to a lender or to one of a lender's roles."""
    return or_(
        TerritoryGrant.user_id == user,
        role_granted,
        TerritoryGrant.user_id.in_(lenders),
        TerritoryGrant.role.in_(select(UserRole.role).where(UserRole.user_id.in_(lenders))),
    )


def _lent_team(lenders: Select[Any]) -> Any:
    """Condition on ``TeamMember``: a team of a lender who is a supervisor."""
    return TeamMember.user_id.in_(
        select(UserRole.user_id).where(
            UserRole.user_id.in_(lenders), UserRole.role == Role.SUPERVISOR.value
        )
    )


def delegators(principal: Principal) -> Select[Any]:
    """Ids of the users who delegate their access to ``principal`` right now."""
    return _lenders(principal.user_id, utcnow())


def granted_territories(principal: Principal) -> Select[Any]:
    """Ids of the territories granted to ``principal``: personally, through a role, or lent."""
    roles = sorted(r.value for r in principal.roles)
    role_granted = TerritoryGrant.role.in_(roles) if roles else false()
    return select(TerritoryGrant.territory_id).where(
        _granted(principal.user_id, role_granted, delegators(principal))
    )


def visible_condition(principal: Principal, model: type[Company] | type[Person]) -> Any:
    """SQL condition: the ``model`` row is visible to ``principal`` (see the module docstring)."""
    if principal.is_admin:
        return true()
    lenders = delegators(principal)
    territories = granted_territories(principal)
    lent_teams = select(TeamMember.team_id).where(_lent_team(lenders))
    conds: list[ColumnElement[bool]] = [
        model.owner_id == principal.user_id,
        model.owner_id.in_(lenders),
        model.territory_id.in_(territories),
        model.team_id.in_(lent_teams),
    ]
    if principal.supervised_team_ids:
        conds.append(model.team_id.in_(sorted(principal.supervised_team_ids)))
    return or_(*conds)


@dataclass(frozen=True)
class ResolvedScope:
    """What :func:`visible_condition` asks of the database, read out as values at one moment.

    A company or person is visible when its ``owner_id`` is in ``owner_ids``, its ``territory_id``
    in ``territory_ids`` or its ``team_id`` in ``team_ids`` (administrators: ``everything``).
    The search resolves it afresh for every statement (:func:`resolve_scope`); the caller-ID
    lookup keeps it between calls and checks it against ``access_epoch`` in the same statement
    (:mod:`crm_core.crm.scope_cache`). Either way a grant, delegation or role change counts from
    the next statement on, as with the sub-queries of :func:`visible_condition`.
    """

    everything: bool
    owner_ids: tuple[int, ...] = ()
    territory_ids: tuple[int, ...] = ()
    team_ids: tuple[int, ...] = ()

    def params(self) -> dict[str, list[int]]:
        """The bind parameters of :func:`resolved_condition`."""
        return {
            "scope_owners": list(self.owner_ids),
            "scope_territories": list(self.territory_ids),
            "scope_teams": list(self.team_ids),
        }


def resolved_condition(
    model: type[Company] | type[Person], *, arrays: bool = False
) -> ColumnElement[bool]:
    """SQL condition equal to :func:`visible_condition` for a non-administrator, taking the
    values of a :class:`ResolvedScope` as bind parameters (``ResolvedScope.params()``).

    The statement built on it is the same for every principal, so it can be built once and its
    plan stays small (three ``IN`` lists instead of four sub-queries per model); ``arrays``: the
    lists are PostgreSQL array parameters (see :func:`_one_of`).
    """
    return or_(
        _one_of(model.owner_id, "scope_owners", Integer, arrays),
        _one_of(model.territory_id, "scope_territories", Integer, arrays),
        _one_of(model.team_id, "scope_teams", Integer, arrays),
    )


def _one_of(column: Any, name: str, item: Any, arrays: bool) -> ColumnElement[bool]:
    """``column`` is one of the list given as bind parameter ``name``: ``IN`` with a list
    expanded at execution (any database), or with ``arrays`` PostgreSQL's ``= ANY(array)``,
    whose SQL text is the same whatever the list (so it can be compiled once and prepared)."""
    if arrays:
        return column == any_(bindparam(name, type_=ARRAY(item)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def _scope_values(arrays: bool = False) -> Any:
    """One statement: the lenders, the granted territories and the lent teams, as (kind, id)."""
    now = bindparam("scope_now", type_=UtcDateTime())
    user: Any = bindparam("scope_user")
    lenders = _lenders(user, now)
    role_granted = _one_of(TerritoryGrant.role, "scope_roles", String, arrays)
    territories = select(literal("t").label("kind"), TerritoryGrant.territory_id.label("id")).where(
        _granted(user, role_granted, lenders)
    )
    lent_teams = select(literal("m").label("kind"), TeamMember.team_id.label("id")).where(
        _lent_team(lenders)
    )
    owners = lenders.with_only_columns(
        literal("o").label("kind"), Delegation.from_user_id.label("id")
    )
    return union_all(owners, territories, lent_teams)


_SCOPE_VALUES = _scope_values()
_SCOPE_ARRAYS = _scope_values(arrays=True)


def scope_params(principal: Principal) -> dict[str, Any]:
    """The bind parameters of :func:`scope_cte` and :func:`cte_condition` for ``principal``."""
    return {
        "scope_user": principal.user_id,
        "scope_now": utcnow(),
        "scope_roles": sorted(r.value for r in principal.roles),
        "scope_supervised": sorted(principal.supervised_team_ids),
    }


def scope_cte(*, arrays: bool = False) -> Any:
    """A CTE ``scope(kind, id)``: the lenders (``o``), granted territories (``t``) and lent teams
    (``m``) of the principal given by :func:`scope_params`; read once per statement. ``arrays``:
    the role list is a PostgreSQL array parameter (see :func:`_one_of`)."""
    return (_SCOPE_ARRAYS if arrays else _SCOPE_VALUES).cte("scope")


def cte_condition(
    model: type[Company] | type[Person], scope: Any, *, arrays: bool = False
) -> ColumnElement[bool]:
    """SQL condition equal to :func:`visible_condition` for a non-administrator, reading the
    principal from :func:`scope_params` and the rest from ``scope`` (:func:`scope_cte`).

    Unlike :func:`visible_condition` the statement built on it is the same for every principal,
    so it can be built once (and prepared): one statement, one round trip, one snapshot.
    """

    def ids(kind: str) -> Select[Any]:
        return select(scope.c.id).where(scope.c.kind == kind)

    return or_(
        model.owner_id == bindparam("scope_user"),
        model.owner_id.in_(ids("o")),
        model.territory_id.in_(ids("t")),
        model.team_id.in_(ids("m")),
        _one_of(model.team_id, "scope_supervised", Integer, arrays),
    )


async def resolve_scope(
    db: AsyncSession | AsyncConnection, principal: Principal, *, now: datetime | None = None
) -> ResolvedScope:
    """``principal``'s scope as values (see :class:`ResolvedScope`): one small indexed query
    (none for an administrator), read in ``db`` with the delegations in force at ``now``
    (default: this moment)."""
    if principal.is_admin:
        return ResolvedScope(everything=True)
    params = scope_params(principal)
    del params["scope_supervised"]
    if now is not None:
        params["scope_now"] = now
    rows = (await db.execute(_SCOPE_VALUES, params)).all()
    owners = {principal.user_id}
    territories: set[int] = set()
    teams = set(principal.supervised_team_ids)
    for kind, value in rows:
        {"o": owners, "t": territories, "m": teams}[kind].add(value)
    return ResolvedScope(
        everything=False,
        owner_ids=tuple(sorted(owners)),
        territory_ids=tuple(sorted(territories)),
        team_ids=tuple(sorted(teams)),
    )


class RecordPolicy:
    """Object-level rules shared by companies and persons."""

    def __init__(self, model: type[Company] | type[Person]) -> None:
        self._model = model

    def can(self, principal: Principal, action: str, obj: Company | Person) -> bool:
        """What may be done to a record that ``scope`` already showed to be visible.

        ``read`` and ``update`` follow from visibility (route permissions decide who writes);
        ``delete`` and ``reassign`` (owner, team, territory) need the owner, a supervisor of the
        record's team, or an administrator. ``sensitive`` is the right to see masked fields
        (ID-card numbers), ``balances`` the right to see its invoices, payments and debt.
        """
        if action in ("read", "update"):
            return True
        if action == "sensitive":
            return principal.has(CRM_SENSITIVE)
        if action == "balances":
            return principal.has(CRM_BALANCES)
        if principal.is_admin:
            return True
        if action in ("delete", "reassign"):
            if obj.owner_id is not None and obj.owner_id == principal.user_id:
                return True
            return obj.team_id is not None and obj.team_id in principal.supervised_team_ids
        return False

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to the records ``principal`` may see."""
        if principal.is_admin:
            return stmt
        return stmt.where(visible_condition(principal, self._model))


Owned = Invoice | Payment | HeldProduct | Contract


class CustomerRecordPolicy:
    """Invoices, payments, products held, contracts: visible with their company or person."""

    def __init__(self, model: type[Owned]) -> None:
        self._model = model

    def can(self, principal: Principal, action: str, obj: Owned) -> bool:
        """Visibility comes from ``scope``; changes need the finance right (route level)."""
        return action in ("read", "update")

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to records of visible companies or persons."""
        if principal.is_admin:
            return stmt
        return stmt.where(
            or_(
                self._model.company_id.in_(
                    select(Company.id).where(visible_condition(principal, Company))
                ),
                self._model.person_id.in_(
                    select(Person.id).where(visible_condition(principal, Person))
                ),
            )
        )


def _visible_ids(principal: Principal, model: type[Company] | type[Person]) -> Select[Any]:
    return select(model.id).where(visible_condition(principal, model))


class TicketPolicy:
    """Tickets: visible with their person or company, or when assigned to me or my team."""

    def can(self, principal: Principal, action: str, obj: Ticket) -> bool:
        """Visibility comes from ``scope``; route permissions decide who writes."""
        return action in ("read", "update")

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to the tickets ``principal`` may see."""
        if principal.is_admin:
            return stmt
        conds: list[ColumnElement[bool]] = [
            Ticket.person_id.in_(_visible_ids(principal, Person)),
            Ticket.company_id.in_(_visible_ids(principal, Company)),
            Ticket.assigned_user_id == principal.user_id,
            Ticket.assigned_user_id.in_(delegators(principal)),
        ]
        if principal.supervised_team_ids:
            conds.append(Ticket.assigned_team_id.in_(sorted(principal.supervised_team_ids)))
        return stmt.where(or_(*conds))


class ActivityPolicy:
    """Activities: visible with a participating person or company, or when they are mine.

    "Mine" covers the responsible user and user participants, and the activities of users who
    delegate to me (the delegate sees the absent user's pending tasks).
    """

    def can(self, principal: Principal, action: str, obj: Activity) -> bool:
        """Visibility comes from ``scope``; route permissions decide who writes."""
        return action in ("read", "update")

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to the activities ``principal`` may see."""
        if principal.is_admin:
            return stmt
        lenders = delegators(principal)
        via = select(ActivityParticipant.activity_id).where(
            or_(
                ActivityParticipant.person_id.in_(_visible_ids(principal, Person)),
                ActivityParticipant.company_id.in_(_visible_ids(principal, Company)),
                ActivityParticipant.user_id == principal.user_id,
                ActivityParticipant.user_id.in_(lenders),
            )
        )
        return stmt.where(
            or_(
                Activity.id.in_(via),
                Activity.responsible_user_id == principal.user_id,
                Activity.responsible_user_id.in_(lenders),
            )
        )


def crm_policies() -> list[tuple[type[Any], Policy[Any]]]:
    """The CRM's policies, for ``default_policies(extra=...)``."""
    return [
        (Company, RecordPolicy(Company)),
        (Person, RecordPolicy(Person)),
        (Invoice, CustomerRecordPolicy(Invoice)),
        (Payment, CustomerRecordPolicy(Payment)),
        (HeldProduct, CustomerRecordPolicy(HeldProduct)),
        (Contract, CustomerRecordPolicy(Contract)),
        (Ticket, TicketPolicy()),
        (Activity, ActivityPolicy()),
    ]
