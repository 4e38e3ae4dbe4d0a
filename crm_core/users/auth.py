"""Authentication: password sign-in with rate limits, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    cast,
    column,
    delete,
    literal,
    select,
    table,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from crm_core.db import session_scope, utcnow
from crm_core.errors import AuthenticationFailed, InvalidInput, NotFound, RateLimited
from crm_core.users.audit import AuditContext, record_audit
from crm_core.users.counters import Counters
from crm_core.users.models import ApiToken, AuthSession, Role, TeamMember, User, UserRole
from crm_core.users.passwords import PasswordHashing
from crm_core.users.permissions import Principal

__all__ = [
    "AuthService",
    "IssuedToken",
    "LoginLimits",
    "LoginResult",
    "load_principal",
    "principal_for",
]

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cbt_"  # noqa: S105 — a marker, not a secret
_BAD_LOGIN = "invalid username or password"


@dataclass(frozen=True)
class LoginLimits:
    """How many failed sign-ins are tolerated per account and per address in a window."""

    per_account: int = 5
    per_address: int = 20
    window_seconds: int = 900


@dataclass(frozen=True)
class LoginResult:
    """A new browser session: the cookie value, its CSRF token and the principal."""

    session_token: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True)
class IssuedToken:
    """A new API token; ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def principal_for(
    user: User,
    *,
    auth_method: str,
    session_id: str | None = None,
    token_id: int | None = None,
    csrf_token: str | None = None,
) -> Principal:
    """Build the request principal of ``user``."""
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=user.role_set,
        team_ids=user.team_ids,
        language=user.language,
        auth_method=auth_method,
        session_id=session_id,
        token_id=token_id,
        csrf_token=csrf_token,
    )


def _principal_rows() -> Any:
    """An active user's name, language, roles and teams as ``(kind, value)`` rows, in one
    statement built once: ``u`` username, ``l`` language, ``r`` a role, ``t`` a team id.
    No row at all: the user is missing or inactive."""
    active = (
        select(User.id).where(User.id == bindparam("user_id"), User.is_active).scalar_subquery()
    )
    return union_all(
        select(literal("u"), User.username).where(User.id == active),
        select(literal("l"), User.language).where(User.id == active),
        select(literal("r"), UserRole.role).where(UserRole.user_id == active),
        select(literal("t"), cast(TeamMember.team_id, String)).where(TeamMember.user_id == active),
    )


_PRINCIPAL_ROWS = _principal_rows()
# The same rows and, as ``e``, the access_epoch count (migrations 0009/0010) of the same snapshot.
_ACCESS_EPOCH = table("access_epoch", column("id"), column("n"))
_PRINCIPAL_ROWS_EPOCH = union_all(
    *_PRINCIPAL_ROWS.selects,
    select(literal("e"), cast(_ACCESS_EPOCH.c.n, String)).where(_ACCESS_EPOCH.c.id == 1),
)


async def load_principal(
    conn: AsyncConnection, user_id: int, *, auth_method: str = "internal"
) -> Principal | None:
    """The principal of an active user read in one round trip (``None``: missing or inactive),
    as :func:`principal_for` builds it from a loaded :class:`User`; for hot paths such as the
    screen pop that need a user's roles without a session."""
    rows = (await conn.execute(_PRINCIPAL_ROWS, {"user_id": user_id})).all()
    return _principal_of(user_id, rows, auth_method)


async def load_principal_at_epoch(
    conn: AsyncConnection, user_id: int
) -> tuple[Principal | None, int]:
    """:func:`load_principal` and the ``access_epoch`` count read in the same statement: a
    principal kept since is still right while the count has not moved (it moves on every change
    of the user's name, language, active flag, roles and teams)."""
    rows = (await conn.execute(_PRINCIPAL_ROWS_EPOCH, {"user_id": user_id})).all()
    epoch = next(int(value) for kind, value in rows if kind == "e")
    return _principal_of(user_id, [r for r in rows if r[0] != "e"], "internal"), epoch


