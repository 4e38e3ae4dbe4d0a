"""The OpenAPI description matches the routes, and a property-based run finds no 5xx answer."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crm_core.appkeys import API
from tests.cli_helpers import running_server


async def test_every_route_is_described_and_nothing_else(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    described = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for route in client.app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        routed.add((route.method, path))
    assert described == routed
    for ep in client.app[API]:
        op = spec["paths"][ep.openapi_path][ep.method.lower()]
        assert op["operationId"] == ep.operation_id
        assert str(ep.status) in op["responses"]
        if ep.auth != "public":
            assert "401" in op["responses"]


async def test_error_schema_is_shared(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    err = spec["components"]["schemas"]["Error"]
    assert err["properties"]["error"]["required"] == ["code", "message", "details"]


def _schemathesis(st: str, url: str, token: str, cwd: Path, *selection: str) -> str:
    result = subprocess.run(
        [
            st,
            "run",
            f"{url}api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {token}",
            # The coverage phase sends every operation its boundary and invalid values
            # (about 11,800 requests); the fuzzing and stateful phases add this many random
            # cases per operation.
            "--max-examples",
            "10",
            "--seed",
            "20261123",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            *selection,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    assert counts is not None, out[-3000:]
    assert counts.group(1) == counts.group(2), out[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency"
    with running_server(tmp_path, "--calls-per-minute", "0") as server:
        token = server.admin_token()
        # Revoking tokens would revoke the fuzzer's own token; that operation runs last.
        out = _schemathesis(
            st, server.url, token, tmp_path, "--exclude-operation-id", "revoke_token"
        )
        # Only these may answer nothing but 401/403 to an admin's token: sign-in (random
        # credentials) and the agent's own state (an admin is not an agent).
        if "Authentication failed" in out:
            warned = out.split("Authentication failed", 1)[1].split("💡", 1)[0]
            refused = set(re.findall(r"- (?:GET|POST|PUT|PATCH|DELETE) (\S+)", warned))
            assert refused <= {"/api/auth/login", "/api/agents/me/state"}, warned
        _schemathesis(st, server.url, token, tmp_path, "--include-operation-id", "revoke_token")
        assert server.log_tail().count("unhandled error") == 0, server.log_tail()


async def test_extra_query_parameters_are_described(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    for ep in client.app[API]:
        op = spec["paths"][ep.openapi_path][ep.method.lower()]
        names = {p["name"] for p in op.get("parameters", [])}
        assert set(ep.extra_query) <= names, ep.operation_id
