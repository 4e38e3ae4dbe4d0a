"""Request and response bodies of the users, auth, token, team and audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_core.users.models import ApiToken, AuditEntry, Team, User
from crm_core.users.permissions import Principal

__all__ = [
    "AuditOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "TeamCreateIn",
    "TeamOut",
    "TokenCreateIn",
    "TokenCreatedOut",
    "TokenListOut",
    "TokenOut",
    "UserCreateIn",
    "UserOut",
    "UserPatchIn",
]


RoleName = Literal["admin", "supervisor", "campaign_manager", "agent"]
Language = Literal["en", "el", "fa", "ro", "hu"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class LoginIn(_In):
    """Sign-in credentials."""

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    """A user account as others see it."""

    id: int
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    team_ids: list[int]
    language: str
    timezone: str | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        """Serialise a user."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            roles=sorted(r.value for r in user.role_set),
            team_ids=sorted(user.team_ids),
            language=user.language,
            timezone=user.timezone,
            is_active=user.is_active,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class MeOut(UserOut):
    """The caller's own account with its permissions and CSRF token."""

    permissions: list[str]
    auth_method: str
    csrf_token: str | None

    @classmethod
    def of_principal(cls, user: User, principal: Principal) -> MeOut:
        """Serialise the caller."""
        base = UserOut.of(user).model_dump()
        return cls(
            **base,
            permissions=sorted(str(p) for p in principal.permissions),
            auth_method=principal.auth_method,
            csrf_token=principal.csrf_token,
        )


class LoginOut(BaseModel):
    """A new session: the cookie is set; send ``csrf_token`` as X-CSRF-Token on changes."""

    user: MeOut
    csrf_token: str
    expires_at: datetime


class UserCreateIn(_In):
    """A new user account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[RoleName] = Field(default_factory=list, max_length=10)
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    language: Language = "en"
    team_ids: list[int] = Field(default_factory=list, max_length=100)


class UserPatchIn(_In):
    """Changes to a user account (only the fields given are changed)."""

    username: str | None = Field(default=None, min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    roles: list[RoleName] | None = Field(default=None, max_length=10)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    language: Language | None = None
    timezone: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None
    team_ids: list[int] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _null_only_where_clearable(self) -> UserPatchIn:
        for name in self.model_fields_set - {"email", "timezone"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (only email and timezone can be cleared)")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent."""
        return self.model_dump(exclude_unset=True)


class TeamOut(BaseModel):
    """A team."""

    id: int
    name: str
    description: str
    member_ids: list[int]

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        """Serialise a team."""
        return cls(
            id=team.id,
            name=team.name,
            description=team.description,
            member_ids=sorted(m.user_id for m in team.members),
        )


class TeamCreateIn(_In):
    """A new team."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class TokenCreateIn(_In):
    """A new API token."""

    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None
    user_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class TokenOut(BaseModel):
    """An API token without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, tok: ApiToken) -> TokenOut:
        """Serialise a token."""
        return cls.model_validate(tok)


class TokenListOut(BaseModel):
    """The caller's tokens."""

    items: list[TokenOut]


class TokenCreatedOut(TokenOut):
    """A new token; ``token`` is shown this once."""

    token: str


class AuditOut(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    username: str | None
    action: str
    method: str | None
    path: str | None
    status: int | None
    object_type: str | None
    object_id: str | None
    remote_addr: str | None
    request_id: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEntry) -> AuditOut:
        """Serialise an audit entry."""
        return cls.model_validate(e)
