"""Use cases for user accounts and teams: validate, change, audit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import session_scope, utcnow
from crm_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crm_core.listing import FilterSpec, ListQuery, ListSpec, Page, paginate
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.auth import normalise_username
from crm_core.users.models import AuthSession, Role, Team, TeamMember, User, UserRole
from crm_core.users.passwords import PasswordHashing, check_password_policy
from crm_core.users.permissions import USERS_MANAGE, PolicyRegistry, Principal

__all__ = ["TEAM_LIST", "USER_LIST", "UserService", "parse_roles"]

_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
LANGUAGES = ("en", "el", "fa", "ro", "hu")

USER_LIST = ListSpec(
    sortable={
        "id": User.id,
        "username": User.username,
        "display_name": User.display_name,
        "created_at": User.created_at,
        "last_login_at": User.last_login_at,
    },
    default_sort=("username",),
    filters={
        "is_active": FilterSpec(User.is_active, "bool"),
        "username": FilterSpec(User.username, "str", ("eq", "contains", "in")),
        "created_at": FilterSpec(User.created_at, "datetime", ("gte", "lte")),
        "role": FilterSpec(
            None,
            "choice",
            ("eq",),
            tuple(r.value for r in Role),
            condition=lambda _op, role: User.id.in_(
                select(UserRole.user_id).where(UserRole.role == role)
            ),
        ),
        "team_id": FilterSpec(
            None,
            "int",
            condition=lambda _op, team_id: User.id.in_(
                select(TeamMember.user_id).where(TeamMember.team_id == team_id)
            ),
        ),
    },
    search=(User.username, User.display_name, User.email),
    tiebreak=User.id,
)

TEAM_LIST = ListSpec(
    sortable={"id": Team.id, "name": Team.name},
    default_sort=("name",),
    filters={"name": FilterSpec(Team.name, "str", ("eq", "contains"))},
    search=(Team.name,),
    tiebreak=Team.id,
)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Turn role names into roles; InvalidInput names an unknown one."""
    out: set[Role] = set()
    for v in values:
        try:
            out.add(Role(v))
        except ValueError:
            raise InvalidInput(
                f"unknown role {v!r}; roles are: {', '.join(r.value for r in Role)}",
                details={"field": "roles"},
            ) from None
    return frozenset(out)


def _check_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME_RE.match(name):
        raise InvalidInput(
            "username must be 1-64 characters: letters, digits, '.', '_', '-', '@', "
            "starting with a letter or digit",
            details={"field": "username"},
        )
    return name


def _check_password(password: str) -> None:
    problem = check_password_policy(password)
    if problem:
        raise InvalidInput(f"password {problem}", details={"field": "password"})


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidInput(
            f"language must be one of: {', '.join(LANGUAGES)}", details={"field": "language"}
        )
    return language


