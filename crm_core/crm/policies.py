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

from typing import Any

from sqlalchemy import Select, false, or_, select, true
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
from crm_core.db import utcnow
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
    "TicketPolicy",
    "crm_policies",
    "delegators",
    "granted_territories",
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


def delegators(principal: Principal) -> Select[Any]:
    """Ids of the users who delegate their access to ``principal`` right now."""
    now = utcnow()
    return select(Delegation.from_user_id).where(
        Delegation.to_user_id == principal.user_id,
        Delegation.starts_at <= now,
        Delegation.ends_at > now,
    )


def granted_territories(principal: Principal) -> Select[Any]:
    """Ids of the territories granted to ``principal``: personally, through a role, or lent."""
    lenders = delegators(principal)
    roles = sorted(r.value for r in principal.roles)
    return select(TerritoryGrant.territory_id).where(
        or_(
            TerritoryGrant.user_id == principal.user_id,
            TerritoryGrant.role.in_(roles) if roles else false(),
            TerritoryGrant.user_id.in_(lenders),
            TerritoryGrant.role.in_(select(UserRole.role).where(UserRole.user_id.in_(lenders))),
        )
    )


def visible_condition(principal: Principal, model: type[Company] | type[Person]) -> Any:
    """SQL condition: the ``model`` row is visible to ``principal`` (see the module docstring)."""
    if principal.is_admin:
        return true()
    lenders = delegators(principal)
    territories = granted_territories(principal)
    lent_teams = select(TeamMember.team_id).where(
        TeamMember.user_id.in_(
            select(UserRole.user_id).where(
                UserRole.user_id.in_(lenders), UserRole.role == Role.SUPERVISOR.value
            )
        )
    )
    conds: list[ColumnElement[bool]] = [
        model.owner_id == principal.user_id,
        model.owner_id.in_(lenders),
        model.territory_id.in_(territories),
        model.team_id.in_(lent_teams),
    ]
    if principal.supervised_team_ids:
        conds.append(model.team_id.in_(sorted(principal.supervised_team_ids)))
    return or_(*conds)


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