def _principal_of(user_id: int, rows: Sequence[Any], auth_method: str) -> Principal | None:
    username: str | None = None
    language = "en"
    roles: set[Role] = set()
    teams: set[int] = set()
    for kind, value in rows:
        if kind == "u":
            username = value
        elif kind == "l":
            language = value
        elif kind == "r":
            roles.add(Role(value))
        else:
            teams.add(int(value))
    if username is None:
        return None
    return Principal(
        user_id=user_id,
        username=username,
        roles=frozenset(roles),
        team_ids=frozenset(teams),
        language=language,
        auth_method=auth_method,
    )


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding blanks."""
    return username.strip().lower()


class AuthService:
    """Signs users in and out and resolves session cookies and Bearer tokens to principals."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        secret_key: str,
        counters: Counters,
        hashing: PasswordHashing,
        session_ttl: timedelta,
        limits: LoginLimits,
    ) -> None:
        self._sessions = sessions
        self._key = secret_key.encode()
        self._counters = counters
        self._hashing = hashing
        self._ttl = session_ttl
        self._limits = limits

    def _session_id(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _token_hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    async def _check_rate(self, username: str, remote_addr: str | None) -> None:
        keys = [(f"login:user:{username}", self._limits.per_account, "this account")]
        if remote_addr:
            keys.append((f"login:addr:{remote_addr}", self._limits.per_address, "your address"))
        for key, limit, who in keys:
            count, retry_after = await self._counters.get(key)
            if count >= limit:
                raise RateLimited(
                    f"too many failed sign-ins for {who}; try again in {retry_after} s",
                    retry_after=max(retry_after, 1),
                )

    async def login(
        self, username: str, password: str, ctx: AuditContext, *, user_agent: str | None = None
    ) -> LoginResult:
        """Check the password and open a session; 401 never says which part was wrong."""
        name = normalise_username(username)
        if not name or not password:
            raise AuthenticationFailed(_BAD_LOGIN)
        await self._check_rate(name, ctx.remote_addr)
        failed = False
        async with session_scope(self._sessions) as db:
            user = await db.scalar(select(User).where(User.username == name))
            ok = await self._hashing.verify(user.password_hash if user else None, password)
            if not ok or user is None or not user.is_active:
                failed = True
                reason = "inactive" if (ok and user is not None) else "bad_credentials"
                # Committed with this transaction; the error is raised after it.
                await record_audit(
                    db,
                    ctx,
                    action="auth.login_failed",
                    user=user,
                    username=name,
                    details={"reason": reason},
                )
        if failed:
            await self._counters.incr(f"login:user:{name}", self._limits.window_seconds)
            if ctx.remote_addr:
                await self._counters.incr(
                    f"login:addr:{ctx.remote_addr}", self._limits.window_seconds
                )
            log.info("failed sign-in for %r from %s", name, ctx.remote_addr)
            raise AuthenticationFailed(_BAD_LOGIN)
        async with session_scope(self._sessions) as db:
            user = await db.scalar(select(User).where(User.username == name))
            if user is None or not user.is_active:  # changed since the password check
                raise AuthenticationFailed(_BAD_LOGIN)
            if self._hashing.needs_rehash(user.password_hash):
                user.password_hash = await self._hashing.hash(password)
            now = utcnow()
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            row = AuthSession(
                id=self._session_id(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + self._ttl,
                last_seen_at=now,
                remote_addr=ctx.remote_addr,
                user_agent=(user_agent or "")[:400] or None,
            )
            db.add(row)
            user.last_login_at = now
            await record_audit(db, ctx, action="auth.login", user=user)
            principal = principal_for(
                user, auth_method="session", session_id=row.id, csrf_token=csrf
            )
        await self._counters.reset(f"login:user:{name}")
        log.info("user %s signed in from %s", name, ctx.remote_addr)
        return LoginResult(token, csrf, row.expires_at, principal)

    async def logout(self, principal: Principal, ctx: AuditContext) -> None:
        """End the principal's browser session."""
        if principal.session_id is None:
            return
        async with session_scope(self._sessions) as db:
            await db.execute(delete(AuthSession).where(AuthSession.id == principal.session_id))
            await record_audit(db, ctx, action="auth.logout", principal=principal)

    async def from_session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or None when unknown, expired or inactive."""
        if not token or len(token) > 200:
            return None
        sid = self._session_id(token)
        now = utcnow()
        async with session_scope(self._sessions) as db:
            row = await db.get(AuthSession, sid)
            if row is None:
                return None
            if row.expires_at <= now:
                await db.delete(row)
                return None
            user = await db.get(User, row.user_id)
            if user is None or not user.is_active:
                return None
            if now - row.last_seen_at > timedelta(minutes=1):
                row.last_seen_at = now
            return principal_for(
                user, auth_method="session", session_id=sid, csrf_token=row.csrf_token
            )

    async def from_bearer(self, secret: str) -> Principal | None:
        """The principal of an API token, or None when unknown, revoked or expired."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        now = utcnow()
        async with session_scope(self._sessions) as db:
            tok = await db.scalar(
                select(ApiToken).where(ApiToken.token_hash == self._token_hash(secret))
            )
            if tok is None or tok.revoked_at is not None:
                return None
            if tok.expires_at is not None and tok.expires_at <= now:
                return None
            user = await db.get(User, tok.user_id)
            if user is None or not user.is_active:
                return None
            if tok.last_used_at is None or now - tok.last_used_at > timedelta(minutes=1):
                tok.last_used_at = now
            return principal_for(user, auth_method="token", token_id=tok.id)

    async def issue_token(
        self,
        principal: Principal,
        name: str,
        ctx: AuditContext,
        *,
        expires_at: datetime | None = None,
        for_user_id: int | None = None,
    ) -> IssuedToken:
        """Create an API token for the principal (or, for admins, another user)."""
        name = name.strip()
        if not name:
            raise InvalidInput("a token needs a name", details={"field": "name"})
        user_id = principal.user_id
        if for_user_id is not None and for_user_id != principal.user_id:
            if not principal.is_admin:
                raise NotFound("user not found")
            user_id = for_user_id
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInput("expires_at must be in the future", details={"field": "expires_at"})
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with session_scope(self._sessions) as db:
            if await db.get(User, user_id) is None:
                raise NotFound("user not found")
            tok = ApiToken(
                user_id=user_id,
                name=name[:100],
                token_hash=self._token_hash(secret),
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                expires_at=expires_at,
            )
            db.add(tok)
            await db.flush()
            await record_audit(
                db,
                ctx,
                action="token.create",
                principal=principal,
                object_type="api_token",
                object_id=str(tok.id),
                details={"for_user_id": user_id, "name": tok.name},
            )
        return IssuedToken(tok, secret)

    async def list_tokens(self, principal: Principal) -> list[ApiToken]:
        """The principal's own tokens, newest first."""
        async with self._sessions() as db:
            rows = await db.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == principal.user_id)
                .order_by(ApiToken.id.desc())
            )
            return list(rows)

    async def revoke_token(self, principal: Principal, token_id: int, ctx: AuditContext) -> None:
        """Revoke a token of one's own (admins: anyone's)."""
        async with session_scope(self._sessions) as db:
            tok = await db.get(ApiToken, token_id)
            if tok is None or (tok.user_id != principal.user_id and not principal.is_admin):
                raise NotFound("token not found")
            if tok.revoked_at is None:
                tok.revoked_at = utcnow()
            await record_audit(
                db,
                ctx,
                action="token.revoke",
                principal=principal,
                object_type="api_token",
                object_id=str(token_id),
            )

    async def end_sessions_of(self, db: AsyncSession, user_id: int) -> None:
        """Sign a user out everywhere (password change, deactivation)."""
        await db.execute(delete(AuthSession).where(AuthSession.user_id == user_id))

    async def purge_expired(self) -> int:
        """Delete expired sessions; return how many."""
        async with session_scope(self._sessions) as db:
            result = await db.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
        return int(getattr(result, "rowcount", 0) or 0)
