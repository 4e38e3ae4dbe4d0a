"""HTTP handlers for sign-in, the caller's account, API tokens, users, teams and the audit log."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from crm_core.appkeys import AUTH, SESSIONS, SETTINGS, USERS
from crm_core.httpapi import (
    ApiRegistry,
    audit_context,
    json_ok,
    list_query,
    page_json,
    path_int,
    principal,
    read_body,
)
from crm_core.listing import FilterSpec, ListSpec, paginate
from crm_core.users.models import AuditEntry
from crm_core.users.permissions import (
    AUDIT_READ,
    TEAMS_MANAGE,
    TOKENS_OWN,
    USERS_MANAGE,
    USERS_READ,
)
from crm_core.users.schemas import (
    AuditOut,
    LoginIn,
    LoginOut,
    MeOut,
    TeamCreateIn,
    TeamOut,
    TokenCreatedOut,
    TokenCreateIn,
    TokenListOut,
    TokenOut,
    UserCreateIn,
    UserOut,
    UserPatchIn,
)
from crm_core.users.service import TEAM_LIST, USER_LIST

__all__ = ["SESSION_COOKIE", "register"]

SESSION_COOKIE = "callboard_session"

AUDIT_LIST = ListSpec(
    sortable={"at": AuditEntry.at, "id": AuditEntry.id},
    default_sort=("-at",),
    filters={
        "user_id": FilterSpec(AuditEntry.user_id, "int"),
        "action": FilterSpec(AuditEntry.action, "str", ("eq", "in", "contains")),
        "object_type": FilterSpec(AuditEntry.object_type, "str"),
        "object_id": FilterSpec(AuditEntry.object_id, "str"),
        "at": FilterSpec(AuditEntry.at, "datetime", ("gte", "lte")),
    },
    tiebreak=AuditEntry.id,
)


async def login(request: web.Request) -> web.Response:
    """Sign in with username and password; sets the session cookie."""
    body = await read_body(request, LoginIn)
    auth = request.app[AUTH]
    result = await auth.login(
        body.username,
        body.password,
        audit_context(request),
        user_agent=request.headers.get("User-Agent"),
    )
    user = await request.app[USERS].me(result.principal)
    out = LoginOut(
        user=MeOut.of_principal(user, result.principal),
        csrf_token=result.csrf_token,
        expires_at=result.expires_at,
    )
    resp = json_ok(out)
    settings = request.app[SETTINGS]
    resp.set_cookie(
        SESSION_COOKIE,
        result.session_token,
        max_age=int(settings.session_ttl_hours * 3600),
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return resp


async def logout(request: web.Request) -> web.Response:
    """End the current browser session and clear the cookie."""
    await request.app[AUTH].logout(principal(request), audit_context(request))
    resp = web.Response(status=204)
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def get_me(request: web.Request) -> web.Response:
    """The signed-in user's account, roles, permissions and CSRF token."""
    p = principal(request)
    user = await request.app[USERS].me(p)
    return json_ok(MeOut.of_principal(user, p))


async def list_tokens(request: web.Request) -> web.Response:
    """The caller's API tokens (secrets are never shown again)."""
    tokens = await request.app[AUTH].list_tokens(principal(request))
    return json_ok(TokenListOut(items=[TokenOut.of(t) for t in tokens]))


