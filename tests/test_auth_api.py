"""Sign-in, sessions, CSRF, API tokens, rate limits and the audit of it all — over real HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_core.appkeys import SESSIONS
from crm_core.users.models import AuditEntry
from tests.conftest import AppMaker, add_user, login

PW = "pw-" + "x" * 8


async def _audit_actions(client: TestClient[Any, Any]) -> list[str]:
    async with client.app[SESSIONS]() as db:
        rows = await db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [r.action for r in rows]


async def test_login_sets_a_safe_cookie_that_api_me_accepts(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    resp = await client.post("/api/auth/login", json={"username": "admin", "password": PW})
    assert resp.status == 200
    cookie = resp.headers["Set-Cookie"]
    assert "callboard_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    body = await resp.json()
    assert body["user"]["username"] == "admin"
    assert body["user"]["roles"] == ["admin"]
    assert len(body["csrf_token"]) > 20
    me = await client.get("/api/me")
    assert me.status == 200
    data = await me.json()
    assert data["username"] == "admin"
    assert "users.manage" in data["permissions"]
    assert data["auth_method"] == "session"


async def test_username_is_case_insensitive(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    body = await login(client, "  Agent1 ")
    assert body["user"]["username"] == "agent1"


async def test_bad_login_does_not_say_which_part_was_wrong(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    wrong_pw = await client.post("/api/auth/login", json={"username": "agent1", "password": "no"})
    no_user = await client.post("/api/auth/login", json={"username": "ghost", "password": PW})
    assert wrong_pw.status == no_user.status == 401
    a, b = await wrong_pw.json(), await no_user.json()
    assert a == b
    assert a["error"]["code"] == "unauthenticated"
    assert (await client.get("/api/me")).status == 401
    actions = await _audit_actions(client)
    assert actions.count("auth.login_failed") == 2


async def test_inactive_user_cannot_sign_in(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    await add_user(client, "agent1", "agent")
    admin = await login(client, "admin")
    resp = await client.get("/api/users", params={"username": "agent1"})
    uid = (await resp.json())["items"][0]["id"]
    resp = await client.patch(
        f"/api/users/{uid}",
        json={"is_active": False},
        headers={"X-CSRF-Token": admin["csrf_token"]},
    )
    assert resp.status == 200
    client.session.cookie_jar.clear()
    resp = await client.post("/api/auth/login", json={"username": "agent1", "password": PW})
    assert resp.status == 401


async def test_logout_ends_the_session(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    body = await login(client, "agent1")
    cookies = {c.key: c.value for c in client.session.cookie_jar}
    resp = await client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert resp.status == 204
    # The old cookie value no longer opens anything, even if a client kept it.
    resp = await client.get("/api/me", cookies=cookies)
    assert resp.status == 401
    assert "auth.logout" in await _audit_actions(client)


async def test_state_change_with_cookie_needs_csrf_token(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    body = await login(client, "admin")
    resp = await client.post("/api/teams", json={"name": "Sales"})
    assert resp.status == 403
    assert (await resp.json())["error"]["details"]["reason"] == "csrf"
    resp = await client.post(
        "/api/teams", json={"name": "Sales"}, headers={"X-CSRF-Token": "wrong"}
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/teams", json={"name": "Sales"}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert resp.status == 201
    # A refused attempt is audited too.
    assert "http.create_team" in await _audit_actions(client)
    assert "team.create" in await _audit_actions(client)


async def test_cross_site_origin_is_refused(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    body = await login(client, "admin")
    resp = await client.post(
        "/api/teams",
        json={"name": "Sales"},
        headers={"X-CSRF-Token": body["csrf_token"], "Origin": "https://evil.example"},
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["details"]["reason"] == "origin"


async def test_api_token_lifecycle(client: TestClient[Any, Any]) -> None:
    await add_user(client, "manager", "campaign_manager")
    body = await login(client, "manager")
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    resp = await client.post("/api/tokens", json={"name": "ERP sync"}, headers=csrf)
    assert resp.status == 201
    created = await resp.json()
    secret = created["token"]
    assert secret.startswith("cbt_")
    client.session.cookie_jar.clear()
    bearer = {"Authorization": f"Bearer {secret}"}
    me = await client.get("/api/me", headers=bearer)
    assert me.status == 200
    assert (await me.json())["auth_method"] == "token"
    # Bearer requests carry no ambient credentials, so they need no CSRF token.
    listing = await client.get("/api/tokens", headers=bearer)
    items = (await listing.json())["items"]
    assert [t["name"] for t in items] == ["ERP sync"]
    assert "token" not in items[0]
    resp = await client.delete(f"/api/tokens/{created['id']}", headers=bearer)
    assert resp.status == 204
    resp = await client.get("/api/me", headers=bearer)
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "the API token is unknown, revoked or expired"


async def test_malformed_authorization_header(client: TestClient[Any, Any]) -> None:
    for value in ("Basic abc", "Bearer", "Bearer cbt_nope", "Bearer " + "x" * 500):
        resp = await client.get("/api/me", headers={"Authorization": value})
        assert resp.status == 401, value
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_of_another_user_cannot_be_revoked(client: TestClient[Any, Any]) -> None:
    await add_user(client, "manager", "campaign_manager")
    await add_user(client, "sup", "supervisor")
    body = await login(client, "manager")
    resp = await client.post(
        "/api/tokens", json={"name": "t"}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    token_id = (await resp.json())["id"]
    client.session.cookie_jar.clear()
    body = await login(client, "sup")
    resp = await client.delete(
        f"/api/tokens/{token_id}", headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert resp.status == 404


async def test_failed_logins_are_rate_limited_per_account(make_client: AppMaker) -> None:
    client = await make_client(login_max_failures_per_account=3, login_window_seconds=60)
    await add_user(client, "agent1", "agent")
    for _ in range(3):
        resp = await client.post("/api/auth/login", json={"username": "agent1", "password": "x"})
        assert resp.status == 401
    # Even the right password is refused while the account is locked.
    resp = await client.post("/api/auth/login", json={"username": "agent1", "password": PW})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["error"]["code"] == "rate_limited"
    # Another account from the same address is not locked by it.
    await add_user(client, "agent2", "agent")
    await login(client, "agent2")


async def test_failed_logins_are_rate_limited_per_address(make_client: AppMaker) -> None:
    client = await make_client(login_max_failures_per_address=4, login_window_seconds=60)
    for i in range(4):
        resp = await client.post("/api/auth/login", json={"username": f"u{i}", "password": "x"})
        assert resp.status == 401
    await add_user(client, "agent1", "agent")
    resp = await client.post("/api/auth/login", json={"username": "agent1", "password": PW})
    assert resp.status == 429


async def test_password_change_ends_other_sessions(
    client: TestClient[Any, Any], aiohttp_client: Any
) -> None:
    user = await add_user(client, "agent1", "agent")
    first = await login(client, "agent1")
    first_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    second = await login(client, "agent1")
    resp = await client.patch(
        f"/api/users/{user.id}",
        json={"password": "new-password"},
        headers={"X-CSRF-Token": second["csrf_token"]},
    )
    assert resp.status == 200
    assert (await client.get("/api/me")).status == 200
    resp = await client.get("/api/me", cookies=first_cookies)
    assert resp.status == 401
    assert first["csrf_token"] != second["csrf_token"]


async def test_expired_sessions_are_refused_and_purged(client: TestClient[Any, Any]) -> None:
    from datetime import timedelta

    from sqlalchemy import func, update

    from crm_core.appkeys import AUTH
    from crm_core.db import utcnow
    from crm_core.users.models import AuthSession

    await add_user(client, "agent1", "agent")
    await login(client, "agent1")
    async with client.app[SESSIONS]() as db, db.begin():
        await db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get("/api/me")).status == 401
    await login(client, "agent1")
    async with client.app[SESSIONS]() as db, db.begin():
        await db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await client.app[AUTH].purge_expired() == 1
    async with client.app[SESSIONS]() as db:
        assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0


async def test_signing_in_again_needs_no_csrf_token(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    await add_user(client, "agent2", "agent")
    await login(client, "agent1")
    # The browser still holds agent1's cookie; sign-in is public and does not use it.
    body = await login(client, "agent2")
    assert body["user"]["username"] == "agent2"
    assert (await (await client.get("/api/me")).json())["username"] == "agent2"
