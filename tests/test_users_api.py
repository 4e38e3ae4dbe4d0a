"""Users and teams API: route- and object-level permissions, validation, list conventions."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import add_user, login


async def _as(client: TestClient[Any, Any], username: str) -> dict[str, str]:
    client.session.cookie_jar.clear()
    body = await login(client, username)
    return {"X-CSRF-Token": body["csrf_token"]}


async def test_admin_creates_user_who_can_then_sign_in(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    csrf = await _as(client, "admin")
    resp = await client.post("/api/teams", json={"name": "North"}, headers=csrf)
    team = await resp.json()
    resp = await client.post(
        "/api/users",
        json={
            "username": "Maria",
            "password": "s3cret-pass",
            "roles": ["agent"],
            "display_name": "Maria P.",
            "language": "el",
            "team_ids": [team["id"]],
        },
        headers=csrf,
    )
    assert resp.status == 201, await resp.text()
    user = await resp.json()
    assert user["username"] == "maria"
    assert user["roles"] == ["agent"]
    assert user["team_ids"] == [team["id"]]
    assert "password" not in str(user)
    client.session.cookie_jar.clear()
    resp = await client.post(
        "/api/auth/login", json={"username": "maria", "password": "s3cret-pass"}
    )
    assert resp.status == 200


async def test_create_user_validation_names_the_field(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    csrf = await _as(client, "admin")
    cases = [
        ({"username": "x y", "password": "longenough"}, "username"),
        ({"username": "ok", "password": "ab"}, "password"),
        ({"username": "ok", "password": "longenough", "roles": ["king"]}, "roles"),
        ({"username": "ok", "password": "longenough", "language": "xx"}, "language"),
        ({"username": "ok", "password": "longenough", "team_ids": [999]}, "team_ids"),
        ({"username": "ok", "password": "longenough", "extra": 1}, "extra"),
        ({"password": "longenough"}, "username"),
    ]
    for body, field in cases:
        resp = await client.post("/api/users", json=body, headers=csrf)
        assert resp.status == 400, (body, await resp.text())
        err = (await resp.json())["error"]
        assert field in err["message"] or field in str(err["details"]), (body, err)
    resp = await client.post(
        "/api/users", json={"username": "admin", "password": "longenough"}, headers=csrf
    )
    assert resp.status == 409


async def test_agent_cannot_manage_users(client: TestClient[Any, Any]) -> None:
    await add_user(client, "agent1", "agent")
    csrf = await _as(client, "agent1")
    resp = await client.get("/api/users")
    assert resp.status == 403
    assert "users.read" in (await resp.json())["error"]["message"]
    resp = await client.post(
        "/api/users", json={"username": "x", "password": "longenough"}, headers=csrf
    )
    assert resp.status == 403
    resp = await client.get("/api/audit")
    assert resp.status == 403


async def test_supervisor_sees_only_own_team(client: TestClient[Any, Any]) -> None:
    await add_user(client, "sup", "supervisor", teams=("North",))
    a1 = await add_user(client, "agent1", "agent", teams=("North",))
    a2 = await add_user(client, "agent2", "agent", teams=("South",))
    await _as(client, "sup")
    resp = await client.get("/api/users")
    names = [u["username"] for u in (await resp.json())["items"]]
    assert names == ["agent1", "sup"]
    assert (await client.get(f"/api/users/{a1.id}")).status == 200
    # Outside the scope the record does not even exist for this user.
    resp = await client.get(f"/api/users/{a2.id}")
    assert resp.status == 404
    # Filters cannot widen the scope.
    resp = await client.get("/api/users", params={"username": "agent2"})
    assert (await resp.json())["total"] == 0


async def test_agent_sees_and_edits_only_self(client: TestClient[Any, Any]) -> None:
    a1 = await add_user(client, "agent1", "agent")
    a2 = await add_user(client, "agent2", "agent")
    csrf = await _as(client, "agent1")
    assert (await client.get(f"/api/users/{a1.id}")).status == 200
    assert (await client.get(f"/api/users/{a2.id}")).status == 404
    resp = await client.patch(
        f"/api/users/{a1.id}", json={"display_name": "Ann", "language": "el"}, headers=csrf
    )
    assert resp.status == 200
    assert (await resp.json())["language"] == "el"
    resp = await client.patch(f"/api/users/{a1.id}", json={"roles": ["admin"]}, headers=csrf)
    assert resp.status == 403
    resp = await client.patch(f"/api/users/{a2.id}", json={"display_name": "X"}, headers=csrf)
    assert resp.status == 404
    resp = await client.patch(f"/api/users/{a1.id}", json={"roles": None}, headers=csrf)
    assert resp.status == 400
    assert "roles cannot be null" in (await resp.json())["error"]["message"]
    resp = await client.patch(f"/api/users/{a1.id}", json={"email": None}, headers=csrf)
    assert resp.status == 200


async def test_admin_cannot_lock_self_out(client: TestClient[Any, Any]) -> None:
    admin = await add_user(client, "admin", "admin")
    csrf = await _as(client, "admin")
    resp = await client.patch(f"/api/users/{admin.id}", json={"roles": ["agent"]}, headers=csrf)
    assert resp.status == 400
    resp = await client.patch(f"/api/users/{admin.id}", json={"is_active": False}, headers=csrf)
    assert resp.status == 400


async def test_list_conventions(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    for i in range(1, 8):
        await add_user(client, f"agent{i}", "agent", teams=("North",) if i % 2 else ())
    await _as(client, "admin")
    resp = await client.get("/api/users", params={"limit": "3", "offset": "2", "sort": "-username"})
    page = await resp.json()
    assert page["total"] == 8
    assert page["limit"] == 3
    assert page["offset"] == 2
    assert [u["username"] for u in page["items"]] == ["agent5", "agent4", "agent3"]
    resp = await client.get("/api/users", params={"role": "admin"})
    assert [u["username"] for u in (await resp.json())["items"]] == ["admin"]
    resp = await client.get("/api/users", params={"q": "AGENT7"})
    assert [u["username"] for u in (await resp.json())["items"]] == ["agent7"]
    resp = await client.get("/api/teams")
    team_id = (await resp.json())["items"][0]["id"]
    resp = await client.get("/api/users", params={"team_id": str(team_id)})
    assert (await resp.json())["total"] == 4
    for params, word in [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "password_hash"}, "sort"),
        ({"colour": "red"}, "colour"),
        ({"is_active": "maybe"}, "is_active"),
        ({"created_at__gte": "2020-01-01T00:00:00"}, "time zone"),
        ({"role": "king"}, "role"),
    ]:
        resp = await client.get("/api/users", params=params)
        assert resp.status == 400, params
        assert word in (await resp.json())["error"]["message"], params


async def test_audit_log_lists_changes_for_admins(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    csrf = await _as(client, "admin")
    await client.post("/api/teams", json={"name": "East"}, headers=csrf)
    resp = await client.get("/api/audit", params={"action__in": "auth.login,team.create"})
    items = (await resp.json())["items"]
    assert [e["action"] for e in items] == ["team.create", "auth.login"]
    entry = items[0]
    assert entry["username"] == "admin"
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/teams"
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["request_id"]
