"""A small HTTP helper for CRM tests: sign in as someone, call the API, check the status."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import login


class Api:
    """Calls the running app as the user last signed in (session cookie + CSRF header)."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    async def as_(self, username: str) -> None:
        """Sign in as ``username``, forgetting the last session (a signed-in POST needs CSRF)."""
        self.client.session.cookie_jar.clear()
        body = await login(self.client, username)
        self.headers = {"X-CSRF-Token": body["csrf_token"]}

    async def call(
        self, method: str, path: str, status: int, *, json: Any = None, params: Any = None
    ) -> Any:
        """Call the API; assert the status; return the JSON answer (None for 204)."""
        resp = await self.client.request(
            method, path, json=json, params=params, headers=self.headers
        )
        text = await resp.text()
        assert resp.status == status, f"{method} {path}: {resp.status} {text}"
        return None if resp.status == 204 else await resp.json()

    async def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        """GET with query parameters."""
        return await self.call("GET", path, expect, params=params or None)

    async def post(self, path: str, json: Any, expect: int = 201) -> Any:
        """POST a JSON body."""
        return await self.call("POST", path, expect, json=json)

    async def patch(self, path: str, json: Any, expect: int = 200) -> Any:
        """PATCH a JSON body."""
        return await self.call("PATCH", path, expect, json=json)

    async def delete(self, path: str, expect: int = 204) -> Any:
        """DELETE."""
        return await self.call("DELETE", path, expect)


def field_of(body: dict[str, Any]) -> str:
    """The field an error answer names."""
    details = body["error"]["details"]
    if "field" in details:
        return str(details["field"])
    return str(details["fields"][0]["field"])