async def create_token(request: web.Request) -> web.Response:
    """Create an API token; the secret is in this answer only."""
    body = await read_body(request, TokenCreateIn)
    issued = await request.app[AUTH].issue_token(
        principal(request),
        body.name,
        audit_context(request),
        expires_at=body.expires_at,
        for_user_id=body.user_id,
    )
    out = TokenCreatedOut(**TokenOut.of(issued.token).model_dump(), token=issued.secret)
    return json_ok(out, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke an API token at once."""
    await request.app[AUTH].revoke_token(
        principal(request), path_int(request, "token_id"), audit_context(request)
    )
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.Response:
    """Users the caller may see (admins: all; supervisors: their teams)."""
    page = await request.app[USERS].list_users(principal(request), list_query(request, USER_LIST))
    return page_json(page, UserOut.of)


async def create_user(request: web.Request) -> web.Response:
    """Create a user account."""
    body = await read_body(request, UserCreateIn)
    user = await request.app[USERS].create_user(
        username=body.username,
        password=body.password,
        roles=body.roles,
        display_name=body.display_name,
        email=body.email,
        language=body.language,
        team_ids=body.team_ids,
        principal=principal(request),
        ctx=audit_context(request),
    )
    return json_ok(UserOut.of(user), status=201)


async def get_user(request: web.Request) -> web.Response:
    """One user account."""
    user = await request.app[USERS].get_user(principal(request), path_int(request, "user_id"))
    return json_ok(UserOut.of(user))


async def patch_user(request: web.Request) -> web.Response:
    """Change a user account: admins anything, users their own profile and password."""
    body = await read_body(request, UserPatchIn)
    user = await request.app[USERS].update_user(
        principal(request), path_int(request, "user_id"), body.changes(), audit_context(request)
    )
    return json_ok(UserOut.of(user))


async def list_teams(request: web.Request) -> web.Response:
    """Teams."""
    page = await request.app[USERS].list_teams(principal(request), list_query(request, TEAM_LIST))
    return page_json(page, TeamOut.of)


async def create_team(request: web.Request) -> web.Response:
    """Create a team."""
    body = await read_body(request, TeamCreateIn)
    team = await request.app[USERS].create_team(
        principal(request), body.name, body.description, audit_context(request)
    )
    return json_ok(TeamOut.of(team), status=201)


async def list_audit(request: web.Request) -> web.Response:
    """The audit log, newest first."""
    query = list_query(request, AUDIT_LIST)
    async with request.app[SESSIONS]() as db:
        page = await paginate(db, select(AuditEntry), query, AUDIT_LIST)
    return page_json(page, AuditOut.of)


def register(api: ApiRegistry) -> None:
    """Declare this module's endpoints."""
    tag = "auth"
    api.route(
        "POST",
        "/api/auth/login",
        summary="Sign in",
        tag=tag,
        auth="public",
        body=LoginIn,
        response=LoginOut,
        audited=True,
        errors=(400, 401, 415, 429),
    )(login)
    api.route(
        "POST",
        "/api/auth/logout",
        summary="Sign out (end the session)",
        tag=tag,
        audited=True,
        status=204,
        errors=(401, 403),
    )(logout)
    api.route(
        "GET", "/api/me", summary="The signed-in user", tag=tag, response=MeOut, errors=(401,)
    )(get_me)
    api.route(
        "GET",
        "/api/tokens",
        summary="My API tokens",
        tag="tokens",
        permission=TOKENS_OWN,
        response=TokenListOut,
        errors=(401, 403),
    )(list_tokens)
    api.route(
        "POST",
        "/api/tokens",
        summary="Create an API token",
        tag="tokens",
        permission=TOKENS_OWN,
        body=TokenCreateIn,
        response=TokenCreatedOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 404, 415),
    )(create_token)
    api.route(
        "DELETE",
        r"/api/tokens/{token_id:\d+}",
        summary="Revoke an API token",
        tag="tokens",
        permission=TOKENS_OWN,
        status=204,
        audited=True,
        errors=(401, 403, 404),
    )(revoke_token)
    api.route(
        "GET",
        "/api/users",
        summary="List users",
        tag="users",
        permission=USERS_READ,
        response=UserOut,
        list_spec=USER_LIST,
        errors=(400, 401, 403),
    )(list_users)
    api.route(
        "POST",
        "/api/users",
        summary="Create a user",
        tag="users",
        permission=USERS_MANAGE,
        body=UserCreateIn,
        response=UserOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415),
    )(create_user)
    api.route(
        "GET",
        r"/api/users/{user_id:\d+}",
        summary="Get a user",
        tag="users",
        response=UserOut,
        errors=(401, 404),
    )(get_user)
    api.route(
        "PATCH",
        r"/api/users/{user_id:\d+}",
        summary="Change a user",
        tag="users",
        body=UserPatchIn,
        response=UserOut,
        audited=True,
        errors=(400, 401, 403, 404, 409, 415),
    )(patch_user)
    api.route(
        "GET",
        "/api/teams",
        summary="List teams",
        tag="teams",
        response=TeamOut,
        list_spec=TEAM_LIST,
        errors=(400, 401),
    )(list_teams)
    api.route(
        "POST",
        "/api/teams",
        summary="Create a team",
        tag="teams",
        permission=TEAMS_MANAGE,
        body=TeamCreateIn,
        response=TeamOut,
        status=201,
        audited=True,
        errors=(400, 401, 403, 409, 415),
    )(create_team)
    api.route(
        "GET",
        "/api/audit",
        summary="Read the audit log",
        tag="audit",
        permission=AUDIT_READ,
        response=AuditOut,
        list_spec=AUDIT_LIST,
        errors=(400, 401, 403),
    )(list_audit)