class UserService:
    """Creates, lists and changes user accounts and teams."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        hashing: PasswordHashing,
        policies: PolicyRegistry,
    ) -> None:
        self._sessions = sessions
        self._hashing = hashing
        self._policies = policies

    async def create_user(
        self,
        *,
        username: str,
        password: str,
        roles: Iterable[str] = (),
        display_name: str = "",
        email: str | None = None,
        language: str = "en",
        team_ids: Iterable[int] = (),
        principal: Principal | None = None,
        ctx: AuditContext | None = None,
    ) -> User:
        """Create a user; ``principal`` None means the command line (trusted)."""
        if principal is not None:
            principal.require(USERS_MANAGE)
        name = _check_username(username)
        _check_password(password)
        role_set = parse_roles(roles)
        _check_language(language)
        pw_hash = await self._hashing.hash(password)
        async with session_scope(self._sessions) as db:
            if await db.scalar(select(User.id).where(User.username == name)) is not None:
                raise Conflict(f"username {name!r} is taken", details={"field": "username"})
            user = User(
                username=name,
                display_name=display_name.strip()[:200] or name,
                email=(email or None),
                password_hash=pw_hash,
                language=language,
                roles=[UserRole(role=r.value) for r in sorted(role_set)],
                memberships=[],
            )
            db.add(user)
            await db.flush()
            for team_id in set(team_ids):
                if await db.get(Team, team_id) is None:
                    raise InvalidInput(
                        f"team {team_id} does not exist", details={"field": "team_ids"}
                    )
                db.add(TeamMember(team_id=team_id, user_id=user.id))
            await record_audit(
                db,
                ctx or AuditContext(),
                action="user.create",
                principal=principal,
                object_type="user",
                object_id=str(user.id),
                details={"username": name, "roles": sorted(r.value for r in role_set)},
            )
            await db.flush()
            await db.refresh(user)
        return user

    async def ensure_user(
        self,
        *,
        username: str,
        password: str,
        roles: Iterable[str],
        display_name: str,
        team_names: Iterable[str] = (),
    ) -> User:
        """Create the user or reset its password, roles and teams (demo and bootstrap)."""
        name = _check_username(username)
        _check_password(password)
        role_set = parse_roles(roles)
        pw_hash = await self._hashing.hash(password)
        async with session_scope(self._sessions) as db:
            user = await db.scalar(select(User).where(User.username == name))
            if user is None:
                user = User(
                    username=name,
                    display_name=display_name,
                    password_hash=pw_hash,
                    roles=[],
                    memberships=[],
                )
                db.add(user)
            else:
                user.password_hash = pw_hash
                user.is_active = True
            user.roles = [UserRole(role=r.value) for r in sorted(role_set)]
            await db.flush()
            wanted: set[int] = set()
            for tname in team_names:
                team = await db.scalar(select(Team).where(Team.name == tname))
                if team is None:
                    team = Team(name=tname)
                    db.add(team)
                    await db.flush()
                wanted.add(team.id)
            user.memberships = [m for m in user.memberships if m.team_id in wanted]
            have = {m.team_id for m in user.memberships}
            for tid in wanted - have:
                user.memberships.append(TeamMember(team_id=tid, user_id=user.id))
            await record_audit(
                db,
                AuditContext(),
                action="user.ensure",
                object_type="user",
                object_id=str(user.id),
                username=name,
            )
            await db.flush()
            await db.refresh(user)
        return user

    async def get_user(self, principal: Principal, user_id: int) -> User:
        """One user the principal may see."""
        async with self._sessions() as db:
            user = await db.get(User, user_id)
            if user is None:
                raise NotFound("user not found")
            self._policies.authorize(principal, "read", user)
            return user

    async def me(self, principal: Principal) -> User:
        """The principal's own account."""
        async with self._sessions() as db:
            user = await db.get(User, principal.user_id)
            if user is None:
                raise NotFound("user not found")
            return user

    async def list_users(self, principal: Principal, query: ListQuery) -> Page[User]:
        """Users the principal may see, filtered, sorted and paged."""
        stmt = self._policies.scope(principal, User, select(User))
        async with self._sessions() as db:
            return await paginate(db, stmt, query, USER_LIST)

    async def update_user(
        self, principal: Principal, user_id: int, changes: dict[str, Any], ctx: AuditContext
    ) -> User:
        """Change a user; admins may change anything, users only their own profile fields."""
        admin_only = {"roles", "is_active", "team_ids", "username"}
        async with session_scope(self._sessions) as db:
            user = await db.get(User, user_id)
            if user is None:
                raise NotFound("user not found")
            self._policies.authorize(principal, "read", user)
            if not principal.is_admin and (
                user.id != principal.user_id or admin_only & changes.keys()
            ):
                raise PermissionDenied("only an administrator may change this")
            if "username" in changes:
                name = _check_username(changes["username"])
                clash = await db.scalar(
                    select(User.id).where(User.username == name, User.id != user.id)
                )
                if clash is not None:
                    raise Conflict(f"username {name!r} is taken", details={"field": "username"})
                user.username = name
            if "display_name" in changes:
                user.display_name = str(changes["display_name"]).strip()[:200] or user.username
            if "email" in changes:
                user.email = changes["email"] or None
            if "language" in changes:
                user.language = _check_language(changes["language"])
            if "timezone" in changes:
                user.timezone = changes["timezone"]
            if "roles" in changes:
                roles = parse_roles(changes["roles"])
                if user.id == principal.user_id and Role.ADMIN not in roles:
                    raise InvalidInput(
                        "you cannot remove your own admin role", details={"field": "roles"}
                    )
                user.roles = [UserRole(role=r.value) for r in sorted(roles)]
            if "is_active" in changes:
                if user.id == principal.user_id and not changes["is_active"]:
                    raise InvalidInput(
                        "you cannot deactivate yourself", details={"field": "is_active"}
                    )
                user.is_active = bool(changes["is_active"])
                if not user.is_active:
                    await db.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
            if "team_ids" in changes:
                wanted = set(changes["team_ids"])
                for tid in wanted:
                    if await db.get(Team, tid) is None:
                        raise InvalidInput(
                            f"team {tid} does not exist", details={"field": "team_ids"}
                        )
                user.memberships = [m for m in user.memberships if m.team_id in wanted]
                have = {m.team_id for m in user.memberships}
                for tid in wanted - have:
                    user.memberships.append(TeamMember(team_id=tid, user_id=user.id))
            if "password" in changes:
                _check_password(changes["password"])
                user.password_hash = await self._hashing.hash(changes["password"])
                user.password_changed_at = utcnow()
                # Every other session of this user ends; the current one stays.
                stmt = delete(AuthSession).where(AuthSession.user_id == user.id)
                if principal.session_id and user.id == principal.user_id:
                    stmt = stmt.where(AuthSession.id != principal.session_id)
                await db.execute(stmt)
            user.updated_at = utcnow()
            await record_audit(
                db,
                ctx,
                action="user.update",
                principal=principal,
                object_type="user",
                object_id=str(user.id),
                details={"fields": sorted(changes)},
            )
            await db.flush()
            await db.refresh(user)
            return user

    async def list_teams(self, principal: Principal, query: ListQuery) -> Page[Team]:
        """Teams, filtered, sorted and paged (everyone signed in may see team names)."""
        async with self._sessions() as db:
            return await paginate(db, select(Team), query, TEAM_LIST)

    async def create_team(
        self, principal: Principal | None, name: str, description: str, ctx: AuditContext
    ) -> Team:
        """Create a team."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("team name must be 1-100 characters", details={"field": "name"})
        async with session_scope(self._sessions) as db:
            if await db.scalar(select(Team.id).where(Team.name == name)) is not None:
                raise Conflict(f"a team named {name!r} exists", details={"field": "name"})
            team = Team(name=name, description=description[:2000])
            db.add(team)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="team.create",
                principal=principal,
                object_type="team",
                object_id=str(team.id),
            )
            await db.refresh(team)
            return team
