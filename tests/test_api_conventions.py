"""HTTP conventions: JSON errors everywhere, size limits, security headers, no tracebacks."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import AppMaker, add_user, login


def _is_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_unknown_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404
    _is_error(await resp.json(), "not_found")


async def test_wrong_method_is_json_405(client: TestClient[Any, Any]) -> None:
    resp = await client.put("/api/me")
    assert resp.status == 405
    _is_error(await resp.json(), "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


async def test_malformed_json_is_400_with_details(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/auth/login", data=b'{"username": "a",', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    body = await resp.json()
    _is_error(body, "invalid_input")
    assert "line 1" in body["error"]["message"]
    resp = await client.post("/api/auth/login", json=["a", "b"])
    assert resp.status == 400
    resp = await client.post("/api/auth/login", json={"username": "a"})
    assert resp.status == 400
    fields = (await resp.json())["error"]["details"]["fields"]
    assert fields[0]["field"] == "password"


async def test_non_json_body_is_415(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/auth/login",
        data="username=a&password=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 415
    _is_error(await resp.json(), "unsupported_media_type")


async def test_oversized_body_is_413(make_client: AppMaker) -> None:
    client = await make_client(max_body_bytes=2048)
    resp = await client.post(
        "/api/auth/login", data=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    body = await resp.json()
    _is_error(body, "payload_too_large")
    assert "2048" in body["error"]["message"]


async def test_security_headers_on_every_answer(client: TestClient[Any, Any]) -> None:
    for path in ("/healthz", "/api/me", "/nowhere"):
        resp = await client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["X-Request-ID"]
    resp = await client.get("/api/me")
    assert resp.headers["Cache-Control"] == "no-store"


async def test_secure_cookie_and_hsts_when_configured(make_client: AppMaker) -> None:
    client = await make_client(secure_cookies=True)
    await add_user(client, "agent1", "agent")
    resp = await client.post(
        "/api/auth/login", json={"username": "agent1", "password": "pw-" + "x" * 8}
    )
    assert "Secure" in resp.headers["Set-Cookie"]
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_unexpected_error_gives_reference_not_traceback(make_client: AppMaker) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    def setup(app: web.Application) -> None:
        app.router.add_get("/boom", boom)

    client = await make_client(setup=setup)
    resp = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert resp.status == 500
    body = await resp.json()
    _is_error(body, "internal_error")
    assert "req-42" in body["error"]["message"]
    assert "secret internal detail" not in await resp.text()
    assert "Traceback" not in await resp.text()


async def test_huge_path_id_is_not_found(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    await login(client, "admin")
    resp = await client.get("/api/users/99999999999999999999999")
    assert resp.status == 404
    _is_error(await resp.json(), "not_found")


async def test_trusted_proxy_forwarded_address(make_client: AppMaker) -> None:
    client = await make_client(trusted_proxies=["127.0.0.1/32"])
    await add_user(client, "admin", "admin")
    await client.post(
        "/api/auth/login",
        json={"username": "admin", "password": "pw-" + "x" * 8},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    resp = await client.get("/api/audit", params={"action": "auth.login"})
    assert (await resp.json())["items"][0]["remote_addr"] == "203.0.113.9"


async def test_forwarded_header_ignored_without_trusted_proxy(client: TestClient[Any, Any]) -> None:
    await add_user(client, "admin", "admin")
    await client.post(
        "/api/auth/login",
        json={"username": "admin", "password": "pw-" + "x" * 8},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    resp = await client.get("/api/audit", params={"action": "auth.login"})
    assert (await resp.json())["items"][0]["remote_addr"] == "127.0.0.1"


async def test_healthz_and_readyz(make_client: AppMaker, redis_url: str, redis_prefix: str) -> None:
    client = await make_client(redis_url=redis_url, redis_prefix=redis_prefix)
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert set(body["checks"]) == {"database", "redis", "event_bus"}
    assert all(c["status"] == "ok" for c in body["checks"].values())
    assert body["checks"]["event_bus"]["detail"].startswith("subscribed to " + redis_prefix)


async def test_readyz_reports_each_pbx(make_client: AppMaker) -> None:
    client = await make_client(pbx=[{"name": "main", "ami_url": "ami://crm:crmsecret@127.0.0.1:1"}])
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["pbx:main"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"
    assert "crmsecret" not in await resp.text()
