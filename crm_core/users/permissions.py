"""Authorisation: who may do what (route level) and to which record (object level).

Route level: every API route names the :class:`Permission` it needs; roles grant permissions.
Object level: a :class:`Policy` per model says whether a principal may act on one record and narrows
list queries to the records the principal may see. Later packages register their own permissions
and policies here, so there is one mechanism everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, or_, select

from crm_core.errors import NotFound, PermissionDenied
from crm_core.users.models import Role, TeamMember, User

__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "Policy",
    "PolicyRegistry",
    "Principal",
    "UserPolicy",
    "grant",
]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Permission(str):
    """A named right such as ``users.manage``; create them with :func:`Permission.define`."""

    _known: dict[str, Permission] = {}

    @classmethod
    def define(cls, name: str, description: str) -> Permission:
        """Declare a permission once; returns the same object on repeated calls."""
        perm = cls._known.get(name)
        if perm is None:
            perm = cls(name)
            perm.description = description
            cls._known[name] = perm
        return perm

    description: str = ""

    @classmethod
    def all(cls) -> dict[str, Permission]:
        """Every declared permission."""
        return dict(cls._known)


USERS_READ = Permission.define("users.read", "see user accounts (own team for supervisors)")
USERS_MANAGE = Permission.define("users.manage", "create users, change roles, deactivate")
TEAMS_MANAGE = Permission.define("teams.manage", "create teams and change their members")
AUDIT_READ = Permission.define("audit.read", "read the audit log")
TOKENS_OWN = Permission.define("tokens.own", "create and revoke one's own API tokens")

ROLE_PERMISSIONS: dict[Role, set[Permission]] = {
    Role.ADMIN: {USERS_READ, USERS_MANAGE, TEAMS_MANAGE, AUDIT_READ, TOKENS_OWN},
    Role.SUPERVISOR: {USERS_READ, TOKENS_OWN},
    Role.CAMPAIGN_MANAGER: {TOKENS_OWN},
    Role.AGENT: set(),
}


def grant(role: Role, *perms: Permission) -> None:
    """Give ``role`` more permissions (used by packages that declare their own)."""
    ROLE_PERMISSIONS[role].update(perms)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    roles: frozenset[Role]
    team_ids: frozenset[int] = frozenset()
    language: str = "en"
    auth_method: str = "session"  # "session" or "token"
    session_id: str | None = None
    token_id: int | None = None
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        """Every permission granted by the principal's roles."""
        out: set[Permission] = set()
        for role in self.roles:
            out |= ROLE_PERMISSIONS.get(role, set())
        return frozenset(out)

    def has(self, perm: Permission) -> bool:
        """True when some role grants ``perm``."""
        return perm in self.permissions

    def require(self, perm: Permission) -> None:
        """Raise PermissionDenied unless the principal has ``perm``."""
        if not self.has(perm):
            raise PermissionDenied(
                f"your role does not allow this ({perm})", details={"permission": str(perm)}
            )

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return Role.ADMIN in self.roles

    @property
    def supervised_team_ids(self) -> frozenset[int]:
        """Teams whose records a supervisor sees: the teams the supervisor belongs to."""
        return self.team_ids if Role.SUPERVISOR in self.roles else frozenset()


class Policy(Protocol[T_contra]):
    """Object-level rules for one model."""

    def can(self, principal: Principal, action: str, obj: T_contra) -> bool:
        """True when ``principal`` may do ``action`` ("read", "update", ...) to ``obj``."""

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to the records ``principal`` may read."""


class PolicyRegistry:
    """Policies by model type; the one entry point for object-level checks."""

    def __init__(self) -> None:
        self._policies: dict[type[Any], Policy[Any]] = {}

    def register(self, model: type[T], policy: Policy[T]) -> None:
        """Use ``policy`` for ``model``."""
        self._policies[model] = policy

    def policy(self, model: type[T]) -> Policy[T]:
        """The policy of ``model``; a model without one is a programming error."""
        try:
            return self._policies[model]
        except KeyError:
            raise LookupError(f"no policy registered for {model.__name__}") from None

    def authorize(self, principal: Principal, action: str, obj: Any) -> None:
        """Raise unless allowed: NotFound when the record may not even be seen (no leak)."""
        policy = self.policy(type(obj))
        if not policy.can(principal, "read", obj):
            raise NotFound(f"{type(obj).__name__.lower()} not found")
        if action != "read" and not policy.can(principal, action, obj):
            raise PermissionDenied(f"you may not {action} this {type(obj).__name__.lower()}")

    def scope(self, principal: Principal, model: type[Any], stmt: Select[Any]) -> Select[Any]:
        """``stmt`` narrowed to what ``principal`` may read of ``model``."""
        return self.policy(model).scope(principal, stmt)


class UserPolicy:
    """Admins see everyone; supervisors their teams' members; everyone sees themselves."""

    def can(self, principal: Principal, action: str, obj: User) -> bool:
        """Object-level rule for user accounts."""
        if principal.is_admin:
            return True
        if action == "read":
            if obj.id == principal.user_id:
                return True
            return bool(obj.team_ids & principal.supervised_team_ids)
        if action == "update_self":
            return obj.id == principal.user_id
        return False

    def scope(self, principal: Principal, stmt: Select[Any]) -> Select[Any]:
        """List narrowing for user accounts."""
        if principal.is_admin:
            return stmt
        teams = principal.supervised_team_ids
        conds: list[Any] = [User.id == principal.user_id]
        if teams:
            conds.append(
                User.id.in_(select(TeamMember.user_id).where(TeamMember.team_id.in_(teams)))
            )
        return stmt.where(or_(*conds))


def default_policies(extra: Iterable[tuple[type[Any], Policy[Any]]] = ()) -> PolicyRegistry:
    """A registry with the kernel's policies plus ``extra``."""
    reg = PolicyRegistry()
    reg.register(User, UserPolicy())
    for model, policy in extra:
        reg.register(model, policy)
    return reg
